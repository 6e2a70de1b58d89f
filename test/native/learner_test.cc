// The learner's one-call training step (native/core/learner.h) against a float64 reference written with plain
// ATen ops: forward with per-view BatchNorm, the symmetric loss, autograd's gradients, Adam's closed form and
// the EMA. Plus the gradients-complete hook, gradient accumulation, the buffer copy and the CPU NaN guard.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/layers.h"
#include "core/learner.h"
#include "core/optim.h"
#include "test_util.h"

namespace byol {
namespace {

using Tensors = std::map<std::string, at::Tensor>;

// Biases feeding a BatchNorm have an analytically zero gradient, so theirs is rounding noise (~1e-17): compare
// gradients against the largest gradient of the network, not each tensor's own (zero) scale.
double gradientScale(const Tensors& grads) {
  double scale = 0;
  for (const auto& [name, g] : grads) scale = std::max(scale, g.abs().max().item<double>());
  return scale;
}
double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.detach().to(at::kDouble) - b.detach().to(at::kDouble)).abs().max().item<double>();
}

constexpr int64_t kN = 4, kChannels = 3, kSide = 2, kRepresentation = 6, kHidden = 8, kProjection = 4;

// Flatten -> Linear(12, 6): the smallest encoder with a parameter; float64 so the reference can be exact.
torch::nn::AnyModule tinyEncoder() {
  torch::manual_seed(7);
  auto encoder = makeSequential({makeFlatten(1, -1), makeLinear(kChannels * kSide * kSide, kRepresentation, true)});
  encoder.ptr()->to(at::kDouble);
  return encoder;
}

LearnerOptions tinyOptions(double tau = 0.9) {
  LearnerOptions o;
  o.projectionSize = kProjection;
  o.projectionHiddenSize = kHidden;
  o.decaySchedule = DecaySchedule::Constant;
  o.movingAverageDecay = tau;
  return o;
}

at::Tensor images(int64_t seed) {
  torch::manual_seed(seed);
  return at::rand({kN, kChannels, kSide, kSide}, at::kDouble);
}

Tensors copies(const NamedTensors& named, bool requiresGrad) {
  Tensors out;
  for (const auto& [name, t] : named) out[name] = t.detach().clone().set_requires_grad(requiresGrad);
  return out;
}

std::vector<at::Tensor> tensorsOf(const NamedTensors& named) {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

// --- the reference: the method written out with ATen ops ----------------------------------------------------

at::Tensor linear(const at::Tensor& x, const Tensors& p, const std::string& prefix) {
  return at::addmm(p.at(prefix + ".bias"), x, p.at(prefix + ".weight").t());
}

// BatchNorm1d in training mode, each view (half of the batch) with its own biased batch statistics.
at::Tensor perViewBatchNorm(const at::Tensor& h, const Tensors& p, const std::string& prefix) {
  std::vector<at::Tensor> views;
  for (const auto& part : h.chunk(2, 0)) {
    const at::Tensor mean = part.mean(0), var = part.var(0, /*unbiased=*/false);
    views.push_back((part - mean) / at::sqrt(var + 1e-5) * p.at(prefix + ".weight") + p.at(prefix + ".bias"));
  }
  return at::cat(views, 0);
}

at::Tensor mlp(const at::Tensor& x, const Tensors& p, const std::string& prefix) {
  return linear(at::relu(perViewBatchNorm(linear(x, p, prefix + ".net.0"), p, prefix + ".net.1")), p, prefix + ".net.3");
}

at::Tensor regression(const at::Tensor& prediction, const at::Tensor& target) {
  return 2 - 2 * at::cosine_similarity(prediction, target, 1, 0);
}

// The BYOL loss of views (v1, v2) for online parameters `on` (encoder.*, projector.*, predictor.*) and target
// parameters `tg` (targetEncoder.*, targetProjector.*).
at::Tensor referenceLoss(const at::Tensor& v1, const at::Tensor& v2, const Tensors& on, const Tensors& tg) {
  const at::Tensor both = at::cat({v1, v2}, 0).flatten(1);
  const at::Tensor predictions = mlp(mlp(linear(both, on, "encoder.1"), on, "projector"), on, "predictor");
  const at::Tensor targets = mlp(linear(both, tg, "targetEncoder.1"), tg, "targetProjector").detach();
  const auto p = predictions.chunk(2, 0);
  const auto z = targets.chunk(2, 0);
  return (regression(p[0], z[1]) + regression(p[1], z[0])).mean();
}

// Autograd's gradients of the reference loss with respect to every online parameter.
Tensors referenceGradients(const at::Tensor& v1, const at::Tensor& v2, const Tensors& online, const Tensors& target) {
  Tensors on;
  for (const auto& [name, t] : online) on[name] = t.detach().clone().set_requires_grad(true);
  referenceLoss(v1, v2, on, target).backward();
  Tensors grads;
  for (const auto& [name, t] : on) grads[name] = t.grad();
  return grads;
}

class LearnerStepTest : public ::testing::Test {
 protected:
  LearnerStepTest() : learner(tinyEncoder(), kRepresentation, tinyOptions()) {
    learner.train(true);
    online0 = copies(learner.onlineParameters(), false);
    target0 = copies(learner.targetParameters(), false);
  }
  Learner learner;
  Tensors online0, target0;
};

TEST_F(LearnerStepTest, OneStepIsForwardBackwardAdamAndEmaOfTheFloat64Reference) {
  OptimizerOptions adam;
  adam.lr = 0.01;
  Optimizer optimizer(OptimizerKind::Adam, adam, tensorsOf(learner.onlineParameters()));
  const at::Tensor v1 = images(1), v2 = images(2);

  StepOptions options;
  options.lr = adam.lr;
  const StepOutcome outcome = learner.step(StepInput::fromViews(v1, v2), optimizer, options);

  // The loss the step reports is the reference loss before the update.
  const double loss = referenceLoss(v1, v2, online0, target0).item<double>();
  EXPECT_NEAR(outcome.metrics[0].item<double>(), loss, 1e-6 * loss);  // metrics are float32
  EXPECT_TRUE(outcome.optimizerStepped);
  EXPECT_FALSE(outcome.nonFiniteLoss);
  EXPECT_EQ(outcome.tau, 0.9);
  EXPECT_EQ(outcome.step, 0);
  EXPECT_EQ(learner.emaUpdates(), 1);

  // Adam's first step in closed form: m = (1 - b1) g, v = (1 - b2) g^2, p -= lr m / (1 - b1) / (sqrt(v / (1 - b2)) + eps).
  const Tensors grads = referenceGradients(v1, v2, online0, target0);
  Tensors expectedOnline;
  for (const auto& [name, p] : online0) {
    const at::Tensor g = grads.at(name);
    const at::Tensor m = 0.1 * g, v = 0.001 * g * g;
    expectedOnline[name] = p - adam.lr * (m / 0.1) / (at::sqrt(v / 0.001) + 1e-8);
  }
  // Adam divides by |g| + eps, so the noise gradients of the biases before a BatchNorm move them by up to
  // ~1e-9 differently on each side; every real update here is ~lr = 1e-2.
  for (const auto& [name, p] : learner.onlineParameters()) {
    EXPECT_LT(maxAbsDiff(p, expectedOnline.at(name)), 1e-7) << name;
    if (name.find("weight") != std::string::npos) {
      EXPECT_GT(maxAbsDiff(p, online0.at(name)), 1e-3) << name << " moved";
    }
    EXPECT_TRUE(!p.grad().defined() || p.grad().abs().max().item<double>() == 0) << name << ": grads zeroed";
  }
  // The EMA with the updated online weights: target = 0.9 target0 + 0.1 online.
  for (const auto& [name, t] : learner.targetParameters()) {
    const std::string source = name.substr(std::string("target").size());  // targetEncoder.1.weight -> Encoder...
    const std::string onlineName = (source[0] == 'E' ? "encoder" : "projector") + source.substr(source.find('.'));
    const at::Tensor expected = 0.9 * target0.at(name) + 0.1 * expectedOnline.at(onlineName);
    EXPECT_LT(maxAbsDiff(t, expected), 1e-8) << name;
    EXPECT_FALSE(t.requires_grad()) << name;
  }
}

TEST_F(LearnerStepTest, TheHookSeesCompleteGradientsBeforeClippingAndTheOptimizer) {
  OptimizerOptions sgd;
  sgd.lr = 0.5;
  Optimizer optimizer(OptimizerKind::SGD, sgd, tensorsOf(learner.onlineParameters()));
  int calls = 0;
  Tensors seen;
  learner.setGradientsCompleteHook([&](const std::vector<at::Tensor>& params) {
    ++calls;
    const NamedTensors named = learner.onlineParameters();
    ASSERT_EQ(params.size(), named.size());
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(params[i].is_same(named[i].second));
      seen[named[i].first] = params[i].grad().clone();
      // Nothing has moved yet.
      EXPECT_TRUE(params[i].equal(online0.at(named[i].first))) << named[i].first;
    }
  });
  const at::Tensor v1 = images(3), v2 = images(4);
  StepOptions options;
  options.lr = sgd.lr;
  options.maxGradNorm = 1e-3;  // clipping comes after the hook: the hook sees the raw gradients
  learner.step(StepInput::fromViews(v1, v2), optimizer, options);
  EXPECT_EQ(calls, 1);
  const Tensors grads = referenceGradients(v1, v2, online0, target0);
  const double scale = gradientScale(grads);
  for (const auto& [name, g] : grads) EXPECT_LT(maxAbsDiff(seen.at(name), g) / scale, 1e-12) << name;
}

TEST_F(LearnerStepTest, AccumulatingTwoMicroBatchesGivesTheMeanOfTheirGradients) {
  OptimizerOptions sgd;
  sgd.lr = 0.5;
  Optimizer optimizer(OptimizerKind::SGD, sgd, tensorsOf(learner.onlineParameters()));
  Tensors seen;
  int calls = 0;
  learner.setGradientsCompleteHook([&](const std::vector<at::Tensor>&) {
    ++calls;
    for (const auto& [name, p] : learner.onlineParameters()) seen[name] = p.grad().clone();
  });
  const at::Tensor a1 = images(5), a2 = images(6), b1 = images(7), b2 = images(8);
  StepOptions options;
  options.lr = sgd.lr;
  options.accumulate = 2;

  const StepOutcome first = learner.step(StepInput::fromViews(a1, a2), optimizer, options);
  EXPECT_FALSE(first.optimizerStepped);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(learner.pendingMicroBatches(), 1);
  for (const auto& [name, p] : learner.onlineParameters()) EXPECT_TRUE(p.equal(online0.at(name))) << name;

  // A different accumulate while micro-batches are pending is refused, naming the option.
  StepOptions other = options;
  other.accumulate = 3;
  test::expectThrowContaining<RangeError>([&] { learner.step(StepInput::fromViews(b1, b2), optimizer, other); },
                                          "accumulate: expected 2");

  const StepOutcome second = learner.step(StepInput::fromViews(b1, b2), optimizer, options);
  EXPECT_TRUE(second.optimizerStepped);
  EXPECT_EQ(calls, 1);

  // The equality that holds: the mean of each micro-batch's own gradient (each normalised by its own per-view
  // BatchNorm statistics) ...
  const Tensors ga = referenceGradients(a1, a2, online0, target0), gb = referenceGradients(b1, b2, online0, target0);
  const double scale = gradientScale(seen);
  for (const auto& [name, g] : seen) EXPECT_LT(maxAbsDiff(g, (ga.at(name) + gb.at(name)) / 2) / scale, 1e-12) << name;
  // ... and the one that does not: one batch of 2N images has other BatchNorm statistics, so other gradients.
  const Tensors whole = referenceGradients(at::cat({a1, b1}), at::cat({a2, b2}), online0, target0);
  double largest = 0;
  for (const auto& [name, g] : seen) largest = std::max(largest, maxAbsDiff(g, whole.at(name)) / scale);
  EXPECT_GT(largest, 1e-3);
}

TEST(LearnerStep, CopyBuffersCopiesTheBatchNormStatisticsAtEveryUpdate) {
  for (const bool copy : {true, false}) {
    LearnerOptions o = tinyOptions();
    o.copyBuffers = copy;
    Learner learner(tinyEncoder(), kRepresentation, o);
    learner.train(true);
    OptimizerOptions sgd;
    sgd.lr = 0.5;
    Optimizer optimizer(OptimizerKind::SGD, sgd, tensorsOf(learner.onlineParameters()));
    StepOptions options;
    options.lr = sgd.lr;
    // Two steps: after the first the weights differ, so the second's target statistics differ from the online's.
    for (int64_t s = 0; s < 2; ++s) learner.step(StepInput::fromViews(images(10 + s), images(20 + s)), optimizer, options);
    const at::Tensor online = learner.projector()->named_buffers()["net.1.running_mean"];
    const at::Tensor target = learner.targetProjector()->named_buffers()["net.1.running_mean"];
    if (copy) EXPECT_TRUE(online.equal(target));
    else EXPECT_GT((online - target).abs().max().item<double>(), 1e-6);
  }
}

TEST_F(LearnerStepTest, ANonFiniteLossOnTheCpuSkipsTheUpdate) {
  OptimizerOptions sgd;
  sgd.lr = 0.5;
  Optimizer optimizer(OptimizerKind::SGD, sgd, tensorsOf(learner.onlineParameters()));
  at::Tensor bad = images(9);
  bad[0][0][0][0] = std::numeric_limits<double>::quiet_NaN();
  StepOptions options;
  options.lr = sgd.lr;
  const StepOutcome outcome = learner.step(StepInput::fromViews(bad, images(10)), optimizer, options);
  EXPECT_TRUE(outcome.nonFiniteLoss);
  EXPECT_FALSE(outcome.optimizerStepped);
  EXPECT_TRUE(std::isnan(outcome.metrics[0].item<double>()));
  EXPECT_EQ(optimizer.steps(), 0);
  EXPECT_EQ(learner.emaUpdates(), 0);
  for (const auto& [name, p] : learner.onlineParameters()) EXPECT_TRUE(p.equal(online0.at(name))) << name;
}

TEST_F(LearnerStepTest, RecordsTheGraphUnderACallersNoGradAndRefusesOneImagePerView) {
  OptimizerOptions sgd;
  sgd.lr = 0.5;
  Optimizer optimizer(OptimizerKind::SGD, sgd, tensorsOf(learner.onlineParameters()));
  StepOptions options;
  options.lr = sgd.lr;
  {
    at::NoGradGuard noGrad;
    EXPECT_TRUE(learner.step(StepInput::fromViews(images(11), images(12)), optimizer, options).optimizerStepped);
    EXPECT_FALSE(at::GradMode::is_enabled()) << "the caller's grad mode is restored";
  }
  EXPECT_EQ(optimizer.steps(), 1);
  const at::Tensor one = at::rand({1, kChannels, kSide, kSide}, at::kDouble);
  test::expectThrowContaining<RangeError>([&] { learner.step(StepInput::fromViews(one, one), optimizer, options); },
                                          "N >= 2");
}

TEST(LearnerOptions, CoreOwnsTheDefaultsAndTheRanges) {
  const LearnerOptions defaults;
  EXPECT_EQ(defaults.projectionSize, 256);
  EXPECT_EQ(defaults.projectionHiddenSize, 4096);
  EXPECT_EQ(defaults.movingAverageDecay, 0.996);
  EXPECT_EQ(defaults.decaySchedule, DecaySchedule::Cosine);
  LearnerOptions o = defaults;
  test::expectThrowContaining<RangeError>([&] { o.validate(); },
                                          "totalSteps: the cosine decay schedule needs the run's number of steps");
  o.totalSteps = 10;
  o.validate();
  o.movingAverageDecay = 1.5;
  test::expectThrowContaining<RangeError>([&] { o.validate(); }, "movingAverageDecay: expected a number in [0, 1]");
  test::expectThrowContaining<TypeError>([] { parseDecaySchedule("linear"); }, "decaySchedule: expected 'cosine'");
}

TEST(LearnerOptions, TheCosineScheduleRisesFromTheBaseToOne) {
  LearnerOptions o = tinyOptions(0.99);
  o.decaySchedule = DecaySchedule::Cosine;
  o.totalSteps = 4;
  Learner learner(tinyEncoder(), kRepresentation, o);
  for (int64_t k = 0; k <= 5; ++k) {
    learner.setEmaUpdates(k);
    const double clamped = std::min<int64_t>(k, 4);
    EXPECT_NEAR(learner.tau(), 1 - 0.01 * (std::cos(M_PI * clamped / 4) + 1) / 2, 1e-15) << k;
  }
}

}  // namespace
}  // namespace byol
