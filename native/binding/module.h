// The native Module class: one JS object per network (a ResNet, an MLP head, a basic layer or a
// sequence of them), wrapping a shared, type-erased torch module. lib/nn.ts wraps it.
//
// JS arguments: every method documents its arguments as `name: JS type`.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <memory>
#include <string>

#include "binding/errors.h"

namespace byol::binding {

// What a JS Module owns; jobs hold the shared_ptr so a module stays alive while it is in use.
struct ModuleHandle {
  torch::nn::AnyModule module;
  std::string kind;            // "resnet50", "mlp", "conv2d", "sequential", ...
  bool channelsLast = false;   // 4-d inputs are converted to channels-last before forward
  torch::nn::Module& get() const { return *module.ptr(); }
};

class Module : public Napi::ObjectWrap<Module> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object wrap(Napi::Env env, std::shared_ptr<ModuleHandle> handle);
  static std::shared_ptr<ModuleHandle> unwrap(const Napi::Value& value, const char* name);

  explicit Module(const Napi::CallbackInfo& info);
  BYOL_GUARDED_METHODS(Module)

 private:
  // The handle, after every queued job has run (for synchronous methods that read or change the module).
  ModuleHandle& settled();

  Napi::Value forward(const Napi::CallbackInfo& info);          // (input: Tensor, groups?: number) -> Promise<Tensor>
  Napi::Value namedParameters(const Napi::CallbackInfo& info);  // () -> [string, Tensor][]
  Napi::Value namedBuffers(const Napi::CallbackInfo& info);     // () -> [string, Tensor][]
  Napi::Value stateDict(const Napi::CallbackInfo& info);        // () -> [string, Tensor][] (torchvision order)
  Napi::Value train(const Napi::CallbackInfo& info);            // (flag: boolean)
  Napi::Value isTraining(const Napi::CallbackInfo& info);       // () -> boolean
  Napi::Value to(const Napi::CallbackInfo& info);               // (device: string)
  Napi::Value channelsLast(const Napi::CallbackInfo& info);     // ()
  Napi::Value device(const Napi::CallbackInfo& info);           // () -> 'cpu' | 'cuda:N' (its first parameter's)
  Napi::Value clone(const Napi::CallbackInfo& info);            // () -> Module (deep copy)
  Napi::Value freeze(const Napi::CallbackInfo& info);           // (frozen: boolean)
  Napi::Value numParameters(const Napi::CallbackInfo& info);    // (trainableOnly: boolean) -> number
  Napi::Value save(const Napi::CallbackInfo& info);             // (path: string, dtype: string) -> Promise<void>
  Napi::Value load(const Napi::CallbackInfo& info);             // (path: string, strict: boolean) -> Promise<{missing, unexpected}>
  Napi::Value describe(const Napi::CallbackInfo& info);         // () -> { kind, hiddenLayer?, layerNames?, featureSize?, ... }
  Napi::Value setHiddenLayer(const Napi::CallbackInfo& info);   // (name: string), ResNets only

  std::shared_ptr<ModuleHandle> handle_;
};

// createModule(kind: string, options: object) -> Module; kinds: resnet, mlp, conv2d, batchNorm1d,
// batchNorm2d, relu, maxPool2d, adaptiveAvgPool2d, flatten, linear, sequential.
void InitModules(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
