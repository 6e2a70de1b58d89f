// Fused CPU kernels of the augmentations (native/core/augment.h): the same maths as the tensor-op stages,
// image by image in cache, parallel over images. The tensor-op stages remain what CUDA runs, and the tests
// hold both against torchvision and against each other.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "core/augment.h"

namespace byol::cpu {

// Separable resampling: along W with `tx`, then along H with `ty`. `input` is a 4-d uint8 or float32 tensor
// of any strides, read as N x C x H x W through `nhwc`; uint8 values are scaled by 1/255 on the way.
// Returns float32 N x C x outH x outW, contiguous.
at::Tensor resample(const at::Tensor& input, bool nhwc, const AxisTaps& ty, const AxisTaps& tx);

// torchvision's rgb -> hsv, hue shift, hsv -> rgb, per pixel, in float like torchvision: `in` and `out`
// contiguous float N x 3 x H x W (may alias), factors N floats.
void hueShift(const float* in, float* out, int64_t n, int64_t plane, const float* factors);

// Colour jitter in each image's order (where params.jitter) then grayscale (where params.grayscale), in place
// on contiguous float N x C x H x W.
void colour(at::Tensor& x, const std::vector<ImageParams>& params);

// Separable Gaussian blur with reflect padding, in place, where params.blur: kernel kH x kW, each image its
// params.sigma (torchvision's gaussian_blur).
void blur(at::Tensor& x, const std::vector<ImageParams>& params, int64_t kH, int64_t kW);

// Solarize (where params.solarize) then, when `normalize`, (x - mean) / std per channel, in place.
void finish(at::Tensor& x, const std::vector<ImageParams>& params, double threshold, bool normalize,
            const std::vector<double>& mean, const std::vector<double>& std);

}  // namespace byol::cpu
