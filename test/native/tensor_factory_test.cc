#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/errors.h"
#include "core/tensor_checks.h"
#include "core/tensor_factory.h"

TEST(ValidateShape, AcceptsIntegersAndRejectsTheRest) {
  EXPECT_EQ(byol::validateShape({2, 3, 0}), (std::vector<int64_t>{2, 3, 0}));
  EXPECT_THROW(byol::validateShape({2, -1}), byol::RangeError);
  EXPECT_THROW(byol::validateShape({2.5}), byol::RangeError);
  EXPECT_THROW(byol::validateShape({std::nan("")}), byol::RangeError);
  EXPECT_THROW(byol::validateShape({std::numeric_limits<double>::infinity()}), byol::RangeError);
  EXPECT_THROW(byol::validateShape({1e10, 1e10}), byol::RangeError);
}

TEST(TensorFromData, CopiesValuesAndConvertsDtype) {
  const float values[] = {1.5f, -2.f, 3.f, 4.f, 5.f, 6.f};
  at::Tensor t = byol::tensorFromData(values, 6, at::kFloat, {2, 3}, at::kDouble);
  EXPECT_EQ(t.scalar_type(), at::kDouble);
  EXPECT_EQ(t.sizes(), at::IntArrayRef({2, 3}));
  EXPECT_DOUBLE_EQ(t[0][0].item<double>(), 1.5);
  EXPECT_DOUBLE_EQ(t[1][2].item<double>(), 6.0);
}

TEST(TensorFromData, LengthMismatchNamesTheShape) {
  const float values[] = {1, 2, 3, 4, 5};
  try {
    byol::tensorFromData(values, 5, at::kFloat, {2, 3}, at::kFloat);
    FAIL();
  } catch (const byol::RangeError& e) {
    EXPECT_STREQ(e.what(), "data: expected 6 values for shape [2, 3], received 5");
  }
}

TEST(HostReadable, HalfAndBoolBecomeReadableTypes) {
  EXPECT_EQ(byol::toHostReadable(at::ones({2}, at::kHalf)).scalar_type(), at::kFloat);
  EXPECT_EQ(byol::toHostReadable(at::ones({2}, at::kBFloat16)).scalar_type(), at::kFloat);
  EXPECT_EQ(byol::toHostReadable(at::ones({2}, at::kBool)).scalar_type(), at::kByte);
  at::Tensor nonContiguous = at::arange(6, at::kFloat).view({2, 3}).t();
  EXPECT_TRUE(byol::toHostReadable(nonContiguous).is_contiguous());
}

TEST(TensorChecks, MatmulAndBroadcastContracts) {
  EXPECT_NO_THROW(byol::checkMatmul(at::zeros({2, 3}), at::zeros({3, 4})));
  EXPECT_THROW(byol::checkMatmul(at::zeros({2, 3}), at::zeros({4, 4})), byol::RangeError);
  EXPECT_NO_THROW(byol::checkBroadcastable("add", at::zeros({2, 3}), at::zeros({3})));
  EXPECT_THROW(byol::checkBroadcastable("add", at::zeros({2, 3}), at::zeros({2})), byol::RangeError);
  EXPECT_EQ(byol::checkReshape("view", at::zeros({2, 3}), {3, -1}), (std::vector<int64_t>{3, 2}));
  EXPECT_THROW(byol::checkReshape("view", at::zeros({2, 3}), {4, -1}), byol::RangeError);
  EXPECT_EQ(byol::checkDim("sum", -1, 3), 2);
  EXPECT_THROW(byol::checkDim("sum", 3, 3), byol::RangeError);
  EXPECT_THROW(byol::checkPermutation({0, 0}, 2), byol::RangeError);
}
