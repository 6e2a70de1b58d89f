#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "core/augment.h"
#include "core/augment_cpu.h"
#include "core/errors.h"

namespace {

using byol::AugmentOptions;
using byol::ImageParams;

// Everything off: a crop of the whole image at the input size, no colour, no blur, no normalisation.
AugmentOptions identityOptions() {
  AugmentOptions o;
  o.crop = false;
  o.flipProb = 0;
  o.jitterProb = 0;
  o.grayscaleProb = 0;
  o.blurProb = 0;
  o.solarizeProb = 0;
  o.normalize = false;
  return o;
}

// A colourful batch: every image the same unless `distinct`.
at::Tensor colourful(int64_t n, int64_t c, int64_t h, int64_t w, bool distinct = false, uint64_t seed = 3) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor one = at::rand({distinct ? n : 1, c, h, w}, gen);
  return distinct ? one : one.expand({n, c, h, w}).contiguous();
}

// |fraction - p| within 3 standard deviations of a binomial proportion over n draws.
void expectProportion(int64_t hits, int64_t n, double p, const char* what) {
  const double fraction = static_cast<double>(hits) / static_cast<double>(n);
  const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(n));
  EXPECT_LE(std::abs(fraction - p), 3 * sigma + 1e-12) << what << ": measured " << fraction << " for p " << p
                                                       << " over " << n << " images";
}

std::string errorOf(const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- Reference values: torchvision.transforms.functional on the same inputs -------------------------------

std::string referenceScript() {
  std::string here = __FILE__;  // .../test/native/augment_test.cc
  const auto root = here.substr(0, here.rfind("/test/native/"));
  return root + "/scripts/python/augment_reference.py";
}

std::string python() {
  const char* env = std::getenv("BYOL_PYTHON");
  return env && *env ? env : "python3";
}

at::Tensor readFloats(const std::string& path, std::vector<int64_t> shape) {
  at::Tensor t = at::empty(shape, at::kFloat);
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  EXPECT_TRUE(in.good()) << "could not read " << path;
  return t;
}

struct ReferenceCase {
  std::string name, op, interpolation;
  int64_t n, c, h, w, outH, outW, kH, kW;
  bool antialias;
  std::vector<ImageParams> params;
};

class TorchvisionReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ::testing::TempDir() + "byol_augment_reference";
    const std::string command = python() + " " + referenceScript() + " " + dir_;
    status_ = std::system(command.c_str());
  }
  static std::vector<ReferenceCase> cases() {
    std::vector<ReferenceCase> out;
    std::ifstream manifest(dir_ + "/manifest.txt");
    std::string tag;
    while (manifest >> tag) {
      if (tag == "case") {
        ReferenceCase c;
        int aa = 0;
        manifest >> c.name >> c.op >> c.n >> c.c >> c.h >> c.w >> c.outH >> c.outW >> c.interpolation >> aa >> c.kH >> c.kW;
        c.antialias = aa != 0;
        out.push_back(c);
      } else {
        ImageParams p;
        int flip = 0;
        manifest >> p.top >> p.left >> p.cropHeight >> p.cropWidth >> flip >> p.brightness >> p.contrast >> p.saturation >>
            p.hue >> p.order[0] >> p.order[1] >> p.order[2] >> p.order[3] >> p.sigma;
        p.flip = flip != 0;
        p.jitter = p.grayscale = p.blur = p.solarize = true;
        out.back().params.push_back(p);
      }
    }
    return out;
  }
  void SetUp() override {
    if (WEXITSTATUS(status_) == 3) GTEST_SKIP() << python() << " has no torchvision (set BYOL_PYTHON)";
    ASSERT_EQ(status_, 0) << "augment_reference.py failed";
  }
  static std::string dir_;
  static int status_;
};
std::string TorchvisionReference::dir_;
int TorchvisionReference::status_ = 0;

// tensorOps = false: the CPU kernels (fused colour, tap resampling); true: the device-agnostic tensor ops and
// dense matmul resampling that CUDA runs.
at::Tensor applyOp(const ReferenceCase& c, const at::Tensor& input, bool tensorOps) {
  auto params = c.params;
  at::Tensor x = input.clone();
  const auto only = [&](bool jitter, bool gray, bool solarize) {
    for (auto& p : params) p.jitter = jitter, p.grayscale = gray, p.solarize = solarize;
  };
  const auto resampler = tensorOps ? byol::Resampler::Dense : byol::Resampler::Taps;
  if (c.op == "crop") {
    return byol::resizedCrop(x, params, c.outH, c.outW, byol::parseInterpolation(c.interpolation), c.antialias, resampler);
  }
  if (c.op == "blur") {
    if (tensorOps) return byol::gaussianBlur(x, params, c.kH, c.kW, resampler);
    byol::cpu::blur(x, params, c.kH, c.kW);
    return x;
  }
  if (c.op == "hue") {
    auto f = at::empty({c.n}, at::kFloat);
    for (int64_t i = 0; i < c.n; ++i) f[i] = params[static_cast<size_t>(i)].hue;
    return tensorOps ? byol::adjustHueTensorOps(x, f) : byol::adjustHue(x, f);
  }
  if (c.op == "jitter" || c.op == "gray") {
    only(c.op == "jitter", c.op == "gray", false);
    if (tensorOps) return c.op == "jitter" ? byol::colorJitter(x, params) : byol::grayscale(x, params);
    byol::cpu::colour(x, params);
    return x;
  }
  const std::vector<double> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};
  if (c.op == "solarize" || c.op == "normalize") {
    only(false, false, c.op == "solarize");
    if (tensorOps) return c.op == "solarize" ? byol::solarize(x, params, 0.5) : byol::normalizeImages(x, mean, std);
    byol::cpu::finish(x, params, 0.5, c.op == "normalize", mean, std);
    return x;
  }
  ADD_FAILURE() << "unknown op " << c.op;
  return x;
}

TEST_F(TorchvisionReference, EveryOpMatchesWithFixedParameters) {
  const auto all = cases();
  ASSERT_GE(all.size(), 30u);
  // Stated tolerances (max |ours - torchvision| on values in [0, 1]): float32 rounding of the same maths.
  const std::map<std::string, double> tolerance = {{"crop", 2e-6}, {"jitter", 2e-6}, {"hue", 2e-6}, {"gray", 1e-6},
                                                   {"blur", 2e-6}, {"solarize", 0}, {"normalize", 2e-6}};
  std::set<std::string> ops;
  for (const auto& c : all) {
    const at::Tensor x = readFloats(dir_ + "/" + c.name + ".in.f32", {c.n, c.c, c.h, c.w});
    const at::Tensor expected = readFloats(dir_ + "/" + c.name + ".out.f32", {c.n, c.c, c.outH, c.outW});
    for (bool tensorOps : {false, true}) {
      // First the CPU kernels, then the device-agnostic variant CUDA runs (tensor ops, dense matmul resampling).
      const at::Tensor got = applyOp(c, x, tensorOps);
      ASSERT_EQ(got.sizes(), expected.sizes()) << c.name;
      const double err = (got - expected).abs().max().item<double>();
      EXPECT_LE(err, tolerance.at(c.op)) << c.name << (tensorOps ? " (tensor ops)" : "");
      std::printf("  %-26s %-10s max |ours - torchvision| = %.3g\n", c.name.c_str(), tensorOps ? "tensor-ops" : "cpu",
                  err);
    }
    ops.insert(c.op);
  }
  EXPECT_EQ(ops.size(), 7u);
}

// ---- Per-sample behaviour ---------------------------------------------------------------------------------

TEST(Augment, IdenticalImagesGetTheirOwnCropsFlipsAndColours) {
  const int64_t n = 16;
  const at::Tensor x = colourful(n, 3, 24, 24);
  AugmentOptions o;  // the paper's view 1, defaults
  o.normalize = false;
  o.blurProb = 0;
  const auto params = byol::drawParams(o, n, 24, 24, 11);
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t>> boxes;
  std::set<double> brightness;
  for (const auto& p : params) boxes.insert({p.top, p.left, p.cropHeight, p.cropWidth}), brightness.insert(p.brightness);
  EXPECT_EQ(boxes.size(), static_cast<size_t>(n));
  EXPECT_EQ(brightness.size(), static_cast<size_t>(n));
  const at::Tensor y = byol::augmentBatch(x, o, 11);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      EXPECT_GT((y[i] - y[j]).abs().max().item<double>(), 1e-3) << "images " << i << " and " << j << " are equal";
    }
  }
  // Flips: with crops off and only flips on, both orientations occur in one batch.
  AugmentOptions flips = identityOptions();
  flips.flipProb = 0.5;
  const at::Tensor f = byol::augmentBatch(x, flips, 5);
  int flipped = 0;
  for (int64_t i = 0; i < n; ++i) flipped += at::equal(f[i], x[i].flip({2})) ? 1 : 0;
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, n);
  // Colours: jitter alone changes the mean colour of identical images differently.
  AugmentOptions jitter = identityOptions();
  jitter.jitterProb = 1;
  const at::Tensor means = byol::augmentBatch(x, jitter, 5).mean({2, 3});
  for (int64_t i = 1; i < n; ++i) EXPECT_GT((means[i] - means[0]).abs().max().item<double>(), 1e-4);
}

// The CPU kernels and the tensor-op path (what CUDA runs) give the same views for the same seed.
TEST(Augment, CpuKernelsEqualTheTensorOpPath) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(12);
  const at::Tensor bytes = at::randint(0, 256, {24, 20, 18, 3}, gen).to(at::kByte);
  const at::Tensor floats = at::rand({24, 1, 20, 18}, gen);
  for (const at::Tensor& x : {bytes, floats}) {
    for (auto interp : {byol::Interpolation::Bilinear, byol::Interpolation::Bicubic}) {
      for (bool aa : {false, true}) {
        AugmentOptions o;
        o.interpolation = interp;
        o.antialias = aa;
        o.height = 16, o.width = 24;
        o.jitterProb = o.blurProb = o.solarizeProb = o.grayscaleProb = 0.5;
        o.blurKernel = 5;
        o.channelsLast = aa;
        const at::Tensor fused = byol::augmentBatch(x, o, 17, byol::Backend::Fused);
        const at::Tensor ops = byol::augmentBatch(x, o, 17, byol::Backend::TensorOps);
        EXPECT_EQ(fused.sizes(), ops.sizes());
        EXPECT_LT((fused - ops).abs().max().item<double>(), 2e-5) << byol::interpolationName(interp) << " aa " << aa;
        if (aa) {
          EXPECT_TRUE(fused.is_contiguous(at::MemoryFormat::ChannelsLast));
        }
      }
    }
  }
}

TEST(Augment, PerImageFalseSharesOneDrawAcrossTheBatch) {
  AugmentOptions o;
  o.perImage = false;
  const at::Tensor x = colourful(8, 3, 20, 20);
  const at::Tensor y = byol::augmentBatch(x, o, 9);
  for (int64_t i = 1; i < 8; ++i) EXPECT_TRUE(at::allclose(y[i], y[0], 0, 1e-6));
}

// ---- Probabilities, measured from the output pixels ------------------------------------------------------

constexpr int64_t kDraws = 4000;

TEST(AugmentProbability, FlipFromPixels) {
  // An increasing horizontal ramp: flipped iff the first column is brighter than the last.
  const at::Tensor ramp = at::linspace(0.1, 0.9, 8).view({1, 1, 1, 8}).expand({kDraws, 3, 4, 8}).contiguous();
  for (double p : {0.5, 0.3}) {
    AugmentOptions o = identityOptions();
    o.flipProb = p;
    const at::Tensor y = byol::augmentBatch(ramp, o, 21);
    const int64_t hits = (y.select(3, 0).select(2, 0).select(1, 0) > y.select(3, 7).select(2, 0).select(1, 0))
                             .sum().item<int64_t>();
    expectProportion(hits, kDraws, p, "flip");
  }
}

TEST(AugmentProbability, JitterFromPixels) {
  at::Tensor x = at::empty({kDraws, 3, 4, 4});
  x.select(1, 0).fill_(0.3), x.select(1, 1).fill_(0.5), x.select(1, 2).fill_(0.7);
  for (double p : {0.8, 0.3}) {
    AugmentOptions o = identityOptions();
    o.jitterProb = p;
    const at::Tensor y = byol::augmentBatch(x, o, 22);
    const int64_t hits = ((y - x).abs().amax({1, 2, 3}) > 1e-6).sum().item<int64_t>();
    expectProportion(hits, kDraws, p, "jitter");
  }
}

TEST(AugmentProbability, GrayscaleFromPixels) {
  const at::Tensor x = colourful(kDraws, 3, 4, 4);
  for (double p : {0.2, 0.6}) {
    AugmentOptions o = identityOptions();
    o.grayscaleProb = p;
    const at::Tensor y = byol::augmentBatch(x, o, 23);
    const at::Tensor channelsEqual = (y.select(1, 0) == y.select(1, 2)).logical_and(y.select(1, 0) == y.select(1, 1));
    const at::Tensor gray = channelsEqual.flatten(1).all(1);
    expectProportion(gray.sum().item<int64_t>(), kDraws, p, "grayscale");
  }
}

TEST(AugmentProbability, BlurFromPixels) {
  const at::Tensor checker = (at::arange(8).view({1, 8}) + at::arange(8).view({8, 1})).remainder(2).to(at::kFloat);
  const at::Tensor x = checker.view({1, 1, 8, 8}).expand({kDraws, 3, 8, 8}).contiguous();
  for (double p : {0.1, 0.5, 1.0}) {
    AugmentOptions o = identityOptions();
    o.blurProb = p;
    o.blurKernel = 3;
    o.sigmaMin = 1.0;
    o.sigmaMax = 2.0;
    const at::Tensor y = byol::augmentBatch(x, o, 24);
    const int64_t hits = ((y - x).abs().amax({1, 2, 3}) > 1e-3).sum().item<int64_t>();
    expectProportion(hits, kDraws, p, "blur");
  }
}

TEST(AugmentProbability, SolarizeFromPixels) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const at::Tensor x = at::rand({kDraws, 3, 4, 4}, gen) * 0.3 + 0.6;  // all above the threshold
  for (double p : {0.2, 0.7}) {
    AugmentOptions o = identityOptions();
    o.solarizeProb = p;
    const at::Tensor y = byol::augmentBatch(x, o, 25);
    const at::Tensor solarized = (y < 0.5).flatten(1).all(1);
    expectProportion(solarized.sum().item<int64_t>(), kDraws, p, "solarize");
    EXPECT_EQ(((y < 0.5).flatten(1).any(1) != solarized).sum().item<int64_t>(), 0);  // whole images
  }
}

// Crop boxes read back from the pixels: channel 0 holds the column index, channel 1 the row index, and an
// upscaling bilinear resize maps the first and last output pixel exactly onto the box's edges.
TEST(AugmentCrop, AreasAndRatiosStayInRange) {
  const int64_t side = 64, out = 128, n = 2000;
  at::Tensor x = at::empty({n, 3, side, side});
  x.select(1, 0).copy_(at::arange(side).to(at::kFloat).view({1, 1, side}).expand({n, side, side}));
  x.select(1, 1).copy_(at::arange(side).to(at::kFloat).view({1, side, 1}).expand({n, side, side}));
  x.select(1, 2).zero_();
  for (auto [scaleMin, scaleMax, ratioMin, ratioMax] :
       {std::tuple{0.08, 1.0, 3.0 / 4, 4.0 / 3}, std::tuple{0.5, 0.6, 0.5, 2.0}}) {
    AugmentOptions o = identityOptions();
    o.crop = true;
    o.scaleMin = scaleMin, o.scaleMax = scaleMax, o.ratioMin = ratioMin, o.ratioMax = ratioMax;
    o.height = o.width = out;
    const at::Tensor y = byol::augmentBatch(x, o, 31);
    const at::Tensor left = y.select(1, 0).select(1, 0).select(1, 0), right = y.select(1, 0).select(1, 0).select(1, out - 1);
    const at::Tensor top = y.select(1, 1).select(1, 0).select(1, 0), bottom = y.select(1, 1).select(1, out - 1).select(1, 0);
    const at::Tensor w = right - left + 1, h = bottom - top + 1;
    EXPECT_EQ((w - w.round()).abs().max().item<double>(), 0);
    const double area = static_cast<double>(side * side);
    // The box sides are rounded to whole pixels: allow half a pixel on each side.
    const at::Tensor areaHi = (w + 0.5) * (h + 0.5) / area, areaLo = (w - 0.5) * (h - 0.5) / area;
    EXPECT_EQ((areaHi < scaleMin).sum().item<int64_t>(), 0);
    EXPECT_EQ((areaLo > scaleMax).sum().item<int64_t>(), 0);
    const at::Tensor ratioHi = (w + 0.5) / (h - 0.5), ratioLo = (w - 0.5) / (h + 0.5);
    EXPECT_EQ((ratioHi < ratioMin).sum().item<int64_t>(), 0);
    EXPECT_EQ((ratioLo > ratioMax).sum().item<int64_t>(), 0);
    EXPECT_GE(left.min().item<double>(), 0);
    EXPECT_LE((left + w).max().item<double>(), side);
    EXPECT_GE(top.min().item<double>(), 0);
    EXPECT_LE((top + h).max().item<double>(), side);
    // The draws cover the range: small and large areas, tall and wide boxes.
    const at::Tensor frac = w * h / area;
    EXPECT_LT(frac.min().item<double>(), scaleMin + 0.05 * (scaleMax - scaleMin) + 0.01);
    EXPECT_GT(frac.max().item<double>(), scaleMax - 0.05 * (scaleMax - scaleMin) - 0.01);
    EXPECT_LT((w / h).min().item<double>(), ratioMin * 1.1);
    EXPECT_GT((w / h).max().item<double>(), ratioMax / 1.1);
  }
}

TEST(AugmentCrop, FallsBackToACentreCrop) {
  AugmentOptions o = identityOptions();
  o.crop = true;
  o.ratioMin = 3, o.ratioMax = 4;  // never fits a 10 x 10 image
  o.scaleMin = 0.9;
  const auto params = byol::drawParams(o, 4, 10, 10, 1);
  for (const auto& p : params) {
    EXPECT_EQ(p.cropWidth, 10);
    EXPECT_EQ(p.cropHeight, 3);  // round(10 / 3)
    EXPECT_EQ(p.top, 3);
    EXPECT_EQ(p.left, 0);
  }
}

// ---- Invariants --------------------------------------------------------------------------------------------

TEST(Augment, FlipEqualsTheFlippedInput) {
  const at::Tensor x = colourful(5, 3, 9, 13, true);
  AugmentOptions o = identityOptions();
  o.flipProb = 1;
  EXPECT_TRUE(at::equal(byol::augmentBatch(x, o, 1), x.flip({3})));
}

// A bicubic crop of a float image undershoots 0 next to black pixels; the hue shift of a pixel whose largest
// channel is 0 and smallest below 0 divided by the zero max and gave NaN (found by the loader benchmark on real
// images). Both hue paths clamp to [0, 1] first: the result is finite and equals the clamped input's.
TEST(Augment, HueShiftOfSlightlyNegativePixelsIsFinite) {
  at::Tensor x = at::zeros({2, 3, 4, 4});
  x.select(1, 1).fill_(-0.01);
  x.select(1, 2).fill_(-0.02);
  x[1].uniform_(-0.05, 1.05);
  const at::Tensor factors = at::tensor({0.1f, -0.3f});
  const at::Tensor fused = byol::adjustHue(x, factors);
  const at::Tensor ops = byol::adjustHueTensorOps(x, factors);
  EXPECT_TRUE(at::isfinite(fused).all().item<bool>());
  EXPECT_TRUE(at::isfinite(ops).all().item<bool>());
  EXPECT_TRUE(at::allclose(fused, byol::adjustHue(x.clamp(0, 1), factors)));
  EXPECT_TRUE(at::allclose(fused, ops, 1e-5, 1e-5));
}

TEST(Augment, GrayscaleChannelsAreEqualAndWeighted) {
  const at::Tensor x = colourful(5, 3, 9, 13, true);
  AugmentOptions o = identityOptions();
  o.grayscaleProb = 1;
  const at::Tensor y = byol::augmentBatch(x, o, 1);
  EXPECT_TRUE(at::equal(y.select(1, 0), y.select(1, 1)));
  EXPECT_TRUE(at::equal(y.select(1, 0), y.select(1, 2)));
  const at::Tensor ref = x.to(at::kDouble);
  const at::Tensor gray = ref.select(1, 0) * 0.2989 + ref.select(1, 1) * 0.587 + ref.select(1, 2) * 0.114;
  EXPECT_LT((y.select(1, 0).to(at::kDouble) - gray).abs().max().item<double>(), 1e-6);
}

TEST(Augment, IdentitySettingsReturnTheInput) {
  for (int64_t c : {1, 3}) {
    const at::Tensor x = colourful(4, c, 11, 7, true);
    AugmentOptions o = identityOptions();
    EXPECT_TRUE(at::equal(byol::augmentBatch(x, o, 1), x));
    // Crops of the whole image, jitter with zero strengths, blur that cannot blur: still the input.
    o.crop = true;
    o.scaleMin = o.scaleMax = 1;
    o.ratioMin = 7.0 / 11, o.ratioMax = 7.0 / 11;
    o.jitterProb = 1;
    o.brightness = o.contrast = o.saturation = o.hue = 0;
    o.blurProb = 1;
    o.blurKernel = 1;
    EXPECT_TRUE(at::equal(byol::augmentBatch(x, o, 2), x));
    // Normalising with mean 0 and std 1.
    o.normalize = true;
    o.mean = {0};
    o.std = {1};
    EXPECT_TRUE(at::equal(byol::augmentBatch(x, o, 3), x));
  }
}

TEST(Augment, SeededRunsAreEqualAndSeedsDiffer) {
  const at::Tensor x = colourful(6, 3, 16, 16, true);
  AugmentOptions o;
  o.solarizeProb = 0.5;
  const at::Tensor a = byol::augmentBatch(x, o, 42), b = byol::augmentBatch(x, o, 42), c = byol::augmentBatch(x, o, 43);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
  // Thread count does not change the draws or the results beyond float rounding.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor d = byol::augmentBatch(x, o, 42);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::allclose(a, d, 0, 1e-5));
}

TEST(Augment, DtypeLayoutAndShapeContracts) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
  const at::Tensor bytes = at::randint(0, 256, {4, 12, 10, 3}, gen).to(at::kByte);  // NHWC, as decoders give
  AugmentOptions o;
  o.height = 8, o.width = 6;
  const at::Tensor y = byol::augmentBatch(bytes, o, 3);
  EXPECT_EQ(y.scalar_type(), at::kFloat);
  EXPECT_EQ(y.sizes(), at::IntArrayRef({4, 3, 8, 6}));
  EXPECT_TRUE(y.is_contiguous());
  // uint8 NHWC equals float NCHW / 255.
  const at::Tensor floats = bytes.permute({0, 3, 1, 2}).to(at::kFloat) / 255;
  EXPECT_TRUE(at::allclose(byol::augmentBatch(floats, o, 3), y, 1e-5, 1e-5));
  // channels-last output on request.
  o.channelsLast = true;
  const at::Tensor cl = byol::augmentBatch(bytes, o, 3);
  EXPECT_TRUE(cl.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(at::equal(cl, y));
  // 1-channel images stay 1-channel; layout may be forced.
  const at::Tensor gray = at::rand({3, 1, 10, 10}, gen);
  o.channelsLast = false;
  o.height = o.width = 0;
  EXPECT_EQ(byol::augmentBatch(gray, o, 1).sizes(), at::IntArrayRef({3, 1, 10, 10}));
  o.layout = byol::ImageLayout::NHWC;
  EXPECT_EQ(byol::augmentBatch(gray.permute({0, 2, 3, 1}).contiguous(), o, 1).sizes(), at::IntArrayRef({3, 1, 10, 10}));
  // Normalised with ImageNet statistics by default: a white image maps to (1 - mean) / std.
  AugmentOptions white = identityOptions();
  white.normalize = true;
  const at::Tensor ones = at::ones({1, 3, 2, 2});
  const at::Tensor n = byol::augmentBatch(ones, white, 1);
  EXPECT_NEAR(n[0][0][0][0].item<double>(), (1 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(n[0][2][1][1].item<double>(), (1 - 0.406) / 0.225, 1e-5);
  // An empty batch gives an empty batch of the output size.
  o.layout = byol::ImageLayout::Auto;
  o.height = o.width = 5;
  EXPECT_EQ(byol::augmentBatch(at::rand({0, 3, 10, 10}), o, 1).sizes(), at::IntArrayRef({0, 3, 5, 5}));
}

TEST(Augment, BlurKernelIsAboutTenPercentOfTheSideAndOdd) {
  AugmentOptions o;
  EXPECT_EQ(byol::blurKernelSize(o, 224), 23);
  EXPECT_EQ(byol::blurKernelSize(o, 96), 9);
  EXPECT_EQ(byol::blurKernelSize(o, 32), 3);
  EXPECT_EQ(byol::blurKernelSize(o, 8), 1);
  o.blurKernel = 5;
  EXPECT_EQ(byol::blurKernelSize(o, 224), 5);
}

TEST(Augment, WeightRowsSumToOne) {
  for (auto interp : {byol::Interpolation::Bilinear, byol::Interpolation::Bicubic}) {
    for (bool aa : {false, true}) {
      const at::Tensor w = byol::resizeWeights(40, 5, 23, 17, interp, aa, true);
      EXPECT_LT((w.sum(1) - 1).abs().max().item<double>(), 1e-5);
      EXPECT_EQ(w.narrow(1, 0, 5).abs().max().item<double>(), 0);  // nothing outside the crop
      EXPECT_EQ(w.narrow(1, 28, 12).abs().max().item<double>(), 0);
    }
  }
  EXPECT_LT((byol::blurWeights(12, 7, 1.5).sum(1) - 1).abs().max().item<double>(), 1e-6);
}

// ---- Bad input: a clear error before any work --------------------------------------------------------------

TEST(AugmentErrors, NameTheOptionAndTheValue) {
  const at::Tensor x = at::rand({2, 3, 16, 16});
  const auto run = [&](const AugmentOptions& o, const at::Tensor& input) {
    return errorOf([&] { byol::augmentBatch(input, o, 1); });
  };
  AugmentOptions o;
  EXPECT_EQ(run(o, at::rand({3, 16, 16})), "images: expected a 4-d batch (N, C, H, W) or (N, H, W, C), received shape [3, 16, 16]");
  EXPECT_EQ(run(o, at::rand({2, 4, 16, 16})),
            "images: expected 1 or 3 channels in dim 1 (NCHW) or dim 3 (NHWC), received shape [2, 4, 16, 16]");
  EXPECT_EQ(run(o, at::rand({2, 3, 16, 16}).to(at::kLong)),
            "images: expected dtype uint8, float32, float64, float16 or bfloat16, received int64");
  o.flipProb = 1.5;
  EXPECT_EQ(run(o, x), "flipProb: expected a probability in [0, 1], received 1.5");
  o = AugmentOptions();
  o.blurProb = -0.1;
  EXPECT_EQ(run(o, x), "blurProb: expected a probability in [0, 1], received -0.1");
  o = AugmentOptions();
  o.solarizeProb = std::nan("");
  EXPECT_EQ(run(o, x), "solarizeProb: expected a probability in [0, 1], received nan");
  o = AugmentOptions();
  o.scaleMin = 1, o.scaleMax = 0.08;
  EXPECT_EQ(run(o, x), "scale: expected [min, max] with 0 < min <= max <= 1, received [1, 0.08]");
  o = AugmentOptions();
  o.ratioMin = 4.0 / 3, o.ratioMax = 0.75;
  EXPECT_EQ(run(o, x), "ratio: expected [min, max] with 0 < min <= max, received [1.33333, 0.75]");
  o = AugmentOptions();
  o.sigmaMin = 2, o.sigmaMax = 0.1;
  EXPECT_EQ(run(o, x), "sigma: expected [min, max] with 0 < min <= max, received [2, 0.1]");
  o = AugmentOptions();
  o.hue = 0.7;
  EXPECT_EQ(run(o, x), "hue: expected a number in [0, 0.5], received 0.7");
  o = AugmentOptions();
  o.blurKernel = 4;
  EXPECT_EQ(run(o, x), "blurKernel: expected an odd positive size (or 0 for automatic), received 4");
  o = AugmentOptions();
  o.height = o.width = 224;
  EXPECT_EQ(run(o, x), "size: expected at most 8x the input's 16 x 16, received 224 x 224");
  o = AugmentOptions();
  o.height = 5000;
  EXPECT_EQ(run(o, x), "size: expected a height in [1, 4096] (0 for the input's), received 5000");
  o = AugmentOptions();
  o.blurKernel = 41;
  EXPECT_EQ(run(o, x), "blurKernel: expected a kernel of at most 2 x side - 1 for an output of 16 x 16, received 41");
  o = AugmentOptions();
  o.mean = {0.5, 0.5};
  EXPECT_EQ(run(o, x), "mean: expected 1 or 3 values for 3-channel images, received 2");
  o = AugmentOptions();
  o.std = {0.5, 0, 0.5};
  EXPECT_EQ(run(o, x), "std: expected positive values, received 0");
  o = AugmentOptions();
  o.layout = byol::ImageLayout::NHWC;
  EXPECT_EQ(run(o, x), "images: expected 1 or 3 channels in dim 3 (layout 'nhwc'), received shape [2, 3, 16, 16]");
  EXPECT_THROW(byol::parseInterpolation("nearest"), byol::RangeError);
  EXPECT_THROW(byol::parseLayout("chw"), byol::RangeError);
}

// ---- CUDA ----------------------------------------------------------------------------------------------------

TEST(AugmentCuda, AgreesWithCpu) {
  if (!at::hasCUDA() || at::getNumGPUs() == 0) GTEST_SKIP() << "no CUDA device: CPU/CUDA agreement not checked";
  const at::Tensor x = colourful(32, 3, 40, 40, true);
  for (auto interp : {byol::Interpolation::Bilinear, byol::Interpolation::Bicubic}) {
    AugmentOptions o;
    o.solarizeProb = 0.5;
    o.interpolation = interp;
    o.height = o.width = 32;
    const at::Tensor cpu = byol::augmentBatch(x, o, 77);
    const at::Tensor cuda = byol::augmentBatch(x.cuda(), o, 77);
    EXPECT_TRUE(cuda.is_cuda());
    EXPECT_LT((cuda.cpu() - cpu).abs().max().item<double>(), 1e-4);
  }
  const at::Tensor bytes = (x * 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
  AugmentOptions o;
  EXPECT_LT((byol::augmentBatch(bytes.cuda(), o, 5).cpu() - byol::augmentBatch(bytes, o, 5)).abs().max().item<double>(),
            1e-4);
}

}  // namespace

