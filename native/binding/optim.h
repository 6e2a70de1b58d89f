// NativeOptimizer: SGD, Adam, AdamW and LARS over a list of Tensors (see optim.cc for the JS arguments).
#pragma once

#include <napi.h>

namespace byol::binding {

void InitOptim(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
