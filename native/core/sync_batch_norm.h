// Synchronised BatchNorm for data-parallel training on any device Gloo serves (LibTorch 1.13's
// SyncBatchNorm kernels are CUDA-only). Each of the G equal groups along dim 0 (the BYOL views) is
// normalised with the statistics of that group over every rank's batch, exactly as one process holding all
// ranks' rows of the group would: the forward gathers each rank's per-group (count, mean, sum of squared
// deviations) and combines them in float64 (Chan's parallel variance: no float32 cancellation of sum and sum
// of squares); the backward all-reduces the two per-channel gradient sums, as PyTorch's SyncBatchNorm does.
// The weight and bias gradients stay this rank's own: the data-parallel gradient average makes them global.
#pragma once

#include <torch/torch.h>

#include "core/process_group.h"

namespace byol {

struct SyncBatchNormArgs {
  int64_t groups = 1;
  double momentum = 0.1;
  double eps = 1e-5;
};

// Training-mode BatchNorm of `input` [N, C, ...] over all ranks of `group`. running_mean / running_var, when
// defined, are updated in group order with the global statistics (unbiased variance), as G separate
// BatchNorm passes over the global group would. weight/bias may be undefined (affine = false).
at::Tensor syncBatchNorm(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                         at::Tensor runningMean, at::Tensor runningVar, const SyncBatchNormArgs& args,
                         ProcessGroup& group);

}  // namespace byol
