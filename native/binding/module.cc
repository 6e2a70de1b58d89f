#include "binding/module.h"

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/env_state.h"
#include "binding/tensor.h"
#include "core/channels_last.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/group_batch_norm.h"
#include "core/layers.h"
#include "core/mlp.h"
#include "core/resnet.h"
#include "core/state_dict.h"

namespace byol::binding {
namespace {

Napi::Array stringArray(Napi::Env env, const std::vector<std::string>& items) {
  auto out = Napi::Array::New(env, items.size());
  for (uint32_t i = 0; i < items.size(); ++i) out.Set(i, items[i]);
  return out;
}

std::shared_ptr<ModuleHandle> handleOf(torch::nn::AnyModule module, std::string kind) {
  auto h = std::make_shared<ModuleHandle>();
  h->module = std::move(module);
  h->kind = std::move(kind);
  return h;
}

Napi::Value createModule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = stringArg(info[0], "kind");
  const Napi::Value o = info[1];
  BYOL_EXPECT_TYPE(o.IsUndefined() || o.IsObject(), kind, ": options: expected an object, received ",
                   binding::describe(o));
  if (kind == "resnet") {
    const int64_t depth = intOption(o, "depth", 50);
    BYOL_EXPECT_RANGE(isResNetDepth(depth), "resnet: depth: expected 18, 34, 50, 101 or 152, received ", depth);
    auto options = ResNetOptions()
                       .depth(depth)
                       .in_channels(intOption(o, "inChannels", 3))
                       .small_stem(boolOption(o, "smallStem", false))
                       .classifier(boolOption(o, "classifier", true))
                       .num_classes(intOption(o, "numClasses", 1000))
                       .hidden_layer(stringOption(o, "hiddenLayer", "avgpool"))
                       .zero_init_residual(boolOption(o, "zeroInitResidual", false));
    return Module::wrap(env, handleOf(torch::nn::AnyModule(ResNet(options)), "resnet" + std::to_string(depth)));
  }
  if (kind == "mlp") {
    auto options = MLPOptions(intOption(o, "inFeatures", 2048));  // core's defaults for the sizes not given
    options.hidden_size(intOption(o, "hiddenSize", options.hidden_size()));
    options.out_features(intOption(o, "projectionSize", options.out_features()));
    return Module::wrap(env, handleOf(torch::nn::AnyModule(MLP(options)), "mlp"));
  }
  if (kind == "conv2d") {
    Conv2dSpec s;
    s.inChannels = intArg(option(o, "inChannels"), "inChannels");
    s.outChannels = intArg(option(o, "outChannels"), "outChannels");
    s.kernelSize = intOption(o, "kernelSize", 3);
    s.stride = intOption(o, "stride", 1);
    s.padding = intOption(o, "padding", 0);
    s.dilation = intOption(o, "dilation", 1);
    s.groups = intOption(o, "groups", 1);
    s.bias = boolOption(o, "bias", true);
    return Module::wrap(env, handleOf(makeConv2d(s), kind));
  }
  if (kind == "batchNorm1d" || kind == "batchNorm2d") {
    return Module::wrap(env, handleOf(makeBatchNorm(kind == "batchNorm1d" ? 1 : 2,
                                                    intArg(option(o, "numFeatures"), "numFeatures"),
                                                    numberOption(o, "eps", 1e-5), numberOption(o, "momentum", 0.1)),
                                      kind));
  }
  if (kind == "relu") return Module::wrap(env, handleOf(makeReLU(), kind));
  if (kind == "maxPool2d") {
    const int64_t k = intArg(option(o, "kernelSize"), "kernelSize");
    return Module::wrap(env, handleOf(makeMaxPool2d(k, intOption(o, "stride", k), intOption(o, "padding", 0)), kind));
  }
  if (kind == "adaptiveAvgPool2d") {
    const int64_t size = intOption(o, "outputSize", 1);
    return Module::wrap(env, handleOf(makeAdaptiveAvgPool2d(size, size), kind));
  }
  if (kind == "flatten") {
    return Module::wrap(env, handleOf(makeFlatten(intOption(o, "startDim", 1), intOption(o, "endDim", -1)), kind));
  }
  if (kind == "linear") {
    return Module::wrap(env, handleOf(makeLinear(intArg(option(o, "inFeatures"), "inFeatures"),
                                                 intArg(option(o, "outFeatures"), "outFeatures"),
                                                 boolOption(o, "bias", true)),
                                      kind));
  }
  if (kind == "sequential") {
    Napi::Value layers = option(o, "layers");
    BYOL_EXPECT_TYPE(layers.IsArray(), "sequential: layers: expected an array of modules, received ",
                     binding::describe(layers));
    auto array = layers.As<Napi::Array>();
    BYOL_EXPECT_RANGE(array.Length() >= 1, "sequential: layers: expected at least one module, received none");
    std::vector<torch::nn::AnyModule> modules;
    for (uint32_t i = 0; i < array.Length(); ++i) modules.push_back(Module::unwrap(array.Get(i), "layers")->module);
    return Module::wrap(env, handleOf(makeSequential(modules), kind));
  }
  throw TypeError(message("kind: expected one of resnet, mlp, conv2d, batchNorm1d, batchNorm2d, relu, maxPool2d, "
                          "adaptiveAvgPool2d, flatten, linear, sequential, received '",
                          kind, "'"));
}

}  // namespace

void Module::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "NativeModule",
      {
          InstanceMethod<&Module::guarded<&Module::forward>>("forward"),
          InstanceMethod<&Module::guarded<&Module::namedParameters>>("namedParameters"),
          InstanceMethod<&Module::guarded<&Module::namedBuffers>>("namedBuffers"),
          InstanceMethod<&Module::guarded<&Module::stateDict>>("stateDict"),
          InstanceMethod<&Module::guarded<&Module::train>>("train"),
          InstanceMethod<&Module::guarded<&Module::isTraining>>("isTraining"),
          InstanceMethod<&Module::guarded<&Module::to>>("to"),
          InstanceMethod<&Module::guarded<&Module::channelsLast>>("channelsLast"),
          InstanceMethod<&Module::guarded<&Module::device>>("device"),
          InstanceMethod<&Module::guarded<&Module::clone>>("clone"),
          InstanceMethod<&Module::guarded<&Module::freeze>>("freeze"),
          InstanceMethod<&Module::guarded<&Module::numParameters>>("numParameters"),
          InstanceMethod<&Module::guarded<&Module::save>>("save"),
          InstanceMethod<&Module::guarded<&Module::load>>("load"),
          InstanceMethod<&Module::guarded<&Module::describe>>("describe"),
          InstanceMethod<&Module::guarded<&Module::setHiddenLayer>>("setHiddenLayer"),
      });
  EnvState::of(env).moduleConstructor = Napi::Persistent(ctor);
  exports.Set("NativeModule", ctor);
}

Napi::Object Module::wrap(Napi::Env env, std::shared_ptr<ModuleHandle> handle) {
  Napi::Object object = EnvState::of(env).moduleConstructor.New({});
  Module::Unwrap(object)->handle_ = std::move(handle);
  return object;
}

std::shared_ptr<ModuleHandle> Module::unwrap(const Napi::Value& value, const char* name) {
  const bool ok = value.IsObject() && value.As<Napi::Object>().InstanceOf(EnvState::of(value.Env()).moduleConstructor.Value());
  BYOL_EXPECT_TYPE(ok, name, ": expected a Module, received ", binding::describe(value));
  auto handle = Module::Unwrap(value.As<Napi::Object>())->handle_;
  BYOL_EXPECT_TYPE(handle != nullptr, name, ": expected a Module created by a factory (resnet, mlp, ...)");
  return handle;
}

Module::Module(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Module>(info) {}

ModuleHandle& Module::settled() {
  BYOL_EXPECT_TYPE(handle_ != nullptr, "Module: expected a module created by a factory (resnet, mlp, ...)");
  EnvState::of(Env()).drain();
  return *handle_;
}

Napi::Value Module::forward(const Napi::CallbackInfo& info) {
  BYOL_EXPECT_TYPE(handle_ != nullptr, "forward: expected a module created by a factory");
  at::Tensor input = Tensor::unwrapQueued(info[0], "input");  // no waiting: the job queues behind the others
  const int64_t groups = info[1].IsUndefined() ? 1 : intArg(info[1], "groups");
  BYOL_EXPECT_RANGE(groups >= 1, "forward: groups: expected a positive integer, received ", groups);
  BYOL_EXPECT_RANGE(input.dim() >= 1 && input.size(0) % groups == 0, "forward: input: expected a batch of ", groups,
                    " equal groups (batch size divisible by ", groups, "), received shape ",
                    formatShape(input.sizes().vec()));
  auto handle = handle_;
  return runJob<at::Tensor>(
      info.Env(),
      [handle, input, groups]() mutable {
        if (handle->channelsLast) input = toChannelsLast(input);
        BatchNormGroupsScope scope({&handle->get()}, groups);
        return handle->module.forward<at::Tensor>(input);
      },
      [](Napi::Env env, at::Tensor& out) -> Napi::Value { return Tensor::wrap(env, out); });
}

Napi::Value Module::namedParameters(const Napi::CallbackInfo& info) {
  NamedTensors out;
  for (const auto& p : settled().get().named_parameters()) out.emplace_back(p.key(), p.value());
  return Tensor::wrapNamed(info.Env(), out);
}

Napi::Value Module::namedBuffers(const Napi::CallbackInfo& info) {
  NamedTensors out;
  for (const auto& b : settled().get().named_buffers()) out.emplace_back(b.key(), b.value());
  return Tensor::wrapNamed(info.Env(), out);
}

Napi::Value Module::stateDict(const Napi::CallbackInfo& info) {
  return Tensor::wrapNamed(info.Env(), byol::stateDict(settled().get()));
}

Napi::Value Module::train(const Napi::CallbackInfo& info) {
  const bool flag = info[0].IsUndefined() ? true : boolArg(info[0], "mode");
  settled().get().train(flag);
  return info.This();
}

Napi::Value Module::isTraining(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), settled().get().is_training());
}

Napi::Value Module::to(const Napi::CallbackInfo& info) {
  const at::Device device = deviceArg(info[0], "device");
  // On CUDA channels-last is the default (cuDNN's fastest convolution layout, with tensor cores); the caller
  // may say otherwise. Elsewhere the module keeps its layout.
  const bool channelsLast = boolOption(info[1], "channelsLast", device.is_cuda());
  ModuleHandle& h = settled();
  h.get().to(device);
  if (device.is_cuda()) h.channelsLast = channelsLast;
  if (h.channelsLast) makeChannelsLast(h.get());  // to() may have made the weights contiguous again
  return info.This();
}

Napi::Value Module::device(const Napi::CallbackInfo& info) {
  const auto parameters = settled().get().parameters();
  return Napi::String::New(info.Env(), parameters.empty() ? "cpu" : parameters.front().device().str());
}

Napi::Value Module::channelsLast(const Napi::CallbackInfo& info) {
  ModuleHandle& h = settled();
  makeChannelsLast(h.get());
  h.channelsLast = true;
  return info.This();
}

Napi::Value Module::clone(const Napi::CallbackInfo& info) {
  ModuleHandle& h = settled();
  auto copy = std::make_shared<ModuleHandle>();
  copy->module = h.module.clone();
  copy->kind = h.kind;
  copy->channelsLast = h.channelsLast;
  return Module::wrap(info.Env(), copy);
}

Napi::Value Module::freeze(const Napi::CallbackInfo& info) {
  const bool frozen = info[0].IsUndefined() ? true : boolArg(info[0], "frozen");
  for (auto& p : settled().get().parameters()) p.requires_grad_(!frozen);
  return info.This();
}

Napi::Value Module::numParameters(const Napi::CallbackInfo& info) {
  const bool trainableOnly = info[0].IsUndefined() ? false : boolArg(info[0], "trainableOnly");
  int64_t n = 0;
  for (const auto& p : settled().get().parameters()) {
    if (!trainableOnly || p.requires_grad()) n += p.numel();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value Module::save(const Napi::CallbackInfo& info) {
  BYOL_EXPECT_TYPE(handle_ != nullptr, "save: expected a module created by a factory");
  const std::string path = stringArg(info[0], "path");
  const at::ScalarType dtype = info[1].IsUndefined() ? at::kFloat : dtypeArg(info[1], "dtype");
  BYOL_EXPECT_TYPE(dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16,
                   "save: dtype: expected float32, float16 or bfloat16, received ", dtypeName(dtype));
  auto handle = handle_;
  return runVoidJob(info.Env(), [handle, path, dtype] { saveModule(handle->get(), path, dtype); });
}

Napi::Value Module::load(const Napi::CallbackInfo& info) {
  BYOL_EXPECT_TYPE(handle_ != nullptr, "load: expected a module created by a factory");
  const std::string path = stringArg(info[0], "path");
  const bool strict = info[1].IsUndefined() ? true : boolArg(info[1], "strict");
  auto handle = handle_;
  return runJob<LoadResult>(
      info.Env(), [handle, path, strict] { return loadModule(handle->get(), path, strict); },
      [](Napi::Env env, LoadResult& r) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("missing", stringArray(env, r.missing));
        out.Set("unexpected", stringArray(env, r.unexpected));
        return out;
      });
}

Napi::Value Module::describe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModuleHandle& h = settled();
  auto out = Napi::Object::New(env);
  out.Set("kind", h.kind);
  out.Set("training", h.get().is_training());
  out.Set("channelsLast", h.channelsLast);
  if (auto* net = dynamic_cast<ResNetImpl*>(&h.get())) {
    out.Set("hiddenLayer", net->options.hidden_layer());
    out.Set("layerNames", stringArray(env, net->layerNames()));
    out.Set("featureSize", static_cast<double>(net->featureSize()));
    out.Set("minImageSize", static_cast<double>(net->minImageSize()));
    out.Set("inChannels", static_cast<double>(net->options.in_channels()));
  } else if (auto* mlp = dynamic_cast<MLPImpl*>(&h.get())) {
    out.Set("inFeatures", static_cast<double>(mlp->options.in_features()));
    out.Set("hiddenSize", static_cast<double>(mlp->options.hidden_size()));
    out.Set("projectionSize", static_cast<double>(mlp->options.out_features()));
  }
  std::ostringstream repr;
  repr << h.get();
  out.Set("repr", repr.str());
  return out;
}

Napi::Value Module::setHiddenLayer(const Napi::CallbackInfo& info) {
  const std::string name = stringArg(info[0], "hiddenLayer");
  auto* net = dynamic_cast<ResNetImpl*>(&settled().get());
  BYOL_EXPECT_TYPE(net != nullptr, "setHiddenLayer: expected a ResNet, received a ", handle_->kind);
  net->setHiddenLayer(name);
  return info.This();
}

void InitModules(Napi::Env env, Napi::Object exports) {
  Module::Init(env, exports);
  exports.Set("createModule", Napi::Function::New<guardedFunction<createModule>>(env, "createModule"));
}

}  // namespace byol::binding
