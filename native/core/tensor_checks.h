// Shape and device contracts of the Tensor API's ops, checked before any work so errors name the argument.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace byol {

// Throws RangeError unless `a` and `b` broadcast together (numpy rules).
void checkBroadcastable(const char* op, const at::Tensor& a, const at::Tensor& b);
// Throws unless the tensors live on the same device.
void checkSameDevice(const char* op, const at::Tensor& a, const at::Tensor& b);
// Throws unless a @ b is defined (inner sizes agree, both at least 1-d).
void checkMatmul(const at::Tensor& a, const at::Tensor& b);
// Normalises a possibly negative `dim` for a tensor of rank `rank`.
int64_t checkDim(const char* op, int64_t dim, int64_t rank);
// Throws unless `shape` has as many elements as `t` (for view/reshape); one entry may be -1.
std::vector<int64_t> checkReshape(const char* op, const at::Tensor& t, const std::vector<int64_t>& shape);
// Throws unless `dims` is a permutation of 0..rank-1.
void checkPermutation(const std::vector<int64_t>& dims, int64_t rank);
// Throws unless `t` holds exactly one element (backward, item).
void checkScalar(const char* op, const at::Tensor& t);

std::string shapeOf(const at::Tensor& t);

}  // namespace byol
