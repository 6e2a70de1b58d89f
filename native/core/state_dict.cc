#include "core/state_dict.h"

#include <map>
#include <sstream>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "core/tensor_checks.h"

namespace byol {
namespace {

void collect(const torch::nn::Module& module, const std::string& prefix, NamedTensors& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value());
  }
  for (const auto& child : module.named_children()) collect(*child.value(), prefix + child.key() + ".", out);
}

bool compatible(at::ScalarType target, at::ScalarType stored) {
  if (at::isFloatingType(target)) return at::isFloatingType(stored);
  if (target == at::kBool) return stored == at::kBool;
  return at::isIntegralType(stored, /*includeBool=*/false);
}

}  // namespace

NamedTensors stateDict(const torch::nn::Module& module) {
  NamedTensors out;
  collect(module, "", out);
  return out;
}

LoadResult loadStateDict(torch::nn::Module& module, const NamedTensors& source, bool strict,
                         const std::string& sourceName) {
  const NamedTensors target = stateDict(module);
  std::map<std::string, const at::Tensor*> given;
  for (const auto& [name, t] : source) given.emplace(name, &t);
  std::map<std::string, bool> known;
  for (const auto& entry : target) known.emplace(entry.first, true);

  LoadResult result;
  std::vector<std::string> problems;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (destination, source)
  for (const auto& [name, dst] : target) {
    auto it = given.find(name);
    if (it == given.end()) {
      result.missing.push_back(name);
      continue;
    }
    const at::Tensor& src = *it->second;
    if (src.sizes() != dst.sizes()) {
      problems.push_back(message("'", name, "': shape ", shapeOf(src), ", the model has ", shapeOf(dst)));
    } else if (!compatible(dst.scalar_type(), src.scalar_type())) {
      problems.push_back(
          message("'", name, "': dtype ", dtypeName(src.scalar_type()), ", the model has ", dtypeName(dst.scalar_type())));
    } else {
      copies.emplace_back(dst, src);
    }
  }
  for (const auto& [name, t] : source) {
    if (!known.count(name)) result.unexpected.push_back(name);
  }
  if (strict) {
    for (const auto& name : result.missing) problems.push_back(message("missing key '", name, "'"));
    for (const auto& name : result.unexpected) problems.push_back(message("unexpected key '", name, "'"));
  }
  if (!problems.empty()) {
    std::ostringstream msg;
    msg << "load: " << sourceName << " does not match the model (" << problems.size()
        << (problems.size() == 1 ? " problem" : " problems") << "; the model was left unchanged";
    if (strict && (!result.missing.empty() || !result.unexpected.empty())) {
      msg << "; pass strict: false to load matching keys only";
    }
    msg << "):";
    const size_t shown = std::min<size_t>(problems.size(), 40);
    for (size_t i = 0; i < shown; ++i) msg << "\n  " << problems[i];
    if (shown < problems.size()) msg << "\n  ... and " << problems.size() - shown << " more";
    throw RangeError(msg.str());
  }
  torch::NoGradGuard noGrad;
  for (auto& [dst, src] : copies) dst.copy_(src);
  return result;
}

void saveModule(const torch::nn::Module& module, const std::string& path, at::ScalarType floatType) {
  BYOL_EXPECT_TYPE(floatType == at::kFloat || floatType == at::kHalf || floatType == at::kBFloat16,
                   "save: dtype: expected float32, float16 or bfloat16, received ", dtypeName(floatType));
  NamedTensors tensors = stateDict(module);
  for (auto& entry : tensors) {
    at::Tensor t = entry.second.detach();
    if (at::isFloatingType(t.scalar_type())) t = t.to(floatType);
    entry.second = t;
  }
  writeSafetensors(path, tensors, {{"format", "pt"}});
}

LoadResult loadModule(torch::nn::Module& module, const std::string& path, bool strict) {
  const SafetensorsContents contents = readSafetensors(path);
  return loadStateDict(module, contents.tensors, strict, "'" + path + "'");
}

}  // namespace byol
