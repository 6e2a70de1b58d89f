// ResNet-18/34/50/101/152 with torchvision's module tree: the same child names, parameter and buffer
// names, shapes and initialisation, so state dicts load both ways (see safetensors.h / state_dict.h).
// BatchNorms are GroupBatchNorms (groups = 1 is plain BN), so two concatenated views can be
// normalised per view.
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/group_batch_norm.h"

namespace byol {

struct ResNetOptions {
  // 18, 34 (BasicBlock) or 50, 101, 152 (Bottleneck, stride on the 3x3 conv as torchvision).
  TORCH_ARG(int64_t, depth) = 50;
  TORCH_ARG(int64_t, in_channels) = 3;
  // 3x3 stride-1 conv1 and no max-pool, for 28-32 px images (CIFAR-style).
  TORCH_ARG(bool, small_stem) = false;
  // Keep the final fc layer (as torchvision; its keys are then part of the state dict).
  TORCH_ARG(bool, classifier) = true;
  TORCH_ARG(int64_t, num_classes) = 1000;
  // The child whose output forward() returns: conv1, bn1, relu, maxpool, layer1..4, avgpool (flattened
  // to [N, C]) or fc.
  TORCH_ARG(std::string, hidden_layer) = "avgpool";
  // Zero-initialise the last BN of each residual block (torchvision's zero_init_residual).
  TORCH_ARG(bool, zero_init_residual) = false;
};

class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t inPlanes, int64_t planes, int64_t stride);
  void reset() override;
  at::Tensor forward(at::Tensor x);

  int64_t inPlanes, planes, stride;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  GroupBatchNorm bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t inPlanes, int64_t planes, int64_t stride);
  void reset() override;
  at::Tensor forward(at::Tensor x);

  int64_t inPlanes, planes, stride;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  GroupBatchNorm bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  explicit ResNetImpl(const ResNetOptions& options = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  // Runs the network up to options.hidden_layer and returns that child's output.
  at::Tensor forward(at::Tensor x);

  // Children in order, as hidden_layer may name them.
  const std::vector<std::string>& layerNames() const { return names_; }
  // Width of the avgpool output (512 or 2048).
  int64_t featureSize() const;
  // Smallest input height/width accepted (the stem's and stages' total stride).
  int64_t minImageSize() const { return options.small_stem() ? 8 : 32; }
  void setHiddenLayer(const std::string& name);

  ResNetOptions options;
  torch::nn::Conv2d conv1{nullptr};
  GroupBatchNorm bn1{nullptr};
  torch::nn::ReLU relu{nullptr};
  torch::nn::MaxPool2d maxpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  void checkInput(const at::Tensor& x) const;
  std::vector<std::string> names_;
  size_t hiddenIndex_ = 0;
};
TORCH_MODULE(ResNet);

// The valid depths, for messages: "18, 34, 50, 101 or 152".
bool isResNetDepth(int64_t depth);

// Tensor names and shapes of a state dict (a safetensors header's, or a module's).
using TensorShapes = std::map<std::string, std::vector<int64_t>>;

// The torchvision ResNet whose state dict these names and shapes are: depth (from the block kind and the
// blocks per stage, the same layout table that builds the networks), in_channels and small_stem (from
// conv1.weight), classifier and num_classes (from fc.weight); hidden_layer and zero_init_residual keep
// their defaults. std::nullopt when they are no ResNet's (no 4-d conv1.weight with a 3x3 or 7x7 kernel,
// or a layout of no depth). Reads names and shapes only; loading the weights checks every tensor.
std::optional<ResNetOptions> inferResNet(const TensorShapes& shapes);

}  // namespace byol
