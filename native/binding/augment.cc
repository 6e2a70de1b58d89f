// augment(images: Tensor, options: object | undefined, seed: number) -> Promise<Tensor>
//
// Parses the options object into byol::AugmentOptions (every field optional, unknown fields rejected so a
// typo does not silently fall back to a default), checks options and images together, then runs the whole
// batch as one job on the executor.
#include "binding/augment.h"

#include <cmath>
#include <set>
#include <string>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "core/augment.h"
#include "core/errors.h"

namespace byol::binding {
namespace {

const std::set<std::string>& knownOptions() {
  static const std::set<std::string> names = {
      "size",       "crop",          "scale",      "ratio",        "cropTries",     "interpolation", "antialias",
      "flipProb",   "jitterProb",    "brightness", "contrast",     "saturation",    "hue",           "grayscaleProb",
      "blurProb",   "sigma",         "blurKernel", "blurKernelFraction", "solarizeProb", "solarizeThreshold",
      "normalize",  "mean",          "std",        "layout",       "channelsLast",  "perImage"};
  return names;
}

std::string knownList() {
  std::string out;
  for (const auto& n : knownOptions()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// [min, max] from a two-number array.
void rangeOption(const Napi::Value& options, const char* key, double& lo, double& hi) {
  const Napi::Value v = option(options, key);
  if (v.IsUndefined()) return;
  BYOL_EXPECT_TYPE(v.IsArray() && v.As<Napi::Array>().Length() == 2, key,
                   ": expected [min, max], an array of two numbers, received ", describe(v));
  const auto a = v.As<Napi::Array>();
  const std::string name = std::string(key);
  lo = numberArg(a.Get(0u), (name + "[0]").c_str());
  hi = numberArg(a.Get(1u), (name + "[1]").c_str());
}

void listOption(const Napi::Value& options, const char* key, std::vector<double>& out) {
  const Napi::Value v = option(options, key);
  if (v.IsUndefined()) return;
  if (v.IsNumber()) {
    out = {numberArg(v, key)};
    return;
  }
  BYOL_EXPECT_TYPE(v.IsArray(), key, ": expected a number or an array of numbers, received ", describe(v));
  const auto a = v.As<Napi::Array>();
  out.clear();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(numberArg(a.Get(i), key));
}

}  // namespace

AugmentOptions parseAugmentOptions(const Napi::Value& options) {
  AugmentOptions o;
  if (options.IsUndefined() || options.IsNull()) return o;
  BYOL_EXPECT_TYPE(options.IsObject() && !options.IsArray(), "options: expected an object, received ",
                   describe(options));
  const Napi::Array keys = options.As<Napi::Object>().GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).ToString();
    BYOL_EXPECT_TYPE(knownOptions().count(key) == 1, "options: unknown option '", key, "' (known: ", knownList(), ")");
  }
  const Napi::Value size = option(options, "size");
  if (size.IsNumber()) {
    o.height = o.width = intArg(size, "size");
  } else if (!size.IsUndefined()) {
    BYOL_EXPECT_TYPE(size.IsArray() && size.As<Napi::Array>().Length() == 2, "size: expected a number or [height, width], received ",
                     describe(size));
    o.height = intArg(size.As<Napi::Array>().Get(0u), "size[0]");
    o.width = intArg(size.As<Napi::Array>().Get(1u), "size[1]");
  }
  BYOL_EXPECT_RANGE(o.height >= 0 && o.width >= 0, "size: expected positive sizes, received ", o.height, " x ", o.width);
  o.crop = boolOption(options, "crop", o.crop);
  rangeOption(options, "scale", o.scaleMin, o.scaleMax);
  rangeOption(options, "ratio", o.ratioMin, o.ratioMax);
  o.cropTries = intOption(options, "cropTries", o.cropTries);
  const Napi::Value interpolation = option(options, "interpolation");
  if (!interpolation.IsUndefined()) o.interpolation = parseInterpolation(stringArg(interpolation, "interpolation"));
  o.antialias = boolOption(options, "antialias", o.antialias);
  o.flipProb = numberOption(options, "flipProb", o.flipProb);
  o.jitterProb = numberOption(options, "jitterProb", o.jitterProb);
  o.brightness = numberOption(options, "brightness", o.brightness);
  o.contrast = numberOption(options, "contrast", o.contrast);
  o.saturation = numberOption(options, "saturation", o.saturation);
  o.hue = numberOption(options, "hue", o.hue);
  o.grayscaleProb = numberOption(options, "grayscaleProb", o.grayscaleProb);
  o.blurProb = numberOption(options, "blurProb", o.blurProb);
  rangeOption(options, "sigma", o.sigmaMin, o.sigmaMax);
  o.blurKernel = intOption(options, "blurKernel", o.blurKernel);
  o.blurKernelFraction = numberOption(options, "blurKernelFraction", o.blurKernelFraction);
  o.solarizeProb = numberOption(options, "solarizeProb", o.solarizeProb);
  o.solarizeThreshold = numberOption(options, "solarizeThreshold", o.solarizeThreshold);
  o.normalize = boolOption(options, "normalize", o.normalize);
  listOption(options, "mean", o.mean);
  listOption(options, "std", o.std);
  const Napi::Value layout = option(options, "layout");
  if (!layout.IsUndefined()) o.layout = parseLayout(stringArg(layout, "layout"));
  o.channelsLast = boolOption(options, "channelsLast", o.channelsLast);
  o.perImage = boolOption(options, "perImage", o.perImage);
  validate(o);
  return o;
}

uint64_t seedArg(const Napi::Value& v, const char* name) {
  const double d = numberArg(v, name);
  BYOL_EXPECT_RANGE(std::isfinite(d) && d >= 0 && std::floor(d) == d && d <= 9007199254740991.0, name,
                    ": expected an integer in [0, 2^53 - 1], received ", d);
  return static_cast<uint64_t>(d);
}

namespace {

Napi::Value augment(const Napi::CallbackInfo& info) {
  const at::Tensor images = Tensor::unwrapQueued(info[0], "images");
  const AugmentOptions options = parseAugmentOptions(info[1]);
  const uint64_t seed = seedArg(info[2], "seed");
  validateInput(images, options);  // every error before any work
  return runJob<at::Tensor>(
      info.Env(), [images, options, seed] { return augmentBatch(images, options, seed); },
      [](Napi::Env env, at::Tensor& out) -> Napi::Value { return Tensor::wrap(env, out); });
}

// validateAugmentOptions(options: object) -> undefined; throws the error augment() would.
Napi::Value validateAugmentOptions(const Napi::CallbackInfo& info) {
  parseAugmentOptions(info[0]);
  return info.Env().Undefined();
}

}  // namespace

void InitAugment(Napi::Env env, Napi::Object exports) {
  exports.Set("augment", Napi::Function::New<guardedFunction<augment>>(env, "augment"));
  exports.Set("validateAugmentOptions",
              Napi::Function::New<guardedFunction<validateAugmentOptions>>(env, "validateAugmentOptions"));
}

}  // namespace byol::binding
