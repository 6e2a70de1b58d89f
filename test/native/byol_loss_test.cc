#include <gtest/gtest.h>

#include <cmath>

#include "core/byol_loss.h"
#include "core/errors.h"

namespace {

// 2 - 2 cos(a_i, b_i) in float64, element by element.
double referenceLoss(const at::Tensor& a, const at::Tensor& b, int64_t i) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t d = 0; d < a.size(1); ++d) {
    const double x = a[i][d].item<double>(), y = b[i][d].item<double>();
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return 2 - 2 * dot / (std::sqrt(na) * std::sqrt(nb));
}

}  // namespace

TEST(ByolLoss, MatchesAFloat64Reference) {
  at::manual_seed(3);
  const at::Tensor p1 = at::randn({5, 7}), p2 = at::randn({5, 7}), z1 = at::randn({5, 7}), z2 = at::randn({5, 7});
  const at::Tensor perSample = byol::regressionLoss(p1, z2);
  double symmetric = 0;
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(perSample[i].item<double>(), referenceLoss(p1, z2, i), 1e-5);
    symmetric += referenceLoss(p1, z2, i) + referenceLoss(p2, z1, i);
  }
  EXPECT_NEAR(byol::symmetricLoss(p1, p2, z1, z2).item<double>(), symmetric / 5, 1e-5);
}

TEST(ByolLoss, IsZeroForAlignedAndFourForOpposite) {
  const at::Tensor z = at::randn({4, 3});
  EXPECT_NEAR(byol::regressionLoss(z * 3, z).abs().max().item<double>(), 0, 1e-6);
  EXPECT_NEAR(byol::regressionLoss(-z, z).min().item<double>(), 4, 1e-5);
}

TEST(ByolLoss, ShapeMismatchIsARangeError) {
  EXPECT_THROW(byol::regressionLoss(at::zeros({2, 3}), at::zeros({2, 4})), byol::RangeError);
}

TEST(CollapseMonitor, HealthyIsAboutOneOverSqrtDAndCollapsedIsZero) {
  at::manual_seed(0);
  const double healthy = byol::collapseStd(at::randn({4096, 64}));
  EXPECT_NEAR(healthy, 1.0 / std::sqrt(64.0), 0.01);
  const at::Tensor collapsed = at::randn({1, 64}).expand({256, 64}) + 1e-6 * at::randn({256, 64});
  EXPECT_LT(byol::collapseStd(collapsed), 1e-4);
}
