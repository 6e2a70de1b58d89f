// Process-level functions: LibTorch facts, CUDA, threads, grad mode, memory and executor introspection.
#pragma once

#include <napi.h>

namespace byol::binding {

void InitRuntime(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
