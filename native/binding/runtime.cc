#include "binding/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/host_allocator.h"
#include "core/runtime.h"

namespace byol::binding {
namespace {

// info() -> { libtorch, torchSource, cuda, cudaDevices, cores, mkldnn }
Napi::Value info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("libtorch", libtorchVersion());
  out.Set("torchSource", BYOL_TORCH_SOURCE);
  out.Set("cudaBuilt", deviceBuildHasCuda());
  out.Set("cores", availableCores());
  out.Set("mkldnn", at::hasMKLDNN());
  out.Set("parallelInfo", at::get_parallel_info());
  return out;
}

Napi::Value cudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::hasCUDA() ? static_cast<double>(at::getNumGPUs()) : 0);
}

Napi::Value getNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), EnvState::of(info.Env()).numThreads);
}

// setNumThreads(n: number): for ops on the JS thread now and for every job created from now on.
Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  const int64_t n = intArg(info[0], "threads");
  BYOL_EXPECT_RANGE(n >= 1 && n <= 1024, "threads: expected an integer in [1, 1024], received ", n);
  auto& state = EnvState::of(info.Env());
  state.numThreads = static_cast<int>(n);
  at::set_num_threads(state.numThreads);
  return info.Env().Undefined();
}

Napi::Value isGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), EnvState::of(info.Env()).gradEnabled);
}

// setGradEnabled(flag: boolean): for ops on the JS thread now and for every job created from now on.
Napi::Value setGradEnabled(const Napi::CallbackInfo& info) {
  const bool flag = boolArg(info[0], "enabled");
  EnvState::of(info.Env()).gradEnabled = flag;
  at::GradMode::set_enabled(flag);
  return info.Env().Undefined();
}

// executorStats() -> { jobs, drains }: jobs submitted and synchronous drains since the addon loaded.
Napi::Value executorStats(const Napi::CallbackInfo& info) {
  auto& state = EnvState::of(info.Env());
  auto out = Napi::Object::New(info.Env());
  out.Set("jobs", static_cast<double>(state.jobsSubmitted));
  out.Set("drains", static_cast<double>(state.drains));
  return out;
}

// memory() -> { tensors, bytes, pendingJobs, hostAllocatedBytes, hostCachedBytes,
//             devices: [{ device: 'cuda:N', allocatedBytes, reservedBytes, peakAllocatedBytes }] (CUDA devices) }
Napi::Value memory(const Napi::CallbackInfo& info) {
  auto& state = EnvState::of(info.Env());
  auto out = Napi::Object::New(info.Env());
  out.Set("tensors", static_cast<double>(state.liveTensors));
  out.Set("bytes", static_cast<double>(state.liveBytes));
  out.Set("pendingJobs", static_cast<double>(state.pendingJobs()));
  const auto host = hostAllocator().stats();
  out.Set("hostAllocatedBytes", static_cast<double>(host.allocatedBytes));
  out.Set("hostCachedBytes", static_cast<double>(host.cachedBytes));
  auto devices = Napi::Array::New(info.Env());
  const int cudaDevices = at::hasCUDA() ? static_cast<int>(at::getNumGPUs()) : 0;
  for (int i = 0; i < cudaDevices; ++i) {
    const at::Device device(at::kCUDA, static_cast<c10::DeviceIndex>(i));
    const auto figures = deviceMemory(device);
    if (!figures) continue;
    auto entry = Napi::Object::New(info.Env());
    entry.Set("device", device.str());
    entry.Set("allocatedBytes", static_cast<double>(figures->allocatedBytes));
    entry.Set("reservedBytes", static_cast<double>(figures->reservedBytes));
    entry.Set("peakAllocatedBytes", static_cast<double>(figures->peakAllocatedBytes));
    devices.Set(devices.Length(), entry);
  }
  out.Set("devices", devices);
  return out;
}

// jobSettings() -> Promise<{ gradEnabled, numThreads }> as seen inside a job on the worker thread.
Napi::Value jobSettings(const Napi::CallbackInfo& info) {
  return runJob<ThreadSettings>(
      info.Env(), [] { return ThreadSettings::current(); },
      [](Napi::Env env, ThreadSettings& seen) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("gradEnabled", seen.gradEnabled);
        out.Set("numThreads", seen.numThreads);
        return out;
      });
}

// shutdown(waitMs: number, exitCode: number): called from process.on('exit'), before exit() destroys the static
// objects a running job would still use. Queued jobs are dropped; the job in flight gets `waitMs` to finish; if it
// has not (a step, a collective waiting for a lost rank), the process ends here with `exitCode`, without running
// destructors (std::_Exit), which is safe where finishing exit() is not. Files are written atomically (temp +
// rename), so nothing on disk is left half-written either way.
Napi::Value shutdown(const Napi::CallbackInfo& info) {
  const double waitMs = numberArg(info[0], "waitMs");
  const int exitCode = static_cast<int>(intArg(info[1], "exitCode"));
  if (!EnvState::of(info.Env()).abandonJobs(std::chrono::milliseconds(static_cast<int64_t>(waitMs)))) {
    std::fflush(nullptr);
    std::_Exit(exitCode);
  }
  return info.Env().Undefined();
}

// releaseHostCache(): returns the host allocator's cached blocks to the OS.
Napi::Value releaseHostCache(const Napi::CallbackInfo& info) {
  EnvState::of(info.Env()).drain();
  hostAllocator().releaseCache();
  return info.Env().Undefined();
}

// drain(): blocks until every queued job has run.
Napi::Value drain(const Napi::CallbackInfo& info) {
  EnvState::of(info.Env()).drain();
  return info.Env().Undefined();
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New<guardedFunction<info>>(env, "info"));
  exports.Set("cudaDeviceCount", Napi::Function::New<guardedFunction<cudaDeviceCount>>(env, "cudaDeviceCount"));
  exports.Set("getNumThreads", Napi::Function::New<guardedFunction<getNumThreads>>(env, "getNumThreads"));
  exports.Set("setNumThreads", Napi::Function::New<guardedFunction<setNumThreads>>(env, "setNumThreads"));
  exports.Set("isGradEnabled", Napi::Function::New<guardedFunction<isGradEnabled>>(env, "isGradEnabled"));
  exports.Set("setGradEnabled", Napi::Function::New<guardedFunction<setGradEnabled>>(env, "setGradEnabled"));
  exports.Set("executorStats", Napi::Function::New<guardedFunction<executorStats>>(env, "executorStats"));
  exports.Set("memory", Napi::Function::New<guardedFunction<memory>>(env, "memory"));
  exports.Set("jobSettings", Napi::Function::New<guardedFunction<jobSettings>>(env, "jobSettings"));
  exports.Set("releaseHostCache", Napi::Function::New<guardedFunction<releaseHostCache>>(env, "releaseHostCache"));
  exports.Set("drain", Napi::Function::New<guardedFunction<drain>>(env, "drain"));
  exports.Set("shutdown", Napi::Function::New<guardedFunction<shutdown>>(env, "shutdown"));
}

}  // namespace byol::binding
