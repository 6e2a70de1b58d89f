// The projector / predictor head of BYOL: Linear(in, hidden) -> BatchNorm1d(hidden) -> ReLU ->
// Linear(hidden, out), both Linears with bias (as byol-pytorch). Children live in `net` as
// net.0 ... net.3, byol-pytorch's key names. The BatchNorm is a GroupBatchNorm (per-view statistics
// over concatenated views when groups > 1).
#pragma once

#include <torch/torch.h>

#include "core/group_batch_norm.h"

namespace byol {

struct MLPOptions {
  // The paper's and byol-pytorch's sizes: the defaults of every projector and predictor (LearnerOptions too).
  static constexpr int64_t kDefaultHiddenSize = 4096;
  static constexpr int64_t kDefaultOutFeatures = 256;
  explicit MLPOptions(int64_t inFeatures) : in_features_(inFeatures) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, hidden_size) = kDefaultHiddenSize;
  TORCH_ARG(int64_t, out_features) = kDefaultOutFeatures;
};

class MLPImpl : public torch::nn::Cloneable<MLPImpl> {
 public:
  explicit MLPImpl(const MLPOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  at::Tensor forward(const at::Tensor& x);

  MLPOptions options;
  // Only `net` is kept: clone() replaces the contents of direct children, so holders of grandchildren
  // would go stale in a copy.
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(MLP);

}  // namespace byol
