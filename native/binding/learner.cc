// The native BYOL learner: one JS object owning the online and target networks (native/core/learner.h).
//
// JS arguments: every method documents its arguments as `name: JS type`. Options objects are read into
// core's LearnerOptions / StepOptions, default-constructed: core owns every default and range.
#include <napi.h>

#include <cmath>
#include <memory>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/augment.h"
#include "binding/distributed.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/module.h"
#include "binding/optim.h"
#include "binding/tensor.h"
#include "core/byol_loss.h"
#include "core/errors.h"
#include "core/learner.h"
#include "core/tensor_checks.h"

namespace byol::binding {
namespace {

LearnerOptions learnerOptions(const Napi::Value& o) {
  BYOL_EXPECT_TYPE(o.IsObject() && !o.IsArray(), "options: expected an object with at least imageSize, received ",
                   describe(o));
  LearnerOptions options;
  options.projectionSize = intOption(o, "projectionSize", options.projectionSize);
  options.projectionHiddenSize = intOption(o, "projectionHiddenSize", options.projectionHiddenSize);
  options.useMomentum = boolOption(o, "useMomentum", options.useMomentum);
  options.movingAverageDecay = numberOption(o, "movingAverageDecay", options.movingAverageDecay);
  const Napi::Value schedule = option(o, "decaySchedule");
  if (!schedule.IsUndefined()) {
    BYOL_EXPECT_TYPE(schedule.IsString(), "decaySchedule: expected 'cosine' or 'constant', received ",
                     describe(schedule));
    options.decaySchedule = parseDecaySchedule(schedule.As<Napi::String>().Utf8Value());
  }
  const Napi::Value totalSteps = option(o, "totalSteps");
  if (!totalSteps.IsUndefined()) {
    const double steps = numberArg(totalSteps, "totalSteps");
    BYOL_EXPECT_RANGE(steps >= 1 && std::floor(steps) == steps && steps <= 9007199254740991.0,
                      "totalSteps: expected a positive integer, received ", steps);
    options.totalSteps = static_cast<int64_t>(steps);
  }
  options.copyBuffers = boolOption(o, "copyBuffers", options.copyBuffers);
  const Napi::Value precision = option(o, "precision");
  if (!precision.IsUndefined()) {
    BYOL_EXPECT_TYPE(precision.IsString(), "precision: expected 'fp32', 'bf16' or 'fp16', received ",
                     describe(precision));
    options.precision = parsePrecision(precision.As<Napi::String>().Utf8Value());
  }
  options.validate();
  return options;
}

StepOptions stepOptions(const Napi::Value& o, double lr) {
  StepOptions options;
  options.lr = lr;
  if (o.IsUndefined()) return options;
  BYOL_EXPECT_TYPE(o.IsObject() && !o.IsArray(), "options: expected an object, received ", describe(o));
  options.accumulate = intOption(o, "accumulate", options.accumulate);
  const Napi::Value maxGradNorm = option(o, "maxGradNorm");
  if (!maxGradNorm.IsUndefined()) options.maxGradNorm = numberArg(maxGradNorm, "maxGradNorm");
  options.validate();
  return options;
}

Napi::Object timingsObject(Napi::Env env, const StepTimings& t) {
  auto out = Napi::Object::New(env);
  out.Set("augment", t.augment);
  out.Set("forward", t.forward);
  out.Set("backward", t.backward);
  out.Set("allReduce", t.allReduce);
  out.Set("optimizer", t.optimizer);
  out.Set("ema", t.ema);
  return out;
}

Napi::Value outcomeObject(Napi::Env env, StepOutcome& r) {
  auto out = Napi::Object::New(env);
  // On the CPU the values are already in host memory: hand them over as numbers (no tensor wrapper per step).
  // On a device they stay a tensor until JS reads them, since reading is a synchronisation.
  if (r.metrics.is_cpu()) {
    const at::Tensor values = r.metrics.to(at::kDouble).contiguous();
    out.Set("loss", values.data_ptr<double>()[0]);
    out.Set("collapse", values.data_ptr<double>()[1]);
  } else {
    out.Set("metrics", Tensor::wrap(env, r.metrics));
  }
  out.Set("optimizerStepped", r.optimizerStepped);
  out.Set("tau", r.tau);
  out.Set("step", static_cast<double>(r.step));
  out.Set("nonFiniteLoss", r.nonFiniteLoss);
  out.Set("gradientsSkipped", r.gradientsSkipped);
  if (r.lossScale > 0) out.Set("lossScale", r.lossScale);
  out.Set("timings", timingsObject(env, r.timings));
  return out;
}

class Learner : public Napi::ObjectWrap<Learner> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeLearner",
                       {
                           InstanceMethod<&Learner::guarded<&Learner::step>>("step"),
                           InstanceMethod<&Learner::guarded<&Learner::stepViews>>("stepViews"),
                           InstanceMethod<&Learner::guarded<&Learner::forward>>("forward"),
                           InstanceMethod<&Learner::guarded<&Learner::updateMovingAverage>>("updateMovingAverage"),
                           InstanceMethod<&Learner::guarded<&Learner::tau>>("tau"),
                           InstanceMethod<&Learner::guarded<&Learner::emaUpdates>>("emaUpdates"),
                           InstanceMethod<&Learner::guarded<&Learner::setEmaUpdates>>("setEmaUpdates"),
                           InstanceMethod<&Learner::guarded<&Learner::options>>("options"),
                           InstanceMethod<&Learner::guarded<&Learner::embed>>("embed"),
                           InstanceMethod<&Learner::guarded<&Learner::parameters>>("parameters"),
                           InstanceMethod<&Learner::guarded<&Learner::train>>("train"),
                           InstanceMethod<&Learner::guarded<&Learner::modules>>("modules"),
                           InstanceMethod<&Learner::guarded<&Learner::representationSize>>("representationSize"),
                           InstanceMethod<&Learner::guarded<&Learner::distribute>>("distribute"),
                           InstanceMethod<&Learner::guarded<&Learner::lossScaler>>("lossScaler"),
                           InstanceMethod<&Learner::guarded<&Learner::setLossScaler>>("setLossScaler"),
                       });
  }

  // new NativeLearner(encoder: Module, options: { imageSize, channels?, projectionSize?, projectionHiddenSize?,
  //                   useMomentum?, movingAverageDecay?, decaySchedule?, totalSteps?, copyBuffers? },
  //                   views?: [view1: AugmentOptions, view2: AugmentOptions])
  // `views`: when given, step() augments the raw batch itself with these options (parsed once, here).
  explicit Learner(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Learner>(info) {
    ::byol::binding::guarded(info.Env(), [&] {
      construct(info);
      return info.Env().Undefined();
    });
  }

  BYOL_GUARDED_METHODS(Learner)

 private:
  void construct(const Napi::CallbackInfo& info) {
    encoderHandle_ = Module::unwrap(info[0], "net");
    LearnerOptions options = learnerOptions(info[1]);
    options.channelsLast = encoderHandle_->channelsLast;
    const int64_t imageSize = intOption(info[1], "imageSize", 0);
    channels_ = intOption(info[1], "channels", 3);
    if (!info[2].IsUndefined()) {
      BYOL_EXPECT_TYPE(info[2].IsArray() && info[2].As<Napi::Array>().Length() == 2,
                       "views: expected [view1 options, view2 options], received ", describe(info[2]));
      const auto views = info[2].As<Napi::Array>();
      views_ = std::make_shared<std::pair<AugmentOptions, AugmentOptions>>(parseAugmentOptions(views.Get(0u)),
                                                                            parseAugmentOptions(views.Get(1u)));
    }
    EnvState::of(info.Env()).drain();
    const int64_t representationSize = probeRepresentationSize(encoderHandle_->module, channels_, imageSize);
    imageSize_ = imageSize;
    learner_ = std::make_shared<byol::Learner>(encoderHandle_->module, representationSize, options);
    learner_->train(true);
  }

  byol::Learner& settled() {
    EnvState::of(Env()).drain();
    return *learner_;
  }

  Napi::Value runStep(Napi::Env env, StepInput input, const Napi::Value& optimizerValue, const Napi::Value& options) {
    const OptimizerRef optimizer = unwrapOptimizer(optimizerValue, "optimizer");
    const StepOptions stepOptions_ = stepOptions(options, optimizer.lr);
    auto learner = learner_;
    return runJob<StepOutcome>(
        env,
        [learner, input = std::move(input), optimizer, stepOptions_] {
          return learner->step(input, *optimizer.optimizer, stepOptions_);
        },
        outcomeObject);
  }

  // step(images: Tensor, seed1: number, seed2: number, optimizer: NativeOptimizer,
  //      options?: { accumulate?, maxGradNorm? })
  //   -> Promise<{ loss: number, collapse: number (CPU) | metrics: Tensor [loss, collapse] (device),
  //                optimizerStepped, tau, step, nonFiniteLoss, timings }>
  // The whole step as one job: both views with the constructor's view options, forward, backward, and on the
  // last micro-batch the optimizer (with its lr at this call) and the EMA.
  Napi::Value step(const Napi::CallbackInfo& info) {
    BYOL_EXPECT_TYPE(views_ != nullptr, "step: this learner has no view options; pass views to stepViews()");
    at::Tensor images = Tensor::unwrapQueued(info[0], "images");
    StepInput input = StepInput::augmenting(images, views_->first, seedArg(info[1], "seed1"), views_->second,
                                            seedArg(info[2], "seed2"));
    return runStep(info.Env(), std::move(input), info[3], info[4]);
  }

  // stepViews(view1: Tensor, view2: Tensor, optimizer: NativeOptimizer, options?) -> as step(): views made by
  // the caller (user-supplied view functions).
  Napi::Value stepViews(const Napi::CallbackInfo& info) {
    StepInput input = StepInput::fromViews(Tensor::unwrapQueued(info[0], "view1"), Tensor::unwrapQueued(info[1], "view2"));
    return runStep(info.Env(), std::move(input), info[2], info[3]);
  }

  // forward(view1: Tensor, view2: Tensor) -> Promise<{ loss: Tensor, collapse: number }>: the loss with its
  // graph, for the byol-pytorch-shaped loop (loss.backward(), opt.step(), updateMovingAverage()).
  Napi::Value forward(const Napi::CallbackInfo& info) {
    at::Tensor v1 = Tensor::unwrapQueued(info[0], "view1"), v2 = Tensor::unwrapQueued(info[1], "view2");
    auto learner = learner_;
    using Result = std::pair<at::Tensor, double>;
    return runJob<Result>(
        info.Env(),
        [learner, v1, v2] {
          auto out = learner->forward(v1, v2);
          return Result{out.loss, collapseStd(out.onlineProjections)};
        },
        [](Napi::Env env, Result& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("loss", Tensor::wrap(env, r.first));
          out.Set("collapse", r.second);
          return out;
        });
  }

  // updateMovingAverage() -> Promise<number>: the EMA of the target (and the buffer copy) as one job; resolves
  // with the tau it used.
  Napi::Value updateMovingAverage(const Napi::CallbackInfo& info) {
    auto learner = learner_;
    return runJob<double>(
        info.Env(), [learner] { return learner->updateTarget(); },
        [](Napi::Env env, double& tau) -> Napi::Value { return Napi::Number::New(env, tau); });
  }

  // tau() -> number: the tau the next EMA update uses (waits for queued jobs).
  Napi::Value tau(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), settled().tau()); }

  // emaUpdates() -> number; setEmaUpdates(n: number): the schedule's position (checkpoints).
  Napi::Value emaUpdates(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(settled().emaUpdates()));
  }
  Napi::Value setEmaUpdates(const Napi::CallbackInfo& info) {
    const double n = numberArg(info[0], "state.step");
    BYOL_EXPECT_RANGE(n >= 0 && std::floor(n) == n && n <= 9007199254740991.0,
                      "state.step: expected a non-negative integer, received ", n);
    settled().setEmaUpdates(static_cast<int64_t>(n));
    return info.Env().Undefined();
  }

  // lossScaler() -> { scale, finiteSteps } (fp16) | undefined: the scaler's state, for checkpoints.
  Napi::Value lossScaler(const Napi::CallbackInfo& info) {
    const LossScaler* scaler = settled().lossScaler();
    if (scaler == nullptr) return info.Env().Undefined();
    auto out = Napi::Object::New(info.Env());
    out.Set("scale", scaler->value());
    out.Set("finiteSteps", static_cast<double>(scaler->finiteSteps()));
    return out;
  }

  // setLossScaler(scale: number, finiteSteps: number): restores it (a resume); ignored without a scaler (the
  // checkpoint of an fp16 run resumed in bf16/fp32).
  Napi::Value setLossScaler(const Napi::CallbackInfo& info) {
    const double scale = numberArg(info[0], "lossScale");
    const int64_t finiteSteps = intArg(info[1], "lossScaleFiniteSteps");
    if (LossScaler* scaler = settled().lossScaler()) scaler->restore(scale, finiteSteps);
    return info.Env().Undefined();
  }

  // options() -> the resolved options, every default filled in by core.
  Napi::Value options(const Napi::CallbackInfo& info) {
    const LearnerOptions& o = learner_->options();
    auto out = Napi::Object::New(info.Env());
    out.Set("imageSize", static_cast<double>(imageSize_));
    out.Set("channels", static_cast<double>(channels_));
    out.Set("projectionSize", static_cast<double>(o.projectionSize));
    out.Set("projectionHiddenSize", static_cast<double>(o.projectionHiddenSize));
    out.Set("useMomentum", o.useMomentum);
    out.Set("movingAverageDecay", o.movingAverageDecay);
    out.Set("decaySchedule", decayScheduleName(o.decaySchedule));
    if (o.totalSteps > 0) out.Set("totalSteps", static_cast<double>(o.totalSteps));
    out.Set("copyBuffers", o.copyBuffers);
    out.Set("precision", precisionName(o.precision));
    out.Set("device", learner_->device().str());
    return out;
  }

  // embed(images: Tensor, withProjection: boolean) -> Promise<{ representation: Tensor, projection?: Tensor }>
  Napi::Value embed(const Napi::CallbackInfo& info) {
    at::Tensor images = Tensor::unwrapQueued(info[0], "images");
    const bool withProjection = boolArg(info[1], "projection");
    BYOL_EXPECT_RANGE(images.dim() == 4 && images.size(0) >= 1, "embed: images: expected [N, C, H, W], received shape ",
                      shapeOf(images));
    auto learner = learner_;
    using Pair = std::pair<at::Tensor, at::Tensor>;
    return runJob<Pair>(
        info.Env(), [learner, images, withProjection] { return learner->embed(images, withProjection); },
        [](Napi::Env env, Pair& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("representation", Tensor::wrap(env, r.first));
          if (r.second.defined()) out.Set("projection", Tensor::wrap(env, r.second));
          return out;
        });
  }

  // parameters(which: 'online' | 'target' | 'emaSources') -> [string, Tensor][]
  Napi::Value parameters(const Napi::CallbackInfo& info) {
    const std::string which = stringArg(info[0], "which");
    auto& l = settled();
    if (which == "online") return Tensor::wrapNamed(info.Env(), l.onlineParameters());
    if (which == "target") return Tensor::wrapNamed(info.Env(), l.targetParameters());
    if (which == "emaSources") return Tensor::wrapNamed(info.Env(), l.emaSourceParameters());
    throw TypeError(message("which: expected 'online', 'target' or 'emaSources', received '", which, "'"));
  }

  // train(flag: boolean)
  Napi::Value train(const Napi::CallbackInfo& info) {
    const bool flag = boolArg(info[0], "mode");
    settled().train(flag);
    return info.Env().Undefined();
  }

  // modules() -> { projector: Module, predictor: Module, targetEncoder?: Module, targetProjector?: Module }
  // Handles sharing the learner's networks, for saving and loading checkpoints.
  Napi::Value modules(const Napi::CallbackInfo& info) {
    auto& l = settled();
    Napi::Env env = info.Env();
    auto handle = [&](torch::nn::AnyModule module, const char* kind) {
      auto h = std::make_shared<ModuleHandle>();
      h->module = std::move(module);
      h->kind = kind;
      h->channelsLast = encoderHandle_->channelsLast;
      return Module::wrap(env, h);
    };
    auto out = Napi::Object::New(env);
    out.Set("projector", handle(torch::nn::AnyModule(l.projector()), "mlp"));
    out.Set("predictor", handle(torch::nn::AnyModule(l.predictor()), "mlp"));
    if (l.options().useMomentum) {
      out.Set("targetEncoder", handle(l.targetEncoder(), encoderHandle_->kind.c_str()));
      out.Set("targetProjector", handle(torch::nn::AnyModule(l.targetProjector()), "mlp"));
    }
    return out;
  }

  // distribute(group: NativeProcessGroup, optimizer: NativeOptimizer | undefined,
  //            options?: { syncBatchNorm?: boolean, bucketBytes?: number }) -> Promise<void>
  // Rank 0's weights, buffers, optimizer state and schedule position on every rank, then data-parallel steps
  // over `group`. Collective: every rank calls it; calling it again (after a resume) broadcasts again.
  Napi::Value distribute(const Napi::CallbackInfo& info) {
    auto group = unwrapProcessGroup(info[0], "group");
    std::shared_ptr<Optimizer> optimizer;
    if (!info[1].IsUndefined()) optimizer = unwrapOptimizer(info[1], "optimizer").optimizer;
    DataParallelOptions options;
    if (!info[2].IsUndefined()) {
      BYOL_EXPECT_TYPE(info[2].IsObject() && !info[2].IsArray(), "options: expected an object, received ",
                       describe(info[2]));
      options.syncBatchNorm = boolOption(info[2], "syncBatchNorm", options.syncBatchNorm);
      options.bucketBytes = intOption(info[2], "bucketBytes", options.bucketBytes);
      BYOL_EXPECT_RANGE(options.bucketBytes >= 1, "bucketBytes: expected a positive integer, received ",
                        options.bucketBytes);
    }
    auto learner = learner_;
    return runVoidJob(info.Env(), [learner, group, optimizer, options] {
      broadcastTrainingState(*learner, optimizer.get(), *group);
      learner->setDataParallel(group, options);
    });
  }

  Napi::Value representationSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(learner_->representationSize()));
  }

  std::shared_ptr<ModuleHandle> encoderHandle_;
  std::shared_ptr<byol::Learner> learner_;
  std::shared_ptr<const std::pair<AugmentOptions, AugmentOptions>> views_;
  int64_t imageSize_ = 0;
  int64_t channels_ = 3;
};

}  // namespace

void InitLearner(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeLearner", Learner::Define(env));
}

}  // namespace byol::binding
