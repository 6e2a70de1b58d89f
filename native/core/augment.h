// BYOL's image augmentations over a batch, every image with its own random parameters.
//
// All per-image parameters are drawn up front on the CPU from a seeded generator (so the same seed gives the
// same views on the same device, whatever the thread count), then each stage runs as batched tensor ops on the
// input's device:
//   random resized crop + horizontal flip   one separable resampling of the whole batch: each output pixel a
//                                            weighted sum of its taps in the input, with each image's crop,
//                                            resize, flip and antialias folded into its taps, matching torch's
//                                            interpolate on the cropped image (align_corners = false). CPU: a
//                                            tap loop; CUDA: the taps as dense matrices, two batched matmuls;
//   colour jitter (random order per image)  four passes; pass k applies to each image the op its
//                                            permutation puts at position k (blends as one batched op, hue on
//                                            the images that need it);
//   grayscale, Gaussian blur (separable taps, reflect padding), solarize, normalise.
// The maths of every op follows torchvision.transforms.functional on float tensors.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace byol {

enum class Interpolation { Bilinear, Bicubic };
// How a 4-d input holds its channels. Auto: NCHW when dim 1 is 1 or 3, else NHWC when dim 3 is 1 or 3.
enum class ImageLayout { Auto, NCHW, NHWC };

struct AugmentOptions {
  // Output size; 0 means the input's size. Each side at most 8x the input's and 4096.
  int64_t height = 0;
  int64_t width = 0;
  // Random resized crop: area fraction U(scaleMin, scaleMax), aspect ratio log-uniform in [ratioMin, ratioMax],
  // `cropTries` tries, then a centre crop. crop = false resizes the whole image.
  bool crop = true;
  double scaleMin = 0.08, scaleMax = 1.0;
  double ratioMin = 3.0 / 4.0, ratioMax = 4.0 / 3.0;
  int64_t cropTries = 10;
  Interpolation interpolation = Interpolation::Bilinear;
  // Low-pass filter when a crop is shrunk (torch's antialias = true); false matches torchvision's tensor default.
  bool antialias = false;
  double flipProb = 0.5;
  // Colour jitter with probability jitterProb: factors U(max(0, 1 - v), 1 + v) for brightness, contrast and
  // saturation, hue shift U(-hue, hue); a zero strength leaves that op out. Random order per image.
  double jitterProb = 0.8;
  double brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1;
  double grayscaleProb = 0.2;
  // Gaussian blur with probability blurProb: sigma U(sigmaMin, sigmaMax); kernel `blurKernel` (odd) or, when 0,
  // the odd size nearest above blurKernelFraction x the output side (23 at 224, 9 at 96, 3 at 32).
  double blurProb = 1.0;
  double sigmaMin = 0.1, sigmaMax = 2.0;
  int64_t blurKernel = 0;
  double blurKernelFraction = 0.1;
  double solarizeProb = 0.0;
  double solarizeThreshold = 0.5;
  // (x - mean) / std per channel; empty: ImageNet's for 3 channels, (0.449, 0.226) for 1 channel.
  bool normalize = true;
  std::vector<double> mean, std;
  ImageLayout layout = ImageLayout::Auto;
  bool channelsLast = false;
  // false: one draw shared by the whole batch (byol-pytorch's behaviour), for comparisons.
  bool perImage = true;
};

// Throws byol::RangeError naming the option when a value is outside its range.
void validate(const AugmentOptions& options);

// Jitter ops, in the order of a permutation.
enum JitterOp : int { kBrightness = 0, kContrast = 1, kSaturation = 2, kHue = 3 };

// One image's parameters.
struct ImageParams {
  int64_t top = 0, left = 0, cropHeight = 0, cropWidth = 0;
  bool flip = false;
  bool jitter = false;
  double brightness = 1, contrast = 1, saturation = 1, hue = 0;
  std::array<int, 4> order{kBrightness, kContrast, kSaturation, kHue};
  bool grayscale = false;
  bool blur = false;
  double sigma = 1;
  bool solarize = false;
};

// The input checked and seen as float NCHW in [0, 1] (uint8 divided by 255), on its device.
struct ImageBatch {
  at::Tensor images;  // float32 N x C x H x W
  bool fromUint8 = false;
};
ImageBatch toImageBatch(const at::Tensor& input, const AugmentOptions& options);

// Checks options and input together (rank, channels, dtype, sizes) before any work.
void validateInput(const at::Tensor& input, const AugmentOptions& options);

// Draws every image's parameters (n images of height x width) from `seed`.
std::vector<ImageParams> drawParams(const AugmentOptions& options, int64_t n, int64_t height, int64_t width,
                                    uint64_t seed);

// Fused: CPU kernels that run each image's colour stages in cache (the default on the CPU). TensorOps:
// batched tensor ops with per-image parameter tensors, on any device (the default elsewhere).
enum class Backend { Auto, Fused, TensorOps };

// Applies given parameters; `params` has one entry per image.
at::Tensor applyParams(const at::Tensor& input, const AugmentOptions& options, const std::vector<ImageParams>& params,
                       Backend backend = Backend::Auto);

// validateInput + drawParams + applyParams.
at::Tensor augmentBatch(const at::Tensor& input, const AugmentOptions& options, uint64_t seed,
                        Backend backend = Backend::Auto);

// BYOL's two views t and t' of one batch in one call (the learner's step), each with its own options and
// seed; checks the input against both options before any work.
std::pair<at::Tensor, at::Tensor> augmentViews(const at::Tensor& input, const AugmentOptions& view1, uint64_t seed1,
                                               const AugmentOptions& view2, uint64_t seed2);

// ---- The stages, on float NCHW batches, with per-image parameters (public for tests against torchvision) ----

// How separable resampling (crop + resize, blur) runs. Taps: each output a weighted sum of its few taps, a
// CPU loop. Dense: per-image (out x in) matrices and two batched matmuls, for GPUs. Auto: Taps on the CPU.
enum class Resampler { Auto, Taps, Dense };
// One image's taps along an axis: for every output position, its (input index, weight) pairs.
using Taps = std::vector<std::vector<std::pair<int64_t, double>>>;
// Per-image taps of a batch, padded to T taps with zero weights: index (N, out, T) int64, weight float32.
struct AxisTaps {
  at::Tensor index, weight;
};
AxisTaps packTaps(const std::vector<Taps>& images);
at::Tensor tapsToDense(const Taps& taps, int64_t inSize);
// Resizing the segment [start, start + length) of an axis to outSize samples as torch's interpolate
// (align_corners = false) does on the cropped image; reversed when `flip`.
Taps resizeTaps(int64_t start, int64_t length, int64_t outSize, Interpolation interpolation, bool antialias,
                bool flip);
// A 1-d Gaussian blur with reflect padding, as torchvision's gaussian_blur.
Taps blurTaps(int64_t size, int64_t kernel, double sigma);

// Crops params[n]'s box, resizes to outH x outW, flips where params[n].flip.
at::Tensor resizedCrop(const at::Tensor& x, const std::vector<ImageParams>& params, int64_t outH, int64_t outW,
                       Interpolation interpolation, bool antialias, Resampler resampler = Resampler::Auto);
// resizeTaps as a dense (out x in) matrix.
at::Tensor resizeWeights(int64_t inSize, int64_t start, int64_t length, int64_t outSize, Interpolation interpolation,
                         bool antialias, bool flip);
// Colour jitter in each image's order, only where params[n].jitter.
at::Tensor colorJitter(const at::Tensor& x, const std::vector<ImageParams>& params);
// torchvision's adjust_hue with one factor per image (N floats in [-0.5, 0.5]); 1-channel images pass through.
at::Tensor adjustHue(const at::Tensor& x, const at::Tensor& factors);
// The same with device-agnostic tensor ops (what CUDA runs; adjustHue on CPU runs a fused loop).
at::Tensor adjustHueTensorOps(const at::Tensor& x, const at::Tensor& factors);
// 0.2989 R + 0.587 G + 0.114 B, as N x 1 x H x W.
at::Tensor toGray(const at::Tensor& x);
at::Tensor grayscale(const at::Tensor& x, const std::vector<ImageParams>& params);
// Separable Gaussian blur, reflect padding, kernel kH x kW, sigma per image, where params[n].blur.
at::Tensor gaussianBlur(const at::Tensor& x, const std::vector<ImageParams>& params, int64_t kH, int64_t kW,
                        Resampler resampler = Resampler::Auto);
// The (size x size) matrix of a 1-d Gaussian blur with reflect padding.
at::Tensor blurWeights(int64_t size, int64_t kernel, double sigma);
at::Tensor solarize(const at::Tensor& x, const std::vector<ImageParams>& params, double threshold);
at::Tensor normalizeImages(const at::Tensor& x, const std::vector<double>& mean, const std::vector<double>& std);

// The blur kernel size used for an output side.
int64_t blurKernelSize(const AugmentOptions& options, int64_t side);

const char* interpolationName(Interpolation interpolation);
Interpolation parseInterpolation(const std::string& name);
ImageLayout parseLayout(const std::string& name);

}  // namespace byol
