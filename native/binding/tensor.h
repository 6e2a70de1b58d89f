// The native Tensor class: owns one at::Tensor handle for a JS Tensor (lib/tensor.ts wraps it).
//
// JS arguments: every method documents its arguments as `name: JS type`.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include "binding/errors.h"

#include <string>
#include <utility>
#include <vector>

namespace byol::binding {

class Tensor : public Napi::ObjectWrap<Tensor> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // Wraps `t` in a new JS object. The JS side owns it from then on.
  static Napi::Object wrap(Napi::Env env, at::Tensor t);
  // The tensor behind a JS value, or a TypeError naming `name`. Waits for pending jobs (see drain()).
  static at::Tensor unwrap(const Napi::Value& value, const char* name);
  // The same for an input of a job: no waiting, since the job is queued behind the pending ones anyway.
  static at::Tensor unwrapQueued(const Napi::Value& value, const char* name);
  static bool isTensor(const Napi::Value& value);
  // [name, Tensor][] from named tensors (sharing storage).
  static Napi::Array wrapNamed(Napi::Env env, const std::vector<std::pair<std::string, at::Tensor>>& tensors);

  explicit Tensor(const Napi::CallbackInfo& info);
  ~Tensor() override;

  BYOL_GUARDED_METHODS(Tensor)

 private:
  // The handle for an op: throws if disposed; `sync` ops first wait for every pending job, so JS
  // never reads or writes data a job is still using.
  const at::Tensor& handle(const char* op, bool sync = true);
  void adopt(Napi::Env env, at::Tensor t);
  void release(Napi::Env env);

  // Metadata (no waiting)
  Napi::Value shape(const Napi::CallbackInfo& info);
  Napi::Value dtype(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value numel(const Napi::CallbackInfo& info);
  Napi::Value isDisposed(const Napi::CallbackInfo& info);
  Napi::Value isContiguous(const Napi::CallbackInfo& info);
  Napi::Value isChannelsLast(const Napi::CallbackInfo& info);
  // Autograd
  Napi::Value requiresGrad(const Napi::CallbackInfo& info);
  Napi::Value setRequiresGrad(const Napi::CallbackInfo& info);  // (flag: boolean)
  Napi::Value grad(const Napi::CallbackInfo& info);             // -> Tensor | null
  Napi::Value zeroGrad(const Napi::CallbackInfo& info);
  Napi::Value backward(const Napi::CallbackInfo& info);         // (gradient?: Tensor) -> Promise<void>
  // Conversion
  Napi::Value toDevice(const Napi::CallbackInfo& info);         // (device: string)
  Napi::Value toDtype(const Napi::CallbackInfo& info);          // (dtype: string)
  Napi::Value contiguous(const Napi::CallbackInfo& info);
  Napi::Value channelsLast(const Napi::CallbackInfo& info);
  Napi::Value pin(const Napi::CallbackInfo& info);       // () -> a pinned copy (itself when pinned / no CUDA)
  Napi::Value isPinned(const Napi::CallbackInfo& info);  // () -> boolean
  Napi::Value data(const Napi::CallbackInfo& info);             // () -> Promise<TypedArray>
  Napi::Value dataSync(const Napi::CallbackInfo& info);         // () -> TypedArray
  Napi::Value item(const Napi::CallbackInfo& info);             // () -> number
  // Math
  Napi::Value binary(const Napi::CallbackInfo& info);    // (op: string, other: Tensor | number, inPlace: boolean)
  Napi::Value unary(const Napi::CallbackInfo& info);     // (op: string, inPlace: boolean)
  Napi::Value reduce(const Napi::CallbackInfo& info);    // (op: 'sum'|'mean', dims?: number[], keepDim: boolean)
  Napi::Value clamp(const Napi::CallbackInfo& info);     // (min?: number, max?: number, inPlace: boolean)
  Napi::Value normalize(const Napi::CallbackInfo& info); // (p: number, dim: number, eps: number)
  Napi::Value argmax(const Napi::CallbackInfo& info);    // (dim: number, keepDim: boolean)
  Napi::Value matmul(const Napi::CallbackInfo& info);    // (other: Tensor) -> Promise<Tensor>
  // Shape
  Napi::Value view(const Napi::CallbackInfo& info);      // (shape: number[])
  Napi::Value reshape(const Napi::CallbackInfo& info);   // (shape: number[])
  Napi::Value permute(const Napi::CallbackInfo& info);   // (dims: number[])
  Napi::Value transpose(const Napi::CallbackInfo& info); // (dim0: number, dim1: number)
  Napi::Value flatten(const Napi::CallbackInfo& info);   // (startDim: number, endDim: number)
  Napi::Value unsqueeze(const Napi::CallbackInfo& info); // (dim: number)
  Napi::Value squeeze(const Napi::CallbackInfo& info);   // (dim: number)
  Napi::Value chunk(const Napi::CallbackInfo& info);     // (chunks: number, dim: number) -> Tensor[]
  Napi::Value select(const Napi::CallbackInfo& info);    // (dim: number, index: number)
  Napi::Value slice(const Napi::CallbackInfo& info);     // (dim: number, start: number, end: number, step: number)
  Napi::Value indexSelect(const Napi::CallbackInfo& info);  // (dim: number, index: Tensor int64)
  Napi::Value clone(const Napi::CallbackInfo& info);
  Napi::Value detach(const Napi::CallbackInfo& info);
  Napi::Value copyFrom(const Napi::CallbackInfo& info);  // (source: Tensor), in place
  Napi::Value fill(const Napi::CallbackInfo& info);      // (value: number), in place
  Napi::Value dispose(const Napi::CallbackInfo& info);

  at::Tensor tensor_;
  bool disposed_ = true;
  const void* storageKey_ = nullptr;
};

}  // namespace byol::binding
