#include "binding/tensor.h"

#include <torch/torch.h>

#include <cstring>
#include <memory>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/env_state.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/tensor_checks.h"
#include "core/tensor_factory.h"

namespace byol::binding {
namespace {

// Storage identity for memory accounting: tensors sharing storage (views, detach) are counted once.
const void* storageKeyOf(const at::Tensor& t) {
  return t.defined() && t.has_storage() ? static_cast<const void*>(t.storage().unsafeGetStorageImpl()) : nullptr;
}

int64_t hostBytesOf(const at::Tensor& t) {
  return t.defined() && t.has_storage() && t.device().is_cpu() ? static_cast<int64_t>(t.storage().nbytes()) : 0;
}

// A JS typed array viewing a host copy of `t` without another copy: the ArrayBuffer keeps the tensor alive.
Napi::Value typedArrayOf(Napi::Env env, at::Tensor host) {
  auto* owner = new at::Tensor(std::move(host));
  const size_t bytes = owner->nbytes();
  const size_t count = static_cast<size_t>(owner->numel());
  Napi::ArrayBuffer buffer =
      bytes == 0 ? Napi::ArrayBuffer::New(env, 0)
                 : Napi::ArrayBuffer::New(env, owner->data_ptr(), bytes,
                                          [](Napi::BasicEnv, void*, at::Tensor* t) { delete t; }, owner);
  const at::ScalarType type = owner->scalar_type();
  if (bytes == 0) delete owner;
  switch (type) {
    case at::kFloat: return Napi::Float32Array::New(env, count, buffer, 0);
    case at::kDouble: return Napi::Float64Array::New(env, count, buffer, 0);
    case at::kInt: return Napi::Int32Array::New(env, count, buffer, 0);
    case at::kLong: return Napi::TypedArrayOf<int64_t>::New(env, count, buffer, 0, napi_bigint64_array);
    case at::kByte: return Napi::Uint8Array::New(env, count, buffer, 0);
    default: throw TypeError(message("data: cannot read dtype ", dtypeName(type), " back"));
  }
}

// A fresh host copy that never aliases `t`'s memory, so JS may write to the array freely.
at::Tensor hostCopy(const at::Tensor& t) {
  at::Tensor out = toHostReadable(t);
  if (out.has_storage() && t.has_storage() && out.storage().is_alias_of(t.storage())) out = out.clone();
  return out;
}

at::ScalarType typedArraySourceType(const Napi::TypedArray& array) {
  switch (array.TypedArrayType()) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    case napi_uint8_array:
    case napi_uint8_clamped_array: return at::kByte;
    default:
      throw TypeError("data: expected a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array");
  }
}

at::TensorOptions creationOptions(const Napi::CallbackInfo& info, size_t dtypeIndex) {
  return at::TensorOptions()
      .dtype(dtypeArg(info[dtypeIndex], "dtype"))
      .device(deviceArg(info[dtypeIndex + 1], "device"));
}

// fromData(data: TypedArray, shape: number[], dtype: string) -> Tensor
Napi::Value fromData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BYOL_EXPECT_TYPE(info[0].IsTypedArray(), "data: expected a typed array, received ", describe(info[0]));
  auto array = info[0].As<Napi::TypedArray>();
  const auto source = typedArraySourceType(array);
  const auto shape = shapeArg(info[1]);
  const auto dtype = dtypeArg(info[2]);
  const auto* bytes = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  return Tensor::wrap(env, tensorFromData(bytes, static_cast<int64_t>(array.ElementLength()), source, shape, dtype));
}

// full(shape: number[], value: number, dtype: string, device: string) -> Tensor
Napi::Value full(const Napi::CallbackInfo& info) {
  const auto shape = shapeArg(info[0]);
  const double value = numberArg(info[1], "value");
  return Tensor::wrap(info.Env(), at::full(shape, value, creationOptions(info, 2)));
}

// random(kind: 'rand'|'randn', shape: number[], dtype: string, device: string) -> Tensor
Napi::Value random(const Napi::CallbackInfo& info) {
  const std::string kind = stringArg(info[0], "kind");
  const auto shape = shapeArg(info[1]);
  const auto options = creationOptions(info, 2);
  BYOL_EXPECT_TYPE(at::isFloatingType(options.dtype().toScalarType()), kind,
                   ": dtype: expected a floating dtype, received ", dtypeName(options.dtype().toScalarType()));
  if (kind == "rand") return Tensor::wrap(info.Env(), at::rand(shape, options));
  if (kind == "randn") return Tensor::wrap(info.Env(), at::randn(shape, options));
  throw TypeError(message("kind: expected 'rand' or 'randn', received '", kind, "'"));
}

// arange(start: number, end: number, step: number, dtype: string, device: string) -> Tensor
Napi::Value arange(const Napi::CallbackInfo& info) {
  const double start = numberArg(info[0], "start"), end = numberArg(info[1], "end"), step = numberArg(info[2], "step");
  BYOL_EXPECT_RANGE(std::isfinite(start) && std::isfinite(end), "arange: expected finite start and end, received ",
                    start, " and ", end);
  BYOL_EXPECT_RANGE(std::isfinite(step) && step != 0 && (end - start) / step >= 0,
                    "arange: step: expected a non-zero number that moves from start toward end, received ", step);
  BYOL_EXPECT_RANGE((end - start) / step < 1e12, "arange: expected fewer than 1e12 elements");
  return Tensor::wrap(info.Env(), at::arange(start, end, step, creationOptions(info, 3)));
}

// cat(tensors: Tensor[], dim: number, stack: boolean) -> Tensor
Napi::Value cat(const Napi::CallbackInfo& info) {
  BYOL_EXPECT_TYPE(info[0].IsArray(), "tensors: expected an array of tensors, received ", describe(info[0]));
  auto array = info[0].As<Napi::Array>();
  BYOL_EXPECT_RANGE(array.Length() > 0, "tensors: expected at least one tensor, received an empty array");
  std::vector<at::Tensor> tensors;
  for (uint32_t i = 0; i < array.Length(); ++i) tensors.push_back(Tensor::unwrap(array.Get(i), "tensors"));
  const bool stack = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  const char* op = stack ? "stack" : "cat";
  const int64_t rank = tensors[0].dim();
  for (size_t i = 1; i < tensors.size(); ++i) {
    checkSameDevice(op, tensors[0], tensors[i]);
    BYOL_EXPECT_RANGE(tensors[i].dim() == rank, op, ": tensors: expected every tensor of rank ", rank,
                      ", received ", shapeOf(tensors[i]), " at index ", i);
  }
  const int64_t dim = checkDim(op, intArg(info[1], "dim"), stack ? rank + 1 : rank);
  for (size_t i = 1; i < tensors.size(); ++i) {
    for (int64_t d = 0; d < rank; ++d) {
      BYOL_EXPECT_RANGE((!stack && d == dim) || tensors[i].size(d) == tensors[0].size(d), op,
                        ": tensors: expected shapes matching ", shapeOf(tensors[0]),
                        stack ? "" : " except in dim", stack ? "" : std::to_string(dim).c_str(), ", received ",
                        shapeOf(tensors[i]), " at index ", i);
    }
  }
  return Tensor::wrap(info.Env(), stack ? at::stack(tensors, dim) : at::cat(tensors, dim));
}

// manualSeed(seed: number)
Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  const int64_t seed = intArg(info[0], "seed");
  BYOL_EXPECT_RANGE(seed >= 0, "seed: expected a non-negative integer, received ", seed);
  EnvState::of(info.Env()).drain();
  torch::manual_seed(static_cast<uint64_t>(seed));
  return info.Env().Undefined();
}

}  // namespace

void Tensor::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "NativeTensor",
      {
          InstanceMethod<&Tensor::guarded<&Tensor::shape>>("shape"),
          InstanceMethod<&Tensor::guarded<&Tensor::dtype>>("dtype"),
          InstanceMethod<&Tensor::guarded<&Tensor::device>>("device"),
          InstanceMethod<&Tensor::guarded<&Tensor::numel>>("numel"),
          InstanceMethod<&Tensor::guarded<&Tensor::isDisposed>>("isDisposed"),
          InstanceMethod<&Tensor::guarded<&Tensor::isContiguous>>("isContiguous"),
          InstanceMethod<&Tensor::guarded<&Tensor::isChannelsLast>>("isChannelsLast"),
          InstanceMethod<&Tensor::guarded<&Tensor::requiresGrad>>("requiresGrad"),
          InstanceMethod<&Tensor::guarded<&Tensor::setRequiresGrad>>("setRequiresGrad"),
          InstanceMethod<&Tensor::guarded<&Tensor::grad>>("grad"),
          InstanceMethod<&Tensor::guarded<&Tensor::zeroGrad>>("zeroGrad"),
          InstanceMethod<&Tensor::guarded<&Tensor::backward>>("backward"),
          InstanceMethod<&Tensor::guarded<&Tensor::toDevice>>("toDevice"),
          InstanceMethod<&Tensor::guarded<&Tensor::toDtype>>("toDtype"),
          InstanceMethod<&Tensor::guarded<&Tensor::pin>>("pin"),
          InstanceMethod<&Tensor::guarded<&Tensor::isPinned>>("isPinned"),
          InstanceMethod<&Tensor::guarded<&Tensor::contiguous>>("contiguous"),
          InstanceMethod<&Tensor::guarded<&Tensor::channelsLast>>("channelsLast"),
          InstanceMethod<&Tensor::guarded<&Tensor::data>>("data"),
          InstanceMethod<&Tensor::guarded<&Tensor::dataSync>>("dataSync"),
          InstanceMethod<&Tensor::guarded<&Tensor::item>>("item"),
          InstanceMethod<&Tensor::guarded<&Tensor::binary>>("binary"),
          InstanceMethod<&Tensor::guarded<&Tensor::unary>>("unary"),
          InstanceMethod<&Tensor::guarded<&Tensor::reduce>>("reduce"),
          InstanceMethod<&Tensor::guarded<&Tensor::clamp>>("clamp"),
          InstanceMethod<&Tensor::guarded<&Tensor::normalize>>("normalize"),
          InstanceMethod<&Tensor::guarded<&Tensor::argmax>>("argmax"),
          InstanceMethod<&Tensor::guarded<&Tensor::matmul>>("matmul"),
          InstanceMethod<&Tensor::guarded<&Tensor::view>>("view"),
          InstanceMethod<&Tensor::guarded<&Tensor::reshape>>("reshape"),
          InstanceMethod<&Tensor::guarded<&Tensor::permute>>("permute"),
          InstanceMethod<&Tensor::guarded<&Tensor::transpose>>("transpose"),
          InstanceMethod<&Tensor::guarded<&Tensor::flatten>>("flatten"),
          InstanceMethod<&Tensor::guarded<&Tensor::unsqueeze>>("unsqueeze"),
          InstanceMethod<&Tensor::guarded<&Tensor::squeeze>>("squeeze"),
          InstanceMethod<&Tensor::guarded<&Tensor::chunk>>("chunk"),
          InstanceMethod<&Tensor::guarded<&Tensor::select>>("select"),
          InstanceMethod<&Tensor::guarded<&Tensor::slice>>("slice"),
          InstanceMethod<&Tensor::guarded<&Tensor::indexSelect>>("indexSelect"),
          InstanceMethod<&Tensor::guarded<&Tensor::clone>>("clone"),
          InstanceMethod<&Tensor::guarded<&Tensor::detach>>("detach"),
          InstanceMethod<&Tensor::guarded<&Tensor::copyFrom>>("copyFrom"),
          InstanceMethod<&Tensor::guarded<&Tensor::fill>>("fill"),
          InstanceMethod<&Tensor::guarded<&Tensor::dispose>>("dispose"),
      });
  EnvState::of(env).tensorConstructor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
  exports.Set("fromData", Napi::Function::New<guardedFunction<fromData>>(env, "fromData"));
  exports.Set("full", Napi::Function::New<guardedFunction<full>>(env, "full"));
  exports.Set("random", Napi::Function::New<guardedFunction<random>>(env, "random"));
  exports.Set("arange", Napi::Function::New<guardedFunction<arange>>(env, "arange"));
  exports.Set("cat", Napi::Function::New<guardedFunction<cat>>(env, "cat"));
  exports.Set("manualSeed", Napi::Function::New<guardedFunction<manualSeed>>(env, "manualSeed"));
}

Napi::Object Tensor::wrap(Napi::Env env, at::Tensor t) {
  Napi::Object object = EnvState::of(env).tensorConstructor.New({});
  Tensor::Unwrap(object)->adopt(env, std::move(t));
  return object;
}

Napi::Array Tensor::wrapNamed(Napi::Env env, const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  auto out = Napi::Array::New(env, tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) {
    auto pair = Napi::Array::New(env, 2);
    pair.Set(0u, tensors[i].first);
    pair.Set(1u, wrap(env, tensors[i].second));
    out.Set(i, pair);
  }
  return out;
}

bool Tensor::isTensor(const Napi::Value& value) {
  return value.IsObject() &&
         value.As<Napi::Object>().InstanceOf(EnvState::of(value.Env()).tensorConstructor.Value());
}

at::Tensor Tensor::unwrap(const Napi::Value& value, const char* name) {
  BYOL_EXPECT_TYPE(isTensor(value), name, ": expected a Tensor, received ", describe(value));
  return Tensor::Unwrap(value.As<Napi::Object>())->handle(name);
}

at::Tensor Tensor::unwrapQueued(const Napi::Value& value, const char* name) {
  BYOL_EXPECT_TYPE(isTensor(value), name, ": expected a Tensor, received ", describe(value));
  return Tensor::Unwrap(value.As<Napi::Object>())->handle(name, false);
}

Tensor::Tensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tensor>(info) {}

Tensor::~Tensor() {
  // Finalizer: frees what JS forgot. A job still using the tensor holds its own reference.
  if (!disposed_) release(Env());
}

void Tensor::adopt(Napi::Env env, at::Tensor t) {
  tensor_ = std::move(t);
  disposed_ = false;
  storageKey_ = storageKeyOf(tensor_);
  EnvState::of(env).retainStorage(env, storageKey_, hostBytesOf(tensor_));
}

void Tensor::release(Napi::Env env) {
  if (auto* state = env.GetInstanceData<EnvState>()) state->releaseStorage(env, storageKey_);
  tensor_ = at::Tensor();
  disposed_ = true;
}

const at::Tensor& Tensor::handle(const char* op, bool sync) {
  BYOL_EXPECT_TYPE(!disposed_, op, ": the tensor was disposed; it cannot be used any more");
  if (sync) EnvState::of(Env()).drain();
  return tensor_;
}

// --- metadata ---------------------------------------------------------------------------------------------

Napi::Value Tensor::shape(const Napi::CallbackInfo& info) {
  const auto sizes = handle("shape", false).sizes();
  auto out = Napi::Array::New(info.Env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) out.Set(i, Napi::Number::New(info.Env(), static_cast<double>(sizes[i])));
  return out;
}

Napi::Value Tensor::dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtypeName(handle("dtype", false).scalar_type()));
}

Napi::Value Tensor::device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), deviceName(handle("device", false).device()));
}

Napi::Value Tensor::numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(handle("numel", false).numel()));
}

Napi::Value Tensor::isDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed_);
}

Napi::Value Tensor::isContiguous(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), handle("isContiguous", false).is_contiguous());
}

Napi::Value Tensor::isChannelsLast(const Napi::CallbackInfo& info) {
  const auto& t = handle("isChannelsLast", false);
  return Napi::Boolean::New(info.Env(), t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast));
}

// --- autograd ---------------------------------------------------------------------------------------------

Napi::Value Tensor::requiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), handle("requiresGrad", false).requires_grad());
}

Napi::Value Tensor::setRequiresGrad(const Napi::CallbackInfo& info) {
  const bool flag = boolArg(info[0], "requiresGrad");
  const auto& t = handle("requiresGrad");
  BYOL_EXPECT_TYPE(!flag || at::isFloatingType(t.scalar_type()),
                   "requiresGrad: only floating-point tensors can require gradients, this one is ",
                   dtypeName(t.scalar_type()));
  BYOL_EXPECT_TYPE(t.is_leaf() || flag, "requiresGrad: cannot turn gradients off for a non-leaf tensor; use detach()");
  tensor_.set_requires_grad(flag);
  return info.This();
}

Napi::Value Tensor::grad(const Napi::CallbackInfo& info) {
  const at::Tensor g = handle("grad").grad();
  return g.defined() ? wrap(info.Env(), g) : info.Env().Null();
}

Napi::Value Tensor::zeroGrad(const Napi::CallbackInfo& info) {
  at::Tensor g = handle("zeroGrad").mutable_grad();
  if (g.defined()) g.zero_();
  return info.This();
}

Napi::Value Tensor::backward(const Napi::CallbackInfo& info) {
  at::Tensor t = handle("backward", false);  // a job: queued behind pending ones, no need to wait
  BYOL_EXPECT_RANGE(t.requires_grad(),
                    "backward: the tensor does not require grad (no input had requiresGrad, or it was made under noGrad)");
  at::Tensor gradient;
  if (info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull()) {
    gradient = unwrapQueued(info[0], "gradient");
    BYOL_EXPECT_RANGE(gradient.sizes() == t.sizes(), "backward: gradient: expected shape ", shapeOf(t), ", received ",
                      shapeOf(gradient));
  } else {
    checkScalar("backward", t);
  }
  return runVoidJob(info.Env(), [t, gradient] { t.backward(gradient); });
}

// --- conversion -------------------------------------------------------------------------------------------

Napi::Value Tensor::toDevice(const Napi::CallbackInfo& info) {
  const at::Device device = deviceArg(info[0]);
  // CPU -> CUDA: through pinned memory on a side stream, without waiting (core/device.h).
  return wrap(info.Env(), ::byol::toDevice(handle("to"), device));
}

Napi::Value Tensor::pin(const Napi::CallbackInfo& info) {
  const auto& t = handle("pin");
  BYOL_EXPECT_RANGE(t.is_cpu(), "pin: expected a CPU tensor, received one on ", t.device().str());
  return wrap(info.Env(), pinnedCopy(t));
}

Napi::Value Tensor::isPinned(const Napi::CallbackInfo& info) {
  const auto& t = handle("isPinned");
  return Napi::Boolean::New(info.Env(), deviceBuildHasCuda() && t.is_cpu() && t.is_pinned());
}

Napi::Value Tensor::toDtype(const Napi::CallbackInfo& info) {
  const at::ScalarType type = dtypeArg(info[0]);
  return wrap(info.Env(), handle("to").to(type));
}

Napi::Value Tensor::contiguous(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), handle("contiguous").contiguous());
}

Napi::Value Tensor::channelsLast(const Napi::CallbackInfo& info) {
  const auto& t = handle("channelsLast");
  BYOL_EXPECT_RANGE(t.dim() == 4, "channelsLast: expected a 4-d NCHW tensor, received shape ", shapeOf(t));
  return wrap(info.Env(), t.contiguous(at::MemoryFormat::ChannelsLast));
}

Napi::Value Tensor::data(const Napi::CallbackInfo& info) {
  at::Tensor t = handle("data", false);  // queued behind pending jobs instead of waiting for them
  return runJob<at::Tensor>(
      info.Env(), [t] { return hostCopy(t); }, [](Napi::Env env, at::Tensor& host) { return typedArrayOf(env, host); });
}

Napi::Value Tensor::dataSync(const Napi::CallbackInfo& info) {
  return typedArrayOf(info.Env(), hostCopy(handle("dataSync")));
}

Napi::Value Tensor::item(const Napi::CallbackInfo& info) {
  const auto& t = handle("item");
  checkScalar("item", t);
  return Napi::Number::New(info.Env(), t.item().toDouble());
}

// --- math -------------------------------------------------------------------------------------------------

Napi::Value Tensor::binary(const Napi::CallbackInfo& info) {
  const std::string op = stringArg(info[0], "op");
  const bool inPlace = boolArg(info[2], "inPlace");
  const at::Tensor& self = handle(op.c_str());
  at::Tensor other;
  if (info[1].IsNumber()) {
    other = at::scalar_tensor(info[1].As<Napi::Number>().DoubleValue(), at::TensorOptions().dtype(at::kDouble));
  } else {
    BYOL_EXPECT_TYPE(isTensor(info[1]), op, ": other: expected a Tensor or a number, received ", describe(info[1]));
    other = unwrap(info[1], "other");
    checkBroadcastable(op.c_str(), self, other);
    if (other.dim() > 0) checkSameDevice(op.c_str(), self, other);
  }
  if (inPlace) {
    at::Tensor t = self;
    if (op == "add") t.add_(other);
    else if (op == "sub") t.sub_(other);
    else if (op == "mul") t.mul_(other);
    else if (op == "div") t.div_(other);
    else if (op == "pow") t.pow_(other);
    else throw TypeError(message("op: expected add, sub, mul, div or pow, received '", op, "'"));
    return info.This();
  }
  if (op == "add") return wrap(info.Env(), self.add(other));
  if (op == "sub") return wrap(info.Env(), self.sub(other));
  if (op == "mul") return wrap(info.Env(), self.mul(other));
  if (op == "div") return wrap(info.Env(), self.div(other));
  if (op == "pow") return wrap(info.Env(), self.pow(other));
  throw TypeError(message("op: expected add, sub, mul, div or pow, received '", op, "'"));
}

Napi::Value Tensor::unary(const Napi::CallbackInfo& info) {
  const std::string op = stringArg(info[0], "op");
  const bool inPlace = boolArg(info[1], "inPlace");
  at::Tensor self = handle(op.c_str());
  using Fn = at::Tensor (*)(const at::Tensor&);
  using InPlaceFn = at::Tensor& (*)(at::Tensor&);
  static const std::pair<const char*, std::pair<Fn, InPlaceFn>> kOps[] = {
      {"neg", {[](const at::Tensor& t) { return t.neg(); }, [](at::Tensor& t) -> at::Tensor& { return t.neg_(); }}},
      {"sqrt", {[](const at::Tensor& t) { return t.sqrt(); }, [](at::Tensor& t) -> at::Tensor& { return t.sqrt_(); }}},
      {"exp", {[](const at::Tensor& t) { return t.exp(); }, [](at::Tensor& t) -> at::Tensor& { return t.exp_(); }}},
      {"log", {[](const at::Tensor& t) { return t.log(); }, [](at::Tensor& t) -> at::Tensor& { return t.log_(); }}},
      {"abs", {[](const at::Tensor& t) { return t.abs(); }, [](at::Tensor& t) -> at::Tensor& { return t.abs_(); }}},
      {"relu", {[](const at::Tensor& t) { return t.relu(); }, [](at::Tensor& t) -> at::Tensor& { return t.relu_(); }}},
      {"sigmoid",
       {[](const at::Tensor& t) { return t.sigmoid(); }, [](at::Tensor& t) -> at::Tensor& { return t.sigmoid_(); }}},
      {"tanh", {[](const at::Tensor& t) { return t.tanh(); }, [](at::Tensor& t) -> at::Tensor& { return t.tanh_(); }}},
  };
  for (const auto& [name, fns] : kOps) {
    if (op != name) continue;
    if (!inPlace) return wrap(info.Env(), fns.first(self));
    fns.second(self);
    return info.This();
  }
  throw TypeError(message("op: expected neg, sqrt, exp, log, abs, relu, sigmoid or tanh, received '", op, "'"));
}

Napi::Value Tensor::reduce(const Napi::CallbackInfo& info) {
  const std::string op = stringArg(info[0], "op");
  const bool keepDim = boolArg(info[2], "keepDim");
  const at::Tensor& self = handle(op.c_str());
  if (op != "sum" && op != "mean") throw TypeError(message("op: expected 'sum' or 'mean', received '", op, "'"));
  if (op == "mean") {
    BYOL_EXPECT_TYPE(at::isFloatingType(self.scalar_type()), "mean: expected a floating-point tensor, received ",
                     dtypeName(self.scalar_type()), "; convert it with to('float32') first");
  }
  if (info[1].IsUndefined() || info[1].IsNull()) {
    if (!keepDim) return wrap(info.Env(), op == "sum" ? self.sum() : self.mean());
    std::vector<int64_t> all(self.dim());
    for (int64_t d = 0; d < self.dim(); ++d) all[d] = d;
    return wrap(info.Env(), op == "sum" ? self.sum(all, true) : self.mean(all, true));
  }
  std::vector<int64_t> dims = intListArg(info[1], "dims");
  for (auto& d : dims) d = checkDim(op.c_str(), d, self.dim());
  return wrap(info.Env(), op == "sum" ? self.sum(dims, keepDim) : self.mean(dims, keepDim));
}

Napi::Value Tensor::clamp(const Napi::CallbackInfo& info) {
  c10::optional<at::Scalar> lo, hi;  // c10::optional: std::optional in LibTorch 2.x, its own type in 1.13
  if (!info[0].IsUndefined()) lo = numberArg(info[0], "min");
  if (!info[1].IsUndefined()) hi = numberArg(info[1], "max");
  const bool inPlace = boolArg(info[2], "inPlace");
  BYOL_EXPECT_RANGE(lo || hi, "clamp: expected at least one of min and max");
  BYOL_EXPECT_RANGE(!lo || !hi || lo->toDouble() <= hi->toDouble(), "clamp: expected min <= max, received min ",
                    lo ? lo->toDouble() : 0, " and max ", hi ? hi->toDouble() : 0);
  at::Tensor self = handle("clamp");
  if (!inPlace) return wrap(info.Env(), self.clamp(lo, hi));
  self.clamp_(lo, hi);
  return info.This();
}

Napi::Value Tensor::normalize(const Napi::CallbackInfo& info) {
  const double p = numberArg(info[0], "p");
  const double eps = numberArg(info[2], "eps");
  const at::Tensor& self = handle("normalize");
  const int64_t dim = checkDim("normalize", intArg(info[1], "dim"), self.dim());
  BYOL_EXPECT_RANGE(p > 0, "normalize: p: expected a positive number, received ", p);
  BYOL_EXPECT_RANGE(eps >= 0, "normalize: eps: expected a non-negative number, received ", eps);
  namespace F = torch::nn::functional;
  return wrap(info.Env(), F::normalize(self, F::NormalizeFuncOptions().p(p).dim(dim).eps(eps)));
}

Napi::Value Tensor::argmax(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("argmax");
  const int64_t dim = checkDim("argmax", intArg(info[0], "dim"), self.dim());
  return wrap(info.Env(), self.argmax(dim, boolArg(info[1], "keepDim")));
}

Napi::Value Tensor::matmul(const Napi::CallbackInfo& info) {
  at::Tensor self = handle("matmul", false);
  BYOL_EXPECT_TYPE(isTensor(info[0]), "matmul: other: expected a Tensor, received ", describe(info[0]));
  at::Tensor other = Tensor::Unwrap(info[0].As<Napi::Object>())->handle("matmul", false);
  checkMatmul(self, other);
  return runJob<at::Tensor>(
      info.Env(), [self, other] { return self.matmul(other); },
      [](Napi::Env env, at::Tensor& out) -> Napi::Value { return wrap(env, out); });
}

// --- shape ------------------------------------------------------------------------------------------------

Napi::Value Tensor::view(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("view");
  const auto shape = checkReshape("view", self, intListArg(info[0], "shape"));
  BYOL_EXPECT_RANGE(at::detail::computeStride(self.sizes(), self.strides(), shape).has_value(),
                    "view: the tensor's memory layout does not allow viewing ", shapeOf(self), " as ",
                    formatShape(shape), "; use reshape() or contiguous() first");
  return wrap(info.Env(), self.view(shape));
}

Napi::Value Tensor::reshape(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("reshape");
  return wrap(info.Env(), self.reshape(checkReshape("reshape", self, intListArg(info[0], "shape"))));
}

Napi::Value Tensor::permute(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("permute");
  const auto dims = intListArg(info[0], "dims");
  checkPermutation(dims, self.dim());
  return wrap(info.Env(), self.permute(dims));
}

Napi::Value Tensor::transpose(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("transpose");
  const int64_t a = checkDim("transpose", intArg(info[0], "dim0"), self.dim());
  const int64_t b = checkDim("transpose", intArg(info[1], "dim1"), self.dim());
  return wrap(info.Env(), self.transpose(a, b));
}

Napi::Value Tensor::flatten(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("flatten");
  const int64_t start = checkDim("flatten", intArg(info[0], "startDim"), self.dim());
  const int64_t end = checkDim("flatten", intArg(info[1], "endDim"), self.dim());
  BYOL_EXPECT_RANGE(start <= end, "flatten: expected startDim <= endDim, received ", start, " and ", end);
  return wrap(info.Env(), self.flatten(start, end));
}

Napi::Value Tensor::unsqueeze(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("unsqueeze");
  return wrap(info.Env(), self.unsqueeze(checkDim("unsqueeze", intArg(info[0], "dim"), self.dim() + 1)));
}

Napi::Value Tensor::squeeze(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("squeeze");
  if (info[0].IsUndefined()) return wrap(info.Env(), self.squeeze());
  return wrap(info.Env(), self.squeeze(checkDim("squeeze", intArg(info[0], "dim"), self.dim())));
}

Napi::Value Tensor::chunk(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("chunk");
  const int64_t chunks = intArg(info[0], "chunks");
  BYOL_EXPECT_RANGE(chunks > 0, "chunk: chunks: expected a positive integer, received ", chunks);
  const int64_t dim = checkDim("chunk", intArg(info[1], "dim"), self.dim());
  const auto parts = self.chunk(chunks, dim);
  auto out = Napi::Array::New(info.Env(), parts.size());
  for (size_t i = 0; i < parts.size(); ++i) out.Set(i, wrap(info.Env(), parts[i]));
  return out;
}

Napi::Value Tensor::select(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("select");
  BYOL_EXPECT_RANGE(self.dim() > 0, "select: expected a tensor of at least 1 dimension");
  const int64_t dim = checkDim("select", intArg(info[0], "dim"), self.dim());
  const int64_t index = intArg(info[1], "index"), size = self.size(dim);
  BYOL_EXPECT_RANGE(index >= -size && index < size, "select: index: expected a value in [", -size, ", ", size - 1,
                    "] for dim ", dim, " of shape ", shapeOf(self), ", received ", index);
  return wrap(info.Env(), self.select(dim, index));
}

Napi::Value Tensor::slice(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("slice");
  BYOL_EXPECT_RANGE(self.dim() > 0, "slice: expected a tensor of at least 1 dimension");
  const int64_t dim = checkDim("slice", intArg(info[0], "dim"), self.dim());
  const int64_t start = intArg(info[1], "start"), end = intArg(info[2], "end"), step = intArg(info[3], "step");
  BYOL_EXPECT_RANGE(step > 0, "slice: step: expected a positive integer, received ", step);
  return wrap(info.Env(), self.slice(dim, start, end, step));
}

Napi::Value Tensor::indexSelect(const Napi::CallbackInfo& info) {
  const at::Tensor& self = handle("indexSelect");
  const int64_t dim = checkDim("indexSelect", intArg(info[0], "dim"), self.dim());
  at::Tensor index = unwrap(info[1], "index");
  BYOL_EXPECT_TYPE(index.scalar_type() == at::kLong || index.scalar_type() == at::kInt,
                   "indexSelect: index: expected an int64 or int32 tensor, received ", dtypeName(index.scalar_type()));
  BYOL_EXPECT_RANGE(index.dim() <= 1, "indexSelect: index: expected a 1-d tensor, received shape ", shapeOf(index));
  if (index.numel() > 0) {
    const int64_t lo = index.min().item<int64_t>(), hi = index.max().item<int64_t>(), size = self.size(dim);
    BYOL_EXPECT_RANGE(lo >= 0 && hi < size, "indexSelect: index: expected values in [0, ", size - 1, "], received ",
                      lo < 0 ? lo : hi);
  }
  return wrap(info.Env(), self.index_select(dim, index.to(self.device())));
}

Napi::Value Tensor::clone(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), handle("clone").clone());
}

Napi::Value Tensor::detach(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), handle("detach").detach());
}

Napi::Value Tensor::copyFrom(const Napi::CallbackInfo& info) {
  at::Tensor self = handle("copy");
  at::Tensor source = unwrap(info[0], "source");
  checkBroadcastable("copy", self, source);
  at::NoGradGuard noGrad;  // copying values in is not a differentiable op on a leaf
  self.copy_(source);
  return info.This();
}

Napi::Value Tensor::fill(const Napi::CallbackInfo& info) {
  const double value = numberArg(info[0], "value");
  at::Tensor self = handle("fill");
  at::NoGradGuard noGrad;
  self.fill_(value);
  return info.This();
}

Napi::Value Tensor::dispose(const Napi::CallbackInfo& info) {
  if (!disposed_) release(info.Env());
  return info.Env().Undefined();
}

}  // namespace byol::binding
