#include "core/augment_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace byol::cpu {
namespace {

constexpr float kR = 0.2989f, kG = 0.587f, kB = 0.114f;

inline float clamp01(float v) { return std::min(std::max(v, 0.0f), 1.0f); }

// Along W: out[r, o] = sum_t w[o, t] * in[r, idx[o, t]] for every row r = (n, c, h) of the input.
// Only the rows in [rowLo[n], rowHi[n]] (those the vertical taps read) are computed.
template <typename T>
void resampleRows(const at::Tensor& input, bool nhwc, const AxisTaps& tx, float scale, const std::vector<int64_t>& rowLo,
                  const std::vector<int64_t>& rowHi, at::Tensor& out) {
  const int64_t n = out.size(0), c = out.size(1), h = out.size(2), outW = out.size(3);
  const int64_t sn = input.stride(0);
  const int64_t sc = nhwc ? input.stride(3) : input.stride(1);
  const int64_t sh = nhwc ? input.stride(1) : input.stride(2);
  const int64_t sw = nhwc ? input.stride(2) : input.stride(3);
  const int64_t taps = tx.index.size(2);
  const T* in = input.data_ptr<T>();
  float* dst = out.data_ptr<float>();
  const int64_t* index = tx.index.data_ptr<int64_t>();
  const float* weight = tx.weight.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, outW * taps));
  at::parallel_for(0, n * c * h, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> w(static_cast<size_t>(outW * taps));
    std::vector<int64_t> offsets(static_cast<size_t>(outW * taps));
    int64_t cached = -1;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t img = r / (c * h), ch = (r / h) % c, row = r % h;
      if (row < rowLo[static_cast<size_t>(img)] || row > rowHi[static_cast<size_t>(img)]) continue;
      if (img != cached) {  // this image's taps, with the stride and the uint8 scale folded in
        for (int64_t k = 0; k < outW * taps; ++k) {
          w[static_cast<size_t>(k)] = weight[img * outW * taps + k] * scale;
          offsets[static_cast<size_t>(k)] = index[img * outW * taps + k] * sw;
        }
        cached = img;
      }
      const T* src = in + img * sn + ch * sc + row * sh;
      float* o = dst + r * outW;
      for (int64_t j = 0; j < outW; ++j) {
        float sum = 0;
        for (int64_t t = 0; t < taps; ++t) {
          sum += w[static_cast<size_t>(j * taps + t)] * static_cast<float>(src[offsets[static_cast<size_t>(j * taps + t)]]);
        }
        o[j] = sum;
      }
    }
  });
}

// Along H: out[n, c, o, :] = sum_t w[o, t] * in[n, c, idx[o, t], :].
void resampleColumns(const at::Tensor& mid, const AxisTaps& ty, at::Tensor& out) {
  const int64_t c = out.size(1), h = mid.size(2), outH = out.size(2), width = out.size(3);
  const int64_t taps = ty.index.size(2);
  const float* in = mid.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const int64_t* index = ty.index.data_ptr<int64_t>();
  const float* weight = ty.weight.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, width * taps));
  at::parallel_for(0, out.size(0) * c * outH, grain, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const int64_t o = q % outH, plane = q / outH, img = plane / c;
      const float* base = in + plane * h * width;
      float* d = dst + q * width;
      const int64_t* idx = index + (img * outH + o) * taps;
      const float* w = weight + (img * outH + o) * taps;
      const float* src0 = base + idx[0] * width;
      const float w0 = w[0];
      for (int64_t j = 0; j < width; ++j) d[j] = w0 * src0[j];
      for (int64_t t = 1; t < taps; ++t) {
        const float k = w[t];
        if (k == 0) continue;
        const float* src = base + idx[t] * width;
        for (int64_t j = 0; j < width; ++j) d[j] += k * src[j];
      }
    }
  });
}

// torchvision's _blend: clamp(a * img + (1 - a) * ref, 0, 1) with a and 1 - a rounded to float.
inline float blend(float v, float a, float b, float ref) { return clamp01(a * v + b * ref); }

void jitterImage(float* img, int64_t channels, int64_t plane, const ImageParams& p) {
  const bool rgb = channels == 3;
  float* r = img;
  float* g = img + plane;
  float* b = img + 2 * plane;
  for (int op : p.order) {
    if (op == kBrightness && p.brightness != 1) {
      const auto a = static_cast<float>(p.brightness);
      for (int64_t i = 0; i < channels * plane; ++i) img[i] = clamp01(a * img[i]);
    } else if (op == kContrast && p.contrast != 1) {
      double sum = 0;
      if (rgb) {
        for (int64_t i = 0; i < plane; ++i) sum += kR * r[i] + kG * g[i] + kB * b[i];
      } else {
        for (int64_t i = 0; i < plane; ++i) sum += img[i];
      }
      const auto mean = static_cast<float>(sum / static_cast<double>(plane));
      const auto a = static_cast<float>(p.contrast), c = static_cast<float>(1.0 - p.contrast);
      for (int64_t i = 0; i < channels * plane; ++i) img[i] = blend(img[i], a, c, mean);
    } else if (op == kSaturation && rgb && p.saturation != 1) {
      const auto a = static_cast<float>(p.saturation), c = static_cast<float>(1.0 - p.saturation);
      for (int64_t i = 0; i < plane; ++i) {
        const float gray = kR * r[i] + kG * g[i] + kB * b[i];
        r[i] = blend(r[i], a, c, gray);
        g[i] = blend(g[i], a, c, gray);
        b[i] = blend(b[i], a, c, gray);
      }
    } else if (op == kHue && rgb && p.hue != 0) {
      const auto f = static_cast<float>(p.hue);
      hueShift(img, img, 1, plane, &f);
    }
  }
}

}  // namespace

at::Tensor resample(const at::Tensor& input, bool nhwc, const AxisTaps& ty, const AxisTaps& tx) {
  const int64_t n = input.size(0), c = nhwc ? input.size(3) : input.size(1), h = nhwc ? input.size(1) : input.size(2);
  at::Tensor mid = at::empty({n, c, h, tx.index.size(1)}, at::kFloat);
  // The input rows each image's vertical taps read (its crop's rows).
  std::vector<int64_t> lo(static_cast<size_t>(n), h), hi(static_cast<size_t>(n), -1);
  const int64_t per = ty.index.size(1) * ty.index.size(2);
  const int64_t* iy = ty.index.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < per; ++k) {
      lo[static_cast<size_t>(i)] = std::min(lo[static_cast<size_t>(i)], iy[i * per + k]);
      hi[static_cast<size_t>(i)] = std::max(hi[static_cast<size_t>(i)], iy[i * per + k]);
    }
  }
  if (input.scalar_type() == at::kByte) {
    resampleRows<uint8_t>(input, nhwc, tx, 1.0f / 255.0f, lo, hi, mid);
  } else {
    resampleRows<float>(input, nhwc, tx, 1.0f, lo, hi, mid);
  }
  at::Tensor out = at::empty({n, c, ty.index.size(1), tx.index.size(1)}, at::kFloat);
  resampleColumns(mid, ty, out);
  return out;
}

// Written so the compiler can vectorise it: every select is a conditional move or a 0/1 mask (the sector's
// value is picked as a sum of mask * value, exact since one mask is 1 and the values are finite, as
// torchvision's einsum does), floor of values that may be negative is truncation corrected by one, and
// fmod(x, 1) of the positive x = h / 6 + 1 is x - trunc(x) (exact in float, as fmod is). GCC needs
// -fno-trapping-math (set for this file in sources.cmake) to if-convert the selects; it changes no result.
static void hueShiftPlane(const float* __restrict r, const float* __restrict g, const float* __restrict b,
                          float* __restrict ro, float* __restrict go, float* __restrict bo, int64_t plane, float shift) {
  for (int64_t i = 0; i < plane; ++i) {
    // Hue is defined on [0, 1] images: a bicubic crop of a float image undershoots 0 next to black pixels, and
    // with max 0 and min < 0 torchvision's formula divides by the zero max (NaN). Clamping first avoids it and
    // changes nothing for in-range pixels.
    const float R = clamp01(r[i]), G = clamp01(g[i]), B = clamp01(b[i]);
    const float maxc = std::max(R, std::max(G, B));
    const float minc = std::min(R, std::min(G, B));
    const bool eq = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (eq ? 1.0f : maxc);
    const float div = eq ? 1.0f : cr;
    const float rc = (maxc - R) / div, gc = (maxc - G) / div, bc = (maxc - B) / div;
    const float hr = bc - gc, hg = 2.0f + rc - bc, hb = 4.0f + gc - rc;
    float h = maxc == R ? hr : (maxc == G ? hg : hb);
    const float x = h / 6.0f + 1.0f;                               // in [5/6, 11/6]
    h = x - static_cast<float>(static_cast<int>(x));              // fmod(x, 1)
    h = h + shift;                                                 // in (-0.5, 1.5)
    float fl = static_cast<float>(static_cast<int>(h));
    fl = fl > h ? fl - 1.0f : fl;                                  // floor
    h = h - fl;
    const float v = maxc;
    const float h6 = h * 6.0f;                                     // in [0, 6]
    const float sector0 = static_cast<float>(static_cast<int>(h6));
    const float fr = h6 - sector0;
    const float sector = sector0 == 6.0f ? 0.0f : sector0;         // i % 6
    const float p = std::min(std::max(v * (1.0f - s), 0.0f), 1.0f);
    const float q = std::min(std::max(v * (1.0f - s * fr), 0.0f), 1.0f);
    const float t = std::min(std::max(v * (1.0f - s * (1.0f - fr)), 0.0f), 1.0f);
    const float m0 = sector == 0.0f ? 1.0f : 0.0f, m1 = sector == 1.0f ? 1.0f : 0.0f, m2 = sector == 2.0f ? 1.0f : 0.0f,
                m3 = sector == 3.0f ? 1.0f : 0.0f, m4 = sector == 4.0f ? 1.0f : 0.0f, m5 = sector == 5.0f ? 1.0f : 0.0f;
    // Sector -> (r, g, b): 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q).
    ro[i] = m0 * v + m1 * q + m2 * p + m3 * p + m4 * t + m5 * v;
    go[i] = m0 * t + m1 * v + m2 * v + m3 * q + m4 * p + m5 * p;
    bo[i] = m0 * p + m1 * p + m2 * t + m3 * v + m4 * v + m5 * q;
  }
}

void hueShift(const float* in, float* out, int64_t n, int64_t plane, const float* factors) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(plane, 1));
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) {
    for (int64_t img = begin; img < end; ++img) {
      const float* r = in + img * 3 * plane;
      float* o = out + img * 3 * plane;
      if (in == out) {  // in place: through a copy, so the planes passed as __restrict do not alias
        std::vector<float> copy(r, r + 3 * plane);
        hueShiftPlane(copy.data(), copy.data() + plane, copy.data() + 2 * plane, o, o + plane, o + 2 * plane, plane,
                      factors[img]);
      } else {
        hueShiftPlane(r, r + plane, r + 2 * plane, o, o + plane, o + 2 * plane, plane, factors[img]);
      }
    }
  });
}

namespace {

std::vector<float> gaussian(int64_t kernel, double sigma) {
  const int64_t half = kernel / 2;
  std::vector<double> w;
  double total = 0;
  for (int64_t t = -half; t <= half; ++t) {
    const double z = static_cast<double>(t) / sigma;
    w.push_back(std::exp(-0.5 * z * z));
    total += w.back();
  }
  std::vector<float> out;  // centre, then distance 1, 2, ... (symmetric)
  for (int64_t t = 0; t <= half; ++t) out.push_back(static_cast<float>(w[static_cast<size_t>(half + t)] / total));
  return out;
}

inline int64_t reflect(int64_t i, int64_t size) {
  if (i < 0) return -i;
  if (i >= size) return 2 * (size - 1) - i;
  return i;
}

// dst[j] = k[0] * rows[0][j] + sum_{t >= 1} k[t] * (rows[t][j] + rows[-t][j]) for a symmetric kernel of
// half-width `half` (rows[t] for t in [-half, half]), in blocks of 16 outputs kept in registers.
inline void symmetricSum(float* dst, int64_t n, const float* const* rows, const float* k, int64_t half) {
  constexpr int64_t kBlock = 16;
  int64_t j = 0;
  for (; j + kBlock <= n; j += kBlock) {
    float acc[kBlock];
    const float* centre = rows[0];
    for (int64_t u = 0; u < kBlock; ++u) acc[u] = k[0] * centre[j + u];
    for (int64_t t = 1; t <= half; ++t) {
      const float* a = rows[t];
      const float* b = rows[-t];
      const float kt = k[t];
      for (int64_t u = 0; u < kBlock; ++u) acc[u] += kt * (a[j + u] + b[j + u]);
    }
    for (int64_t u = 0; u < kBlock; ++u) dst[j + u] = acc[u];
  }
  for (; j < n; ++j) {
    float acc = k[0] * rows[0][j];
    for (int64_t t = 1; t <= half; ++t) acc += k[t] * (rows[t][j] + rows[-t][j]);
    dst[j] = acc;
  }
}

// One plane: vertical pass into `tmp`, horizontal pass through a reflect-padded row. `ky`/`kx` hold the
// centre tap first, then the taps at distance 1, 2, ... (the kernel is symmetric).
void blurPlane(float* plane, int64_t h, int64_t w, const std::vector<float>& ky, const std::vector<float>& kx,
               std::vector<float>& tmp, std::vector<float>& pad) {
  const auto hy = static_cast<int64_t>(ky.size()) - 1, hx = static_cast<int64_t>(kx.size()) - 1;
  std::vector<const float*> rowsStore(static_cast<size_t>(2 * std::max(hy, hx) + 1));
  const float** rows = rowsStore.data() + std::max(hy, hx);
  for (int64_t o = 0; o < h; ++o) {
    for (int64_t t = -hy; t <= hy; ++t) rows[t] = plane + reflect(o + t, h) * w;
    symmetricSum(tmp.data() + o * w, w, rows, ky.data(), hy);
  }
  for (int64_t o = 0; o < h; ++o) {
    const float* row = tmp.data() + o * w;
    for (int64_t p = 0; p < hx; ++p) pad[static_cast<size_t>(p)] = row[hx - p];             // reflect left
    std::copy(row, row + w, pad.begin() + hx);
    for (int64_t p = 0; p < hx; ++p) pad[static_cast<size_t>(hx + w + p)] = row[w - 2 - p];  // reflect right
    for (int64_t t = -hx; t <= hx; ++t) rows[t] = pad.data() + hx + t;
    symmetricSum(plane + o * w, w, rows, kx.data(), hx);
  }
}

}  // namespace

void blur(at::Tensor& x, const std::vector<ImageParams>& params, int64_t kH, int64_t kW) {
  if (kH == 1 && kW == 1) return;
  const int64_t channels = x.size(1), h = x.size(2), w = x.size(3);
  BYOL_EXPECT_RANGE(kH % 2 == 1 && kW % 2 == 1 && kH / 2 < h && kW / 2 < w, "blurKernel: expected odd sizes below ",
                    2 * h, " x ", 2 * w, ", received ", kH, " x ", kW);
  float* data = x.data_ptr<float>();
  at::parallel_for(0, x.size(0), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> tmp(static_cast<size_t>(h * w)), pad(static_cast<size_t>(w + kW));  // pad: w + 2 * (kW / 2)
    for (int64_t img = begin; img < end; ++img) {
      const ImageParams& p = params[static_cast<size_t>(img)];
      if (!p.blur) continue;
      const std::vector<float> ky = gaussian(kH, p.sigma), kx = gaussian(kW, p.sigma);
      for (int64_t c = 0; c < channels; ++c) blurPlane(data + (img * channels + c) * h * w, h, w, ky, kx, tmp, pad);
    }
  });
}

void colour(at::Tensor& x, const std::vector<ImageParams>& params) {
  const int64_t channels = x.size(1), plane = x.size(2) * x.size(3);
  float* data = x.data_ptr<float>();
  at::parallel_for(0, x.size(0), 1, [&](int64_t begin, int64_t end) {
    for (int64_t img = begin; img < end; ++img) {
      const ImageParams& p = params[static_cast<size_t>(img)];
      float* base = data + img * channels * plane;
      if (p.jitter) jitterImage(base, channels, plane, p);
      if (p.grayscale && channels == 3) {
        float* r = base;
        float* g = base + plane;
        float* b = base + 2 * plane;
        for (int64_t i = 0; i < plane; ++i) {
          const float gray = kR * r[i] + kG * g[i] + kB * b[i];
          r[i] = g[i] = b[i] = gray;
        }
      }
    }
  });
}

void finish(at::Tensor& x, const std::vector<ImageParams>& params, double threshold, bool normalize,
            const std::vector<double>& mean, const std::vector<double>& std) {
  const int64_t channels = x.size(1), plane = x.size(2) * x.size(3);
  float* data = x.data_ptr<float>();
  const auto thr = static_cast<float>(threshold);
  at::parallel_for(0, x.size(0) * channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) {
      const int64_t img = q / channels, c = q % channels;
      float* v = data + q * plane;
      if (params[static_cast<size_t>(img)].solarize) {
        for (int64_t i = 0; i < plane; ++i) v[i] = v[i] >= thr ? 1.0f - v[i] : v[i];
      }
      if (normalize) {
        const auto m = static_cast<float>(mean.size() == 1 ? mean[0] : mean[static_cast<size_t>(c)]);
        const auto s = static_cast<float>(std.size() == 1 ? std[0] : std[static_cast<size_t>(c)]);
        for (int64_t i = 0; i < plane; ++i) v[i] = (v[i] - m) / s;
      }
    }
  });
}

}  // namespace byol::cpu
