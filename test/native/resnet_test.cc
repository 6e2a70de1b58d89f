#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "core/errors.h"
#include "core/group_batch_norm.h"
#include "core/layers.h"
#include "core/mlp.h"
#include "core/resnet.h"
#include "core/state_dict.h"
#include "test_util.h"

using byol::test::expectThrowContaining;
using byol::test::maxRelDiff;

namespace {

byol::TensorShapes shapesOf(const torch::nn::Module& m) {
  byol::TensorShapes shapes;
  for (const auto& [name, t] : byol::stateDict(m)) shapes[name] = t.sizes().vec();
  return shapes;
}

int64_t countParameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

TEST(ResNet, ParameterAndStateDictKeyCountsMatchTorchvision) {
  struct Expect {
    int64_t depth, params, keys;
  };
  for (const Expect e : {Expect{18, 11689512, 122}, Expect{34, 21797672, 218}, Expect{50, 25557032, 320},
                         Expect{101, 44549160, 626}, Expect{152, 60192808, 932}}) {
    byol::ResNet net(byol::ResNetOptions().depth(e.depth));
    EXPECT_EQ(countParameters(*net), e.params) << "resnet" << e.depth;
    EXPECT_EQ(static_cast<int64_t>(byol::stateDict(*net).size()), e.keys) << "resnet" << e.depth;
  }
}

TEST(ResNet, KeyNamesAndShapesFollowTorchvision) {
  byol::ResNet net(byol::ResNetOptions().depth(50));
  std::map<std::string, std::vector<int64_t>> shapes;
  std::vector<std::string> order;
  for (const auto& [name, t] : byol::stateDict(*net)) {
    shapes[name] = t.sizes().vec();
    order.push_back(name);
  }
  // torchvision's state_dict order begins like this.
  EXPECT_EQ(std::vector<std::string>(order.begin(), order.begin() + 7),
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                      "bn1.num_batches_tracked", "layer1.0.conv1.weight"}));
  EXPECT_EQ(order.back(), "fc.bias");
  EXPECT_EQ(shapes["conv1.weight"], (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(shapes["layer1.0.downsample.0.weight"], (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(shapes["layer1.0.downsample.1.running_var"], (std::vector<int64_t>{256}));
  // Bottleneck stride on the 3x3 conv: same shapes, but check the conv options.
  EXPECT_EQ(shapes["layer2.0.conv2.weight"], (std::vector<int64_t>{128, 128, 3, 3}));
  EXPECT_EQ(shapes["layer4.2.bn3.num_batches_tracked"], (std::vector<int64_t>{}));
  EXPECT_EQ(shapes["fc.weight"], (std::vector<int64_t>{1000, 2048}));
  auto block = net->layer2->ptr<byol::BottleneckImpl>(0);
  EXPECT_EQ((*block->conv2->options.stride())[0], 2);
  EXPECT_EQ((*block->conv1->options.stride())[0], 1);
  EXPECT_EQ((*block->downsample->ptr<torch::nn::Conv2dImpl>(0)->options.stride())[0], 2);
  EXPECT_EQ(shapes.count("layer2.3.downsample.0.weight"), 0u);
}

TEST(ResNet, InitialisationIsTorchvisions) {
  torch::manual_seed(0);
  byol::ResNet net(byol::ResNetOptions().depth(50).zero_init_residual(true));
  for (const auto& [name, t] : byol::stateDict(*net)) {
    if (t.dim() == 4) {
      const double fanOut = static_cast<double>(t.size(0) * t.size(2) * t.size(3));
      const double expected = std::sqrt(2.0 / fanOut);
      if (t.numel() >= 4096) {
        EXPECT_NEAR(t.std().item<double>() / expected, 1.0, 0.08) << name;
        EXPECT_NEAR(t.mean().item<double>() / expected, 0.0, 0.08) << name;
      }
    } else if (name.find("bn3.weight") != std::string::npos) {
      EXPECT_EQ(t.abs().max().item<double>(), 0.0) << name;  // zero-init residual
    } else if (name.find("bn") != std::string::npos || name.find("downsample.1") != std::string::npos) {
      if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
        EXPECT_TRUE(t.eq(1).all().item<bool>()) << name;
      }
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
        EXPECT_TRUE(t.eq(0).all().item<bool>()) << name;
      }
    }
  }
  byol::ResNet plain(byol::ResNetOptions().depth(18));
  EXPECT_TRUE(plain->layer1->ptr<byol::BasicBlockImpl>(0)->bn2->weight.eq(1).all().item<bool>());
  byol::ResNet zeroed(byol::ResNetOptions().depth(18).zero_init_residual(true));
  EXPECT_TRUE(zeroed->layer1->ptr<byol::BasicBlockImpl>(0)->bn2->weight.eq(0).all().item<bool>());
}

TEST(ResNet, ForwardShapesPerHiddenLayerStemAndChannels) {
  torch::NoGradGuard g;
  byol::ResNet net(byol::ResNetOptions().depth(18));
  net->eval();
  EXPECT_EQ(net->forward(torch::randn({2, 3, 64, 64})).sizes().vec(), (std::vector<int64_t>{2, 512}));
  net->setHiddenLayer("layer4");
  EXPECT_EQ(net->forward(torch::randn({2, 3, 64, 64})).sizes().vec(), (std::vector<int64_t>{2, 512, 2, 2}));
  net->setHiddenLayer("fc");
  EXPECT_EQ(net->forward(torch::randn({2, 3, 64, 64})).sizes().vec(), (std::vector<int64_t>{2, 1000}));
  net->setHiddenLayer("maxpool");
  EXPECT_EQ(net->forward(torch::randn({2, 3, 64, 64})).sizes().vec(), (std::vector<int64_t>{2, 64, 16, 16}));

  byol::ResNet small(byol::ResNetOptions().depth(18).small_stem(true).in_channels(1).classifier(false));
  small->eval();
  EXPECT_EQ(small->conv1->weight.sizes().vec(), (std::vector<int64_t>{64, 1, 3, 3}));
  EXPECT_EQ(small->layerNames(), (std::vector<std::string>{"conv1", "bn1", "relu", "layer1", "layer2", "layer3",
                                                            "layer4", "avgpool"}));
  small->setHiddenLayer("layer4");
  EXPECT_EQ(small->forward(torch::randn({2, 1, 28, 28})).sizes().vec(), (std::vector<int64_t>{2, 512, 4, 4}));
  EXPECT_EQ(byol::stateDict(*small).size(), 120u);  // no fc

  byol::ResNet r50(byol::ResNetOptions().depth(50).classifier(false));
  r50->eval();
  EXPECT_EQ(r50->forward(torch::randn({1, 3, 32, 32})).sizes().vec(), (std::vector<int64_t>{1, 2048}));
  EXPECT_EQ(countParameters(*r50), 25557032 - 2049000);
}

TEST(ResNet, BadInputsAreClearErrors) {
  byol::ResNet net(byol::ResNetOptions().depth(18));
  expectThrowContaining<byol::RangeError>([&] { net->forward(torch::randn({3, 64, 64})); },
                                          "resnet: input: expected a 4-d tensor [N, C, H, W], received shape [3, 64, 64]");
  expectThrowContaining<byol::RangeError>([&] { net->forward(torch::randn({2, 1, 64, 64})); },
                                          "resnet: input: expected 3 channels (dim 1), received shape [2, 1, 64, 64]");
  expectThrowContaining<byol::RangeError>([&] { net->forward(torch::randn({2, 3, 16, 64})); },
                                          "expected images of at least 32x32 pixels for this stem (smallStem: true accepts 8 px and up), received shape [2, 3, 16, 64]");
  expectThrowContaining<byol::RangeError>(
      [&] { net->setHiddenLayer("layer5"); },
      "resnet: hiddenLayer: expected one of 'conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', "
      "'avgpool', 'fc', received 'layer5'");
  expectThrowContaining<byol::RangeError>([&] { byol::ResNet(byol::ResNetOptions().depth(20)); },
                                          "resnet: depth: expected 18, 34, 50, 101 or 152, received 20");
  expectThrowContaining<byol::RangeError>(
      [&] { byol::ResNet(byol::ResNetOptions().depth(18).classifier(false).hidden_layer("fc")); }, "received 'fc'");
  // The failed setHiddenLayer left the network as it was.
  EXPECT_EQ(net->options.hidden_layer(), "avgpool");
}

TEST(ResNet, CloneIsADeepCopy) {
  torch::manual_seed(1);
  byol::ResNet net(byol::ResNetOptions().depth(18).small_stem(true));
  auto copy = std::dynamic_pointer_cast<byol::ResNetImpl>(net->clone());
  ASSERT_TRUE(copy);
  const auto a = byol::stateDict(*net), b = byol::stateDict(*copy);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(a[i].second.equal(b[i].second)) << a[i].first;
    if (a[i].second.numel() > 0) {
      EXPECT_NE(a[i].second.data_ptr(), b[i].second.data_ptr()) << a[i].first;
    }
  }
  // The copy's holders point at its own modules (forward uses the cloned weights).
  net->eval();
  copy->eval();
  at::Tensor x = torch::randn({2, 3, 32, 32});
  torch::NoGradGuard g;
  EXPECT_TRUE(net->forward(x).equal(copy->forward(x)));
  copy->layer1->ptr<byol::BasicBlockImpl>(0)->conv1->weight.mul_(2);
  copy->bn1->running_mean.add_(1);
  EXPECT_FALSE(net->forward(x).equal(copy->forward(x)));
  EXPECT_TRUE(net->bn1->running_mean.eq(0).all().item<bool>());
  // And an MLP and a layer sequence clone deeply too.
  byol::MLP mlp(byol::MLPOptions(8).hidden_size(16).out_features(4));
  auto mlpCopy = std::dynamic_pointer_cast<byol::MLPImpl>(mlp->clone());
  mlpCopy->net->ptr<torch::nn::LinearImpl>(0)->weight.add_(1);
  EXPECT_FALSE(mlp->net->ptr<torch::nn::LinearImpl>(0)->weight.equal(mlpCopy->net->ptr<torch::nn::LinearImpl>(0)->weight));
  auto seq = byol::makeSequential({byol::makeLinear(4, 3, true), byol::makeReLU()});
  auto seqCopy = seq.clone();
  seqCopy.ptr()->parameters()[0].add_(1);
  EXPECT_FALSE(seq.ptr()->parameters()[0].equal(seqCopy.ptr()->parameters()[0]));
}

TEST(ResNet, PerGroupBatchNormMatchesSeparateViewPasses) {
  // Two views concatenated through a ResNet with groups = 2 give the same representations and running
  // statistics as two separate passes (training mode).
  torch::manual_seed(5);
  byol::ResNet grouped(byol::ResNetOptions().depth(18).small_stem(true).classifier(false));
  auto separate = std::dynamic_pointer_cast<byol::ResNetImpl>(grouped->clone());
  EXPECT_EQ(byol::setBatchNormGroups(*grouped, 2), 20);
  at::Tensor v1 = torch::randn({3, 3, 16, 16}), v2 = torch::randn({3, 3, 16, 16}) * 2 + 0.5;
  at::Tensor both = grouped->forward(torch::cat({v1, v2}, 0));
  at::Tensor ref = torch::cat({separate->forward(v1), separate->forward(v2)}, 0);
  EXPECT_LT(maxRelDiff(both, ref), 1e-5);
  const auto a = byol::stateDict(*grouped), b = byol::stateDict(*separate);
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first.find("running") != std::string::npos) {
      EXPECT_LT(maxRelDiff(a[i].second, b[i].second), 1e-5) << a[i].first;
    }
    if (a[i].first.find("num_batches") != std::string::npos) {
      EXPECT_EQ(a[i].second.item<int64_t>(), 2);
    }
  }
  // With groups = 1 (whole-batch statistics) the result differs: the test can fail.
  byol::setBatchNormGroups(*grouped, 1);
  EXPECT_GT(maxRelDiff(grouped->forward(torch::cat({v1, v2}, 0)), ref), 1e-3);
}

TEST(ResNet, ChannelsLastGivesTheSameOutputs) {
  torch::manual_seed(2);
  byol::ResNet net(byol::ResNetOptions().depth(50));
  net->eval();
  torch::NoGradGuard g;
  at::Tensor x = torch::randn({2, 3, 32, 32});
  at::Tensor ref = net->forward(x);
  for (auto& p : net->parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  at::Tensor y = net->forward(x.contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_LT(maxRelDiff(y, ref), 1e-4);
}

TEST(ResNet, InferredFromTheStateDictOfEveryDepthStemChannelsAndClassifier) {
  std::vector<byol::ResNetOptions> variants;
  for (const int64_t depth : {18, 34, 50, 101, 152}) {
    variants.push_back(byol::ResNetOptions().depth(depth));  // torchvision's defaults: 3 channels, fc to 1000
    variants.push_back(byol::ResNetOptions().depth(depth).in_channels(1).small_stem(true).classifier(false));
  }
  variants.push_back(byol::ResNetOptions().depth(18).small_stem(true).num_classes(10));
  variants.push_back(byol::ResNetOptions().depth(50).in_channels(4).classifier(false));
  for (const auto& built : variants) {
    byol::ResNet net(built);
    const byol::TensorShapes shapes = shapesOf(*net);
    const auto inferred = byol::inferResNet(shapes);
    ASSERT_TRUE(inferred.has_value()) << *net;
    EXPECT_EQ(inferred->depth(), built.depth()) << *net;
    EXPECT_EQ(inferred->in_channels(), built.in_channels()) << *net;
    EXPECT_EQ(inferred->small_stem(), built.small_stem()) << *net;
    EXPECT_EQ(inferred->classifier(), built.classifier()) << *net;
    if (built.classifier()) {
      EXPECT_EQ(inferred->num_classes(), built.num_classes()) << *net;
    }
    // What was inferred builds the same state dict: every name with its shape.
    if (built.depth() <= 50) {
      EXPECT_EQ(shapesOf(*byol::ResNet(*inferred)), shapes) << *net;
    }
  }
}

TEST(ResNet, InferenceSaysNoneForWhatIsNoResNet) {
  EXPECT_FALSE(byol::inferResNet({}).has_value());
  EXPECT_FALSE(byol::inferResNet(shapesOf(*byol::MLP(byol::MLPOptions(64).hidden_size(32).out_features(16)))).has_value());
  const byol::TensorShapes resnet18 = shapesOf(*byol::ResNet(byol::ResNetOptions().depth(18)));
  ASSERT_TRUE(byol::inferResNet(resnet18).has_value());
  auto without = [&](const std::string& prefix) {
    byol::TensorShapes s;
    for (const auto& [name, shape] : resnet18) if (name.rfind(prefix, 0) != 0) s[name] = shape;
    return s;
  };
  // A stage with a block of no depth's layout (2, 2, 1, 2), a missing stage, no stem.
  EXPECT_FALSE(byol::inferResNet(without("layer3.1.")).has_value());
  EXPECT_FALSE(byol::inferResNet(without("layer4.")).has_value());
  EXPECT_FALSE(byol::inferResNet(without("conv1.")).has_value());
  // A stem that is no ResNet's (5x5 kernel, not 4-d), an fc that is not a matrix.
  auto with = [&](const std::string& name, std::vector<int64_t> shape) {
    byol::TensorShapes s = resnet18;
    s[name] = std::move(shape);
    return s;
  };
  EXPECT_FALSE(byol::inferResNet(with("conv1.weight", {64, 3, 5, 5})).has_value());
  EXPECT_FALSE(byol::inferResNet(with("conv1.weight", {64, 3, 7})).has_value());
  EXPECT_FALSE(byol::inferResNet(with("fc.weight", {1000})).has_value());
  // Bottleneck blocks (a conv3) in ResNet-18's 2, 2, 2, 2 layout: no torchvision ResNet.
  EXPECT_FALSE(byol::inferResNet(with("layer1.0.conv3.weight", {64, 64, 1, 1})).has_value());
}

TEST(MLP, ShapesKeysAndBadInput) {
  byol::MLP mlp(byol::MLPOptions(2048));
  std::vector<std::string> keys;
  for (const auto& [name, t] : byol::stateDict(*mlp)) keys.push_back(name);
  EXPECT_EQ(keys, (std::vector<std::string>{"net.0.weight", "net.0.bias", "net.1.weight", "net.1.bias",
                                            "net.1.running_mean", "net.1.running_var", "net.1.num_batches_tracked",
                                            "net.3.weight", "net.3.bias"}));
  EXPECT_EQ(countParameters(*mlp), 2048 * 4096 + 4096 + 2 * 4096 + 4096 * 256 + 256);
  EXPECT_EQ(mlp->forward(torch::randn({4, 2048})).sizes().vec(), (std::vector<int64_t>{4, 256}));
  expectThrowContaining<byol::RangeError>([&] { mlp->forward(torch::randn({4, 100})); },
                                          "mlp: input: expected a tensor [N, 2048], received shape [4, 100]");
  // Per-group BN in the head too.
  EXPECT_EQ(byol::setBatchNormGroups(*mlp, 2), 1);
  expectThrowContaining<byol::RangeError>([&] { mlp->forward(torch::randn({3, 2048})); }, "equal groups");
}

TEST(Layers, SequentialOfBasicLayersIsAnEncoder) {
  auto enc = byol::makeSequential({byol::makeConv2d({1, 8, 3, 1, 1}), byol::makeBatchNorm(2, 8, 1e-5, 0.1),
                                   byol::makeReLU(), byol::makeMaxPool2d(2, 2, 0), byol::makeAdaptiveAvgPool2d(1, 1),
                                   byol::makeFlatten(1, -1), byol::makeLinear(8, 5, true)});
  at::Tensor y = enc.forward<at::Tensor>(torch::randn({4, 1, 8, 8}));
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{4, 5}));
  std::vector<std::string> keys;
  for (const auto& [name, t] : byol::stateDict(*enc.ptr())) keys.push_back(name);
  EXPECT_EQ(keys.front(), "0.weight");
  EXPECT_EQ(keys.back(), "6.bias");
  EXPECT_EQ(keys.size(), 2u + 5u + 2u);
  expectThrowContaining<byol::RangeError>([] { byol::makeConv2d({0, 8, 3}); }, "conv2d: inChannels: expected a positive integer, received 0");
}
