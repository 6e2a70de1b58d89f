// Frozen-feature evaluation (native/core/evaluation.h): linear probe and kNN as async jobs.
#pragma once

#include <napi.h>

namespace byol::binding {

void InitEvaluation(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
