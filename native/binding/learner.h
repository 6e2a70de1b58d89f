// The native BYOL learner class (native/binding/learner.cc).
#pragma once

#include <napi.h>

namespace byol::binding {

void InitLearner(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
