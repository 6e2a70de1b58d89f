// core/optim's Optimizer::loadState on the tensors of an arbitrary safetensors file (a checkpoint's
// optimizer.safetensors), for an Adam and an SGD optimizer over two small parameters. A rejection is a
// RangeError or TypeError starting "state: " that leaves the whole state as it was. An accepted state is the
// file's: every buffer holds the given values (converted to the parameter's dtype), the counts are the given
// counts, and each slot comes from exactly one entry of the file (two names for one slot, such as "1.exp_avg"
// and "01.exp_avg", would make the file's meaning depend on entry order).
#include <map>

#include "checks.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "targets.h"

namespace byol::fuzz {
namespace {

// The state before each load: present, and unlike anything a file would hold by chance.
NamedTensors initialState(bool adam) {
  NamedTensors s;
  s.emplace_back("steps", at::scalar_tensor(7.0, at::kDouble));
  s.emplace_back("0.step", at::scalar_tensor(3.0, at::kDouble));
  s.emplace_back(adam ? "0.exp_avg" : "0.momentum_buffer", at::full({2, 3}, 0.5));
  if (adam) s.emplace_back("0.exp_avg_sq", at::full({2, 3}, 0.125));
  return s;
}

Optimizer& freshOptimizer(bool adam) {
  static std::vector<at::Tensor> params{at::zeros({2, 3}), at::zeros({3})};
  static Optimizer adamOpt(OptimizerKind::Adam, OptimizerOptions{}, params);
  static Optimizer sgdOpt(OptimizerKind::SGD, OptimizerOptions{}, params);
  Optimizer& opt = adam ? adamOpt : sgdOpt;
  opt.loadState(initialState(adam));
  return opt;
}

bool sameState(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || !sameTensor(a[i].second, b[i].second)) return false;
  }
  return true;
}

void loadAndCheck(const NamedTensors& file, bool adam) {
  Optimizer& opt = freshOptimizer(adam);
  const NamedTensors before = opt.state();
  try {
    opt.loadState(file);
  } catch (const std::exception& e) {
    const bool documented = dynamic_cast<const RangeError*>(&e) || dynamic_cast<const TypeError*>(&e);
    FUZZ_CHECK(documented && startsWith(e.what(), "state: "), "an undocumented rejection: ", e.what());
    FUZZ_CHECK(sameState(opt.state(), before), "a rejected load changed the state");
    return;
  }
  // Each entry of the accepted file, by the name state() gives its slot.
  std::map<std::string, const at::Tensor*> slots;
  for (const auto& [name, t] : file) {
    std::string canonical = name;
    const size_t dot = name.find('.');
    if (name != "steps" && dot != std::string::npos) canonical = std::to_string(std::stoull(name.substr(0, dot))) + name.substr(dot);
    FUZZ_CHECK(slots.emplace(canonical, &t).second, "two entries of the file fill the slot '", canonical, "'");
  }
  const NamedTensors after = opt.state();
  for (const auto& [name, t] : after) {
    const auto it = slots.find(name);
    if (it == slots.end()) {
      // Absent counts are 0; absent buffers are absent (state() lists only present ones).
      FUZZ_CHECK(t.dim() == 0 && t.item<double>() == 0.0, "'", name, "' is in the state but not in the file");
      continue;
    }
    const at::Tensor& given = *it->second;
    if (t.dim() == 0) {
      // A count: the file's one element as an integer (a stored -0.0 counts 0, as it should).
      FUZZ_CHECK(t.item<double>() == given.to(at::kDouble).reshape({}).item<double>(), "count '", name,
                 "' is not the file's value");
    } else {
      FUZZ_CHECK(sameTensor(t, given.to(t.scalar_type())), "'", name, "' is not the file's value");
    }
  }
  for (const auto& [name, t] : slots) {
    bool present = false;
    for (const auto& entry : after) present = present || entry.first == name;
    FUZZ_CHECK(present, "the file's '", name, "' is not in the loaded state");
  }
}

}  // namespace

void optimizerState(const uint8_t* data, size_t size) {
  SafetensorsContents contents;
  try {
    contents = parseSafetensors(data, size, "fuzz-input");
  } catch (const FormatError&) {
    return;  // the safetensors targets own the parser's rejections
  }
  loadAndCheck(contents.tensors, /*adam=*/true);
  loadAndCheck(contents.tensors, /*adam=*/false);
}

}  // namespace byol::fuzz
