#include "core/layers.h"

#include "core/errors.h"
#include "core/group_batch_norm.h"

namespace byol {

LayerSequenceImpl::LayerSequenceImpl(const std::vector<torch::nn::AnyModule>& layers) {
  for (const auto& layer : layers) push_back(layer);
}

void LayerSequenceImpl::push_back(torch::nn::AnyModule layer) {
  BYOL_EXPECT_TYPE(!layer.is_empty(), "sequential: expected a layer, received an empty module");
  register_module(std::to_string(layers_.size()), layer.ptr());
  layers_.push_back(std::move(layer));
}

std::shared_ptr<torch::nn::Module> LayerSequenceImpl::clone(const torch::optional<torch::Device>& device) const {
  auto copy = std::make_shared<LayerSequenceImpl>();
  for (const auto& layer : layers_) copy->push_back(layer.clone(device));
  copy->train(is_training());
  return copy;
}

at::Tensor LayerSequenceImpl::forward(at::Tensor input) {
  for (auto& layer : layers_) input = layer.forward<at::Tensor>(input);
  return input;
}

namespace {
void expectPositive(const char* layer, const char* name, int64_t value) {
  BYOL_EXPECT_RANGE(value >= 1, layer, ": ", name, ": expected a positive integer, received ", value);
}
}  // namespace

torch::nn::AnyModule makeConv2d(const Conv2dSpec& s) {
  expectPositive("conv2d", "inChannels", s.inChannels);
  expectPositive("conv2d", "outChannels", s.outChannels);
  expectPositive("conv2d", "kernelSize", s.kernelSize);
  expectPositive("conv2d", "stride", s.stride);
  expectPositive("conv2d", "dilation", s.dilation);
  expectPositive("conv2d", "groups", s.groups);
  BYOL_EXPECT_RANGE(s.padding >= 0, "conv2d: padding: expected a non-negative integer, received ", s.padding);
  BYOL_EXPECT_RANGE(s.inChannels % s.groups == 0 && s.outChannels % s.groups == 0,
                    "conv2d: groups: expected a divisor of inChannels and outChannels, received ", s.groups);
  return torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(s.inChannels, s.outChannels, s.kernelSize)
                                                    .stride(s.stride)
                                                    .padding(s.padding)
                                                    .dilation(s.dilation)
                                                    .groups(s.groups)
                                                    .bias(s.bias)));
}

torch::nn::AnyModule makeLinear(int64_t inFeatures, int64_t outFeatures, bool bias) {
  expectPositive("linear", "inFeatures", inFeatures);
  expectPositive("linear", "outFeatures", outFeatures);
  return torch::nn::AnyModule(torch::nn::Linear(torch::nn::LinearOptions(inFeatures, outFeatures).bias(bias)));
}

torch::nn::AnyModule makeBatchNorm(int64_t spatialDims, int64_t features, double eps, double momentum) {
  return torch::nn::AnyModule(
      GroupBatchNorm(GroupBatchNormOptions(spatialDims, features).eps(eps).momentum(momentum)));
}

torch::nn::AnyModule makeReLU() { return torch::nn::AnyModule(torch::nn::ReLU(torch::nn::ReLUOptions(true))); }

torch::nn::AnyModule makeMaxPool2d(int64_t kernelSize, int64_t stride, int64_t padding) {
  expectPositive("maxPool2d", "kernelSize", kernelSize);
  expectPositive("maxPool2d", "stride", stride);
  BYOL_EXPECT_RANGE(padding >= 0 && 2 * padding <= kernelSize,
                    "maxPool2d: padding: expected an integer in [0, kernelSize / 2], received ", padding);
  return torch::nn::AnyModule(
      torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(kernelSize).stride(stride).padding(padding)));
}

torch::nn::AnyModule makeAdaptiveAvgPool2d(int64_t outputHeight, int64_t outputWidth) {
  expectPositive("adaptiveAvgPool2d", "outputSize", outputHeight);
  expectPositive("adaptiveAvgPool2d", "outputSize", outputWidth);
  return torch::nn::AnyModule(
      torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({outputHeight, outputWidth})));
}

torch::nn::AnyModule makeFlatten(int64_t startDim, int64_t endDim) {
  return torch::nn::AnyModule(torch::nn::Flatten(torch::nn::FlattenOptions().start_dim(startDim).end_dim(endDim)));
}

torch::nn::AnyModule makeSequential(const std::vector<torch::nn::AnyModule>& layers) {
  return torch::nn::AnyModule(LayerSequence(layers));
}

}  // namespace byol
