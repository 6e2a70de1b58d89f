// Dynamic loss scaling for float16 training, with torch.cuda.amp.GradScaler's rule and defaults: the loss is
// multiplied by `scale` before backward so that small gradients do not underflow float16; before the optimizer
// the gradients are divided back and checked. A non-finite gradient skips that optimizer step and halves the
// scale; `growthInterval` finite steps in a row double it.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace byol {

struct LossScalerOptions {
  double initialScale = 65536.0;
  double growthFactor = 2.0;
  double backoffFactor = 0.5;
  int64_t growthInterval = 2000;
  // RangeError naming the first option out of range.
  void validate() const;
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerOptions& options = {});

  // loss * scale.
  at::Tensor scale(const at::Tensor& loss) const;
  // Divides the gradients of `parameters` by the scale in place and returns whether all are finite. It reads
  // one flag from the device: whether to step is the host's decision, so an fp16 step synchronises once (as
  // GradScaler's step() does); bf16 and fp32 steps never do.
  bool unscale(const std::vector<at::Tensor>& parameters) const;
  // The scale for the next step, after a step whose gradients were `finite` or not.
  void update(bool finite);

  double value() const { return scale_; }
  // Steps since the scale last changed (the growth tracker); with value(), the scaler's whole state.
  int64_t finiteSteps() const { return finiteSteps_; }
  void restore(double scale, int64_t finiteSteps);

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t finiteSteps_ = 0;
};

}  // namespace byol
