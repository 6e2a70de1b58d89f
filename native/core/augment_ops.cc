// The stages of native/core/augment.h as batched tensor ops with per-image parameters.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "core/augment.h"
#include "core/augment_cpu.h"
#include "core/errors.h"
#include "core/tensor_checks.h"

namespace byol {
namespace {

// Cubic convolution (Keys) with parameter a, as torch's upsample_bicubic2d (a = -0.75) and its antialiased
// variant (a = -0.5).
double cubic(double x, double a) {
  x = std::abs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

double triangle(double x) {
  x = std::abs(x);
  return x < 1 ? 1 - x : 0;
}

// A (n,) tensor of per-image flags as an (n, 1, 1, 1) mask on `device`.
at::Tensor imageMask(const std::vector<bool>& flags, const at::Device& device) {
  auto mask = at::empty({static_cast<int64_t>(flags.size()), 1, 1, 1}, at::kBool);
  auto* out = mask.data_ptr<bool>();
  for (size_t i = 0; i < flags.size(); ++i) out[i] = flags[i];
  return mask.to(device);
}

at::Tensor imageValues(const std::vector<double>& values, const at::Device& device) {
  auto t = at::empty({static_cast<int64_t>(values.size()), 1, 1, 1}, at::kFloat);
  auto* out = t.data_ptr<float>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  return t.to(device);
}

at::Tensor indexTensor(const std::vector<int64_t>& index, const at::Device& device) {
  auto t = at::empty({static_cast<int64_t>(index.size())}, at::kLong);
  std::copy(index.begin(), index.end(), t.data_ptr<int64_t>());
  return t.to(device);
}

// Dense path: out = Ry[n] @ x[n] @ Rx[n]^T for every image and channel: Ry (n, outH, H), Rx (n, outW, W).
at::Tensor separableDense(const at::Tensor& x, const at::Tensor& ry, const at::Tensor& rx) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t outH = ry.size(1), outW = rx.size(1);
  // Along W: one bmm over (n, C*H, W) @ (n, W, outW).
  at::Tensor y = at::bmm(x.reshape({n, c * h, w}), rx.transpose(1, 2)).view({n, c, h, outW});
  // Along H: each channel of each image; the (n, 1, outH, H) weights broadcast over channels.
  if (c == 1) return at::bmm(ry, y.view({n, h, outW})).view({n, 1, outH, outW});
  return at::matmul(ry.unsqueeze(1), y);
}

at::Tensor denseFromTaps(const AxisTaps& taps, int64_t inSize, const at::Device& device) {
  const int64_t n = taps.index.size(0), out = taps.index.size(1);
  return at::zeros({n, out, inSize}, at::TensorOptions(device).dtype(at::kFloat))
      .scatter_add_(2, taps.index.to(device), taps.weight.to(device));
}

at::Tensor separable(const at::Tensor& x, const AxisTaps& ty, const AxisTaps& tx, Resampler resampler) {
  const bool dense = resampler == Resampler::Dense || (resampler == Resampler::Auto && !x.is_cpu());
  if (dense) return separableDense(x, denseFromTaps(ty, x.size(2), x.device()), denseFromTaps(tx, x.size(3), x.device()));
  BYOL_EXPECT_RANGE(x.is_cpu(), "resampler: the tap resampler runs on the CPU only, received a tensor on ", x.device());
  return cpu::resample(x.to(at::kFloat), false, ty, tx);
}

// 1-channel or 3-channel luma: 0.2989 R + 0.587 G + 0.114 B.
at::Tensor luma(const at::Tensor& x) {
  if (x.size(1) == 1) return x;
  return (x.select(1, 0) * 0.2989f + x.select(1, 1) * 0.587f + x.select(1, 2) * 0.114f).unsqueeze(1);
}

}  // namespace

Taps resizeTaps(int64_t start, int64_t length, int64_t outSize, Interpolation interpolation, bool antialias, bool flip) {
  Taps taps(static_cast<size_t>(outSize));
  const double scale = static_cast<double>(length) / static_cast<double>(outSize);
  const bool bicubic = interpolation == Interpolation::Bicubic;
  for (int64_t o = 0; o < outSize; ++o) {
    const int64_t row = flip ? outSize - 1 - o : o;
    if (antialias) {
      // torch's _upsample_{bilinear,bicubic}2d_aa: a filter stretched by the scale when shrinking, normalised.
      const double support = (bicubic ? 2.0 : 1.0) * std::max(scale, 1.0);
      const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
      const double center = scale * (static_cast<double>(o) + 0.5);
      const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
      const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), length);
      double total = 0;
      std::vector<double> weights;
      for (int64_t j = lo; j < hi; ++j) {
        const double arg = (static_cast<double>(j) - center + 0.5) * invscale;
        weights.push_back(bicubic ? cubic(arg, -0.5) : triangle(arg));
        total += weights.back();
      }
      for (int64_t j = lo; j < hi; ++j) {
        taps[static_cast<size_t>(row)].push_back({start + j, total != 0 ? weights[static_cast<size_t>(j - lo)] / total : 0});
      }
    } else if (!bicubic) {
      // upsample_bilinear2d, align_corners = false: source clamped at 0, upper neighbour clamped at the edge.
      double src = scale * (static_cast<double>(o) + 0.5) - 0.5;
      if (src < 0) src = 0;
      const auto i0 = std::min<int64_t>(static_cast<int64_t>(src), length - 1);
      const int64_t i1 = std::min<int64_t>(i0 + 1, length - 1);
      const double l1 = src - static_cast<double>(i0);
      taps[static_cast<size_t>(row)].push_back({start + i0, 1 - l1});
      taps[static_cast<size_t>(row)].push_back({start + i1, l1});
    } else {
      // upsample_bicubic2d, align_corners = false, a = -0.75, taps clamped to the crop.
      const double src = scale * (static_cast<double>(o) + 0.5) - 0.5;
      const double fl = std::floor(src);
      const double t = src - fl;
      const auto i0 = static_cast<int64_t>(fl);
      const double coeffs[4] = {cubic(t + 1, -0.75), cubic(t, -0.75), cubic(1 - t, -0.75), cubic(2 - t, -0.75)};
      for (int k = 0; k < 4; ++k) {
        const int64_t idx = std::min<int64_t>(std::max<int64_t>(i0 - 1 + k, 0), length - 1);
        taps[static_cast<size_t>(row)].push_back({start + idx, coeffs[k]});
      }
    }
  }
  return taps;
}

at::Tensor tapsToDense(const Taps& taps, int64_t inSize) {
  auto dense = at::zeros({static_cast<int64_t>(taps.size()), inSize}, at::kDouble);
  auto acc = dense.accessor<double, 2>();
  for (size_t o = 0; o < taps.size(); ++o) {
    for (const auto& [index, weight] : taps[o]) acc[static_cast<int64_t>(o)][index] += weight;
  }
  return dense.to(at::kFloat);
}

AxisTaps packTaps(const std::vector<Taps>& images) {
  const auto n = static_cast<int64_t>(images.size());
  const int64_t out = n > 0 ? static_cast<int64_t>(images[0].size()) : 0;
  size_t width = 1;
  for (const auto& taps : images) {
    for (const auto& row : taps) width = std::max(width, row.size());
  }
  const auto t = static_cast<int64_t>(width);
  AxisTaps packed{at::zeros({n, out, t}, at::kLong), at::zeros({n, out, t}, at::kFloat)};
  int64_t* index = packed.index.data_ptr<int64_t>();
  float* weight = packed.weight.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t o = 0; o < out; ++o) {
      const auto& row = images[static_cast<size_t>(i)][static_cast<size_t>(o)];
      for (size_t k = 0; k < row.size(); ++k) {
        index[(i * out + o) * t + static_cast<int64_t>(k)] = row[k].first;
        weight[(i * out + o) * t + static_cast<int64_t>(k)] = static_cast<float>(row[k].second);
      }
      // Padding taps repeat the first index with weight 0.
      for (size_t k = row.size(); k < width; ++k) index[(i * out + o) * t + static_cast<int64_t>(k)] = row.empty() ? 0 : row[0].first;
    }
  }
  return packed;
}

at::Tensor resizeWeights(int64_t inSize, int64_t start, int64_t length, int64_t outSize, Interpolation interpolation,
                         bool antialias, bool flip) {
  return tapsToDense(resizeTaps(start, length, outSize, interpolation, antialias, flip), inSize);
}

at::Tensor resizedCrop(const at::Tensor& x, const std::vector<ImageParams>& params, int64_t outH, int64_t outW,
                       Interpolation interpolation, bool antialias, Resampler resampler) {
  std::vector<Taps> ty, tx;
  for (const auto& p : params) {
    ty.push_back(resizeTaps(p.top, p.cropHeight, outH, interpolation, antialias, false));
    tx.push_back(resizeTaps(p.left, p.cropWidth, outW, interpolation, antialias, p.flip));
  }
  return separable(x, packTaps(ty), packTaps(tx), resampler);
}

at::Tensor toGray(const at::Tensor& x) { return luma(x); }

at::Tensor adjustHueTensorOps(const at::Tensor& input, const at::Tensor& factors) {
  if (input.size(1) == 1) return input;
  const at::Tensor x = input.clamp(0, 1);  // as the CPU kernel: hue is defined on [0, 1] (no NaN at max 0, min < 0)
  const auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  const auto maxc = at::maximum(r, at::maximum(g, b));
  const auto minc = at::minimum(r, at::minimum(g, b));
  const auto eq = maxc == minc;
  const auto cr = maxc - minc;
  const auto ones = at::ones_like(maxc);
  const auto s = cr / at::where(eq, ones, maxc);
  const auto div = at::where(eq, ones, cr);
  const auto rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
  auto h = at::where(maxc == r, bc - gc, at::where(maxc == g, 2.0f + rc - bc, 4.0f + gc - rc));
  h = at::fmod(h / 6.0f + 1.0f, 1.0f);
  h = h + factors.to(x.device(), at::kFloat).view({-1, 1, 1});
  h = h - at::floor(h);
  const auto& v = maxc;
  const auto h6 = h * 6.0f;
  const auto fi = at::floor(h6);
  const auto fr = h6 - fi;
  const auto sector = at::remainder(fi.to(at::kInt), 6);
  const auto p = (v * (1.0f - s)).clamp(0, 1);
  const auto q = (v * (1.0f - s * fr)).clamp(0, 1);
  const auto t = (v * (1.0f - s * (1.0f - fr))).clamp(0, 1);
  // Sector -> (r, g, b): 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q).
  const auto pick = [&](const at::Tensor* bySector[6]) {
    at::Tensor out = *bySector[5];
    for (int k = 4; k >= 0; --k) out = at::where(sector == k, *bySector[k], out);
    return out;
  };
  const at::Tensor* rs[6] = {&v, &q, &p, &p, &t, &v};
  const at::Tensor* gs[6] = {&t, &v, &v, &q, &p, &p};
  const at::Tensor* bs[6] = {&p, &p, &t, &v, &v, &q};
  return at::stack({pick(rs), pick(gs), pick(bs)}, 1);
}

at::Tensor adjustHue(const at::Tensor& x, const at::Tensor& factors) {
  BYOL_EXPECT_RANGE(x.dim() == 4 && factors.dim() == 1 && factors.size(0) == x.size(0),
                    "adjustHue: expected N x C x H x W images and N factors, received ", shapeOf(x), " and ",
                    shapeOf(factors));
  if (x.size(1) == 1) return x;
  if (!x.is_cpu()) return adjustHueTensorOps(x, factors);
  const at::Tensor in = x.to(at::kFloat).contiguous();
  const at::Tensor f = factors.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(in);
  cpu::hueShift(in.data_ptr<float>(), out.data_ptr<float>(), in.size(0), in.size(2) * in.size(3), f.data_ptr<float>());
  return out;
}

at::Tensor colorJitter(const at::Tensor& input, const std::vector<ImageParams>& params) {
  at::Tensor x = input;
  const int64_t n = x.size(0);
  const bool rgb = x.size(1) == 3;
  const auto device = x.device();
  for (int pass = 0; pass < 4; ++pass) {
    std::vector<double> factor(static_cast<size_t>(n), 1.0);
    std::vector<bool> blend(static_cast<size_t>(n), false), contrast(static_cast<size_t>(n), false),
        saturation(static_cast<size_t>(n), false);
    std::vector<int64_t> hueIndex;
    std::vector<double> hueFactor;
    bool anyBlend = false, allBlend = true, anyContrast = false, anySaturation = false;
    for (int64_t i = 0; i < n; ++i) {
      const auto& p = params[static_cast<size_t>(i)];
      const auto k = static_cast<size_t>(i);
      if (!p.jitter) {
        allBlend = false;
        continue;
      }
      switch (p.order[static_cast<size_t>(pass)]) {
        case kBrightness:
          if (p.brightness != 1) factor[k] = p.brightness, blend[k] = true;
          break;
        case kContrast:
          if (p.contrast != 1) factor[k] = p.contrast, blend[k] = contrast[k] = anyContrast = true;
          break;
        case kSaturation:
          if (rgb && p.saturation != 1) factor[k] = p.saturation, blend[k] = saturation[k] = anySaturation = true;
          break;
        case kHue:
          if (rgb && p.hue != 0) hueIndex.push_back(i), hueFactor.push_back(p.hue);
          break;
        default:
          break;
      }
      anyBlend = anyBlend || blend[k];
      allBlend = allBlend && blend[k];
    }
    if (anyBlend) {
      // torchvision's _blend: clamp(a * img + (1 - a) * reference, 0, 1); the reference is 0 (brightness), the
      // mean of the grayscale image (contrast) or the grayscale image (saturation).
      const at::Tensor a = imageValues(factor, device);
      at::Tensor blended = x * a;
      if (anyContrast || anySaturation) {
        const at::Tensor gray = luma(x);
        at::Tensor reference;
        if (anySaturation) reference = gray * imageMask(saturation, device);
        if (anyContrast) {
          at::Tensor mean = gray.mean({1, 2, 3}, /*keepdim=*/true) * imageMask(contrast, device);
          reference = reference.defined() ? reference + mean : mean;
        }
        blended.add_(reference * (1 - a));
      }
      blended.clamp_(0, 1);
      x = allBlend ? blended : at::where(imageMask(blend, device), blended, x);
    }
    if (!hueIndex.empty()) {
      const at::Tensor index = indexTensor(hueIndex, device);
      auto factors = at::empty({static_cast<int64_t>(hueFactor.size())}, at::kFloat);
      for (size_t i = 0; i < hueFactor.size(); ++i) factors[static_cast<int64_t>(i)] = hueFactor[i];
      const bool all = static_cast<int64_t>(hueIndex.size()) == n;
      at::Tensor shifted = adjustHue(all ? x : x.index_select(0, index), factors);
      x = all ? shifted : x.index_copy(0, index, shifted);
    }
  }
  return x;
}

at::Tensor grayscale(const at::Tensor& x, const std::vector<ImageParams>& params) {
  if (x.size(1) == 1) return x;
  std::vector<bool> flags;
  bool any = false;
  for (const auto& p : params) flags.push_back(p.grayscale), any = any || p.grayscale;
  if (!any) return x;
  return at::where(imageMask(flags, x.device()), luma(x).expand_as(x), x);
}

Taps blurTaps(int64_t size, int64_t kernel, double sigma) {
  const int64_t half = kernel / 2;
  BYOL_EXPECT_RANGE(kernel >= 1 && kernel % 2 == 1 && half < size, "blurKernel: expected an odd size below ", 2 * size,
                    " for a side of ", size, ", received ", kernel);
  std::vector<double> weights;
  double total = 0;
  for (int64_t t = -half; t <= half; ++t) {
    const double z = static_cast<double>(t) / sigma;
    weights.push_back(std::exp(-0.5 * z * z));
    total += weights.back();
  }
  Taps taps(static_cast<size_t>(size));
  for (int64_t o = 0; o < size; ++o) {
    for (int64_t t = -half; t <= half; ++t) {
      int64_t i = o + t;
      if (i < 0) i = -i;                        // reflect padding (edge not repeated)
      if (i >= size) i = 2 * (size - 1) - i;
      taps[static_cast<size_t>(o)].push_back({i, weights[static_cast<size_t>(t + half)] / total});
    }
  }
  return taps;
}

at::Tensor blurWeights(int64_t size, int64_t kernel, double sigma) {
  return tapsToDense(blurTaps(size, kernel, sigma), size);
}

at::Tensor gaussianBlur(const at::Tensor& x, const std::vector<ImageParams>& params, int64_t kH, int64_t kW,
                        Resampler resampler) {
  std::vector<int64_t> index;
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].blur) index.push_back(static_cast<int64_t>(i));
  }
  if (index.empty() || (kH == 1 && kW == 1)) return x;
  const int64_t h = x.size(2), w = x.size(3);
  std::vector<Taps> ty, tx;
  for (int64_t i : index) {
    const double sigma = params[static_cast<size_t>(i)].sigma;
    ty.push_back(blurTaps(h, kH, sigma));
    tx.push_back(blurTaps(w, kW, sigma));
  }
  const bool all = static_cast<int64_t>(index.size()) == x.size(0);
  const at::Tensor idx = indexTensor(index, x.device());
  at::Tensor blurred = separable(all ? x : x.index_select(0, idx), packTaps(ty), packTaps(tx), resampler);
  return all ? blurred : x.index_copy(0, idx, blurred);
}

at::Tensor solarize(const at::Tensor& x, const std::vector<ImageParams>& params, double threshold) {
  std::vector<bool> flags;
  bool any = false;
  for (const auto& p : params) flags.push_back(p.solarize), any = any || p.solarize;
  if (!any) return x;
  return at::where(imageMask(flags, x.device()).logical_and(x >= threshold), 1 - x, x);
}

at::Tensor normalizeImages(const at::Tensor& x, const std::vector<double>& mean, const std::vector<double>& std) {
  const int64_t c = x.size(1);
  auto m = at::empty({c}, at::kFloat), s = at::empty({c}, at::kFloat);
  for (int64_t i = 0; i < c; ++i) {
    m[i] = mean.size() == 1 ? mean[0] : mean[static_cast<size_t>(i)];
    s[i] = std.size() == 1 ? std[0] : std[static_cast<size_t>(i)];
  }
  return (x - m.to(x.device()).view({1, c, 1, 1})) / s.to(x.device()).view({1, c, 1, 1});
}

}  // namespace byol
