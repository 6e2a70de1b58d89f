// The BYOL networks and their forward pass (Grill et al. 2020), in LibTorch.
//
// Online: encoder f -> projector g -> predictor q. Target: copies of f and g, no predictor, no gradients,
// updated by EMA from the online weights (native/core/ema). Both views go through the networks as one
// concatenated batch with per-view BatchNorm statistics (GroupBatchNorm with 2 groups), which is exactly two
// separate passes for BN and one large batch for the convolutions.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "core/mlp.h"
#include "core/safetensors.h"  // NamedTensors

namespace byol {

struct LearnerOptions {
  int64_t projectionSize = 256;
  int64_t projectionHiddenSize = 4096;
  // false: the SimSiam variant, target = online encoder and projector under stop-gradient.
  bool useMomentum = true;
  // Input images are made channels-last before the encoder (faster convolutions on CPU).
  bool channelsLast = false;
};


// Runs `encoder` on two blank images [2, channels, imageSize, imageSize] in eval mode without gradients (its
// training flag restored afterwards) and returns the flattened representation size. An image size or channel
// count the encoder cannot take fails here, before any training work.
int64_t probeRepresentationSize(torch::nn::AnyModule& encoder, int64_t channels, int64_t imageSize);

class Learner {
 public:
  // `encoder` is shared with the caller (training it trains the user's network); `representationSize` is the
  // flattened size of its output, found by the caller with a dry run.
  Learner(torch::nn::AnyModule encoder, int64_t representationSize, const LearnerOptions& options);

  struct Output {
    at::Tensor loss;               // scalar, with a graph to the online parameters
    at::Tensor onlineProjections;  // [2N, projectionSize], detached: for the collapse monitor
  };
  // Training forward on two views of the same N images (N >= 2, equal shapes).
  Output forward(const at::Tensor& view1, const at::Tensor& view2);

  // The representation (and, when asked, the online projection) in eval mode, without gradients.
  std::pair<at::Tensor, at::Tensor> embed(const at::Tensor& images, bool withProjection);

  // Trainable online parameters named encoder.*, projector.*, predictor.*.
  NamedTensors onlineParameters() const;
  // Target parameters (targetEncoder.*, targetProjector.*) and, in the same order, the online ones they
  // average: what the EMA update takes. Empty when useMomentum is false.
  NamedTensors targetParameters() const;
  NamedTensors emaSourceParameters() const;
  NamedTensors targetBuffers() const;
  NamedTensors emaSourceBuffers() const;

  void train(bool on);
  void to(const at::Device& device);

  torch::nn::AnyModule& encoder() { return encoder_; }
  MLP& projector() { return projector_; }
  MLP& predictor() { return predictor_; }
  torch::nn::AnyModule& targetEncoder() { return targetEncoder_; }
  MLP& targetProjector() { return targetProjector_; }
  const LearnerOptions& options() const { return options_; }
  int64_t representationSize() const { return representationSize_; }

 private:
  at::Tensor represent(torch::nn::AnyModule& encoder, const at::Tensor& images);

  LearnerOptions options_;
  int64_t representationSize_;
  torch::nn::AnyModule encoder_;
  MLP projector_{nullptr};
  MLP predictor_{nullptr};
  torch::nn::AnyModule targetEncoder_;
  MLP targetProjector_{nullptr};
};

}  // namespace byol
