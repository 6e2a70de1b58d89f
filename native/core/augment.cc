// Options, validation, parameter draws and the pipeline of native/core/augment.h (the stages are in
// augment_ops.cc).
#include "core/augment.h"

#include "core/augment_cpu.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/channels_last.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/tensor_checks.h"

namespace byol {
namespace {

constexpr int64_t kMaxSide = 4096;
constexpr int64_t kMaxUpscale = 8;

bool finite(double v) { return std::isfinite(v); }

void checkProbability(const char* name, double p) {
  BYOL_EXPECT_RANGE(finite(p) && p >= 0 && p <= 1, name, ": expected a probability in [0, 1], received ", p);
}

void checkStrength(const char* name, double v) {
  BYOL_EXPECT_RANGE(finite(v) && v >= 0, name, ": expected a non-negative number, received ", v);
}

// Uniform doubles and integers from a 64-bit Mersenne Twister, spelled out so every platform draws the same.
class Draw {
 public:
  explicit Draw(uint64_t seed) : rng_(seed) {}
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool bernoulli(double p) { return uniform() < p; }
  int64_t integer(int64_t lo, int64_t hi) {  // [lo, hi]
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(rng_() % span);
  }

 private:
  std::mt19937_64 rng_;
};

// torchvision's RandomResizedCrop.get_params, with our generator.
void drawCrop(const AugmentOptions& o, int64_t height, int64_t width, Draw& draw, ImageParams& p) {
  if (!o.crop) {
    p.top = p.left = 0;
    p.cropHeight = height;
    p.cropWidth = width;
    return;
  }
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double logLo = std::log(o.ratioMin), logHi = std::log(o.ratioMax);
  for (int64_t attempt = 0; attempt < o.cropTries; ++attempt) {
    const double target = area * draw.uniform(o.scaleMin, o.scaleMax);
    const double aspect = std::exp(draw.uniform(logLo, logHi));
    const auto w = static_cast<int64_t>(std::llround(std::sqrt(target * aspect)));
    const auto h = static_cast<int64_t>(std::llround(std::sqrt(target / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      p.top = draw.integer(0, height - h);
      p.left = draw.integer(0, width - w);
      p.cropHeight = h;
      p.cropWidth = w;
      return;
    }
  }
  // Centre crop with the ratio clamped into range.
  const double inRatio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (inRatio < o.ratioMin) {
    h = std::max<int64_t>(1, std::llround(static_cast<double>(w) / o.ratioMin));
  } else if (inRatio > o.ratioMax) {
    w = std::max<int64_t>(1, std::llround(static_cast<double>(h) * o.ratioMax));
  }
  h = std::min(h, height);
  w = std::min(w, width);
  p.top = (height - h) / 2;
  p.left = (width - w) / 2;
  p.cropHeight = h;
  p.cropWidth = w;
}

double factor(Draw& draw, double strength) {
  const double u = draw.uniform(std::max(0.0, 1.0 - strength), 1.0 + strength);
  return strength > 0 ? u : 1.0;
}

// Every value is drawn whatever the options, so changing one probability does not shift the other draws.
ImageParams drawImage(const AugmentOptions& o, int64_t height, int64_t width, Draw& draw) {
  ImageParams p;
  drawCrop(o, height, width, draw, p);
  p.flip = draw.bernoulli(o.flipProb);
  p.jitter = draw.bernoulli(o.jitterProb);
  p.brightness = factor(draw, o.brightness);
  p.contrast = factor(draw, o.contrast);
  p.saturation = factor(draw, o.saturation);
  const double hue = draw.uniform(-o.hue, o.hue);
  p.hue = o.hue > 0 ? hue : 0.0;
  for (int i = 3; i > 0; --i) std::swap(p.order[i], p.order[draw.integer(0, i)]);
  p.grayscale = draw.bernoulli(o.grayscaleProb);
  p.blur = draw.bernoulli(o.blurProb);
  p.sigma = draw.uniform(o.sigmaMin, o.sigmaMax);
  p.solarize = draw.bernoulli(o.solarizeProb);
  return p;
}

struct Layout {
  bool nhwc;
  int64_t channels, height, width;
};

Layout resolveLayout(const at::Tensor& input, const AugmentOptions& o) {
  BYOL_EXPECT_RANGE(input.dim() == 4, "images: expected a 4-d batch (N, C, H, W) or (N, H, W, C), received shape ",
                    shapeOf(input));
  const auto c1 = input.size(1), c3 = input.size(3);
  const auto isChannels = [](int64_t c) { return c == 1 || c == 3; };
  bool nhwc = false;
  switch (o.layout) {
    case ImageLayout::NCHW:
      BYOL_EXPECT_RANGE(isChannels(c1), "images: expected 1 or 3 channels in dim 1 (layout 'nchw'), received shape ",
                        shapeOf(input));
      break;
    case ImageLayout::NHWC:
      BYOL_EXPECT_RANGE(isChannels(c3), "images: expected 1 or 3 channels in dim 3 (layout 'nhwc'), received shape ",
                        shapeOf(input));
      nhwc = true;
      break;
    case ImageLayout::Auto:
      BYOL_EXPECT_RANGE(isChannels(c1) || isChannels(c3),
                        "images: expected 1 or 3 channels in dim 1 (NCHW) or dim 3 (NHWC), received shape ",
                        shapeOf(input));
      nhwc = !isChannels(c1);
      break;
  }
  return nhwc ? Layout{true, c3, input.size(1), input.size(2)} : Layout{false, c1, input.size(2), input.size(3)};
}

int64_t outSide(int64_t requested, int64_t input) { return requested > 0 ? requested : input; }

}  // namespace

const char* interpolationName(Interpolation interpolation) {
  return interpolation == Interpolation::Bicubic ? "bicubic" : "bilinear";
}

Interpolation parseInterpolation(const std::string& name) {
  if (name == "bilinear") return Interpolation::Bilinear;
  if (name == "bicubic") return Interpolation::Bicubic;
  throw RangeError(message("interpolation: expected 'bilinear' or 'bicubic', received '", name, "'"));
}

ImageLayout parseLayout(const std::string& name) {
  if (name == "auto") return ImageLayout::Auto;
  if (name == "nchw") return ImageLayout::NCHW;
  if (name == "nhwc") return ImageLayout::NHWC;
  throw RangeError(message("layout: expected 'auto', 'nchw' or 'nhwc', received '", name, "'"));
}

void validate(const AugmentOptions& o) {
  BYOL_EXPECT_RANGE(o.height >= 0 && o.height <= kMaxSide, "size: expected a height in [1, ", kMaxSide,
                    "] (0 for the input's), received ", o.height);
  BYOL_EXPECT_RANGE(o.width >= 0 && o.width <= kMaxSide, "size: expected a width in [1, ", kMaxSide,
                    "] (0 for the input's), received ", o.width);
  BYOL_EXPECT_RANGE(finite(o.scaleMin) && finite(o.scaleMax) && o.scaleMin > 0 && o.scaleMin <= o.scaleMax &&
                        o.scaleMax <= 1,
                    "scale: expected [min, max] with 0 < min <= max <= 1, received [", o.scaleMin, ", ", o.scaleMax,
                    "]");
  BYOL_EXPECT_RANGE(finite(o.ratioMin) && finite(o.ratioMax) && o.ratioMin > 0 && o.ratioMin <= o.ratioMax,
                    "ratio: expected [min, max] with 0 < min <= max, received [", o.ratioMin, ", ", o.ratioMax, "]");
  BYOL_EXPECT_RANGE(o.cropTries >= 0 && o.cropTries <= 1000, "cropTries: expected an integer in [0, 1000], received ",
                    o.cropTries);
  checkProbability("flipProb", o.flipProb);
  checkProbability("jitterProb", o.jitterProb);
  checkStrength("brightness", o.brightness);
  checkStrength("contrast", o.contrast);
  checkStrength("saturation", o.saturation);
  BYOL_EXPECT_RANGE(finite(o.hue) && o.hue >= 0 && o.hue <= 0.5, "hue: expected a number in [0, 0.5], received ",
                    o.hue);
  checkProbability("grayscaleProb", o.grayscaleProb);
  checkProbability("blurProb", o.blurProb);
  BYOL_EXPECT_RANGE(finite(o.sigmaMin) && finite(o.sigmaMax) && o.sigmaMin > 0 && o.sigmaMin <= o.sigmaMax,
                    "sigma: expected [min, max] with 0 < min <= max, received [", o.sigmaMin, ", ", o.sigmaMax, "]");
  BYOL_EXPECT_RANGE(o.blurKernel == 0 || (o.blurKernel > 0 && o.blurKernel % 2 == 1),
                    "blurKernel: expected an odd positive size (or 0 for automatic), received ", o.blurKernel);
  BYOL_EXPECT_RANGE(finite(o.blurKernelFraction) && o.blurKernelFraction > 0 && o.blurKernelFraction <= 1,
                    "blurKernelFraction: expected a number in (0, 1], received ", o.blurKernelFraction);
  checkProbability("solarizeProb", o.solarizeProb);
  BYOL_EXPECT_RANGE(finite(o.solarizeThreshold), "solarizeThreshold: expected a finite number, received ",
                    o.solarizeThreshold);
  BYOL_EXPECT_RANGE(o.mean.size() <= 3, "mean: expected 1 or 3 values, received ", o.mean.size());
  BYOL_EXPECT_RANGE(o.std.size() <= 3, "std: expected 1 or 3 values, received ", o.std.size());
  for (double m : o.mean) BYOL_EXPECT_RANGE(finite(m), "mean: expected finite values, received ", m);
  for (double s : o.std) BYOL_EXPECT_RANGE(finite(s) && s > 0, "std: expected positive values, received ", s);
}

int64_t blurKernelSize(const AugmentOptions& o, int64_t side) {
  if (o.blurKernel > 0) return o.blurKernel;
  auto k = static_cast<int64_t>(std::floor(o.blurKernelFraction * static_cast<double>(side)));
  if (k % 2 == 0) k += 1;
  return std::max<int64_t>(k, 1);
}

void validateInput(const at::Tensor& input, const AugmentOptions& o) {
  validate(o);
  BYOL_EXPECT_TYPE(input.defined(), "images: expected a tensor, received an undefined tensor");
  const auto type = input.scalar_type();
  BYOL_EXPECT_TYPE(type == at::kByte || type == at::kFloat || type == at::kDouble || type == at::kHalf ||
                       type == at::kBFloat16,
                   "images: expected dtype uint8, float32, float64, float16 or bfloat16, received ", dtypeName(type));
  const Layout layout = resolveLayout(input, o);
  BYOL_EXPECT_RANGE(layout.height >= 1 && layout.width >= 1, "images: expected a height and width of at least 1, received shape ",
                    shapeOf(input));
  const int64_t h = outSide(o.height, layout.height), w = outSide(o.width, layout.width);
  BYOL_EXPECT_RANGE(h <= kMaxUpscale * layout.height && w <= kMaxUpscale * layout.width, "size: expected at most ",
                    kMaxUpscale, "x the input's ", layout.height, " x ", layout.width, ", received ", h, " x ", w);
  const int64_t kh = blurKernelSize(o, h), kw = blurKernelSize(o, w);
  BYOL_EXPECT_RANGE(kh / 2 < h && kw / 2 < w, "blurKernel: expected a kernel of at most 2 x side - 1 for an output of ", h,
                    " x ", w, ", received ", std::max(kh, kw));
  for (const auto* list : {&o.mean, &o.std}) {
    const char* name = list == &o.mean ? "mean" : "std";
    BYOL_EXPECT_RANGE(list->empty() || list->size() == 1 || static_cast<int64_t>(list->size()) == layout.channels, name,
                      ": expected 1 or ", layout.channels, " values for ", layout.channels, "-channel images, received ",
                      list->size());
  }
}

ImageBatch toImageBatch(const at::Tensor& input, const AugmentOptions& o) {
  const Layout layout = resolveLayout(input, o);
  at::Tensor x = layout.nhwc ? input.permute({0, 3, 1, 2}) : input;
  ImageBatch batch;
  batch.fromUint8 = input.scalar_type() == at::kByte;
  batch.images = x.to(at::kFloat, /*non_blocking=*/false, /*copy=*/false, at::MemoryFormat::Contiguous);
  if (batch.fromUint8) batch.images.div_(255.0);
  return batch;
}

std::vector<ImageParams> drawParams(const AugmentOptions& o, int64_t n, int64_t height, int64_t width, uint64_t seed) {
  Draw draw(seed);
  std::vector<ImageParams> params;
  params.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (!o.perImage && i > 0) {
      params.push_back(params.front());
    } else {
      params.push_back(drawImage(o, height, width, draw));
    }
  }
  return params;
}

at::Tensor applyParams(const at::Tensor& input, const AugmentOptions& o, const std::vector<ImageParams>& params,
                       Backend backend) {
  validateInput(input, o);
  const Layout layout = resolveLayout(input, o);
  const int64_t n = input.size(0), c = layout.channels;
  BYOL_EXPECT_RANGE(static_cast<int64_t>(params.size()) == n, "params: expected one entry per image (", n,
                    "), received ", params.size());
  const int64_t h = outSide(o.height, layout.height), w = outSide(o.width, layout.width);
  for (const auto& p : params) {
    BYOL_EXPECT_RANGE(p.top >= 0 && p.left >= 0 && p.cropHeight >= 1 && p.cropWidth >= 1 &&
                          p.top + p.cropHeight <= layout.height && p.left + p.cropWidth <= layout.width,
                      "params: expected crop boxes inside the ", layout.height, " x ", layout.width,
                      " image, received top ", p.top, " left ", p.left, " size ", p.cropHeight, " x ", p.cropWidth);
  }
  std::vector<double> mean = o.mean, std = o.std;
  if (mean.empty()) mean = c == 3 ? std::vector<double>{0.485, 0.456, 0.406} : std::vector<double>{0.449};
  if (std.empty()) std = c == 3 ? std::vector<double>{0.229, 0.224, 0.225} : std::vector<double>{0.226};
  const bool fused = backend == Backend::Fused || (backend == Backend::Auto && input.is_cpu());
  BYOL_EXPECT_RANGE(!fused || input.is_cpu(), "backend: the fused kernels run on the CPU only, received a tensor on ",
                    input.device());
  if (fused && n > 0) {
    const bool direct = input.scalar_type() == at::kByte || input.scalar_type() == at::kFloat;
    std::vector<Taps> ty, tx;
    for (const auto& p : params) {
      ty.push_back(resizeTaps(p.top, p.cropHeight, h, o.interpolation, o.antialias, false));
      tx.push_back(resizeTaps(p.left, p.cropWidth, w, o.interpolation, o.antialias, p.flip));
    }
    at::Tensor x = cpu::resample(direct ? input : input.to(at::kFloat), layout.nhwc, packTaps(ty), packTaps(tx));
    if (input.scalar_type() == at::kByte && o.interpolation == Interpolation::Bicubic) x.clamp_(0, 1);
    cpu::colour(x, params);
    cpu::blur(x, params, blurKernelSize(o, h), blurKernelSize(o, w));
    cpu::finish(x, params, o.solarizeThreshold, o.normalize, mean, std);
    return o.channelsLast ? toChannelsLast(x) : x;
  }
  ImageBatch batch = toImageBatch(input, o);
  at::Tensor x = batch.images;
  if (n == 0) {
    x = at::empty({0, c, h, w}, x.options());
  } else {
    x = resizedCrop(x, params, h, w, o.interpolation, o.antialias, Resampler::Dense);
    // A uint8 image resized with bicubic weights is clamped back into range (torchvision does so for uint8).
    if (batch.fromUint8 && o.interpolation == Interpolation::Bicubic) x.clamp_(0, 1);
    x = colorJitter(x, params);
    x = grayscale(x, params);
    x = gaussianBlur(x, params, blurKernelSize(o, h), blurKernelSize(o, w), Resampler::Dense);
    x = solarize(x, params, o.solarizeThreshold);
  }
  if (o.normalize) x = normalizeImages(x, mean, std);
  return o.channelsLast ? toChannelsLast(x) : x.contiguous();
}

at::Tensor augmentBatch(const at::Tensor& input, const AugmentOptions& o, uint64_t seed, Backend backend) {
  validateInput(input, o);
  const Layout layout = resolveLayout(input, o);
  return applyParams(input, o, drawParams(o, input.size(0), layout.height, layout.width, seed), backend);
}

std::pair<at::Tensor, at::Tensor> augmentViews(const at::Tensor& input, const AugmentOptions& view1, uint64_t seed1,
                                               const AugmentOptions& view2, uint64_t seed2) {
  validateInput(input, view1);
  validateInput(input, view2);
  return {augmentBatch(input, view1, seed1), augmentBatch(input, view2, seed2)};
}

}  // namespace byol
