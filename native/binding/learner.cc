// The native BYOL learner: one JS object owning the online and target networks (native/core/learner.h).
//
// JS arguments: every method documents its arguments as `name: JS type`.
#include <napi.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/module.h"
#include "binding/tensor.h"
#include "core/errors.h"
#include "core/byol_loss.h"
#include "core/learner.h"
#include "core/tensor_checks.h"

namespace byol::binding {
namespace {

struct ForwardResult {
  at::Tensor loss;
  double collapse = 0;
  double forwardMs = 0;
  double backwardMs = 0;
};

double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

Napi::Object forwardResult(Napi::Env env, ForwardResult& r, bool withGraph) {
  auto out = Napi::Object::New(env);
  if (withGraph) out.Set("loss", Tensor::wrap(env, r.loss));
  else out.Set("loss", r.loss.item<double>());
  out.Set("collapse", r.collapse);
  out.Set("forwardMs", r.forwardMs);
  out.Set("backwardMs", r.backwardMs);
  return out;
}

class Learner : public Napi::ObjectWrap<Learner> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeLearner",
                       {
                           InstanceMethod<&Learner::guarded<&Learner::forward>>("forward"),
                           InstanceMethod<&Learner::guarded<&Learner::forwardBackward>>("forwardBackward"),
                           InstanceMethod<&Learner::guarded<&Learner::embed>>("embed"),
                           InstanceMethod<&Learner::guarded<&Learner::parameters>>("parameters"),
                           InstanceMethod<&Learner::guarded<&Learner::train>>("train"),
                           InstanceMethod<&Learner::guarded<&Learner::modules>>("modules"),
                           InstanceMethod<&Learner::guarded<&Learner::representationSize>>("representationSize"),
                       });
  }

  // new NativeLearner(encoder: Module, options: { imageSize, channels, projectionSize, projectionHiddenSize,
  //                   useMomentum })
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
    const Napi::Value o = info[1];
    const int64_t imageSize = intOption(o, "imageSize", 0);
    const int64_t channels = intOption(o, "channels", 3);
    LearnerOptions options;
    options.projectionSize = intOption(o, "projectionSize", 256);
    options.projectionHiddenSize = intOption(o, "projectionHiddenSize", 4096);
    options.useMomentum = boolOption(o, "useMomentum", true);
    options.channelsLast = encoderHandle_->channelsLast;
    EnvState::of(info.Env()).drain();
    const int64_t representationSize = probeRepresentationSize(encoderHandle_->module, channels, imageSize);
    learner_ = std::make_shared<byol::Learner>(encoderHandle_->module, representationSize, options);
    learner_->train(true);
  }

  byol::Learner& settled() {
    EnvState::of(Env()).drain();
    return *learner_;
  }

  std::pair<at::Tensor, at::Tensor> views(const Napi::CallbackInfo& info) {
    at::Tensor v1 = Tensor::unwrapQueued(info[0], "view1"), v2 = Tensor::unwrapQueued(info[1], "view2");
    BYOL_EXPECT_RANGE(v1.sizes() == v2.sizes(), "forward: expected both views of the same shape, received ",
                      shapeOf(v1), " and ", shapeOf(v2));
    BYOL_EXPECT_RANGE(v1.dim() == 4 && v1.size(0) >= 2,
                      "forward: expected [N, C, H, W] views with N >= 2 (BatchNorm needs 2 images per view), "
                      "received shape ", shapeOf(v1));
    return {v1, v2};
  }

  // forward(view1: Tensor, view2: Tensor) -> Promise<{ loss: Tensor, collapse: number }>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    auto [v1, v2] = views(info);
    auto learner = learner_;
    return runJob<ForwardResult>(
        info.Env(),
        [learner, v1 = v1, v2 = v2] {
          auto out = learner->forward(v1, v2);
          return ForwardResult{out.loss, collapseStd(out.onlineProjections)};
        },
        [](Napi::Env env, ForwardResult& r) -> Napi::Value { return forwardResult(env, r, true); });
  }

  // forwardBackward(view1: Tensor, view2: Tensor, lossScale: number) -> Promise<{ loss: number, collapse: number }>
  // Gradients of lossScale * loss accumulate into the online parameters' .grad (lossScale 1/k for k-step
  // gradient accumulation).
  Napi::Value forwardBackward(const Napi::CallbackInfo& info) {
    auto [v1, v2] = views(info);
    const double scale = info[2].IsUndefined() ? 1.0 : numberArg(info[2], "lossScale");
    BYOL_EXPECT_RANGE(scale > 0 && std::isfinite(scale), "lossScale: expected a positive number, received ", scale);
    auto learner = learner_;
    return runJob<ForwardResult>(
        info.Env(),
        [learner, v1 = v1, v2 = v2, scale] {
          at::GradMode::set_enabled(true);  // training always records the graph
          const auto start = std::chrono::steady_clock::now();
          auto out = learner->forward(v1, v2);
          const double forwardMs = millisecondsSince(start);
          const auto backwardStart = std::chrono::steady_clock::now();
          (scale == 1.0 ? out.loss : out.loss * scale).backward();
          const double backwardMs = millisecondsSince(backwardStart);
          return ForwardResult{out.loss.detach(), collapseStd(out.onlineProjections), forwardMs, backwardMs};
        },
        [](Napi::Env env, ForwardResult& r) -> Napi::Value { return forwardResult(env, r, false); });
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

  // parameters(which: 'online' | 'target' | 'emaSources' | 'targetBuffers' | 'emaSourceBuffers') -> [string, Tensor][]
  Napi::Value parameters(const Napi::CallbackInfo& info) {
    const std::string which = stringArg(info[0], "which");
    auto& l = settled();
    if (which == "online") return Tensor::wrapNamed(info.Env(), l.onlineParameters());
    if (which == "target") return Tensor::wrapNamed(info.Env(), l.targetParameters());
    if (which == "emaSources") return Tensor::wrapNamed(info.Env(), l.emaSourceParameters());
    if (which == "targetBuffers") return Tensor::wrapNamed(info.Env(), l.targetBuffers());
    if (which == "emaSourceBuffers") return Tensor::wrapNamed(info.Env(), l.emaSourceBuffers());
    throw TypeError(message("which: expected 'online', 'target', 'emaSources', 'targetBuffers' or "
                            "'emaSourceBuffers', received '", which, "'"));
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

  Napi::Value representationSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(learner_->representationSize()));
  }

  std::shared_ptr<ModuleHandle> encoderHandle_;
  std::shared_ptr<byol::Learner> learner_;
};

}  // namespace

void InitLearner(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeLearner", Learner::Define(env));
}

}  // namespace byol::binding
