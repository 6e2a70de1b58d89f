#include "core/tensor_checks.h"

#include "core/dtype.h"
#include "core/errors.h"

namespace byol {

std::string shapeOf(const at::Tensor& t) {
  return formatShape(t.sizes().vec());
}

void checkBroadcastable(const char* op, const at::Tensor& a, const at::Tensor& b) {
  const int64_t ra = a.dim(), rb = b.dim();
  for (int64_t i = 1; i <= std::min(ra, rb); ++i) {
    const int64_t x = a.size(ra - i), y = b.size(rb - i);
    BYOL_EXPECT_RANGE(x == y || x == 1 || y == 1, op, ": other: expected a shape that broadcasts with ", shapeOf(a),
                      ", received ", shapeOf(b));
  }
}

void checkSameDevice(const char* op, const at::Tensor& a, const at::Tensor& b) {
  BYOL_EXPECT_RANGE(a.device() == b.device(), op, ": other: expected a tensor on ", deviceName(a.device()),
                    ", received one on ", deviceName(b.device()));
}

void checkMatmul(const at::Tensor& a, const at::Tensor& b) {
  BYOL_EXPECT_RANGE(a.dim() >= 1 && b.dim() >= 1, "matmul: expected tensors of at least 1 dimension, received ",
                    shapeOf(a), " and ", shapeOf(b));
  const int64_t inner = b.dim() == 1 ? b.size(0) : b.size(b.dim() - 2);
  BYOL_EXPECT_RANGE(a.size(a.dim() - 1) == inner, "matmul: other: expected ", a.size(a.dim() - 1),
                    " rows to match the last dimension of ", shapeOf(a), ", received shape ", shapeOf(b));
  checkSameDevice("matmul", a, b);
}

int64_t checkDim(const char* op, int64_t dim, int64_t rank) {
  const int64_t lo = rank == 0 ? -1 : -rank, hi = rank == 0 ? 0 : rank - 1;
  BYOL_EXPECT_RANGE(dim >= lo && dim <= hi, op, ": dim: expected a value in [", lo, ", ", hi, "], received ", dim);
  return dim < 0 ? dim + std::max<int64_t>(rank, 1) : dim;
}

std::vector<int64_t> checkReshape(const char* op, const at::Tensor& t, const std::vector<int64_t>& shape) {
  int64_t known = 1, inferred = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      BYOL_EXPECT_RANGE(inferred < 0, op, ": shape: expected at most one -1, received ", formatShape(shape));
      inferred = static_cast<int64_t>(i);
    } else {
      BYOL_EXPECT_RANGE(shape[i] >= 0, op, ": shape: expected non-negative sizes or -1, received ", formatShape(shape));
      known *= shape[i];
    }
  }
  std::vector<int64_t> out = shape;
  if (inferred >= 0) {
    BYOL_EXPECT_RANGE(known > 0 && t.numel() % known == 0, op, ": shape: cannot infer -1 in ", formatShape(shape),
                      " for ", t.numel(), " elements");
    out[inferred] = t.numel() / known;
    known *= out[inferred];
  }
  BYOL_EXPECT_RANGE(known == t.numel(), op, ": shape: expected ", t.numel(), " elements like ", shapeOf(t),
                    ", received ", formatShape(shape), " (", known, " elements)");
  return out;
}

void checkPermutation(const std::vector<int64_t>& dims, int64_t rank) {
  BYOL_EXPECT_RANGE(static_cast<int64_t>(dims.size()) == rank, "permute: dims: expected ", rank,
                    " dimensions, received ", formatShape(dims));
  std::vector<bool> seen(rank, false);
  for (int64_t d : dims) {
    const int64_t n = checkDim("permute", d, rank);
    BYOL_EXPECT_RANGE(!seen[n], "permute: dims: expected each dimension once, received ", formatShape(dims));
    seen[n] = true;
  }
}

void checkScalar(const char* op, const at::Tensor& t) {
  BYOL_EXPECT_RANGE(t.numel() == 1, op, ": expected a tensor with one element, received shape ", shapeOf(t),
                    op == std::string("backward") ? "; reduce it first (e.g. mean()) or pass a gradient" : "");
}

}  // namespace byol
