// Named tensors to and from safetensors files (checkpoints, optimizer state): saveTensors / loadTensors.
//
// JS arguments: every function documents its arguments as `name: JS type`.
#include "binding/serialize.h"

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "core/errors.h"
#include "core/safetensors.h"

namespace byol::binding {
namespace {

// saveTensors(path: string, tensors: [string, Tensor][], metadata: Record<string, string>) -> Promise<void>
// Written atomically (temporary file, then rename).
Napi::Value saveTensors(const Napi::CallbackInfo& info) {
  const std::string path = stringArg(info[0], "path");
  BYOL_EXPECT_TYPE(info[1].IsArray(), "tensors: expected an array of [name, Tensor] pairs, received ",
                   describe(info[1]));
  auto array = info[1].As<Napi::Array>();
  NamedTensors tensors;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value pair = array.Get(i);
    BYOL_EXPECT_TYPE(pair.IsArray() && pair.As<Napi::Array>().Length() == 2,
                     "tensors: expected [name, Tensor] pairs, received ", describe(pair), " at index ", i);
    tensors.emplace_back(stringArg(pair.As<Napi::Array>().Get(0u), "tensors"),
                         Tensor::unwrapQueued(pair.As<Napi::Array>().Get(1u), "tensors"));
  }
  Metadata metadata;
  if (!info[2].IsUndefined()) {
    BYOL_EXPECT_TYPE(info[2].IsObject(), "metadata: expected an object of strings, received ", describe(info[2]));
    auto object = info[2].As<Napi::Object>();
    auto keys = object.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).ToString().Utf8Value();
      metadata.emplace_back(key, stringArg(object.Get(key), "metadata"));
    }
  }
  return runVoidJob(info.Env(), [path, tensors, metadata] { writeSafetensors(path, tensors, metadata); });
}

struct Loaded {
  SafetensorsContents contents;
};

// loadTensors(path: string) -> Promise<{ tensors: [string, Tensor][], metadata: Record<string, string> }>
Napi::Value loadTensors(const Napi::CallbackInfo& info) {
  const std::string path = stringArg(info[0], "path");
  return runJob<Loaded>(
      info.Env(), [path] { return Loaded{readSafetensors(path)}; },
      [](Napi::Env env, Loaded& loaded) -> Napi::Value {
        auto out = Napi::Object::New(env);
        out.Set("tensors", Tensor::wrapNamed(env, loaded.contents.tensors));
        auto metadata = Napi::Object::New(env);
        for (const auto& [key, value] : loaded.contents.metadata) metadata.Set(key, value);
        out.Set("metadata", metadata);
        return out;
      });
}

}  // namespace

void InitSerialize(Napi::Env env, Napi::Object exports) {
  exports.Set("saveTensors", Napi::Function::New<guardedFunction<saveTensors>>(env, "saveTensors"));
  exports.Set("loadTensors", Napi::Function::New<guardedFunction<loadTensors>>(env, "loadTensors"));
}

}  // namespace byol::binding
