// Optimizers over a list of parameter tensors: SGD (momentum, dampening, Nesterov), Adam, AdamW and LARS
// (the BYOL paper's). One step() updates the whole list in one native call; per-parameter state (momentum
// buffers, Adam moments, step counts) lives here and is exported/imported as named tensors for checkpoints.
//
// The update rules, exactly (g = p.grad, wd = weightDecay; "excluded" parameters get wd = 0 in every kind
// and, for LARS, no trust-ratio adaptation):
//
//   SGD (torch.optim.SGD):  d = g + wd*p
//                           momentum > 0:  b = d on the first step, else b = momentum*b + (1 - dampening)*d
//                                          d = nesterov ? d + momentum*b : b
//                           p -= lr*d
//   Adam (torch.optim.Adam): t += 1;  g' = g + wd*p
//                           m = beta1*m + (1 - beta1)*g';   v = beta2*v + (1 - beta2)*g'^2
//                           p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//   AdamW (torch.optim.AdamW): p *= 1 - lr*wd  (decoupled), then Adam's rule with g' = g
//   LARS (DeepMind byol/utils/optimizers.py: add_weight_decay -> scale_by_lars -> scale by -lr):
//                           u = g + wd*p                                  (u = g when excluded)
//                           r = eta*||p||/||u|| if ||p|| > 0 and ||u|| > 0, else 1   (r = 1 when excluded)
//                           m = momentum*m + r*u        (m starts at zero)
//                           p -= lr*m
//
// Parameters whose grad is undefined are skipped (no state change, their step count does not advance), as
// in PyTorch. Updates run under NoGradGuard. Gradient accumulation: backward k micro-batches (autograd sums
// the grads), scaleGrads(1/k), then step() once; or step every k micro-batches with a k-times smaller lr.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/named_tensors.h"

namespace byol {

enum class OptimizerKind { SGD, Adam, AdamW, LARS };

// "sgd", "adam", "adamw", "lars" (case-sensitive); TypeError for anything else.
OptimizerKind parseOptimizerKind(const std::string& name);
const char* optimizerKindName(OptimizerKind kind);

struct OptimizerOptions {
  double lr = 1e-3;
  double weightDecay = 0;
  // SGD and LARS
  double momentum = 0;
  double dampening = 0;  // SGD only
  bool nesterov = false;  // SGD only
  // Adam and AdamW
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // LARS
  double trustCoefficient = 1e-3;
  // Not a hyperparameter: update dense float32/float64 CPU parameters in one fused pass over memory (the same
  // rule, rounded per element instead of per ATen op). Off: only ATen ops (what CUDA and other cases use).
  bool fused = true;
};

// Throws byol::RangeError naming the first option out of range for `kind`.
void validateOptimizerOptions(OptimizerKind kind, const OptimizerOptions& options);
// lr: a finite number >= 0.
void validateLearningRate(double lr);


class Optimizer {
 public:
  // `excluded[i]` (optional: empty means none) marks params[i] as exempt from weight decay and from the LARS
  // adaptation (biases and BatchNorm parameters in BYOL). Params must be distinct floating-point leaves.
  Optimizer(OptimizerKind kind, OptimizerOptions options, std::vector<at::Tensor> params,
            std::vector<bool> excluded = {});

  // One update of every parameter that has a grad, with the options' lr.
  void step();
  // The same with `lr` for this step (also becomes the options' lr).
  void step(double lr);

  // Zeroes every defined grad in place, or drops them (grad = undefined) with setToNone.
  void zeroGrad(bool setToNone = false);
  // Multiplies every defined grad by `factor` (gradient accumulation: 1/k after k micro-batches).
  void scaleGrads(double factor);
  // torch.nn.utils.clip_grad_norm_: the global L2 norm of all grads; when it exceeds maxNorm, every grad is
  // scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping (NaN/Inf stay visible; a non-finite
  // norm leaves the grads untouched).
  double clipGradNorm(double maxNorm);
  // The same without reading the norm back to the host: on a GPU the decision to scale is a tensor op, so the
  // stream never waits. Returns the norm as a 0-dim float64 tensor on the grads' device (undefined: no grads).
  at::Tensor clipGradNormLazily(double maxNorm);

  double lr() const { return options_.lr; }
  void setLr(double lr);
  OptimizerKind kind() const { return kind_; }
  const OptimizerOptions& options() const { return options_; }
  const std::vector<at::Tensor>& params() const { return params_; }
  const std::vector<bool>& excluded() const { return excluded_; }
  // Number of step() calls.
  int64_t steps() const { return steps_; }

  // The state as named tensors (copies): "<i>.step" (float64 scalar, updates of params[i]),
  // "<i>.momentum_buffer" (SGD/LARS), "<i>.exp_avg" and "<i>.exp_avg_sq" (Adam/AdamW), and "steps"
  // (float64 scalar, step() calls). Buffers not yet created are absent.
  NamedTensors state() const;
  // Replaces the whole state with `state` (as state() made it; entries are copied). Throws RangeError for an
  // unknown name, an index out of range, or a shape that does not match the parameter; nothing changes then.
  void loadState(const NamedTensors& state);

 private:
  struct ParamState {
    int64_t step = 0;
    at::Tensor momentum;  // SGD/LARS buffer
    at::Tensor expAvg;    // Adam m
    at::Tensor expAvgSq;  // Adam v
  };
  void updateSGD(size_t i, const at::Tensor& grad);
  void updateAdam(size_t i, const at::Tensor& grad);
  void updateLARS(size_t i, const at::Tensor& grad);
  // Whether params_[i], `grad` and the given state tensors can take the fused CPU kernels.
  bool fusable(size_t i, const at::Tensor& grad, std::initializer_list<const at::Tensor*> state) const;

  OptimizerKind kind_;
  OptimizerOptions options_;
  std::vector<at::Tensor> params_;
  std::vector<bool> excluded_;
  std::vector<ParamState> state_;
  int64_t steps_ = 0;
};

}  // namespace byol
