#include "binding/async_job.h"

namespace byol::binding {

void Job::execute() {
  try {
    settings.apply();
    work();
  } catch (...) {
    error_ = std::current_exception();
  }
}

void Job::settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  if (!error_) {
    try {
      deferred_.Resolve(result(env));
      return;
    } catch (...) {
      error_ = std::current_exception();
    }
  }
  deferred_.Reject(translateError(env, error_).Value());
}

namespace {
struct Nothing {};
}  // namespace

Napi::Promise runVoidJob(Napi::Env env, std::function<void()> work) {
  return runJob<Nothing>(
      env, [work = std::move(work)] { work(); return Nothing{}; },
      [](Napi::Env env, Nothing&) { return env.Undefined(); });
}

}  // namespace byol::binding
