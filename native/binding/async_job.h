// Heavy work as Promises: a Job runs on the ordered executor, then settles its Promise on the JS thread.
//
// A job copies everything it needs out of V8 before it is submitted (tensors are refcounted at::Tensor
// copies, so a tensor disposed from JS meanwhile stays valid until the job ends) and never touches V8
// from the worker thread.
#pragma once

#include <napi.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "binding/env_state.h"
#include "binding/errors.h"

namespace byol::binding {

class Job {
 public:
  explicit Job(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  virtual ~Job() = default;

  Napi::Promise promise() const { return deferred_.Promise(); }
  ThreadSettings settings;

  // Worker thread: applies the settings, runs the work, keeps any error for settle().
  void execute();
  // JS thread: resolves with the converted result, or rejects with the translated error.
  void settle(Napi::Env env);

 protected:
  virtual void work() = 0;
  virtual Napi::Value result(Napi::Env env) = 0;

 private:
  Napi::Promise::Deferred deferred_;
  std::exception_ptr error_;
};

// A job from two lambdas: `work` on the worker returns R, `convert` on the JS thread makes it a JS value.
template <typename R>
class LambdaJob final : public Job {
 public:
  LambdaJob(Napi::Env env, std::function<R()> work, std::function<Napi::Value(Napi::Env, R&)> convert)
      : Job(env), work_(std::move(work)), convert_(std::move(convert)) {}

 protected:
  void work() override { value_ = work_(); }
  Napi::Value result(Napi::Env env) override { return convert_(env, value_); }

 private:
  std::function<R()> work_;
  std::function<Napi::Value(Napi::Env, R&)> convert_;
  R value_{};
};

// Submits `work` and returns its Promise.
template <typename R>
Napi::Promise runJob(Napi::Env env, std::function<R()> work, std::function<Napi::Value(Napi::Env, R&)> convert) {
  auto& state = EnvState::of(env);
  auto job = std::make_unique<LambdaJob<R>>(env, std::move(work), std::move(convert));
  job->settings = state.jobSettings();
  Napi::Promise promise = job->promise();
  state.submit(env, std::move(job));
  return promise;
}

// A job with no result value: resolves with undefined.
Napi::Promise runVoidJob(Napi::Env env, std::function<void()> work);

}  // namespace byol::binding
