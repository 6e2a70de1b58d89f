// Frozen-feature evaluation of an encoder: a linear probe (softmax regression on standardised features) and a
// cosine kNN classifier. Both take features computed once, [N, D] floating point, and int32/int64 labels [N].
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace byol {

struct LinearProbeOptions {
  int64_t epochs = 100;
  int64_t batchSize = 256;
  // Adam's learning rate; the features are standardised (train mean/std) first, so one rate suits any encoder.
  double lr = 1e-3;
  double weightDecay = 0.0;
  // Seeds the mini-batch order (the weights start at zero: the problem is convex).
  uint64_t seed = 0;
};

struct LinearProbeResult {
  double trainAccuracy = 0;
  double testAccuracy = 0;
  // Mean cross-entropy over the last epoch's mini-batches.
  double finalLoss = 0;
};

struct KnnOptions {
  int64_t k = 20;
  // Votes weigh exp(similarity / temperature) (Wu et al. 2018, as mmselfsup and solo-learn).
  double temperature = 0.07;
  // Test rows compared at once: bounds the similarity matrix to chunk x N floats.
  int64_t chunk = 1024;
};

// Checks every argument of either evaluation before any work: 2-d floating features with the same width,
// 1-d integer labels of the features' length, labels in [0, classes). Returns the number of classes
// (max label + 1 over both splits). Throws byol::TypeError/RangeError naming the argument.
int64_t checkEvaluationArgs(const at::Tensor& trainFeatures, const at::Tensor& trainLabels,
                            const at::Tensor& testFeatures, const at::Tensor& testLabels);
void checkLinearProbeOptions(const LinearProbeOptions& options);
void checkKnnOptions(const KnnOptions& options, int64_t trainSize);

LinearProbeResult linearProbe(const at::Tensor& trainFeatures, const at::Tensor& trainLabels,
                              const at::Tensor& testFeatures, const at::Tensor& testLabels,
                              const LinearProbeOptions& options = {});

// Top-1 accuracy on the test split of a weighted kNN vote among the k most cosine-similar train features.
double knnAccuracy(const at::Tensor& trainFeatures, const at::Tensor& trainLabels, const at::Tensor& testFeatures,
                   const at::Tensor& testLabels, const KnnOptions& options = {});

}  // namespace byol
