// NativeOptimizer: SGD, Adam, AdamW and LARS over a list of Tensors (see optim.cc for the JS arguments).
#pragma once

#include <napi.h>

#include <memory>

namespace byol {
class Optimizer;
}

namespace byol::binding {

void InitOptim(Napi::Env env, Napi::Object exports);

// A JS NativeOptimizer's core optimizer, shared with jobs, and the lr of its next step.
struct OptimizerRef {
  std::shared_ptr<Optimizer> optimizer;
  double lr = 0;
};
// TypeError naming `name` unless `value` is a NativeOptimizer.
OptimizerRef unwrapOptimizer(const Napi::Value& value, const char* name);

}  // namespace byol::binding
