#include "binding/env_state.h"

#include "binding/async_job.h"

#include <cstdlib>

namespace byol::binding {

// JS thread: settles one finished job. Once the environment's teardown has begun (the state is stopped), or when
// Node drops a queued call (`env` is null), the job is only freed.
void settleCompletedJob(Napi::Env env, Napi::Function, EnvState* state, Job* job) {
  std::unique_ptr<Job> owned(job);
  if (env == nullptr || state == nullptr || state->stopped()) return;
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

// Teardown of an environment (the main thread's at exit, a worker's when it ends or is terminated), in Node's order:
//   1. cleanup hooks, newest first: stopAtTeardown, then Node's own hook for the thread-safe function, which
//      closes its handle; Node finalizes and frees the function once the handle is closed, and the reference the
//      function holds on the environment goes with it;
//   2. when the last reference goes, the environment's instance data: ~EnvState.
// Step 2 can thus run inside step 1's freeing of the thread-safe function, while Node holds that function's lock:
// ~EnvState must not touch the function. It used to release it there, which waited forever on that lock (the exit
// hang of Node 24 and 26; on 20 and 22 it called into a function being freed). So the release happens in the hook,
// registered after the function is created so that it runs before Node's cleanup of it, and the function's
// finalizer records that Node is done with it.
EnvState::EnvState(Napi::Env env)
    : numThreads(defaultThreads()), env_(env), executor_(std::make_unique<OrderedExecutor>()) {
  auto* tsfn = new Completions(Completions::New(env, "byol-torch executor", 0, 1, this,
                                                [](Napi::Env, void*, EnvState* state) { state->completionsFinalized_ = true; }));
  tsfn->Unref(env);
  completions_ = tsfn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, &EnvState::stopAtTeardown, this));
  cleanupHookRegistered_ = true;
}

void EnvState::stopAtTeardown(void* self) {
  auto* state = static_cast<EnvState*>(self);
  state->cleanupHookRegistered_ = false;
  state->stop();
}

void EnvState::stop() {
  // Finishes the queued jobs (none are left when the process exits: shutdown() abandoned them); what they post
  // is dropped with the environment: settleCompletedJob only frees it from now on.
  executor_.reset();
  if (!completionsReleased_ && !completionsFinalized_) {
    static_cast<Completions*>(completions_)->Release();
    completionsReleased_ = true;
  }
}

EnvState::~EnvState() {
  // Node frees instance data after running the cleanup hooks, so stop() has normally run; if not, it runs now
  // (and leaves a function Node has finalized alone).
  if (cleanupHookRegistered_) {
    napi_remove_env_cleanup_hook(env_, &EnvState::stopAtTeardown, this);
    stop();
  }
  delete static_cast<Completions*>(completions_);  // the handle's holder only: Node frees the function itself
}

EnvState& EnvState::of(Napi::Env env) {
  return *env.GetInstanceData<EnvState>();
}

void EnvState::submit(Napi::Env env, std::unique_ptr<Job> job) {
  if (stopped()) return;  // the environment is being torn down: no JS is left to hear of the job
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
