// The BYOL objective (Grill et al. 2020, eq. 2): the normalised mean squared error between the online
// prediction and the target projection, 2 - 2 * cos(p, z), per sample.
#pragma once

#include <ATen/ATen.h>

namespace byol {

// Per-sample loss for one direction: 2 - 2 * <p/|p|, z/|z|>, shape [N]. `p` and `z` are [N, D].
at::Tensor regressionLoss(const at::Tensor& prediction, const at::Tensor& targetProjection);

// The symmetric loss averaged over the batch: mean_i [ l(p1_i, z2_i) + l(p2_i, z1_i) ], as byol-pytorch and
// the paper (L + L~). Ranges over [0, 8]; 0 when each prediction points along the other view's projection.
at::Tensor symmetricLoss(const at::Tensor& prediction1, const at::Tensor& prediction2,
                         const at::Tensor& targetProjection1, const at::Tensor& targetProjection2);

// The collapse monitor: the mean over dimensions of the per-dimension standard deviation of the
// L2-normalised projections [N, D]. About 1/sqrt(D) for healthy, spread-out outputs; 0 when collapsed.
double collapseStd(const at::Tensor& projections);
// The same as a 0-dim float32 tensor on the projections' device (nothing read back).
at::Tensor collapseMonitor(const at::Tensor& projections);

}  // namespace byol
