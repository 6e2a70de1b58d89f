#include "binding/ema.h"

#include <cmath>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "core/ema.h"
#include "core/errors.h"

namespace byol::binding {
namespace {

// `name`: Tensor[] -> at::Tensor copies (each element named "name[i]" in errors).
std::vector<at::Tensor> tensorListArg(const Napi::Value& value, const char* name) {
  BYOL_EXPECT_TYPE(value.IsArray(), name, ": expected an array of Tensors, received ", describe(value));
  const auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> tensors;
  tensors.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const std::string element = message(name, "[", i, "]");
    tensors.push_back(Tensor::unwrapQueued(array.Get(i), element.c_str()));
  }
  return tensors;
}

// emaUpdate(targets: Tensor[], sources: Tensor[], tau: number,
//           bufferTargets?: Tensor[], bufferSources?: Tensor[]) -> Promise<void>
// targets[i] = tau * targets[i] + (1 - tau) * sources[i] in place, then bufferTargets[i] <- bufferSources[i].
// Every argument is checked here, before the job is queued: a bad call throws and changes nothing.
Napi::Value emaUpdate(const Napi::CallbackInfo& info) {
  std::vector<at::Tensor> targets = tensorListArg(info[0], "targets");
  std::vector<at::Tensor> sources = tensorListArg(info[1], "sources");
  const double tau = numberArg(info[2], "tau");
  checkEmaArgs(targets, sources, tau);
  std::vector<at::Tensor> bufferTargets, bufferSources;
  const bool copyBuffers = !info[3].IsUndefined() || !info[4].IsUndefined();
  if (copyBuffers) {
    bufferTargets = tensorListArg(info[3], "bufferTargets");
    bufferSources = tensorListArg(info[4], "bufferSources");
    checkCopyArgs(bufferTargets, bufferSources, "bufferTargets", "bufferSources");
  }
  return runVoidJob(info.Env(), [targets = std::move(targets), sources = std::move(sources), tau,
                                 bufferTargets = std::move(bufferTargets), bufferSources = std::move(bufferSources)] {
    ema_(targets, sources, tau);
    if (!bufferTargets.empty()) copyInto_(bufferTargets, bufferSources);
  });
}

// emaCpuKernel() -> 'avx2' | 'default': the CPU kernel build in use (for benchmarks and bug reports).
Napi::Value emaCpuKernel(const Napi::CallbackInfo& info) {
  const bool avx2 = detail::emaCpuKernel() == detail::EmaCpuKernel::Avx2;
  return Napi::String::New(info.Env(), avx2 ? "avx2" : "default");
}

// cosineTau(step: number, totalSteps: number, base: number) -> number (core's schedule, core's checks).
Napi::Value cosineTau(const Napi::CallbackInfo& info) {
  const double tau = ::byol::cosineTau(numberArg(info[0], "step"), numberArg(info[1], "totalSteps"),
                                       numberArg(info[2], "base"));
  return Napi::Number::New(info.Env(), tau);
}

// checkUnitInterval(name: string, value: number): core's one range check of tau-like values.
Napi::Value checkUnitInterval(const Napi::CallbackInfo& info) {
  const std::string name = stringArg(info[0], "name");
  ::byol::checkUnitInterval(name.c_str(), info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : NAN);
  return info.Env().Undefined();
}

}  // namespace

void InitEma(Napi::Env env, Napi::Object exports) {
  exports.Set("emaUpdate", Napi::Function::New<guardedFunction<emaUpdate>>(env, "emaUpdate"));
  exports.Set("cosineTau", Napi::Function::New<guardedFunction<cosineTau>>(env, "cosineTau"));
  exports.Set("checkUnitInterval", Napi::Function::New<guardedFunction<checkUnitInterval>>(env, "checkUnitInterval"));
  exports.Set("emaCpuKernel", Napi::Function::New<guardedFunction<emaCpuKernel>>(env, "emaCpuKernel"));
}

}  // namespace byol::binding
