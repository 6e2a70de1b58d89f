// Optimizers against a float64 reference written here with plain loops (no ATen in the reference), error
// messages by content, and the state round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/optim.h"

namespace {

using Vec = std::vector<double>;
using byol::OptimizerKind;
using byol::OptimizerOptions;

// --- float64 reference ----------------------------------------------------------------------------------

struct RefState {
  std::vector<Vec> m, v;          // momentum buffer / exp_avg, exp_avg_sq
  std::vector<int64_t> step;
};

double norm(const Vec& x) {
  double s = 0;
  for (double a : x) s += a * a;
  return std::sqrt(s);
}

// One step of `kind` on params `p` with grads `g` (an empty grad means undefined: skipped).
void refStep(OptimizerKind kind, const OptimizerOptions& o, const std::vector<bool>& excluded, std::vector<Vec>& p,
             const std::vector<Vec>& g, RefState& s) {
  s.m.resize(p.size());
  s.v.resize(p.size());
  s.step.resize(p.size(), 0);
  for (size_t i = 0; i < p.size(); ++i) {
    if (g[i].empty()) continue;
    const size_t n = p[i].size();
    const double wd = excluded[i] ? 0 : o.weightDecay;
    Vec& x = p[i];
    const int64_t t = ++s.step[i];
    if (kind == OptimizerKind::SGD) {
      Vec d(n);
      for (size_t k = 0; k < n; ++k) d[k] = g[i][k] + wd * x[k];
      if (o.momentum != 0) {
        if (s.m[i].empty()) s.m[i] = d;
        else for (size_t k = 0; k < n; ++k) s.m[i][k] = o.momentum * s.m[i][k] + (1 - o.dampening) * d[k];
        for (size_t k = 0; k < n; ++k) d[k] = o.nesterov ? d[k] + o.momentum * s.m[i][k] : s.m[i][k];
      }
      for (size_t k = 0; k < n; ++k) x[k] -= o.lr * d[k];
    } else if (kind == OptimizerKind::Adam || kind == OptimizerKind::AdamW) {
      if (s.m[i].empty()) s.m[i].assign(n, 0), s.v[i].assign(n, 0);
      const bool decoupled = kind == OptimizerKind::AdamW;
      const double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
      for (size_t k = 0; k < n; ++k) {
        if (decoupled) x[k] *= 1 - o.lr * wd;
        const double gk = g[i][k] + (decoupled ? 0 : wd * x[k]);
        s.m[i][k] = o.beta1 * s.m[i][k] + (1 - o.beta1) * gk;
        s.v[i][k] = o.beta2 * s.v[i][k] + (1 - o.beta2) * gk * gk;
        const double mHat = s.m[i][k] / bc1;
        x[k] -= o.lr * mHat / (std::sqrt(s.v[i][k]) / std::sqrt(bc2) + o.eps);
      }
    } else {  // LARS (DeepMind's byol/utils/optimizers.py)
      Vec u(n);
      for (size_t k = 0; k < n; ++k) u[k] = g[i][k] + wd * x[k];
      double ratio = 1;
      if (!excluded[i]) {
        const double pn = norm(x), un = norm(u);
        if (pn > 0 && un > 0) ratio = o.trustCoefficient * pn / un;
      }
      if (s.m[i].empty()) s.m[i].assign(n, 0);
      for (size_t k = 0; k < n; ++k) {
        s.m[i][k] = o.momentum * s.m[i][k] + ratio * u[k];
        x[k] -= o.lr * s.m[i][k];
      }
    }
  }
}

// --- helpers --------------------------------------------------------------------------------------------

Vec valuesOf(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kDouble).contiguous();
  return Vec(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

at::Tensor tensorOf(const Vec& v, at::IntArrayRef shape, at::ScalarType type) {
  return at::tensor(at::ArrayRef<double>(v), at::TensorOptions().dtype(at::kDouble)).reshape(shape).to(type);
}

struct Problem {
  std::vector<at::Tensor> params;
  std::vector<std::vector<int64_t>> shapes{{4, 3}, {5}, {2, 3, 2}, {7}};
  std::mt19937 rng{1234};

  explicit Problem(at::ScalarType type = at::kFloat) {
    for (auto& shape : shapes) params.push_back(randomTensor(shape, type).set_requires_grad(true));
  }
  at::Tensor randomTensor(at::IntArrayRef shape, at::ScalarType type) {
    std::normal_distribution<double> normal(0, 1);
    int64_t n = 1;
    for (auto d : shape) n *= d;
    Vec v(static_cast<size_t>(n));
    for (auto& x : v) x = normal(rng);
    return tensorOf(v, shape, type);
  }
  // Fresh random grads; `skip` leaves that parameter's grad undefined.
  std::vector<Vec> newGrads(int skip = -1) {
    std::vector<Vec> grads;
    for (size_t i = 0; i < params.size(); ++i) {
      if (static_cast<int>(i) == skip) {
        params[i].mutable_grad() = at::Tensor();
        grads.emplace_back();
        continue;
      }
      at::Tensor g = randomTensor(params[i].sizes(), params[i].scalar_type());
      params[i].mutable_grad() = g;
      grads.push_back(valuesOf(g));
    }
    return grads;
  }
};

// Relative-ish closeness: |a - b| <= tol * (1 + |b|) for every element; returns the worst ratio.
double worst(const Vec& a, const Vec& b) {
  EXPECT_EQ(a.size(), b.size());
  double w = 0;
  for (size_t k = 0; k < a.size(); ++k) w = std::max(w, std::fabs(a[k] - b[k]) / (1 + std::fabs(b[k])));
  return w;
}

// Runs `steps` steps of our optimizer and of the reference on the same float32 values and checks each step.
void expectMatchesReference(OptimizerKind kind, OptimizerOptions o, std::vector<bool> excluded, int steps = 5,
                            double tolerance = 1e-6, int skipAtStep1 = -1) {
  Problem problem;
  if (excluded.empty()) excluded.assign(problem.params.size(), false);
  std::vector<Vec> ref;
  for (auto& p : problem.params) ref.push_back(valuesOf(p));
  RefState refState;
  byol::Optimizer opt(kind, o, problem.params, excluded);
  for (int s = 0; s < steps; ++s) {
    auto grads = problem.newGrads(s == 1 ? skipAtStep1 : -1);
    opt.step();
    refStep(kind, o, excluded, ref, grads, refState);
    for (size_t i = 0; i < ref.size(); ++i) {
      const Vec ours = valuesOf(problem.params[i]);
      EXPECT_LE(worst(ours, ref[i]), tolerance) << byol::optimizerKindName(kind) << " step " << s << " param " << i;
    }
  }
  // The parameters really moved (a test of an optimizer that does nothing must fail).
  Problem initial;
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_GT(worst(valuesOf(problem.params[i]), valuesOf(initial.params[i])), 1e-3);
}

template <typename Fn>
std::string errorOf(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

OptimizerOptions sgd(double lr, double momentum = 0, double wd = 0, bool nesterov = false, double dampening = 0) {
  OptimizerOptions o;
  o.lr = lr, o.momentum = momentum, o.weightDecay = wd, o.nesterov = nesterov, o.dampening = dampening;
  return o;
}

OptimizerOptions adam(double lr, double wd, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8) {
  OptimizerOptions o;
  o.lr = lr, o.weightDecay = wd, o.beta1 = b1, o.beta2 = b2, o.eps = eps;
  return o;
}

OptimizerOptions lars(double lr, double wd, double momentum = 0.9, double eta = 1e-3) {
  OptimizerOptions o;
  o.lr = lr, o.weightDecay = wd, o.momentum = momentum, o.trustCoefficient = eta;
  return o;
}

// --- values against the reference --------------------------------------------------------------------------

OptimizerOptions unfused(OptimizerOptions o) {
  o.fused = false;
  return o;
}

// Every reference test runs the fused CPU kernels (default) and the ATen-op path (fused = false, what CUDA uses).
TEST(Optimizer, SGDMatchesReference) {
  for (auto o : {sgd(0.1), sgd(0.1, 0.9, 0.05), sgd(0.05, 0.9, 0.01, false, 0.3)}) {
    expectMatchesReference(OptimizerKind::SGD, o, {});
    expectMatchesReference(OptimizerKind::SGD, unfused(o), {});
  }
}

TEST(Optimizer, NesterovMatchesReference) {
  expectMatchesReference(OptimizerKind::SGD, sgd(0.1, 0.9, 0.05, true), {});
  expectMatchesReference(OptimizerKind::SGD, unfused(sgd(0.1, 0.9, 0.05, true)), {});
}

TEST(Optimizer, AdamMatchesReference) {
  for (auto o : {adam(0.05, 0), adam(0.05, 0.1, 0.8, 0.99, 1e-6)}) {
    expectMatchesReference(OptimizerKind::Adam, o, {});
    expectMatchesReference(OptimizerKind::Adam, unfused(o), {});
  }
}

TEST(Optimizer, AdamWMatchesReference) {
  expectMatchesReference(OptimizerKind::AdamW, adam(0.05, 0.1), {});
  expectMatchesReference(OptimizerKind::AdamW, unfused(adam(0.05, 0.1)), {});
}

TEST(Optimizer, LARSMatchesReference) {
  // lr as BYOL at batch 4096 (0.2 * 16) and a large weight decay so both terms matter; params 1 and 3 are 1-d.
  for (bool fused : {true, false}) {
    auto a = lars(3.2, 0.05), b = lars(3.2, 0.05, 0.9, 1e-2);
    a.fused = b.fused = fused;
    expectMatchesReference(OptimizerKind::LARS, a, {false, true, false, true});
    expectMatchesReference(OptimizerKind::LARS, b, {false, false, false, false});
  }
}

// Channels-last, transposed and strided (non-dense) parameters, grads in another layout than the parameter:
// the fused kernels take only dense parameters whose grad and state share their layout, the rest falls back.
TEST(Optimizer, AnyMemoryLayoutMatchesReference) {
  for (auto kind : {OptimizerKind::Adam, OptimizerKind::LARS, OptimizerKind::SGD}) {
    const OptimizerOptions o = kind == OptimizerKind::Adam ? adam(0.05, 0.1)
                               : kind == OptimizerKind::LARS ? lars(3.2, 0.05)
                                                             : sgd(0.1, 0.9, 0.05, true);
    Problem problem;
    std::vector<at::Tensor> params{
        problem.randomTensor({2, 3, 2, 2}, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast),
        problem.randomTensor({3, 4}, at::kFloat).t(),
        problem.randomTensor({4, 8}, at::kFloat).slice(1, 0, 8, 2),
        problem.randomTensor({2, 3, 2, 2}, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast)};
    for (auto& p : params) p = p.detach().set_requires_grad(true);
    std::vector<Vec> ref;
    for (auto& p : params) ref.push_back(valuesOf(p));
    const std::vector<bool> excluded(params.size(), false);
    RefState refState;
    byol::Optimizer opt(kind, o, params);
    for (int s = 0; s < 4; ++s) {
      std::vector<Vec> grads;
      for (size_t i = 0; i < params.size(); ++i) {
        at::Tensor g = problem.randomTensor(params[i].sizes(), at::kFloat);
        // param 0: grad in the param's layout (fused); param 3: contiguous grad for a channels-last param.
        if (i == 0) g = g.contiguous(at::MemoryFormat::ChannelsLast);
        params[i].mutable_grad() = g;
        grads.push_back(valuesOf(g));
      }
      opt.step();
      refStep(kind, o, excluded, ref, grads, refState);
      for (size_t i = 0; i < ref.size(); ++i) {
        EXPECT_LE(worst(valuesOf(params[i]), ref[i]), 1e-6) << byol::optimizerKindName(kind) << " param " << i;
      }
    }
    EXPECT_TRUE(params[0].is_contiguous(at::MemoryFormat::ChannelsLast));
  }
}

TEST(Optimizer, SkipsParametersWithoutGradLikeTheReference) {
  expectMatchesReference(OptimizerKind::Adam, adam(0.05, 0.01), {}, 4, 1e-6, /*skip param*/ 2);
  expectMatchesReference(OptimizerKind::SGD, sgd(0.1, 0.9), {}, 4, 1e-6, 0);
  expectMatchesReference(OptimizerKind::LARS, lars(3.2, 0.05), {false, true, false, true}, 4, 1e-6, 1);
  expectMatchesReference(OptimizerKind::LARS, unfused(lars(3.2, 0.05)), {false, true, false, true}, 4, 1e-6, 1);
}

TEST(Optimizer, Float64ParametersMatchTightly) {
  Problem problem(at::kDouble);
  std::vector<Vec> ref;
  for (auto& p : problem.params) ref.push_back(valuesOf(p));
  RefState refState;
  const auto o = adam(0.05, 0.1);
  const std::vector<bool> excluded(problem.params.size(), false);
  byol::Optimizer opt(OptimizerKind::AdamW, o, problem.params);
  for (int s = 0; s < 3; ++s) {
    auto grads = problem.newGrads();
    opt.step();
    refStep(OptimizerKind::AdamW, o, excluded, ref, grads, refState);
  }
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_LE(worst(valuesOf(problem.params[i]), ref[i]), 1e-12);
}

TEST(Optimizer, Float64LARSMatchesTightlyOnBothPaths) {
  for (bool fused : {true, false}) {
    Problem problem(at::kDouble);
    std::vector<Vec> ref;
    for (auto& p : problem.params) ref.push_back(valuesOf(p));
    RefState refState;
    auto o = lars(3.2, 0.05);
    o.fused = fused;
    const std::vector<bool> excluded{false, true, false, true};
    byol::Optimizer opt(OptimizerKind::LARS, o, problem.params, excluded);
    for (int s = 0; s < 3; ++s) {
      auto grads = problem.newGrads();
      opt.step();
      refStep(OptimizerKind::LARS, o, excluded, ref, grads, refState);
    }
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_LE(worst(valuesOf(problem.params[i]), ref[i]), 1e-12) << fused;
  }
}

// --- invariants --------------------------------------------------------------------------------------------

TEST(Optimizer, LARSExcludedParamsGetPlainMomentumWithoutDecay) {
  at::Tensor bias = at::full({3}, 2.0).set_requires_grad(true);
  at::Tensor weight = at::full({3}, 2.0).set_requires_grad(true);
  byol::Optimizer opt(OptimizerKind::LARS, lars(0.5, 0.1), {bias, weight}, {true, false});
  bias.mutable_grad() = at::full({3}, 4.0);
  weight.mutable_grad() = at::full({3}, 4.0);
  opt.step();
  // Excluded: p - lr*g = 2 - 0.5*4 = 0. Included: u = 4 + 0.1*2 = 4.2, ratio = 1e-3 * |p|/|u| = 1e-3 * 2/4.2,
  // so p - lr*ratio*u = 2 - 0.5 * 1e-3 * 2 = 1.999.
  EXPECT_NEAR(bias[0].item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(weight[0].item<double>(), 1.999, 1e-6);
}

TEST(Optimizer, LARSZeroNormsUseRatioOne) {
  at::Tensor p = at::zeros({4}).set_requires_grad(true);
  byol::Optimizer opt(OptimizerKind::LARS, lars(0.5, 0.0), {p});
  p.mutable_grad() = at::full({4}, 2.0);
  opt.step();  // |p| = 0: ratio 1, p = -0.5*2
  EXPECT_NEAR(p[0].item<double>(), -1.0, 1e-7);
  p.mutable_grad() = at::zeros({4});
  opt.step();  // |u| = 0: ratio 1, m = 0.9*2, p = -1 - 0.5*1.8
  EXPECT_NEAR(p[0].item<double>(), -1.9, 1e-6);
}

TEST(Optimizer, ClipGradNormMatchesTorchRule) {
  at::Tensor a = at::zeros({2}).set_requires_grad(true), b = at::zeros({1}).set_requires_grad(true);
  at::Tensor c = at::zeros({3}).set_requires_grad(true);  // no grad: ignored
  byol::Optimizer opt(OptimizerKind::SGD, sgd(0.1), {a, b, c});
  a.mutable_grad() = at::tensor({3.0f, 4.0f});
  b.mutable_grad() = at::tensor({12.0f});
  EXPECT_NEAR(opt.clipGradNorm(100.0), 13.0, 1e-6);  // below: unchanged
  EXPECT_FLOAT_EQ(a.grad()[1].item<float>(), 4.0f);
  EXPECT_NEAR(opt.clipGradNorm(1.3), 13.0, 1e-6);
  const double coefficient = 1.3 / (13.0 + 1e-6);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3 * coefficient, 1e-6);
  EXPECT_NEAR(b.grad()[0].item<double>(), 12 * coefficient, 1e-6);
  EXPECT_NEAR(opt.clipGradNorm(100.0), 1.3, 1e-5);
  EXPECT_EQ(errorOf([&] { opt.clipGradNorm(0); }), "maxNorm: expected a number > 0, received 0");
}

TEST(Optimizer, ZeroGradScaleGradsAndAccumulation) {
  at::Tensor a = at::ones({2}).set_requires_grad(true);
  byol::Optimizer opt(OptimizerKind::SGD, sgd(1.0), {a});
  a.mutable_grad() = at::tensor({2.0f, 6.0f});
  opt.scaleGrads(0.5);
  EXPECT_FLOAT_EQ(a.grad()[1].item<float>(), 3.0f);
  const void* storage = a.grad().data_ptr();
  opt.zeroGrad();
  EXPECT_EQ(a.grad().data_ptr(), storage);  // zeroed in place
  EXPECT_EQ(a.grad().abs().sum().item<float>(), 0.0f);
  opt.zeroGrad(true);
  EXPECT_FALSE(a.grad().defined());
  opt.step();  // no grad: nothing happens
  EXPECT_FLOAT_EQ(a[0].item<float>(), 1.0f);

  // Accumulating k=2 micro-batch grads and scaling by 1/2 equals one step on the mean grad.
  at::Tensor x = at::ones({3}).set_requires_grad(true);
  byol::Optimizer acc(OptimizerKind::SGD, sgd(0.1), {x});
  (x * at::tensor({1.0f, 2.0f, 3.0f})).sum().backward();
  (x * at::tensor({3.0f, 2.0f, 1.0f})).sum().backward();
  acc.scaleGrads(0.5);
  acc.step();
  EXPECT_NEAR(x[0].item<double>(), 1 - 0.1 * 2, 1e-7);
  EXPECT_NEAR(x[2].item<double>(), 1 - 0.1 * 2, 1e-7);
}

TEST(Optimizer, StateRoundTripContinuesExactly) {
  for (auto kind : {OptimizerKind::SGD, OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::LARS}) {
    OptimizerOptions o = kind == OptimizerKind::SGD    ? sgd(0.1, 0.9, 0.01, true)
                         : kind == OptimizerKind::LARS ? lars(3.2, 0.05)
                                                       : adam(0.05, 0.1);
    Problem a, b;  // same seed: same values and grads
    const std::vector<bool> excluded{false, true, false, true};
    byol::Optimizer first(kind, o, a.params, excluded);
    for (int s = 0; s < 3; ++s) {
      a.newGrads(s == 1 ? 2 : -1);
      first.step();
      b.newGrads(s == 1 ? 2 : -1);
    }
    // Resume: b's params take a's values, a fresh optimizer loads a's state.
    for (size_t i = 0; i < a.params.size(); ++i) {
      at::NoGradGuard g;
      b.params[i].copy_(a.params[i]);
    }
    byol::Optimizer resumed(kind, o, b.params, excluded);
    const auto saved = first.state();
    resumed.loadState(saved);
    EXPECT_EQ(resumed.steps(), 3);
    for (int s = 0; s < 3; ++s) {
      a.newGrads();
      b.newGrads();
      first.step();
      resumed.step();
    }
    for (size_t i = 0; i < a.params.size(); ++i) {
      EXPECT_TRUE(at::equal(a.params[i], b.params[i])) << byol::optimizerKindName(kind) << " param " << i;
    }
    // The export is a copy: the saved state did not move with the later steps.
    const auto later = first.state();
    ASSERT_EQ(saved.size(), later.size());
    EXPECT_EQ(saved[0].first, "steps");
    EXPECT_EQ(saved[0].second.item<double>(), 3.0);
    EXPECT_EQ(later[0].second.item<double>(), 6.0);
  }
}

TEST(Optimizer, StateNamesAndStepCounts) {
  Problem p;
  byol::Optimizer opt(OptimizerKind::Adam, adam(0.01, 0), p.params);
  EXPECT_EQ(opt.state().size(), 1 + p.params.size());  // steps + "<i>.step", no buffers yet
  p.newGrads(1);
  opt.step();
  std::vector<std::string> names;
  for (auto& [name, t] : opt.state()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"steps", "0.step", "0.exp_avg", "0.exp_avg_sq", "1.step", "2.step",
                                             "2.exp_avg", "2.exp_avg_sq", "3.step", "3.exp_avg", "3.exp_avg_sq"}));
  for (auto& [name, t] : opt.state()) {
    if (name == "1.step") {
      EXPECT_EQ(t.item<double>(), 0.0);
    }
    if (name == "0.step") {
      EXPECT_EQ(t.item<double>(), 1.0);
    }
  }
}

// --- errors --------------------------------------------------------------------------------------------------

TEST(Optimizer, RejectsBadOptionsNamingThem) {
  std::vector<at::Tensor> ps{at::zeros({2}).set_requires_grad(true)};
  auto make = [&](OptimizerKind kind, OptimizerOptions o) { return errorOf([&] { byol::Optimizer(kind, o, ps); }); };
  EXPECT_EQ(make(OptimizerKind::SGD, sgd(-0.1)), "lr: expected a finite number >= 0, received -0.1");
  EXPECT_EQ(make(OptimizerKind::SGD, sgd(std::nan(""))), "lr: expected a finite number >= 0, received nan");
  EXPECT_EQ(make(OptimizerKind::SGD, sgd(0.1, 1.0)), "momentum: expected a number in [0, 1), received 1");
  EXPECT_EQ(make(OptimizerKind::SGD, sgd(0.1, 0.5, -1)), "weightDecay: expected a finite number >= 0, received -1");
  EXPECT_EQ(make(OptimizerKind::SGD, sgd(0.1, 0.0, 0, true)),
            "nesterov: requires momentum > 0 and dampening 0, received momentum 0 and dampening 0");
  EXPECT_EQ(make(OptimizerKind::SGD, sgd(0.1, 0.5, 0, false, 2)), "dampening: expected a number in [0, 1], received 2");
  EXPECT_EQ(make(OptimizerKind::Adam, adam(0.1, 0, 1.0)), "betas[0]: expected a number in [0, 1), received 1");
  EXPECT_EQ(make(OptimizerKind::AdamW, adam(0.1, 0, 0.9, -0.5)), "betas[1]: expected a number in [0, 1), received -0.5");
  EXPECT_EQ(make(OptimizerKind::Adam, adam(0.1, 0, 0.9, 0.999, 0)), "eps: expected a finite number > 0, received 0");
  EXPECT_EQ(make(OptimizerKind::LARS, lars(0.1, 0, 1.5)), "momentum: expected a number in [0, 1), received 1.5");
  EXPECT_EQ(make(OptimizerKind::LARS, lars(0.1, 0, 0.9, 0)), "trustCoefficient: expected a finite number > 0, received 0");
}

TEST(Optimizer, RejectsBadParameterLists) {
  auto leaf = at::zeros({2}).set_requires_grad(true);
  EXPECT_EQ(errorOf([&] { byol::Optimizer(OptimizerKind::SGD, sgd(0.1), {}); }),
            "params: expected at least one tensor, received an empty list");
  EXPECT_EQ(errorOf([&] { byol::Optimizer(OptimizerKind::SGD, sgd(0.1), {leaf, leaf}); }),
            "params[1]: the same tensor appears more than once in the list");
  EXPECT_EQ(errorOf([&] { byol::Optimizer(OptimizerKind::SGD, sgd(0.1), {at::zeros({2}, at::kLong)}); }),
            "params[0]: expected a floating-point tensor, received int64");
  EXPECT_EQ(errorOf([&] { byol::Optimizer(OptimizerKind::SGD, sgd(0.1), {leaf * 2}); }),
            "params[0]: expected a leaf tensor (a parameter), received the result of an operation; detach it first");
  EXPECT_EQ(errorOf([&] { byol::Optimizer(OptimizerKind::SGD, sgd(0.1), {leaf}, {true, false}); }),
            "excluded: expected one flag per parameter (1), received 2");
  byol::Optimizer opt(OptimizerKind::SGD, sgd(0.1), {leaf});
  EXPECT_EQ(errorOf([&] { opt.setLr(-1); }), "lr: expected a finite number >= 0, received -1");
  EXPECT_EQ(errorOf([&] { byol::parseOptimizerKind("rmsprop"); }),
            "kind: expected 'sgd', 'adam', 'adamw' or 'lars', received 'rmsprop'");
}

TEST(Optimizer, LoadStateRejectsMismatchesAndKeepsTheOldState) {
  auto w = at::zeros({2, 2}).set_requires_grad(true);
  byol::Optimizer opt(OptimizerKind::SGD, sgd(0.1, 0.9), {w});
  w.mutable_grad() = at::ones({2, 2});
  opt.step();
  auto load = [&](byol::NamedTensors s) { return errorOf([&] { opt.loadState(s); }); };
  EXPECT_EQ(load({{"0.momentum_buffer", at::zeros({3})}}),
            "state: '0.momentum_buffer': expected shape [2, 2] like the parameter, received [3]");
  EXPECT_EQ(load({{"0.exp_avg", at::zeros({2, 2})}}), "state: unexpected entry '0.exp_avg' for a sgd optimizer");
  EXPECT_EQ(load({{"5.step", at::scalar_tensor(1.0)}}), "state: '5.step': parameter index 5 is out of range for 1 parameters");
  EXPECT_EQ(load({{"bogus", at::zeros({1})}}), "state: unexpected entry 'bogus'; expected 'steps' or '<index>.<field>'");
  EXPECT_EQ(load({{"steps", at::scalar_tensor(-1.0)}}), "state: 'steps': expected a non-negative integer count, received -1");
  EXPECT_EQ(opt.steps(), 1);
  EXPECT_EQ(opt.state().size(), 3u);  // unchanged: steps, 0.step, 0.momentum_buffer
}

}  // namespace
