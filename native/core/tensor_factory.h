// Building tensors from raw host data and reading them back, with every size checked first.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace byol {

// Turns JS numbers into a shape: each entry a finite, non-negative integer; the product must fit in memory.
// `argName` names the argument in error messages.
std::vector<int64_t> validateShape(const std::vector<double>& dims, const char* argName = "shape");

// Copies `count` elements of type `sourceType` at `data` into a new CPU tensor of `shape` and `dtype`.
// The element count must equal the shape's product.
at::Tensor tensorFromData(const void* data, int64_t count, at::ScalarType sourceType,
                          const std::vector<int64_t>& shape, at::ScalarType dtype);

// The dtype JS reads a tensor back as: float16/bfloat16 -> float32, bool -> uint8, the rest as they are.
at::ScalarType hostReadableDtype(at::ScalarType type);

// A contiguous CPU tensor holding `t`'s values in hostReadableDtype(t), ready to be copied out.
at::Tensor toHostReadable(const at::Tensor& t);

}  // namespace byol
