// Named tensors to and from safetensors files (checkpoints, optimizer state): saveTensors / loadTensors;
// a file's header alone (readSafetensorsHeader) and the ResNet its names and shapes describe (inferResNet).
//
// JS arguments: every function documents its arguments as `name: JS type`.
#include "binding/serialize.h"

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "core/errors.h"
#include "core/resnet.h"
#include "core/safetensors.h"

namespace byol::binding {
namespace {

Napi::Object metadataObject(Napi::Env env, const Metadata& entries) {
  auto metadata = Napi::Object::New(env);
  for (const auto& [key, value] : entries) metadata.Set(key, value);
  return metadata;
}

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
        out.Set("metadata", metadataObject(env, loaded.contents.metadata));
        return out;
      });
}

// readSafetensorsHeader(path: string)
//   -> Promise<{ tensors: { name: string, dtype: string, shape: number[], dataOffsets: [number, number] }[],
//                metadata: Record<string, string> }>
// Reads the 8-byte length and the header only, never the tensor data, with every check loadTensors makes
// (header length against the file size and the cap, strict JSON, dtypes, shapes, offsets tiling the data
// section). dtype is the file's name for it ("F32", "I64", ...); tensors are in data order.
Napi::Value readSafetensorsHeaderJs(const Napi::CallbackInfo& info) {
  const std::string path = stringArg(info[0], "path");
  return runJob<SafetensorsHeader>(
      info.Env(), [path] { return readSafetensorsHeader(path); },
      [](Napi::Env env, SafetensorsHeader& header) -> Napi::Value {
        auto tensors = Napi::Array::New(env, header.tensors.size());
        for (size_t i = 0; i < header.tensors.size(); ++i) {
          const SafetensorsEntry& entry = header.tensors[i];
          auto shape = Napi::Array::New(env, entry.shape.size());
          for (size_t d = 0; d < entry.shape.size(); ++d) shape.Set(d, static_cast<double>(entry.shape[d]));
          auto offsets = Napi::Array::New(env, 2);
          offsets.Set(0u, static_cast<double>(entry.begin));  // below 2^53: the parser checks
          offsets.Set(1u, static_cast<double>(entry.end));
          auto object = Napi::Object::New(env);
          object.Set("name", entry.name);
          object.Set("dtype", safetensorsDtypeName(entry.dtype));
          object.Set("shape", shape);
          object.Set("dataOffsets", offsets);
          tensors.Set(i, object);
        }
        auto out = Napi::Object::New(env);
        out.Set("tensors", tensors);
        out.Set("metadata", metadataObject(env, header.metadata));
        return out;
      });
}

// inferResNet(tensors: { name: string, shape: number[] }[])
//   -> { depth, inChannels, smallStem, classifier, numClasses? } | null
// The torchvision ResNet whose state dict these names and shapes are (a header's tensors), or null.
Napi::Value inferResNetJs(const Napi::CallbackInfo& info) {
  BYOL_EXPECT_TYPE(info[0].IsArray(), "tensors: expected an array of { name, shape } objects, received ",
                   describe(info[0]));
  auto array = info[0].As<Napi::Array>();
  TensorShapes shapes;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    BYOL_EXPECT_TYPE(item.IsObject() && !item.IsArray(), "tensors: expected { name, shape } objects, received ",
                     describe(item), " at index ", i);
    auto object = item.As<Napi::Object>();
    shapes[stringArg(object.Get("name"), "tensors[].name")] = shapeArg(object.Get("shape"), "tensors[].shape");
  }
  const std::optional<ResNetOptions> options = inferResNet(shapes);
  Napi::Env env = info.Env();
  if (!options) return env.Null();
  auto out = Napi::Object::New(env);
  out.Set("depth", static_cast<double>(options->depth()));
  out.Set("inChannels", static_cast<double>(options->in_channels()));
  out.Set("smallStem", options->small_stem());
  out.Set("classifier", options->classifier());
  if (options->classifier()) out.Set("numClasses", static_cast<double>(options->num_classes()));
  return out;
}

}  // namespace

void InitSerialize(Napi::Env env, Napi::Object exports) {
  exports.Set("saveTensors", Napi::Function::New<guardedFunction<saveTensors>>(env, "saveTensors"));
  exports.Set("loadTensors", Napi::Function::New<guardedFunction<loadTensors>>(env, "loadTensors"));
  exports.Set("readSafetensorsHeader",
              Napi::Function::New<guardedFunction<readSafetensorsHeaderJs>>(env, "readSafetensorsHeader"));
  exports.Set("inferResNet", Napi::Function::New<guardedFunction<inferResNetJs>>(env, "inferResNet"));
}

}  // namespace byol::binding
