// The native optimizer class (lib/optim.ts wraps it): one core/optim.h Optimizer per JS object.
//
// JS arguments:
//   new NativeOptimizer(kind: 'sgd'|'adam'|'adamw'|'lars', options: { lr, weightDecay?, momentum?, dampening?,
//                       nesterov?, beta1?, beta2?, eps?, trustCoefficient? }, params: Tensor[], excluded: boolean[])
//   step(lr?: number) -> Promise<void>          one job updating every parameter
//   scaleGrads(factor: number) -> Promise<void>  gradient accumulation (1/k)
//   clipGradNorm(maxNorm: number) -> Promise<number>   the global grad norm before clipping
//   zeroGrad(setToNone?: boolean)               waits for pending jobs, then zeroes (or drops) the grads
//   lr() -> number, setLr(lr: number)           the lr of the next step
//   state() -> { [name]: Tensor }              copies of the state (waits for pending jobs)
//   loadState(state: { [name]: Tensor })        replaces the state (waits for pending jobs)
//   steps() -> number                           step() calls so far (waits for pending jobs)
//
// Jobs hold a shared_ptr to the core optimizer (which holds at::Tensor copies of the parameters), so a
// step keeps running safely when the JS object or the parameter Tensors are disposed meanwhile.
#include <napi.h>

#include <cmath>
#include <memory>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/optim.h"
#include "binding/tensor.h"
#include "core/errors.h"
#include "core/optim.h"

namespace byol::binding {
namespace {

class NativeOptimizer : public Napi::ObjectWrap<NativeOptimizer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(
        env, "NativeOptimizer",
        {
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::step>>("step"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::scaleGrads>>("scaleGrads"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::clipGradNorm>>("clipGradNorm"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::zeroGrad>>("zeroGrad"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::lr>>("lr"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::setLr>>("setLr"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::state>>("state"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::loadState>>("loadState"),
            InstanceMethod<&NativeOptimizer::guarded<&NativeOptimizer::steps>>("steps"),
        });
    exports.Set("NativeOptimizer", ctor);
    EnvState::of(env).optimizerConstructor = Napi::Persistent(ctor);
  }

  // The core optimizer and the lr its next step uses (what a learner's step job takes).
  OptimizerRef ref() const { return OptimizerRef{optimizer_, lr_}; }

  explicit NativeOptimizer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeOptimizer>(info) {
    ::byol::binding::guarded(info.Env(), [&] {
      construct(info);
      return info.Env().Undefined();
    });
  }

  BYOL_GUARDED_METHODS(NativeOptimizer)

 private:
  void construct(const Napi::CallbackInfo& info) {
    const OptimizerKind kind = parseOptimizerKind(stringArg(info[0], "kind"));
    const Napi::Value options = info[1];
    BYOL_EXPECT_TYPE(options.IsObject(), "options: expected an object, received ", describe(options));
    OptimizerOptions o;
    o.lr = numberArg(option(options, "lr"), "lr");
    o.weightDecay = numberOption(options, "weightDecay", o.weightDecay);
    o.momentum = numberOption(options, "momentum", o.momentum);
    o.dampening = numberOption(options, "dampening", o.dampening);
    Napi::Value nesterov = option(options, "nesterov");
    o.nesterov = nesterov.IsUndefined() ? false : boolArg(nesterov, "nesterov");
    o.beta1 = numberOption(options, "beta1", o.beta1);
    o.beta2 = numberOption(options, "beta2", o.beta2);
    o.eps = numberOption(options, "eps", o.eps);
    o.trustCoefficient = numberOption(options, "trustCoefficient", o.trustCoefficient);

    BYOL_EXPECT_TYPE(info[2].IsArray(), "params: expected an array of tensors, received ", describe(info[2]));
    auto array = info[2].As<Napi::Array>();
    std::vector<at::Tensor> params;
    params.reserve(array.Length());
    for (uint32_t i = 0; i < array.Length(); ++i) {
      const std::string name = "params[" + std::to_string(i) + "]";
      params.push_back(Tensor::unwrap(array.Get(i), name.c_str()));
    }
    std::vector<bool> excluded;
    if (!info[3].IsUndefined()) {
      BYOL_EXPECT_TYPE(info[3].IsArray(), "excluded: expected an array of booleans, received ", describe(info[3]));
      auto flags = info[3].As<Napi::Array>();
      for (uint32_t i = 0; i < flags.Length(); ++i) excluded.push_back(boolArg(flags.Get(i), "excluded"));
    }
    optimizer_ = std::make_shared<Optimizer>(kind, o, std::move(params), std::move(excluded));
    lr_ = o.lr;
  }

  Napi::Value step(const Napi::CallbackInfo& info) {
    if (!info[0].IsUndefined()) {
      const double lr = numberArg(info[0], "lr");
      validateLearningRate(lr);
      lr_ = lr;
    }
    auto optimizer = optimizer_;
    const double lr = lr_;  // the lr at submission, whatever setLr does before the job runs
    return runVoidJob(info.Env(), [optimizer, lr] { optimizer->step(lr); });
  }

  Napi::Value scaleGrads(const Napi::CallbackInfo& info) {
    const double factor = numberArg(info[0], "factor");
    BYOL_EXPECT_RANGE(std::isfinite(factor), "factor: expected a finite number, received ", factor);
    auto optimizer = optimizer_;
    return runVoidJob(info.Env(), [optimizer, factor] { optimizer->scaleGrads(factor); });
  }

  Napi::Value clipGradNorm(const Napi::CallbackInfo& info) {
    const double maxNorm = numberArg(info[0], "maxNorm");
    BYOL_EXPECT_RANGE(maxNorm > 0, "maxNorm: expected a number > 0, received ", maxNorm);
    auto optimizer = optimizer_;
    return runJob<double>(
        info.Env(), [optimizer, maxNorm] { return optimizer->clipGradNorm(maxNorm); },
        [](Napi::Env env, double& norm) -> Napi::Value { return Napi::Number::New(env, norm); });
  }

  Napi::Value zeroGrad(const Napi::CallbackInfo& info) {
    const bool setToNone = info[0].IsUndefined() ? false : boolArg(info[0], "setToNone");
    EnvState::of(info.Env()).drain();
    optimizer_->zeroGrad(setToNone);
    return info.Env().Undefined();
  }

  Napi::Value lr(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), lr_); }

  Napi::Value setLr(const Napi::CallbackInfo& info) {
    const double lr = numberArg(info[0], "lr");
    validateLearningRate(lr);
    lr_ = lr;
    return info.Env().Undefined();
  }

  Napi::Value steps(const Napi::CallbackInfo& info) {
    EnvState::of(info.Env()).drain();
    return Napi::Number::New(info.Env(), static_cast<double>(optimizer_->steps()));
  }

  Napi::Value state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnvState::of(env).drain();
    auto out = Napi::Object::New(env);
    for (auto& [name, t] : optimizer_->state()) out.Set(name, Tensor::wrap(env, t));
    return out;
  }

  Napi::Value loadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    BYOL_EXPECT_TYPE(info[0].IsObject() && !info[0].IsArray(),
                     "state: expected an object of named tensors, received ", describe(info[0]));
    auto object = info[0].As<Napi::Object>();
    Napi::Array keys = object.GetPropertyNames();
    NamedTensors entries;
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).ToString().Utf8Value();
      const std::string name = "state['" + key + "']";
      entries.emplace_back(key, Tensor::unwrap(object.Get(key), name.c_str()));  // unwrap drains the executor
    }
    EnvState::of(env).drain();
    optimizer_->loadState(entries);
    return env.Undefined();
  }

  std::shared_ptr<Optimizer> optimizer_;
  double lr_ = 0;
};

}  // namespace

OptimizerRef unwrapOptimizer(const Napi::Value& value, const char* name) {
  const auto& ctor = EnvState::of(value.Env()).optimizerConstructor;
  const bool ok = value.IsObject() && !ctor.IsEmpty() && value.As<Napi::Object>().InstanceOf(ctor.Value());
  BYOL_EXPECT_TYPE(ok, name, ": expected an optimizer of byol-torch (SGD, Adam, AdamW or LARS), received ",
                   describe(value));
  return NativeOptimizer::Unwrap(value.As<Napi::Object>())->ref();
}

void InitOptim(Napi::Env env, Napi::Object exports) { NativeOptimizer::Init(env, exports); }

}  // namespace byol::binding
