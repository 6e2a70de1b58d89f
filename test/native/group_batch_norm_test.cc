#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/errors.h"
#include "core/group_batch_norm.h"
#include "test_util.h"

using byol::test::expectThrowContaining;
using byol::test::maxRelDiff;

namespace {

// Randomises the affine parameters so a swapped weight/bias would show.
void randomiseAffine(byol::GroupBatchNorm& bn) {
  torch::NoGradGuard g;
  bn->weight.uniform_(0.5, 1.5);
  bn->bias.normal_(0, 0.3);
}

// G per-group passes through `separate` vs one grouped pass through `grouped` (same initial state):
// outputs, running statistics, counters and gradients agree to float32 rounding.
void compareWithSeparatePasses(int64_t spatialDims, std::vector<int64_t> shape, int64_t groups, bool channelsLast) {
  torch::manual_seed(7);
  const int64_t c = shape[1];
  auto grouped = byol::GroupBatchNorm(byol::GroupBatchNormOptions(spatialDims, c).groups(groups));
  randomiseAffine(grouped);
  auto separate = std::dynamic_pointer_cast<byol::GroupBatchNormImpl>(grouped->clone());
  separate->setGroups(1);
  at::Tensor x = torch::randn(shape) * 3 + 1;
  if (channelsLast) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  for (int step = 0; step < 3; ++step) {  // several steps: the running statistics compound
    at::Tensor xa = x.detach().clone().requires_grad_(true);
    at::Tensor xb = x.detach().clone().requires_grad_(true);
    at::Tensor y = grouped(xa);
    std::vector<at::Tensor> parts;
    for (const auto& part : xb.chunk(groups, 0)) parts.push_back(separate->forward(part));
    at::Tensor ySep = at::cat(parts, 0);
    EXPECT_LT(maxRelDiff(y, ySep), 1e-6);
    // A channels-last activation stays channels-last (else the next convolution would convert it back).
    if (channelsLast) {
      EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
    }
    // The groups really are normalised separately: each group has mean ~bias, not just the whole batch.
    const at::Tensor gradOut = torch::randn(shape);
    (y * gradOut).sum().backward();
    (ySep * gradOut).sum().backward();
    EXPECT_LT(maxRelDiff(xa.grad(), xb.grad()), 1e-5);
    EXPECT_LT(maxRelDiff(grouped->weight.grad(), separate->weight.grad()), 1e-5);
    EXPECT_LT(maxRelDiff(grouped->bias.grad(), separate->bias.grad()), 1e-5);
    EXPECT_LT(maxRelDiff(grouped->running_mean, separate->running_mean), 1e-6);
    EXPECT_LT(maxRelDiff(grouped->running_var, separate->running_var), 1e-6);
    EXPECT_EQ(grouped->num_batches_tracked.item<int64_t>(), (step + 1) * groups);
    EXPECT_EQ(separate->num_batches_tracked.item<int64_t>(), (step + 1) * groups);
    x = x * 0.5 + torch::randn(shape).contiguous(channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  }
}

}  // namespace

TEST(GroupBatchNorm, TwoGroups2dMatchSeparatePasses) { compareWithSeparatePasses(2, {8, 5, 6, 7}, 2, false); }
TEST(GroupBatchNorm, ThreeGroups2dChannelsLastMatchSeparatePasses) { compareWithSeparatePasses(2, {9, 4, 5, 5}, 3, true); }
TEST(GroupBatchNorm, TwoGroups1dMatchSeparatePasses) { compareWithSeparatePasses(1, {12, 16}, 2, false); }

TEST(GroupBatchNorm, GroupedDiffersFromWholeBatchStatistics) {
  // Two groups with very different means: per-group BN must not equal whole-batch BN (else the test
  // above could pass with groups ignored).
  auto grouped = byol::groupBatchNorm2d(3, 2);
  auto whole = byol::groupBatchNorm2d(3, 1);
  at::Tensor x = torch::cat({torch::randn({4, 3, 4, 4}), torch::randn({4, 3, 4, 4}) + 10}, 0);
  EXPECT_GT((grouped(x) - whole(x)).abs().max().item<double>(), 0.5);
  // Each group of the grouped output has mean ~0 per channel.
  at::Tensor y = grouped(x);
  for (const auto& part : y.chunk(2, 0)) {
    EXPECT_LT(part.mean({0, 2, 3}).abs().max().item<double>(), 1e-5);
  }
}

TEST(GroupBatchNorm, PlainModeMatchesFloat64Reference) {
  torch::manual_seed(3);
  auto bn = byol::groupBatchNorm2d(4);
  randomiseAffine(bn);
  at::Tensor x = torch::randn({6, 4, 3, 5}) * 2 - 1;
  at::Tensor y = bn(x);
  at::Tensor xd = x.to(at::kDouble);
  at::Tensor mean = xd.mean({0, 2, 3}, true);
  at::Tensor var = xd.var({0, 2, 3}, /*unbiased=*/false, true);
  at::Tensor ref = (xd - mean) / (var + 1e-5).sqrt() * bn->weight.to(at::kDouble).view({1, 4, 1, 1}) +
                   bn->bias.to(at::kDouble).view({1, 4, 1, 1});
  EXPECT_LT(maxRelDiff(y, ref), 1e-5);
  // Running statistics: momentum 0.1 of the batch mean and the unbiased variance.
  at::Tensor unbiased = xd.var({0, 2, 3}, /*unbiased=*/true);
  EXPECT_LT(maxRelDiff(bn->running_mean, 0.1 * mean.flatten()), 1e-5);
  EXPECT_LT(maxRelDiff(bn->running_var, 0.9 + 0.1 * unbiased), 1e-6);
  // Eval mode uses the running statistics and ignores groups.
  bn->eval();
  bn->setGroups(3);
  at::Tensor ye = bn(x);
  at::Tensor refEval = (xd - bn->running_mean.to(at::kDouble).view({1, 4, 1, 1})) /
                           (bn->running_var.to(at::kDouble).view({1, 4, 1, 1}) + 1e-5).sqrt() *
                           bn->weight.to(at::kDouble).view({1, 4, 1, 1}) +
                       bn->bias.to(at::kDouble).view({1, 4, 1, 1});
  EXPECT_LT(maxRelDiff(ye, refEval), 1e-5);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
}

TEST(GroupBatchNorm, StateDictKeysAreTorchBatchNormKeys) {
  auto bn = byol::groupBatchNorm2d(8);
  std::vector<std::string> keys;
  for (const auto& p : bn->named_parameters()) keys.push_back(p.key());
  for (const auto& b : bn->named_buffers()) keys.push_back(b.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn->num_batches_tracked.scalar_type(), at::kLong);
}

TEST(GroupBatchNorm, RejectsBadInput) {
  auto bn = byol::groupBatchNorm2d(4, 2);
  expectThrowContaining<byol::RangeError>([&] { bn(torch::randn({5, 4, 3, 3})); },
                                          "expected a batch of 2 equal groups (batch size divisible by 2), received batch size 5");
  expectThrowContaining<byol::RangeError>([&] { bn(torch::randn({4, 4, 3})); }, "expected a 4-d tensor [N, C, H, W]");
  expectThrowContaining<byol::RangeError>([&] { bn(torch::randn({4, 3, 3, 3})); }, "expected 4 channels (dim 1)");
  expectThrowContaining<byol::RangeError>([&] { bn->setGroups(0); }, "groups: expected a positive integer, received 0");
}
