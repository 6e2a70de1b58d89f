#include "core/byol_loss.h"

#include <torch/torch.h>

#include "core/errors.h"
#include "core/tensor_checks.h"

namespace byol {
namespace F = torch::nn::functional;

at::Tensor regressionLoss(const at::Tensor& prediction, const at::Tensor& targetProjection) {
  BYOL_EXPECT_RANGE(prediction.dim() == 2 && prediction.sizes() == targetProjection.sizes(),
                    "loss: expected prediction and target projection of the same [N, D] shape, received ",
                    shapeOf(prediction), " and ", shapeOf(targetProjection));
  const at::Tensor p = F::normalize(prediction, F::NormalizeFuncOptions().dim(1));
  const at::Tensor z = F::normalize(targetProjection, F::NormalizeFuncOptions().dim(1));
  return 2 - 2 * (p * z).sum(1);
}

at::Tensor symmetricLoss(const at::Tensor& prediction1, const at::Tensor& prediction2,
                         const at::Tensor& targetProjection1, const at::Tensor& targetProjection2) {
  return (regressionLoss(prediction1, targetProjection2) + regressionLoss(prediction2, targetProjection1)).mean();
}

at::Tensor collapseMonitor(const at::Tensor& projections) {
  BYOL_EXPECT_RANGE(projections.dim() == 2 && projections.size(0) >= 2,
                    "collapse monitor: expected [N, D] projections with N >= 2, received ", shapeOf(projections));
  at::NoGradGuard noGrad;
  const at::Tensor z = F::normalize(projections.detach().to(at::kFloat), F::NormalizeFuncOptions().dim(1));
  return z.std(0).mean();
}

double collapseStd(const at::Tensor& projections) { return collapseMonitor(projections).item<double>(); }

}  // namespace byol
