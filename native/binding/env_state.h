// Per-environment state of the addon (main thread or a worker thread each get their own), kept as
// instance data rather than statics so the addon works in worker_threads.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "core/executor.h"
#include "core/runtime.h"

namespace byol::binding {

class Job;
struct EnvState;
void settleCompletedJob(Napi::Env env, Napi::Function, EnvState* state, Job* job);

struct EnvState {
  explicit EnvState(Napi::Env env);
  ~EnvState();  // the instance-data finalizer: after stop(), while Node frees the environment

  static EnvState& of(Napi::Env env);

  // Runs a job on the executor; its completion comes back to this env's JS thread.
  void submit(Napi::Env env, std::unique_ptr<Job> job);
  // Blocks until every submitted job has run (not settled): what a synchronous op waits for.
  void drain() {
    ++drains;
    if (executor_) executor_->drain();
  }
  int64_t pendingJobs() const { return executor_ ? executor_->pending() : 0; }
  // The process is exiting: queued jobs are dropped, the one in flight gets up to `wait` (OrderedExecutor::abandon).
  bool abandonJobs(std::chrono::milliseconds wait) { return executor_ ? executor_->abandon(wait) : true; }

  // Settings a job created now must run with (grad mode and thread count are thread-local in LibTorch).
  ThreadSettings jobSettings() const { return ThreadSettings{gradEnabled, numThreads}; }

  // Native bytes held by JS tensors, counted once per storage and reported to V8.
  void retainStorage(Napi::Env env, const void* storage, int64_t bytes);
  void releaseStorage(Napi::Env env, const void* storage);

  Napi::FunctionReference tensorConstructor;
  Napi::FunctionReference moduleConstructor;
  Napi::FunctionReference optimizerConstructor;
  Napi::FunctionReference processGroupConstructor;
  bool gradEnabled = true;
  int numThreads = 1;
  int64_t liveTensors = 0;
  // Jobs submitted and drains (synchronous waits for the executor) since start: what tests count per step.
  int64_t jobsSubmitted = 0;
  int64_t drains = 0;
  int64_t liveBytes = 0;

 private:
  friend void settleCompletedJob(Napi::Env, Napi::Function, EnvState*, Job*);
  struct StorageUse {
    int64_t bytes;
    int64_t users;
  };
  // The environment is being torn down: stops the executor and releases the thread-safe function, while both
  // still exist. An environment cleanup hook (env_state.cc says why there).
  static void stopAtTeardown(void* self);
  void stop();
  bool stopped() const { return executor_ == nullptr; }

  napi_env env_;
  std::unordered_map<const void*, StorageUse> storages_;
  std::unique_ptr<OrderedExecutor> executor_;
  int64_t inFlight_ = 0;  // jobs submitted whose Promise has not settled; JS thread only
  void* completions_ = nullptr;  // the thread-safe function's handle, type-erased to keep this header light
  // What is left to do with it: this env's Release (once), and whether Node has finalized it (then never touch it).
  bool completionsReleased_ = false;
  bool completionsFinalized_ = false;
  bool cleanupHookRegistered_ = false;
};

}  // namespace byol::binding
