#include "core/optim.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <unordered_set>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/tensor_checks.h"

namespace byol {
namespace {

bool finiteAtLeast(double v, double lo) { return std::isfinite(v) && v >= lo; }
bool inUnitOpen(double v) { return v >= 0 && v < 1; }  // [0, 1); false for NaN

// "<i>.<field>" -> (i, field); false when the name has another form.
bool splitStateName(const std::string& name, size_t& index, std::string& field) {
  const size_t dot = name.find('.');
  if (dot == 0 || dot == std::string::npos) return false;
  // The index as state() writes it: "01.exp_avg" would be a second name for the slot of "1.exp_avg".
  if (dot > 1 && name[0] == '0') return false;
  size_t value = 0;
  for (size_t k = 0; k < dot; ++k) {
    if (name[k] < '0' || name[k] > '9' || value > 1000000000) return false;
    value = value * 10 + static_cast<size_t>(name[k] - '0');
  }
  index = value;
  field = name.substr(dot + 1);
  return true;
}

int64_t countFrom(const std::string& name, const at::Tensor& t) {
  BYOL_EXPECT_RANGE(t.defined() && t.numel() == 1, "state: '", name, "': expected a one-element tensor, received ",
                    t.defined() ? shapeOf(t) : std::string("an undefined tensor"));
  const double v = t.to(at::kCPU).to(at::kDouble).item<double>();
  BYOL_EXPECT_RANGE(std::isfinite(v) && v >= 0 && std::floor(v) == v && v < 9.007199254740992e15, "state: '", name,
                    "': expected a non-negative integer count, received ", v);
  return static_cast<int64_t>(v);
}

at::Tensor countTensor(int64_t n) {
  return at::scalar_tensor(static_cast<double>(n), at::TensorOptions().dtype(at::kDouble));
}

// --- fused CPU kernels: one pass over dense memory (p, g and the state share one layout) -------------------

constexpr int64_t kGrain = 1 << 15;

template <typename T>
void sgdKernel(T* p, const T* g, T* buf, bool first, int64_t n, const OptimizerOptions& o, double wd) {
  const T lr = static_cast<T>(o.lr), mom = static_cast<T>(o.momentum), keep = static_cast<T>(1.0 - o.dampening);
  const T decay = static_cast<T>(wd);
  const bool nesterov = o.nesterov;
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      T d = g[k] + decay * p[k];
      if (buf != nullptr) {
        const T b = first ? d : mom * buf[k] + keep * d;
        buf[k] = b;
        d = nesterov ? d + mom * b : b;
      }
      p[k] -= lr * d;
    }
  });
}

template <typename T>
struct AdamConstants {
  T shrink, l2, b1, b2, c1, c2, stepSize, bc2, eps;
};

// Scalar sqrt and divisions (GCC vectorizes std::sqrt only with -fno-math-errno): ~15 cycles per element, about
// the cost of moving its 28 bytes at this machine's bandwidth on 2 cores, so it is left as is.
template <typename T>
void adamChunk(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                                   int64_t begin, int64_t end, const AdamConstants<T> c) {
  for (int64_t k = begin; k < end; ++k) {
    const T x = p[k] * c.shrink;
    const T gk = g[k] + c.l2 * x;
    const T mk = c.b1 * m[k] + c.c1 * gk;
    const T vk = c.b2 * v[k] + c.c2 * gk * gk;
    m[k] = mk;
    v[k] = vk;
    p[k] = x - c.stepSize * mk / (std::sqrt(vk) / c.bc2 + c.eps);
  }
}

template <typename T>
void adamKernel(T* p, const T* g, T* m, T* v, int64_t n, double lr, const OptimizerOptions& o, double wd,
                bool decoupled, double biasCorrection1, double biasCorrection2Sqrt) {
  const AdamConstants<T> c{static_cast<T>(decoupled ? 1.0 - lr * wd : 1.0),
                           static_cast<T>(decoupled ? 0.0 : wd),
                           static_cast<T>(o.beta1),
                           static_cast<T>(o.beta2),
                           static_cast<T>(1.0 - o.beta1),
                           static_cast<T>(1.0 - o.beta2),
                           static_cast<T>(lr / biasCorrection1),
                           static_cast<T>(biasCorrection2Sqrt),
                           static_cast<T>(o.eps)};
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) { adamChunk<T>(p, g, m, v, begin, end, c); });
}

template <typename T>
void larsKernel(T* p, const T* g, T* m, bool first, int64_t n, const OptimizerOptions& o, double wd, bool adapt) {
  const T decay = static_cast<T>(wd);
  double ratio = 1.0;
  if (adapt) {
    using Sums = std::pair<double, double>;  // (|p|^2, |u|^2), accumulated in double
    const Sums sums = at::parallel_reduce(
        0, n, kGrain, Sums{0.0, 0.0},
        [&](int64_t begin, int64_t end, Sums acc) {
          for (int64_t k = begin; k < end; ++k) {
            const double x = p[k];
            const double u = g[k] + decay * p[k];
            acc.first += x * x;
            acc.second += u * u;
          }
          return acc;
        },
        [](const Sums& a, const Sums& b) { return Sums{a.first + b.first, a.second + b.second}; });
    const double paramNorm = std::sqrt(sums.first), updateNorm = std::sqrt(sums.second);
    if (paramNorm > 0 && updateNorm > 0) ratio = o.trustCoefficient * paramNorm / updateNorm;
  }
  const T r = static_cast<T>(ratio), mom = static_cast<T>(o.momentum), lr = static_cast<T>(o.lr);
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const T u = (g[k] + decay * p[k]) * r;
      const T mk = first ? u : mom * m[k] + u;
      m[k] = mk;
      p[k] -= lr * mk;
    }
  });
}

}  // namespace

OptimizerKind parseOptimizerKind(const std::string& name) {
  if (name == "sgd") return OptimizerKind::SGD;
  if (name == "adam") return OptimizerKind::Adam;
  if (name == "adamw") return OptimizerKind::AdamW;
  if (name == "lars") return OptimizerKind::LARS;
  throw TypeError(message("kind: expected 'sgd', 'adam', 'adamw' or 'lars', received '", name, "'"));
}

const char* optimizerKindName(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::SGD: return "sgd";
    case OptimizerKind::Adam: return "adam";
    case OptimizerKind::AdamW: return "adamw";
    case OptimizerKind::LARS: return "lars";
  }
  return "?";
}

void validateLearningRate(double lr) {
  BYOL_EXPECT_RANGE(finiteAtLeast(lr, 0), "lr: expected a finite number >= 0, received ", lr);
}

void validateOptimizerOptions(OptimizerKind kind, const OptimizerOptions& o) {
  validateLearningRate(o.lr);
  BYOL_EXPECT_RANGE(finiteAtLeast(o.weightDecay, 0), "weightDecay: expected a finite number >= 0, received ",
                    o.weightDecay);
  switch (kind) {
    case OptimizerKind::SGD:
      BYOL_EXPECT_RANGE(inUnitOpen(o.momentum), "momentum: expected a number in [0, 1), received ", o.momentum);
      BYOL_EXPECT_RANGE(o.dampening >= 0 && o.dampening <= 1, "dampening: expected a number in [0, 1], received ",
                        o.dampening);
      BYOL_EXPECT_RANGE(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                        "nesterov: requires momentum > 0 and dampening 0, received momentum ", o.momentum,
                        " and dampening ", o.dampening);
      break;
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW:
      BYOL_EXPECT_RANGE(inUnitOpen(o.beta1), "betas[0]: expected a number in [0, 1), received ", o.beta1);
      BYOL_EXPECT_RANGE(inUnitOpen(o.beta2), "betas[1]: expected a number in [0, 1), received ", o.beta2);
      BYOL_EXPECT_RANGE(std::isfinite(o.eps) && o.eps > 0, "eps: expected a finite number > 0, received ", o.eps);
      break;
    case OptimizerKind::LARS:
      BYOL_EXPECT_RANGE(inUnitOpen(o.momentum), "momentum: expected a number in [0, 1), received ", o.momentum);
      BYOL_EXPECT_RANGE(std::isfinite(o.trustCoefficient) && o.trustCoefficient > 0,
                        "trustCoefficient: expected a finite number > 0, received ", o.trustCoefficient);
      break;
  }
}

Optimizer::Optimizer(OptimizerKind kind, OptimizerOptions options, std::vector<at::Tensor> params,
                     std::vector<bool> excluded)
    : kind_(kind), options_(options), params_(std::move(params)), excluded_(std::move(excluded)) {
  validateOptimizerOptions(kind_, options_);
  BYOL_EXPECT_RANGE(!params_.empty(), "params: expected at least one tensor, received an empty list");
  if (excluded_.empty()) excluded_.assign(params_.size(), false);
  BYOL_EXPECT_RANGE(excluded_.size() == params_.size(), "excluded: expected one flag per parameter (",
                    params_.size(), "), received ", excluded_.size());
  std::unordered_set<const void*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i];
    BYOL_EXPECT_TYPE(p.defined(), "params[", i, "]: expected a tensor, received an undefined tensor");
    BYOL_EXPECT_TYPE(at::isFloatingType(p.scalar_type()), "params[", i,
                     "]: expected a floating-point tensor, received ", dtypeName(p.scalar_type()));
    BYOL_EXPECT_RANGE(p.is_leaf(), "params[", i,
                      "]: expected a leaf tensor (a parameter), received the result of an operation; detach it first");
    BYOL_EXPECT_RANGE(seen.insert(p.unsafeGetTensorImpl()).second, "params[", i,
                      "]: the same tensor appears more than once in the list");
  }
  state_.resize(params_.size());
}

void Optimizer::setLr(double lr) {
  validateLearningRate(lr);
  options_.lr = lr;
}

void Optimizer::step(double lr) {
  setLr(lr);
  step();
}

void Optimizer::step() {
  at::NoGradGuard noGrad;
  // Check every grad before touching anything, so a bad one leaves all parameters as they were.
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& g = params_[i].grad();
    if (!g.defined()) continue;
    BYOL_EXPECT_RANGE(g.layout() == at::kStrided, "params[", i, "]: sparse gradients are not supported");
    BYOL_EXPECT_RANGE(g.sizes() == params_[i].sizes(), "params[", i, "]: grad of shape ", shapeOf(g),
                      " does not match the parameter's ", shapeOf(params_[i]));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    switch (kind_) {
      case OptimizerKind::SGD: updateSGD(i, g); break;
      case OptimizerKind::Adam:
      case OptimizerKind::AdamW: updateAdam(i, g); break;
      case OptimizerKind::LARS: updateLARS(i, g); break;
    }
  }
  ++steps_;
}

bool Optimizer::fusable(size_t i, const at::Tensor& grad, std::initializer_list<const at::Tensor*> state) const {
  const at::Tensor& p = params_[i];
  const at::ScalarType type = p.scalar_type();
  if (!options_.fused || !p.device().is_cpu() || p.layout() != at::kStrided) return false;
  if ((type != at::kFloat && type != at::kDouble) || !p.is_non_overlapping_and_dense()) return false;
  const auto sameLayout = [&](const at::Tensor& t) {
    return t.device().is_cpu() && t.layout() == at::kStrided && t.scalar_type() == type && t.sizes() == p.sizes() &&
           t.strides() == p.strides();
  };
  if (!sameLayout(grad)) return false;
  for (const at::Tensor* t : state) {
    if (t->defined() && !sameLayout(*t)) return false;
  }
  return true;
}

void Optimizer::updateSGD(size_t i, const at::Tensor& grad) {
  at::Tensor p = params_[i];
  ParamState& st = state_[i];
  const double wd = excluded_[i] ? 0.0 : options_.weightDecay;
  if (fusable(i, grad, {&st.momentum})) {
    const bool useMomentum = options_.momentum != 0;
    const bool first = useMomentum && !st.momentum.defined();
    if (first) st.momentum = at::empty_like(p, at::MemoryFormat::Preserve);
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "sgd", [&] {
      sgdKernel<scalar_t>(p.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
                          useMomentum ? st.momentum.data_ptr<scalar_t>() : nullptr, first, p.numel(), options_, wd);
    });
    ++st.step;
    return;
  }
  at::Tensor d = wd != 0 ? grad.add(p, wd) : grad;
  if (options_.momentum != 0) {
    if (!st.momentum.defined()) {
      st.momentum = d.clone();  // torch.clone(d_p).detach(): no dampening on the first step
    } else {
      st.momentum.mul_(options_.momentum).add_(d, 1.0 - options_.dampening);
    }
    d = options_.nesterov ? d.add(st.momentum, options_.momentum) : st.momentum;
  }
  p.add_(d, -options_.lr);
  ++st.step;
}

void Optimizer::updateAdam(size_t i, const at::Tensor& grad) {
  at::Tensor p = params_[i];
  ParamState& st = state_[i];
  const double wd = excluded_[i] ? 0.0 : options_.weightDecay;
  const double b1 = options_.beta1, b2 = options_.beta2, lr = options_.lr;
  ++st.step;
  if (!st.expAvg.defined()) {
    st.expAvg = at::zeros_like(p, at::MemoryFormat::Preserve);
    st.expAvgSq = at::zeros_like(p, at::MemoryFormat::Preserve);
  }
  const double t = static_cast<double>(st.step);
  const double biasCorrection1 = 1.0 - std::pow(b1, t);
  const double biasCorrection2Sqrt = std::sqrt(1.0 - std::pow(b2, t));
  if (fusable(i, grad, {&st.expAvg, &st.expAvgSq})) {
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "adam", [&] {
      adamKernel<scalar_t>(p.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), st.expAvg.data_ptr<scalar_t>(),
                           st.expAvgSq.data_ptr<scalar_t>(), p.numel(), lr, options_, wd,
                           kind_ == OptimizerKind::AdamW, biasCorrection1, biasCorrection2Sqrt);
    });
    return;
  }
  at::Tensor g = grad;
  if (kind_ == OptimizerKind::AdamW) {
    if (wd != 0) p.mul_(1.0 - lr * wd);
  } else if (wd != 0) {
    g = grad.add(p, wd);
  }
  st.expAvg.mul_(b1).add_(g, 1.0 - b1);
  st.expAvgSq.mul_(b2).addcmul_(g, g, 1.0 - b2);
  at::Tensor denom = st.expAvgSq.sqrt().div_(biasCorrection2Sqrt).add_(options_.eps);
  p.addcdiv_(st.expAvg, denom, -lr / biasCorrection1);
}

void Optimizer::updateLARS(size_t i, const at::Tensor& grad) {
  at::Tensor p = params_[i];
  ParamState& st = state_[i];
  const bool excluded = excluded_[i];
  const double wd = excluded ? 0.0 : options_.weightDecay;
  if (fusable(i, grad, {&st.momentum})) {
    const bool first = !st.momentum.defined();
    if (first) st.momentum = at::empty_like(p, at::MemoryFormat::Preserve);
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "lars", [&] {
      larsKernel<scalar_t>(p.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), st.momentum.data_ptr<scalar_t>(), first,
                           p.numel(), options_, wd, !excluded);
    });
    ++st.step;
    return;
  }
  at::Tensor u = wd != 0 ? grad.add(p, wd) : grad;
  if (!excluded) {
    // Trust ratio as 0-d tensors (no device sync): eta*|p|/|u| when both norms are positive, else 1.
    const at::Tensor paramNorm = p.norm();
    const at::Tensor updateNorm = u.norm();
    const at::Tensor adapt = paramNorm.gt(0).logical_and(updateNorm.gt(0));
    const at::Tensor ratio =
        at::where(adapt, paramNorm.mul(options_.trustCoefficient).div(updateNorm), at::ones_like(paramNorm));
    u = u.mul(ratio);  // never in place: u may be the grad itself
  }
  if (!st.momentum.defined()) {
    st.momentum = u.clone();  // m starts at zero, so momentum*0 + u
  } else {
    st.momentum.mul_(options_.momentum).add_(u);
  }
  p.add_(st.momentum, -options_.lr);
  ++st.step;
}

void Optimizer::zeroGrad(bool setToNone) {
  at::NoGradGuard noGrad;
  for (auto& p : params_) {
    at::Tensor& g = p.mutable_grad();
    if (!g.defined()) continue;
    if (setToNone) g = at::Tensor();
    else g.zero_();
  }
}

void Optimizer::scaleGrads(double factor) {
  BYOL_EXPECT_RANGE(std::isfinite(factor), "factor: expected a finite number, received ", factor);
  at::NoGradGuard noGrad;
  for (auto& p : params_) {
    at::Tensor g = p.grad();
    if (g.defined()) g.mul_(factor);
  }
}

double Optimizer::clipGradNorm(double maxNorm) {
  const at::Tensor norm = clipGradNormLazily(maxNorm);
  return norm.defined() ? norm.item<double>() : 0.0;
}

at::Tensor Optimizer::clipGradNormLazily(double maxNorm) {
  BYOL_EXPECT_RANGE(maxNorm > 0, "maxNorm: expected a number > 0, received ", maxNorm);
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> norms;
  std::vector<at::Tensor> grads;
  for (auto& p : params_) {
    const at::Tensor g = p.grad();
    if (!g.defined()) continue;
    const at::Device device = grads.empty() ? g.device() : grads.front().device();
    norms.push_back(g.norm().to(device, at::kDouble));
    grads.push_back(g);
  }
  if (grads.empty()) return {};
  const at::Tensor total = at::stack(norms).norm();
  // As clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), applied only when it is below 1. A NaN or Inf
  // norm leaves the grads as they are (PyTorch would spread the NaN into them); the caller sees the norm.
  if (total.is_cpu()) {  // reading a CPU value costs nothing: skip the pass over the grads when not clipping
    const double norm = total.item<double>();
    const double coefficient = maxNorm / (norm + 1e-6);
    if (std::isfinite(norm) && coefficient < 1.0) {
      for (auto& g : grads) g.mul_(coefficient);
    }
  } else {
    const at::Tensor coefficient = maxNorm / (total + 1e-6);
    const at::Tensor scale = at::where(at::isfinite(total) & (coefficient < 1.0), coefficient, at::ones_like(total));
    for (auto& g : grads) g.mul_(scale);
  }
  return total;
}

NamedTensors Optimizer::state() const {
  NamedTensors out;
  out.emplace_back("steps", countTensor(steps_));
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& st = state_[i];
    const std::string prefix = std::to_string(i) + ".";
    out.emplace_back(prefix + "step", countTensor(st.step));
    if (st.momentum.defined()) out.emplace_back(prefix + "momentum_buffer", st.momentum.clone());
    if (st.expAvg.defined()) out.emplace_back(prefix + "exp_avg", st.expAvg.clone());
    if (st.expAvgSq.defined()) out.emplace_back(prefix + "exp_avg_sq", st.expAvgSq.clone());
  }
  return out;
}

void Optimizer::loadState(const NamedTensors& entries) {
  const bool adam = kind_ == OptimizerKind::Adam || kind_ == OptimizerKind::AdamW;
  std::vector<ParamState> next(params_.size());
  int64_t steps = 0;
  at::NoGradGuard noGrad;
  for (const auto& [name, t] : entries) {
    if (name == "steps") {
      steps = countFrom(name, t);
      continue;
    }
    size_t index = 0;
    std::string field;
    BYOL_EXPECT_RANGE(splitStateName(name, index, field), "state: unexpected entry '", name,
                      "'; expected 'steps' or '<index>.<field>'");
    BYOL_EXPECT_RANGE(index < params_.size(), "state: '", name, "': parameter index ", index,
                      " is out of range for ", params_.size(), " parameters");
    ParamState& st = next[index];
    if (field == "step") {
      st.step = countFrom(name, t);
      continue;
    }
    at::Tensor* slot = nullptr;
    if (field == "momentum_buffer" && !adam) slot = &st.momentum;
    if (field == "exp_avg" && adam) slot = &st.expAvg;
    if (field == "exp_avg_sq" && adam) slot = &st.expAvgSq;
    BYOL_EXPECT_RANGE(slot != nullptr, "state: unexpected entry '", name, "' for a ", optimizerKindName(kind_),
                      " optimizer");
    const at::Tensor& p = params_[index];
    BYOL_EXPECT_RANGE(t.defined() && t.sizes() == p.sizes(), "state: '", name, "': expected shape ", shapeOf(p),
                      " like the parameter, received ", t.defined() ? shapeOf(t) : std::string("undefined"));
    BYOL_EXPECT_TYPE(at::isFloatingType(t.scalar_type()), "state: '", name,
                     "': expected a floating-point tensor, received ", dtypeName(t.scalar_type()));
    at::Tensor copy = at::empty_like(p, at::MemoryFormat::Preserve);
    copy.copy_(t);
    *slot = copy;
  }
  for (size_t i = 0; i < next.size(); ++i) {
    BYOL_EXPECT_RANGE(next[i].expAvg.defined() == next[i].expAvgSq.defined(), "state: parameter ", i,
                      " has only one of exp_avg and exp_avg_sq");
  }
  state_ = std::move(next);
  steps_ = steps;
}

}  // namespace byol
