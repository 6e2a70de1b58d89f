// Entry point of the addon: per-environment state, then each concern registers its exports.
#include <napi.h>
#include <ATen/Parallel.h>

#include "binding/distributed.h"
#include "binding/ema.h"
#include "binding/evaluation.h"
#include "binding/augment.h"
#include "binding/env_state.h"
#include "binding/module.h"
#include "binding/learner.h"
#include "binding/optim.h"
#include "binding/runtime.h"
#include "binding/serialize.h"
#include "binding/tensor.h"
#include "core/host_allocator.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  byol::installHostAllocator();  // tensor memory apart from the JS runtime's (see host_allocator.h)
  auto* state = new byol::binding::EnvState(env);
  env.SetInstanceData(state);  // deleted with the environment
  // LibTorch defaults to one thread per physical core (1 on these 2-vCPU machines); use what we may use, or
  // OMP_NUM_THREADS when set (env_state.cc).
  at::set_num_threads(state->numThreads);
  byol::binding::InitRuntime(env, exports);
  byol::binding::Tensor::Init(env, exports);
  byol::binding::InitModules(env, exports);
  byol::binding::InitLearner(env, exports);
  byol::binding::InitDistributed(env, exports);
  byol::binding::InitEma(env, exports);
  byol::binding::InitAugment(env, exports);
  byol::binding::InitOptim(env, exports);
  byol::binding::InitSerialize(env, exports);
  byol::binding::InitEvaluation(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(byol_torch, Init)
