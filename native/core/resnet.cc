#include "core/resnet.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/tensor_checks.h"

namespace byol {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

// Kaiming normal, mode fan_out, nonlinearity relu: std = sqrt(2 / (out_channels * kh * kw)).
void kaimingFanOut(nn::Conv2dImpl& c) {
  torch::NoGradGuard noGrad;
  const auto& w = c.weight;
  const double fanOut = static_cast<double>(w.size(0) * w.size(2) * w.size(3));
  w.normal_(0.0, std::sqrt(2.0 / fanOut));
}

nn::Sequential downsampleIfNeeded(int64_t inPlanes, int64_t outPlanes, int64_t stride) {
  if (stride == 1 && inPlanes == outPlanes) return nn::Sequential(nullptr);
  nn::Sequential seq;
  seq->push_back(conv(inPlanes, outPlanes, 1, stride, 0));
  seq->push_back(groupBatchNorm2d(outPlanes));
  return seq;
}

// torchvision's ResNets: block kind and blocks per stage. The one table both building (archOf) and
// inference from a state dict (inferResNet) read.
struct Layout {
  int64_t depth;
  bool bottleneck;
  int64_t blocks[4];
};

constexpr Layout kLayouts[] = {
    {18, false, {2, 2, 2, 2}},  {34, false, {3, 4, 6, 3}},   {50, true, {3, 4, 6, 3}},
    {101, true, {3, 4, 23, 3}}, {152, true, {3, 8, 36, 3}},
};

const Layout* findLayout(int64_t depth) {
  for (const Layout& layout : kLayouts) {
    if (layout.depth == depth) return &layout;
  }
  return nullptr;
}

const Layout& archOf(int64_t depth) {
  const Layout* layout = findLayout(depth);
  if (!layout) throw RangeError(message("resnet: depth: expected 18, 34, 50, 101 or 152, received ", depth));
  return *layout;
}

}  // namespace

bool isResNetDepth(int64_t depth) { return findLayout(depth) != nullptr; }

std::optional<ResNetOptions> inferResNet(const TensorShapes& shapes) {
  const auto conv1 = shapes.find("conv1.weight");
  if (conv1 == shapes.end()) return std::nullopt;
  const std::vector<int64_t>& stem = conv1->second;
  // The options chosen here size the model the caller builds before loading: only sizes the file backs with a
  // tensor of exactly the model's shape (conv1.weight [64, in_channels, k, k], fc.weight [classes, features]).
  if (stem.size() != 4 || stem[0] != 64 || stem[1] < 1 || stem[2] != stem[3] || (stem[2] != 3 && stem[2] != 7)) {
    return std::nullopt;
  }
  const bool bottleneck = shapes.count("layer1.0.conv3.weight") > 0;
  int64_t blocks[4];
  for (int stage = 0; stage < 4; ++stage) {
    const std::string prefix = "layer" + std::to_string(stage + 1) + ".";
    int64_t n = 0;
    while (shapes.count(prefix + std::to_string(n) + ".conv1.weight")) ++n;
    blocks[stage] = n;
  }
  for (const Layout& layout : kLayouts) {
    if (layout.bottleneck != bottleneck || !std::equal(blocks, blocks + 4, layout.blocks)) continue;
    ResNetOptions options;
    options.depth(layout.depth).in_channels(stem[1]).small_stem(stem[2] == 3);
    const auto fc = shapes.find("fc.weight");
    options.classifier(fc != shapes.end());
    if (fc != shapes.end()) {
      const int64_t features = layout.bottleneck ? 2048 : 512;
      if (fc->second.size() != 2 || fc->second[0] < 1 || fc->second[1] != features) return std::nullopt;
      options.num_classes(fc->second[0]);
    }
    return options;
  }
  return std::nullopt;
}

// ---- blocks ------------------------------------------------------------------------------------------

BasicBlockImpl::BasicBlockImpl(int64_t inPlanes_, int64_t planes_, int64_t stride_)
    : inPlanes(inPlanes_), planes(planes_), stride(stride_) {
  reset();
}

void BasicBlockImpl::reset() {
  conv1 = register_module("conv1", conv(inPlanes, planes, 3, stride, 1));
  bn1 = register_module("bn1", groupBatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", groupBatchNorm2d(planes));
  downsample = downsampleIfNeeded(inPlanes, planes * kExpansion, stride);
  if (downsample) register_module("downsample", downsample);
}

at::Tensor BasicBlockImpl::forward(at::Tensor x) {
  at::Tensor identity = downsample ? downsample->forward(x) : x;
  at::Tensor out = bn1(conv1(x)).relu_();
  out = bn2(conv2(out));
  return torch::relu_(out.add_(identity));
}

BottleneckImpl::BottleneckImpl(int64_t inPlanes_, int64_t planes_, int64_t stride_)
    : inPlanes(inPlanes_), planes(planes_), stride(stride_) {
  reset();
}

void BottleneckImpl::reset() {
  conv1 = register_module("conv1", conv(inPlanes, planes, 1, 1, 0));
  bn1 = register_module("bn1", groupBatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", groupBatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * kExpansion, 1, 1, 0));
  bn3 = register_module("bn3", groupBatchNorm2d(planes * kExpansion));
  downsample = downsampleIfNeeded(inPlanes, planes * kExpansion, stride);
  if (downsample) register_module("downsample", downsample);
}

at::Tensor BottleneckImpl::forward(at::Tensor x) {
  at::Tensor identity = downsample ? downsample->forward(x) : x;
  at::Tensor out = bn1(conv1(x)).relu_();
  out = bn2(conv2(out)).relu_();
  out = bn3(conv3(out));
  return torch::relu_(out.add_(identity));
}

// ---- the network -------------------------------------------------------------------------------------

ResNetImpl::ResNetImpl(const ResNetOptions& options_) : options(options_) {
  archOf(options.depth());  // validates
  BYOL_EXPECT_RANGE(options.in_channels() >= 1 && options.in_channels() <= 64,
                    "resnet: inChannels: expected an integer in [1, 64] (1 grayscale, 3 RGB), received ",
                    options.in_channels());
  BYOL_EXPECT_RANGE(!options.classifier() || options.num_classes() >= 1,
                    "resnet: numClasses: expected a positive integer, received ", options.num_classes());
  reset();
}

void ResNetImpl::reset() {
  const Layout& arch = archOf(options.depth());
  const int64_t expansion = arch.bottleneck ? BottleneckImpl::kExpansion : BasicBlockImpl::kExpansion;
  names_.clear();
  if (options.small_stem()) {
    conv1 = register_module("conv1", conv(options.in_channels(), 64, 3, 1, 1));
  } else {
    conv1 = register_module("conv1", conv(options.in_channels(), 64, 7, 2, 3));
  }
  bn1 = register_module("bn1", groupBatchNorm2d(64));
  relu = register_module("relu", nn::ReLU(nn::ReLUOptions(true)));
  names_ = {"conv1", "bn1", "relu"};
  if (!options.small_stem()) {
    maxpool = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    names_.push_back("maxpool");
  } else {
    maxpool = nn::MaxPool2d(nullptr);
  }
  int64_t inPlanes = 64;
  nn::Sequential* stages[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = 64 << stage;
    nn::Sequential seq;
    for (int64_t b = 0; b < arch.blocks[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      if (arch.bottleneck) {
        seq->push_back(Bottleneck(inPlanes, planes, stride));
      } else {
        seq->push_back(BasicBlock(inPlanes, planes, stride));
      }
      inPlanes = planes * expansion;
    }
    const std::string name = "layer" + std::to_string(stage + 1);
    *stages[stage] = register_module(name, seq);
    names_.push_back(name);
  }
  avgpool = register_module("avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({1, 1})));
  names_.push_back("avgpool");
  if (options.classifier()) {
    fc = register_module("fc", nn::Linear(512 * expansion, options.num_classes()));
    names_.push_back("fc");
  } else {
    fc = nn::Linear(nullptr);
  }

  // torchvision's initialisation: convs Kaiming normal (fan_out, relu), BN weight 1 bias 0 (the
  // GroupBatchNorm default), optionally the last BN of each block zero; fc keeps nn.Linear's default.
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* c = dynamic_cast<nn::Conv2dImpl*>(m.get())) kaimingFanOut(*c);
  }
  if (options.zero_init_residual()) {
    torch::NoGradGuard noGrad;
    for (const auto& m : modules(/*include_self=*/false)) {
      if (auto* b = dynamic_cast<BottleneckImpl*>(m.get())) b->bn3->weight.zero_();
      if (auto* b = dynamic_cast<BasicBlockImpl*>(m.get())) b->bn2->weight.zero_();
    }
  }
  setHiddenLayer(options.hidden_layer());
}

void ResNetImpl::setHiddenLayer(const std::string& name) {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end()) {
    std::string valid;
    for (size_t i = 0; i < names_.size(); ++i) valid += (i ? ", '" : "'") + names_[i] + "'";
    throw RangeError(message("resnet: hiddenLayer: expected one of ", valid, ", received '", name, "'"));
  }
  options.hidden_layer(name);
  hiddenIndex_ = static_cast<size_t>(it - names_.begin());
}

int64_t ResNetImpl::featureSize() const {
  return archOf(options.depth()).bottleneck ? 2048 : 512;
}

void ResNetImpl::pretty_print(std::ostream& stream) const {
  stream << "byol::ResNet" << options.depth() << "(inChannels=" << options.in_channels()
         << ", smallStem=" << options.small_stem() << ", classifier=" << options.classifier()
         << ", hiddenLayer=" << options.hidden_layer() << ")";
}

void ResNetImpl::checkInput(const at::Tensor& x) const {
  BYOL_EXPECT_RANGE(x.dim() == 4, "resnet: input: expected a 4-d tensor [N, C, H, W], received shape ", shapeOf(x));
  BYOL_EXPECT_RANGE(x.size(1) == options.in_channels(), "resnet: input: expected ", options.in_channels(),
                    " channels (dim 1), received shape ", shapeOf(x));
  BYOL_EXPECT_RANGE(x.size(0) >= 1, "resnet: input: expected a non-empty batch, received shape ", shapeOf(x));
  const int64_t minSize = minImageSize();
  BYOL_EXPECT_RANGE(x.size(2) >= minSize && x.size(3) >= minSize, "resnet: input: expected images of at least ",
                    minSize, "x", minSize, " pixels for this stem",
                    options.small_stem() ? "" : " (smallStem: true accepts 8 px and up)", ", received shape ",
                    shapeOf(x));
  BYOL_EXPECT_TYPE(at::isFloatingType(x.scalar_type()),
                   "resnet: input: expected a floating-point tensor, received dtype ", x.scalar_type());
}

at::Tensor ResNetImpl::forward(at::Tensor x) {
  checkInput(x);
  for (size_t i = 0; i <= hiddenIndex_; ++i) {
    const std::string& name = names_[i];
    if (name == "conv1") x = conv1(x);
    else if (name == "bn1") x = bn1(x);
    else if (name == "relu") x = relu(x);
    else if (name == "maxpool") x = maxpool(x);
    else if (name == "layer1") x = layer1->forward(x);
    else if (name == "layer2") x = layer2->forward(x);
    else if (name == "layer3") x = layer3->forward(x);
    else if (name == "layer4") x = layer4->forward(x);
    else if (name == "avgpool") x = torch::flatten(avgpool(x), 1);
    else if (name == "fc") x = fc(x);
  }
  return x;
}

}  // namespace byol
