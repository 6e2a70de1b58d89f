#include "core/evaluation.h"

#include <torch/torch.h>

#include <cmath>

#include "core/errors.h"
#include "core/tensor_checks.h"

namespace byol {
namespace {

void checkFeatures(const at::Tensor& features, const char* name) {
  BYOL_EXPECT_TYPE(features.defined() && at::isFloatingType(features.scalar_type()), name,
                   ": expected a floating-point tensor [N, D]");
  BYOL_EXPECT_RANGE(features.dim() == 2 && features.size(0) > 0 && features.size(1) > 0, name,
                    ": expected a non-empty 2-d tensor [N, D], received shape ", shapeOf(features));
}

void checkLabels(const at::Tensor& labels, const at::Tensor& features, const char* name) {
  BYOL_EXPECT_TYPE(labels.defined() && (labels.scalar_type() == at::kInt || labels.scalar_type() == at::kLong),
                   name, ": expected an int32 or int64 tensor [N]");
  BYOL_EXPECT_RANGE(labels.dim() == 1 && labels.size(0) == features.size(0), name, ": expected shape [",
                    features.size(0), "] (one label per feature row), received ", shapeOf(labels));
  BYOL_EXPECT_RANGE(labels.min().item<int64_t>() >= 0, name, ": expected labels >= 0, found ",
                    labels.min().item<int64_t>());
}

// (x - mean) / std with the train split's statistics; constant features stay 0 instead of dividing by 0.
std::pair<at::Tensor, at::Tensor> standardise(const at::Tensor& train, const at::Tensor& test) {
  const at::Tensor mean = train.mean(0, /*keepdim=*/true);
  const at::Tensor std = train.std(0, /*unbiased=*/false, /*keepdim=*/true).clamp_min(1e-6);
  return {(train - mean) / std, (test - mean) / std};
}

at::Tensor unitRows(const at::Tensor& x) {
  return x / x.norm(2, /*dim=*/{1}, /*keepdim=*/true).clamp_min(1e-12);
}

double accuracy(const at::Tensor& logits, const at::Tensor& labels) {
  return logits.argmax(1).eq(labels).to(at::kDouble).mean().item<double>();
}

}  // namespace

int64_t checkEvaluationArgs(const at::Tensor& trainFeatures, const at::Tensor& trainLabels,
                            const at::Tensor& testFeatures, const at::Tensor& testLabels) {
  checkFeatures(trainFeatures, "trainFeatures");
  checkFeatures(testFeatures, "testFeatures");
  BYOL_EXPECT_RANGE(testFeatures.size(1) == trainFeatures.size(1), "testFeatures: expected ",
                    trainFeatures.size(1), " columns (as trainFeatures), received shape ", shapeOf(testFeatures));
  checkLabels(trainLabels, trainFeatures, "trainLabels");
  checkLabels(testLabels, testFeatures, "testLabels");
  BYOL_EXPECT_RANGE(trainFeatures.device() == testFeatures.device() && trainFeatures.device() == trainLabels.device() &&
                        trainFeatures.device() == testLabels.device(),
                    "testFeatures: expected every tensor on ", trainFeatures.device(), ", received ",
                    testFeatures.device());
  return std::max(trainLabels.max().item<int64_t>(), testLabels.max().item<int64_t>()) + 1;
}

void checkLinearProbeOptions(const LinearProbeOptions& o) {
  BYOL_EXPECT_RANGE(o.epochs >= 1, "epochs: expected a positive integer, received ", o.epochs);
  BYOL_EXPECT_RANGE(o.batchSize >= 1, "batchSize: expected a positive integer, received ", o.batchSize);
  BYOL_EXPECT_RANGE(std::isfinite(o.lr) && o.lr > 0, "lr: expected a positive number, received ", o.lr);
  BYOL_EXPECT_RANGE(std::isfinite(o.weightDecay) && o.weightDecay >= 0,
                    "weightDecay: expected a number >= 0, received ", o.weightDecay);
}

void checkKnnOptions(const KnnOptions& o, int64_t trainSize) {
  BYOL_EXPECT_RANGE(o.k >= 1 && o.k <= trainSize, "k: expected an integer in [1, ", trainSize,
                    "] (the train rows), received ", o.k);
  BYOL_EXPECT_RANGE(std::isfinite(o.temperature) && o.temperature > 0,
                    "temperature: expected a positive number, received ", o.temperature);
  BYOL_EXPECT_RANGE(o.chunk >= 1, "chunk: expected a positive integer, received ", o.chunk);
}

LinearProbeResult linearProbe(const at::Tensor& trainFeatures, const at::Tensor& trainLabels,
                              const at::Tensor& testFeatures, const at::Tensor& testLabels,
                              const LinearProbeOptions& options) {
  const int64_t classes = checkEvaluationArgs(trainFeatures, trainLabels, testFeatures, testLabels);
  checkLinearProbeOptions(options);
  at::AutoGradMode enableGrad(true);
  auto [train, test] = standardise(trainFeatures.to(at::kFloat), testFeatures.to(at::kFloat));
  train = train.detach();
  const at::Tensor trainY = trainLabels.to(at::kLong);
  const at::Tensor testY = testLabels.to(at::kLong);
  const int64_t n = train.size(0);
  const auto tensorOptions = train.options();
  at::Tensor weight = torch::zeros({train.size(1), classes}, tensorOptions).requires_grad_(true);
  at::Tensor bias = torch::zeros({classes}, tensorOptions).requires_grad_(true);
  torch::optim::Adam optimizer({weight, bias}, torch::optim::AdamOptions(options.lr).weight_decay(options.weightDecay));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);

  LinearProbeResult result;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    const at::Tensor order = at::randperm(n, generator, at::TensorOptions().dtype(at::kLong)).to(train.device());
    double lossSum = 0;
    int64_t batches = 0;
    for (int64_t start = 0; start < n; start += options.batchSize) {
      const at::Tensor index = order.slice(0, start, std::min(n, start + options.batchSize));
      const at::Tensor logits = at::addmm(bias, train.index_select(0, index), weight);
      const at::Tensor loss = at::cross_entropy_loss(logits, trainY.index_select(0, index));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      lossSum += loss.item<double>();
      ++batches;
    }
    result.finalLoss = lossSum / static_cast<double>(batches);
  }
  at::NoGradGuard noGrad;
  result.trainAccuracy = accuracy(at::addmm(bias, train, weight), trainY);
  result.testAccuracy = accuracy(at::addmm(bias, test, weight), testY);
  return result;
}

double knnAccuracy(const at::Tensor& trainFeatures, const at::Tensor& trainLabels, const at::Tensor& testFeatures,
                   const at::Tensor& testLabels, const KnnOptions& options) {
  const int64_t classes = checkEvaluationArgs(trainFeatures, trainLabels, testFeatures, testLabels);
  checkKnnOptions(options, trainFeatures.size(0));
  at::NoGradGuard noGrad;
  const at::Tensor train = unitRows(trainFeatures.to(at::kFloat));
  const at::Tensor test = unitRows(testFeatures.to(at::kFloat));
  const at::Tensor trainY = trainLabels.to(at::kLong);
  const at::Tensor testY = testLabels.to(at::kLong);
  const at::Tensor trainT = train.t().contiguous();
  int64_t correct = 0;
  for (int64_t start = 0; start < test.size(0); start += options.chunk) {
    const int64_t end = std::min(test.size(0), start + options.chunk);
    const at::Tensor similarity = test.slice(0, start, end).mm(trainT);
    const auto [values, indices] = similarity.topk(options.k, /*dim=*/1);
    const at::Tensor neighbourLabels = trainY.index_select(0, indices.reshape({-1})).view(indices.sizes());
    const at::Tensor votes = at::zeros({end - start, classes}, values.options())
                                 .scatter_add_(1, neighbourLabels, (values / options.temperature).exp());
    correct += votes.argmax(1).eq(testY.slice(0, start, end)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(test.size(0));
}

}  // namespace byol
