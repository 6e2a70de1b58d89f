// The EMA update of the target network (native/core/ema.h) as an async job.
#pragma once

#include <napi.h>

namespace byol::binding {

void InitEma(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
