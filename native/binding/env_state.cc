#include "binding/env_state.h"

#include "binding/async_job.h"

#include <cstdlib>

namespace byol::binding {

// JS thread: settles one finished job. `env` is null when the environment is being torn down, and then
// the job is only freed.
void settleCompletedJob(Napi::Env env, Napi::Function, EnvState* state, Job* job) {
  std::unique_ptr<Job> owned(job);
  if (env == nullptr || state == nullptr) return;
  owned->settle(env);
  owned.reset();
  auto* tsfn = static_cast<Napi::TypedThreadSafeFunction<EnvState, Job, settleCompletedJob>*>(state->completions_);
  if (--state->inFlight_ == 0) tsfn->Unref(env);  // let the process exit when nothing is pending
}

using Completions = Napi::TypedThreadSafeFunction<EnvState, Job, settleCompletedJob>;

namespace {

// OMP_NUM_THREADS when set to a positive integer (what torchrun and `byol train --nproc-per-node` give each of
// several workers sharing the cores: 1, or the cores divided among them), else every core we may use.
int defaultThreads() {
  const char* value = std::getenv("OMP_NUM_THREADS");
  if (value != nullptr) {
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    if (end != value && *end == '\0' && n >= 1 && n <= 4096) return static_cast<int>(n);
  }
  return availableCores();
}

}  // namespace

EnvState::EnvState(Napi::Env env) : numThreads(defaultThreads()), executor_(std::make_unique<OrderedExecutor>()) {
  auto* tsfn = new Completions(Completions::New(env, "byol-torch executor", 0, 1, this));
  tsfn->Unref(env);
  completions_ = tsfn;
}

EnvState::~EnvState() {
  executor_.reset();  // finishes queued jobs (their completions are dropped with the environment)
  auto* tsfn = static_cast<Completions*>(completions_);
  tsfn->Release();
  delete tsfn;
}

EnvState& EnvState::of(Napi::Env env) {
  return *env.GetInstanceData<EnvState>();
}

void EnvState::submit(Napi::Env env, std::unique_ptr<Job> job) {
  auto* tsfn = static_cast<Completions*>(completions_);
  if (inFlight_++ == 0) tsfn->Ref(env);
  ++jobsSubmitted;
  Job* raw = job.release();
  executor_->submit([raw] { raw->execute(); },
                    [raw, tsfn] {
                      // Posted once the job no longer counts as pending, so JS settling it sees it done.
                      if (tsfn->NonBlockingCall(raw) != napi_ok) delete raw;  // environment gone
                    });
}

void EnvState::retainStorage(Napi::Env env, const void* storage, int64_t bytes) {
  ++liveTensors;
  auto [it, inserted] = storages_.try_emplace(storage, StorageUse{bytes, 0});
  ++it->second.users;
  if (inserted) {
    liveBytes += bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  }
}

void EnvState::releaseStorage(Napi::Env env, const void* storage) {
  --liveTensors;
  auto it = storages_.find(storage);
  if (it == storages_.end()) return;
  if (--it->second.users == 0) {
    liveBytes -= it->second.bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, -it->second.bytes);
    storages_.erase(it);
  }
}

}  // namespace byol::binding
