// Mixed precision (native/core/precision.h), the dynamic loss scaler (core/loss_scaler.h) and the learner's use
// of both. On the CPU: bf16 autocast, and the scaler's path through a float32 learner (fp16 itself needs CUDA:
// scripts/device's check runs it on a GPU).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/errors.h"
#include "core/layers.h"
#include "core/learner.h"
#include "core/loss_scaler.h"
#include "core/optim.h"
#include "core/precision.h"
#include "core/torch_compat.h"
#include "test_util.h"

namespace byol {
namespace {

using test::expectThrowContaining;

TEST(Precision, NamesRoundTripAndBadNamesAreRefused) {
  for (const char* name : {"fp32", "bf16", "fp16"}) EXPECT_EQ(precisionName(parsePrecision(name)), std::string(name));
  expectThrowContaining<TypeError>([] { parsePrecision("float16"); }, "precision: expected 'fp32', 'bf16' or 'fp16'");
  EXPECT_EQ(computeType(Precision::BFloat16), at::kBFloat16);
  EXPECT_EQ(computeType(Precision::Float16), at::kHalf);
  EXPECT_EQ(computeType(Precision::Float32), at::kFloat);
}

TEST(Precision, Fp16IsRefusedOffCuda) {
  expectThrowContaining<RangeError>([] { checkPrecisionFor(Precision::Float16, at::kCPU); },
                                    "precision: 'fp16' needs a CUDA device");
  EXPECT_NO_THROW(checkPrecisionFor(Precision::BFloat16, at::kCPU));
}

TEST(AutocastScope, Bf16CastsMatmulsInsideAndRestoresTheThreadsStateOnExit) {
  const at::Tensor x = at::randn({4, 8}), w = at::randn({3, 8});
  ASSERT_FALSE(compat::autocastEnabled(at::kCPU));
  const at::ScalarType before = compat::autocastDtype(at::kCPU);
  {
    const AutocastScope scope(Precision::BFloat16, at::kCPU);
    EXPECT_TRUE(compat::autocastEnabled(at::kCPU));
    EXPECT_EQ(at::linear(x, w).scalar_type(), at::kBFloat16);
    {
      const AutocastScope nested(Precision::Float32, at::kCPU);  // fp32 changes nothing
      EXPECT_EQ(at::linear(x, w).scalar_type(), at::kBFloat16);
    }
  }
  EXPECT_FALSE(compat::autocastEnabled(at::kCPU));
  EXPECT_EQ(compat::autocastDtype(at::kCPU), before);
  EXPECT_EQ(at::linear(x, w).scalar_type(), at::kFloat);
}

TEST(LossScaler, UnscalesChecksAndAdjustsTheScaleLikeGradScaler) {
  LossScalerOptions options;
  options.initialScale = 1024;
  options.growthInterval = 3;
  LossScaler scaler(options);
  EXPECT_EQ(scaler.scale(at::full({}, 2.0)).item<double>(), 2048.0);

  at::Tensor p = at::zeros({3}).set_requires_grad(true);
  p.mutable_grad() = at::full({3}, 512.0);
  EXPECT_TRUE(scaler.unscale({p}));
  EXPECT_TRUE(p.grad().equal(at::full({3}, 0.5)));

  // Two finite steps keep the scale; the third (the interval) doubles it.
  scaler.update(true);
  scaler.update(true);
  EXPECT_EQ(scaler.value(), 1024);
  scaler.update(true);
  EXPECT_EQ(scaler.value(), 2048);
  EXPECT_EQ(scaler.finiteSteps(), 0);

  // A non-finite gradient anywhere: unscale says so, and the scale halves with the tracker reset.
  at::Tensor q = at::zeros({2}).set_requires_grad(true);
  q.mutable_grad() = at::tensor({1.0f, std::numeric_limits<float>::infinity()});
  p.mutable_grad() = at::ones({3});
  scaler.update(true);
  EXPECT_FALSE(scaler.unscale({p, q}));
  scaler.update(false);
  EXPECT_EQ(scaler.value(), 1024);
  EXPECT_EQ(scaler.finiteSteps(), 0);

  expectThrowContaining<RangeError>([&] { scaler.restore(0, 0); }, "lossScale: expected a positive finite number");
  scaler.restore(64, 5);
  EXPECT_EQ(scaler.value(), 64);
  EXPECT_EQ(scaler.finiteSteps(), 5);
  LossScalerOptions bad;
  bad.backoffFactor = 1.5;
  expectThrowContaining<RangeError>([&] { LossScaler{bad}; }, "backoffFactor: expected a number in (0, 1)");
}

// --- the learner ----------------------------------------------------------------------------------------------

constexpr int64_t kN = 4, kChannels = 3, kSide = 4;

torch::nn::AnyModule smallEncoder() {
  torch::manual_seed(11);
  return makeSequential({makeFlatten(1, -1), makeLinear(kChannels * kSide * kSide, 16, true)});
}

LearnerOptions smallOptions() {
  LearnerOptions o;
  o.projectionSize = 8;
  o.projectionHiddenSize = 16;
  o.decaySchedule = DecaySchedule::Constant;
  o.movingAverageDecay = 0.9;
  return o;
}

at::Tensor views(int64_t seed) {
  torch::manual_seed(seed);
  return at::rand({kN, kChannels, kSide, kSide});
}

std::vector<at::Tensor> paramsOf(const Learner& learner) {
  std::vector<at::Tensor> out;
  for (const auto& [name, p] : learner.onlineParameters()) out.push_back(p);
  return out;
}

StepOutcome oneSgdStep(Learner& learner, double lr = 0.1) {
  OptimizerOptions sgd;
  sgd.lr = lr;
  Optimizer optimizer(OptimizerKind::SGD, sgd, paramsOf(learner));
  StepOptions step;
  step.lr = lr;
  return learner.step(StepInput::fromViews(views(1), views(2)), optimizer, step);
}

TEST(LearnerPrecision, LossScalingChangesNothingWhenTheGradientsAreFinite) {
  Learner plain(smallEncoder(), 16, smallOptions());
  LearnerOptions scaledOptions = smallOptions();
  scaledOptions.lossScaling = true;
  Learner scaled(smallEncoder(), 16, scaledOptions);
  const StepOutcome a = oneSgdStep(plain), b = oneSgdStep(scaled);
  EXPECT_EQ(a.lossScale, 0);
  EXPECT_EQ(b.lossScale, 65536);
  EXPECT_FALSE(b.gradientsSkipped);
  EXPECT_NEAR(a.metrics[0].item<double>(), b.metrics[0].item<double>(), 1e-7);  // reported unscaled
  const auto pa = plain.onlineParameters(), pb = scaled.onlineParameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_LT((pa[i].second - pb[i].second).abs().max().item<double>(), 1e-6) << pa[i].first;
  }
}

TEST(LearnerPrecision, ANonFiniteGradientSkipsTheOptimizerHalvesTheScaleAndStillAdvancesTheEma) {
  LearnerOptions options = smallOptions();
  options.lossScaling = true;
  Learner learner(smallEncoder(), 16, options);
  std::vector<at::Tensor> before;
  for (const auto& p : paramsOf(learner)) before.push_back(p.detach().clone());
  const auto target0 = learner.targetParameters()[0].second.detach().clone();
  // An overflow in one gradient, as float16 backward passes produce at too large a scale.
  learner.setGradientsCompleteHook([](const std::vector<at::Tensor>& params) {
    params.front().mutable_grad().view(-1)[0] = std::numeric_limits<float>::infinity();
  });
  const StepOutcome outcome = oneSgdStep(learner);
  EXPECT_TRUE(outcome.gradientsSkipped);
  EXPECT_TRUE(outcome.optimizerStepped);
  EXPECT_EQ(learner.lossScaler()->value(), 32768);
  const auto after = paramsOf(learner);
  for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(after[i].equal(before[i])) << "parameter " << i << " moved";
  for (const auto& p : after) EXPECT_TRUE(!p.grad().defined() || p.grad().abs().max().item<double>() == 0);
  EXPECT_EQ(learner.emaUpdates(), 1);
  // The target moved towards the (unchanged) online weights: 0.9 target + 0.1 online.
  const auto expected = 0.9 * target0 + 0.1 * before[0];
  EXPECT_LT((learner.targetParameters()[0].second - expected).abs().max().item<double>(), 1e-6);
}

TEST(LearnerPrecision, Bf16OnTheCpuTrainsFloat32WeightsWithAFloat32LossNearTheFp32One) {
  LearnerOptions options = smallOptions();
  options.precision = Precision::BFloat16;
  Learner reduced(smallEncoder(), 16, options);
  Learner full(smallEncoder(), 16, smallOptions());
  const StepOutcome r = oneSgdStep(reduced), f = oneSgdStep(full);
  EXPECT_EQ(r.metrics.scalar_type(), at::kFloat);
  const double lossR = r.metrics[0].item<double>(), lossF = f.metrics[0].item<double>();
  EXPECT_TRUE(std::isfinite(lossR));
  EXPECT_NEAR(lossR, lossF, 0.05 * lossF);  // bfloat16 keeps ~3 significant digits
  for (const auto& [name, p] : reduced.onlineParameters()) EXPECT_EQ(p.scalar_type(), at::kFloat) << name;
  // It trained: the weights moved, and like the fp32 run's.
  const auto pr = reduced.onlineParameters(), pf = full.onlineParameters();
  EXPECT_LT((pr[1].second - pf[1].second).abs().max().item<double>(), 0.05);
  EXPECT_FALSE(compat::autocastEnabled(at::kCPU));  // the step left the thread as it found it
}

TEST(LearnerPrecision, Fp16OnTheCpuIsRefusedNamingThePrecision) {
  LearnerOptions options = smallOptions();
  options.precision = Precision::Float16;
  expectThrowContaining<RangeError>([&] { Learner(smallEncoder(), 16, options); }, "precision: 'fp16' needs a CUDA device");
}

TEST(Device, OnTheCpuBuildEveryMoveIsTensorTo) {
  const at::Tensor t = at::rand({2, 3});
  EXPECT_TRUE(toDevice(t, at::kCPU).is_same(t));
  if (!deviceBuildHasCuda()) {
    EXPECT_TRUE(pinnedCopy(t).is_same(t));
    EXPECT_FALSE(deviceMemory(at::kCPU).has_value());
  }
}

}  // namespace
}  // namespace byol
