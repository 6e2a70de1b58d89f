// Basic layers for building an encoder of one's own, all as type-erased modules (torch::nn::AnyModule)
// with forward(Tensor) -> Tensor, so the BYOL learner can take any of them, not only ResNets.
// Each is Cloneable, so clone() deep-copies it (the target network).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace byol {

// A sequence of layers named "0", "1", ... (PyTorch's nn.Sequential key names) that, unlike
// torch::nn::Sequential, can itself be held in an AnyModule and nested.
class LayerSequenceImpl : public torch::nn::Cloneable<LayerSequenceImpl> {
 public:
  LayerSequenceImpl() = default;
  explicit LayerSequenceImpl(const std::vector<torch::nn::AnyModule>& layers);
  void reset() override {}
  std::shared_ptr<torch::nn::Module> clone(const torch::optional<torch::Device>& device = torch::nullopt) const override;
  void pretty_print(std::ostream& stream) const override { stream << "byol::LayerSequence"; }

  void push_back(torch::nn::AnyModule layer);
  at::Tensor forward(at::Tensor input);
  size_t size() const { return layers_.size(); }

 private:
  std::vector<torch::nn::AnyModule> layers_;
};
TORCH_MODULE(LayerSequence);

struct Conv2dSpec {
  int64_t inChannels = 0, outChannels = 0, kernelSize = 3, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};
torch::nn::AnyModule makeConv2d(const Conv2dSpec& spec);
torch::nn::AnyModule makeLinear(int64_t inFeatures, int64_t outFeatures, bool bias);
// spatialDims 1 or 2; a GroupBatchNorm (per-group statistics when groups > 1).
torch::nn::AnyModule makeBatchNorm(int64_t spatialDims, int64_t features, double eps, double momentum);
torch::nn::AnyModule makeReLU();
torch::nn::AnyModule makeMaxPool2d(int64_t kernelSize, int64_t stride, int64_t padding);
torch::nn::AnyModule makeAdaptiveAvgPool2d(int64_t outputHeight, int64_t outputWidth);
torch::nn::AnyModule makeFlatten(int64_t startDim, int64_t endDim);
torch::nn::AnyModule makeSequential(const std::vector<torch::nn::AnyModule>& layers);

}  // namespace byol
