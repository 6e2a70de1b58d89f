#include "core/tensor_factory.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/dtype.h"
#include "core/errors.h"

namespace byol {

std::vector<int64_t> validateShape(const std::vector<double>& dims, const char* argName) {
  std::vector<int64_t> shape;
  shape.reserve(dims.size());
  double product = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    const double d = dims[i];
    BYOL_EXPECT_RANGE(std::isfinite(d) && d >= 0 && std::floor(d) == d, argName,
                      ": expected non-negative integers, received ", d, " at index ", i);
    product *= d;
    BYOL_EXPECT_RANGE(product <= static_cast<double>(std::numeric_limits<int64_t>::max() / 16), argName,
                      ": expected a shape whose size fits in memory, received a dimension of ", d, " at index ", i);
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

at::Tensor tensorFromData(const void* data, int64_t count, at::ScalarType sourceType,
                          const std::vector<int64_t>& shape, at::ScalarType dtype) {
  int64_t expected = 1;
  for (int64_t d : shape) expected *= d;
  BYOL_EXPECT_RANGE(count == expected, "data: expected ", expected, " values for shape ", formatShape(shape),
                    ", received ", count);
  at::Tensor source = at::empty(shape, at::TensorOptions().dtype(sourceType));
  if (count > 0) std::memcpy(source.data_ptr(), data, static_cast<size_t>(count) * source.element_size());
  return sourceType == dtype ? source : source.to(dtype);
}

at::ScalarType hostReadableDtype(at::ScalarType type) {
  switch (type) {
    case at::kHalf:
    case at::kBFloat16:
      return at::kFloat;
    case at::kBool:
      return at::kByte;
    default:
      return type;
  }
}

at::Tensor toHostReadable(const at::Tensor& t) {
  return t.to(at::kCPU, hostReadableDtype(t.scalar_type())).contiguous();
}

}  // namespace byol
