// Tensors with names, in order: state dicts, optimizer state, safetensors contents, a learner's parameters.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace byol {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

}  // namespace byol
