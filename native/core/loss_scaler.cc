#include "core/loss_scaler.h"

#include <cmath>

#include "core/errors.h"

namespace byol {

void LossScalerOptions::validate() const {
  BYOL_EXPECT_RANGE(std::isfinite(initialScale) && initialScale > 0,
                    "initialScale: expected a positive finite number, received ", initialScale);
  BYOL_EXPECT_RANGE(std::isfinite(growthFactor) && growthFactor > 1,
                    "growthFactor: expected a number above 1, received ", growthFactor);
  BYOL_EXPECT_RANGE(backoffFactor > 0 && backoffFactor < 1, "backoffFactor: expected a number in (0, 1), received ",
                    backoffFactor);
  BYOL_EXPECT_RANGE(growthInterval >= 1, "growthInterval: expected a positive integer, received ", growthInterval);
}

LossScaler::LossScaler(const LossScalerOptions& options) : options_(options), scale_(options.initialScale) {
  options.validate();
}

at::Tensor LossScaler::scale(const at::Tensor& loss) const { return loss * scale_; }

bool LossScaler::unscale(const std::vector<at::Tensor>& parameters) const {
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return true;
  const double inverse = 1.0 / scale_;
  const auto device = grads.front().device();
  bool sameDevice = true;
  for (const auto& g : grads) sameDevice = sameDevice && g.device() == device;
  if (device.is_cuda() && sameDevice) {
    // One fused kernel over every gradient: unscale and flag non-finite values (what GradScaler calls).
    const auto floatOn = at::TensorOptions().dtype(at::kFloat).device(device);
    at::Tensor foundInf = at::zeros({1}, floatOn);
    at::_amp_foreach_non_finite_check_and_unscale_(grads, foundInf, at::full({1}, inverse, floatOn));
    return foundInf.item<float>() == 0.0f;
  }
  std::vector<at::Tensor> finite;
  finite.reserve(grads.size());
  for (auto& g : grads) {
    g.mul_(inverse);
    finite.push_back(at::isfinite(g).all().to(at::kCPU));
  }
  return at::stack(finite).all().item<bool>();
}

void LossScaler::update(bool finite) {
  if (!finite) {
    scale_ *= options_.backoffFactor;
    finiteSteps_ = 0;
    return;
  }
  if (++finiteSteps_ >= options_.growthInterval) {
    const double grown = scale_ * options_.growthFactor;
    if (std::isfinite(grown)) scale_ = grown;
    finiteSteps_ = 0;
  }
}

void LossScaler::restore(double scale, int64_t finiteSteps) {
  BYOL_EXPECT_RANGE(std::isfinite(scale) && scale > 0, "lossScale: expected a positive finite number, received ",
                    scale);
  BYOL_EXPECT_RANGE(finiteSteps >= 0, "finiteSteps: expected a non-negative integer, received ", finiteSteps);
  scale_ = scale;
  finiteSteps_ = finiteSteps;
}

}  // namespace byol
