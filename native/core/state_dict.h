// A module's state dict as PyTorch orders and names it (each module's parameters, then its buffers,
// then its children, with dotted prefixes), and loading one with full validation first: every key,
// shape and dtype is checked and all problems are reported in one error before any tensor is touched,
// so a failed load leaves the module as it was.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/named_tensors.h"

namespace byol {

// The live parameters and buffers (not copies), keyed as torchvision keys them.
NamedTensors stateDict(const torch::nn::Module& module);

struct LoadResult {
  std::vector<std::string> missing;     // in the module, not in the source
  std::vector<std::string> unexpected;  // in the source, not in the module
};

// Copies `source` into the module. A floating tensor accepts any floating dtype (converted), an integer
// buffer any integer dtype. strict: missing or unexpected keys are errors; otherwise they are returned.
// Shape and dtype mismatches are always errors. Throws RangeError listing every problem.
LoadResult loadStateDict(torch::nn::Module& module, const NamedTensors& source, bool strict,
                         const std::string& sourceName = "state dict");

// Saves the state dict as safetensors; floating tensors are stored as `floatType` (float32, float16 or
// bfloat16), integer buffers (num_batches_tracked) as they are.
void saveModule(const torch::nn::Module& module, const std::string& path, at::ScalarType floatType = at::kFloat);
LoadResult loadModule(torch::nn::Module& module, const std::string& path, bool strict = true);

}  // namespace byol
