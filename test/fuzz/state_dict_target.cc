// core/state_dict's loader on the tensors of an arbitrary safetensors file (what Module.load and a checkpoint's
// module files go through), loaded into a small module that has every kind of entry the loader distinguishes:
// float parameters, float buffers, an int64 buffer (num_batches_tracked) and a bool buffer, in nested children.
// Strict and non-strict: a rejection is a RangeError naming the source that leaves every tensor of the module
// as it was; an accepted load copies each matching tensor (converted to the module's dtype) and reports exactly
// the missing and unexpected keys; a strict one has none.
#include <map>

#include "checks.h"
#include "core/safetensors.h"
#include "core/state_dict.h"
#include "targets.h"

namespace byol::fuzz {
namespace {

constexpr const char* kSource = "fuzz-input";

struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    mask = register_buffer("mask", torch::tensor({true, false}));
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 3).bias(false)));
    bn = register_module("bn", torch::nn::BatchNorm2d(2));
    head = register_module("head", torch::nn::Linear(2, 3));
  }
  at::Tensor mask;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Linear head{nullptr};
};

// Copies of every tensor of the module's state dict, by name.
std::map<std::string, at::Tensor> snapshot(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, t] : byol::stateDict(module)) out.emplace(name, t.detach().clone());
  return out;
}

// The module with fixed, distinctive values: a load that copied nothing, or the wrong thing, shows.
TinyNetImpl& freshModule() {
  static TinyNetImpl module;
  static const std::map<std::string, at::Tensor> initial = [] {
    torch::NoGradGuard noGrad;
    double value = 0.25;
    for (auto& [name, t] : byol::stateDict(module)) {
      if (t.is_floating_point()) t.copy_(at::arange(t.numel(), at::kDouble).add(value).reshape(t.sizes()));
      value += 10;
    }
    return snapshot(module);
  }();
  torch::NoGradGuard noGrad;
  for (auto& [name, t] : byol::stateDict(module)) t.copy_(initial.at(name));
  return module;
}

void loadAndCheck(const NamedTensors& source, bool strict) {
  TinyNetImpl& module = freshModule();
  const std::map<std::string, at::Tensor> before = snapshot(module);
  LoadResult result;
  try {
    result = loadStateDict(module, source, strict, kSource);
  } catch (const RangeError& e) {
    FUZZ_CHECK(startsWith(e.what(), std::string("load: ") + kSource + " does not match the model"),
               "a rejection does not name the source: ", e.what());
    for (const auto& [name, t] : byol::stateDict(module)) {
      FUZZ_CHECK(sameTensor(t, before.at(name)), "a rejected load (strict ", strict, ") changed '", name, "'");
    }
    return;
  }
  std::map<std::string, const at::Tensor*> given;
  for (const auto& [name, t] : source) given.emplace(name, &t);
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, t] : byol::stateDict(module)) {
    const auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      FUZZ_CHECK(sameTensor(t, before.at(name)), "'", name, "' changed without being in the source");
    } else {
      FUZZ_CHECK(sameTensor(t, it->second->to(t.scalar_type())), "'", name, "' is not the source's value");
    }
  }
  const auto known = snapshot(module);
  for (const auto& [name, t] : source) {
    if (!known.count(name)) unexpected.push_back(name);
  }
  FUZZ_CHECK(result.missing == missing && result.unexpected == unexpected,
             "the load misreports its missing or unexpected keys");
  FUZZ_CHECK(!strict || (missing.empty() && unexpected.empty()), "a strict load accepted missing or unexpected keys");
}

}  // namespace

void stateDict(const uint8_t* data, size_t size) {
  SafetensorsContents contents;
  try {
    contents = parseSafetensors(data, size, kSource);
  } catch (const FormatError&) {
    return;  // the safetensors targets own the parser's rejections
  }
  loadAndCheck(contents.tensors, /*strict=*/false);
  loadAndCheck(contents.tensors, /*strict=*/true);
}

}  // namespace byol::fuzz
