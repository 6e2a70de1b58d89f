// Channels-last memory (NHWC strides under NCHW sizes): oneDNN's convolutions run ~1.16x faster on it for
// training and ~1.4x for inference on these CPUs. The one place that decides what "channels-last" means for
// an input batch and for a module's weights.
#pragma once

#include <torch/torch.h>

namespace byol {

// A 4-d tensor with channels-last memory (no copy when it already is); other ranks unchanged.
at::Tensor toChannelsLast(const at::Tensor& x);

// Makes every 4-d parameter of `module` channels-last in place, without gradients (after creation or to()).
void makeChannelsLast(torch::nn::Module& module);

}  // namespace byol
