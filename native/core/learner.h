// The BYOL learner (Grill et al. 2020) in LibTorch: its networks, its forward pass and its whole training step.
//
// Online: encoder f -> projector g -> predictor q. Target: copies of f and g, no predictor, no gradients,
// updated by EMA from the online weights (native/core/ema). Both views go through the networks as one
// concatenated batch with per-view BatchNorm statistics (GroupBatchNorm with 2 groups), which is exactly two
// separate passes for BN and one large batch for the convolutions.
//
// One training step (`step`) is one call, run as one job by the binding:
//   views (one call into the augmentation core) -> forward -> backward of loss / k
//   on the k-th micro-batch (k = accumulate): gradients complete (the hook) -> clip -> optimizer step -> zero
//   grads -> EMA of the target (and the optional buffer copy) -> the tau schedule advances.
// The step never reads a value back from the device: loss and collapse come back as a device tensor that the
// caller reads when it wants to (on the CPU a non-finite loss is still caught before the optimizer runs).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/augment.h"
#include "core/data_parallel.h"
#include "core/loss_scaler.h"
#include "core/mlp.h"
#include "core/named_tensors.h"
#include "core/optim.h"
#include "core/precision.h"
#include "core/process_group.h"

namespace byol {

enum class DecaySchedule { Cosine, Constant };
// "cosine" / "constant"; TypeError naming decaySchedule otherwise.
DecaySchedule parseDecaySchedule(const std::string& name);
const char* decayScheduleName(DecaySchedule schedule);

// Every option of the learner, its default and its range: the one owner of them (the binding fills a
// default-constructed struct from the JS object; lib/byol.ts only declares and documents them).
struct LearnerOptions {
  // Output and hidden size of projector and predictor (byol-pytorch's and the paper's).
  int64_t projectionSize = MLPOptions::kDefaultOutFeatures;
  int64_t projectionHiddenSize = MLPOptions::kDefaultHiddenSize;
  // false: the SimSiam variant, target = online encoder and projector under stop-gradient, no EMA.
  bool useMomentum = true;
  // tau_base of the EMA: the paper's 0.996 (1000 epochs); 0.99 suits short runs.
  double movingAverageDecay = 0.996;
  // Cosine: the paper's tau schedule up to 1 over totalSteps EMA updates (totalSteps needed). Constant:
  // byol-pytorch's fixed tau.
  DecaySchedule decaySchedule = DecaySchedule::Cosine;
  int64_t totalSteps = 0;
  // Also copy BatchNorm running statistics from online to target at every EMA update.
  bool copyBuffers = false;
  // Input images are made channels-last before the encoder (faster convolutions on CPU and with cuDNN).
  bool channelsLast = false;
  // The networks' compute type (core/precision.h); weights, optimizer state and EMA stay float32. fp16 (CUDA
  // only) brings a dynamic loss scaler.
  Precision precision = Precision::Float32;
  // Dynamic loss scaling (core/loss_scaler.h) in step(): always with fp16; elsewhere only asked for (tests).
  bool lossScaling = false;

  // Throws RangeError/TypeError naming the first option out of range.
  void validate() const;
};

// The training batch rule every entry point shares: N >= 2 images per view (BatchNorm needs two).
void checkTrainingBatch(const at::Tensor& batch, const char* name);

// Runs `encoder` on two blank images [2, channels, imageSize, imageSize] in eval mode without gradients (its
// training flag restored afterwards) and returns the flattened representation size. An image size or channel
// count the encoder cannot take fails here, before any training work.
int64_t probeRepresentationSize(torch::nn::AnyModule& encoder, int64_t channels, int64_t imageSize);

// What one step takes: the raw batch and the views' options and seeds (the learner augments), or two views
// made by the caller.
struct StepInput {
  at::Tensor images;  // with view options
  std::optional<AugmentOptions> view1, view2;
  uint64_t seed1 = 0, seed2 = 0;
  at::Tensor madeView1, madeView2;  // without view options

  static StepInput augmenting(at::Tensor images, AugmentOptions view1, uint64_t seed1, AugmentOptions view2,
                              uint64_t seed2);
  static StepInput fromViews(at::Tensor view1, at::Tensor view2);
};

struct StepOptions {
  // Micro-batches per optimizer step: the gradients of loss / accumulate add up over `accumulate` calls and
  // the optimizer, the EMA and the tau schedule advance on the last one.
  int64_t accumulate = 1;
  // When set (> 0), clip the gradients' global L2 norm to it before the optimizer step (as clip_grad_norm_).
  std::optional<double> maxGradNorm;
  // The optimizer's learning rate for this step.
  double lr = 0;
  void validate() const;
};

struct StepTimings {
  // wall-clock milliseconds; allReduce: the gradients' mean over the ranks (0 in one process)
  double augment = 0, forward = 0, backward = 0, allReduce = 0, optimizer = 0, ema = 0;
};

struct DataParallelOptions {
  // BatchNorm statistics of each view over every rank's batch (as one process with all ranks' images would
  // compute them); false: each rank's own (PyTorch DDP's default without SyncBatchNorm).
  bool syncBatchNorm = true;
  // Gradient bytes per all-reduce.
  int64_t bucketBytes = GradientAverager::kDefaultBucketBytes;
};

struct StepOutcome {
  // fp16: the optimizer step of this call was skipped because the unscaled gradients were not finite (the
  // loss scale then halves); the EMA and the schedules still advance, as with torch.cuda.amp.GradScaler.
  bool gradientsSkipped = false;
  // fp16: the loss scale this micro-batch's backward used; 0 without a scaler.
  double lossScale = 0;
  // float32 [2] on the networks' device: the loss of this micro-batch, then the collapse monitor (mean
  // per-dimension std of the L2-normalised online projections: ~1/sqrt(d) healthy, 0 collapsed).
  // Detached; reading it is the caller's choice (on a GPU that read is a synchronisation).
  at::Tensor metrics;
  // Whether this call ran the optimizer and the EMA (the last micro-batch), and with which tau (for other
  // micro-batches: the tau the coming update will use).
  bool optimizerStepped = false;
  double tau = 0;
  // Optimizer steps done before this call: the index of the step this micro-batch belongs to.
  int64_t step = 0;
  // On the CPU the loss is checked before the optimizer runs; a non-finite loss skips the update (weights
  // untouched, gradients dropped, micro-batch count reset) and sets this.
  bool nonFiniteLoss = false;
  StepTimings timings;
};

class Learner {
 public:
  // `encoder` is shared with the caller (training it trains the user's network); `representationSize` is the
  // flattened size of its output, found by the caller with a dry run. The learner trains on the encoder's
  // device: projector, predictor and target are made there, and images from elsewhere are copied there (from
  // pinned memory, without waiting: core/device.h).
  Learner(torch::nn::AnyModule encoder, int64_t representationSize, const LearnerOptions& options);

  struct Output {
    at::Tensor loss;               // scalar, with a graph to the online parameters
    at::Tensor onlineProjections;  // [2N, projectionSize], detached: for the collapse monitor
  };
  // Training forward on two views of the same N images (N >= 2, equal shapes), in the options' precision; the
  // loss is float32.
  Output forward(const at::Tensor& view1, const at::Tensor& view2);

  // One training step (see the top of this file), with `optimizer` over the online parameters. Memory running
  // out (host or device) becomes a RangeError naming the batch and view size; the weights are untouched and the
  // accumulated gradients dropped.
  StepOutcome step(const StepInput& input, Optimizer& optimizer, const StepOptions& options);

  // target <- tau * target + (1 - tau) * online for encoder and projector (then the buffer copy when
  // copyBuffers), with the schedule's tau; advances the schedule. Returns the tau used. When useMomentum is
  // false there is no target: only the step count advances.
  double updateTarget();
  // The tau the next EMA update uses.
  double tau() const;
  // Optimizer steps (EMA updates) done so far, the schedule's position, and setting it on resume.
  int64_t emaUpdates() const { return emaUpdates_; }
  void setEmaUpdates(int64_t updates);

  // Called inside step() once the gradients of an optimizer step are complete (after the last micro-batch's
  // backward) and before clipping and the optimizer: the place for a gradient all-reduce. Default: none.
  using GradientsHook = std::function<void(const std::vector<at::Tensor>& onlineParameters)>;
  void setGradientsCompleteHook(GradientsHook hook) { gradientsComplete_ = std::move(hook); }

  // Data-parallel training over `group` (core/data_parallel): every step averages the gradients over the
  // ranks (the gradients-complete hook), synchronises BatchNorm when asked, and reports loss and collapse as
  // means over the ranks. The caller makes the ranks' states equal first (broadcastTrainingState). Only step()
  // averages gradients: a hand-written loop over forward() does not.
  void setDataParallel(std::shared_ptr<ProcessGroup> group, const DataParallelOptions& options = {});
  const std::shared_ptr<ProcessGroup>& processGroup() const { return group_; }

  // The representation (and, when asked, the online projection) in eval mode, without gradients.
  std::pair<at::Tensor, at::Tensor> embed(const at::Tensor& images, bool withProjection);

  // Trainable online parameters named encoder.*, projector.*, predictor.*.
  NamedTensors onlineParameters() const;
  // Target parameters (targetEncoder.*, targetProjector.*) and, in the same order, the online ones they
  // average. Empty when useMomentum is false.
  NamedTensors targetParameters() const;
  NamedTensors emaSourceParameters() const;

  void train(bool on);

  torch::nn::AnyModule& encoder() { return encoder_; }
  MLP& projector() { return projector_; }
  MLP& predictor() { return predictor_; }
  torch::nn::AnyModule& targetEncoder() { return targetEncoder_; }
  MLP& targetProjector() { return targetProjector_; }
  const LearnerOptions& options() const { return options_; }
  at::Device device() const { return device_; }
  // fp16's loss scaler (null otherwise): its state belongs in a checkpoint.
  LossScaler* lossScaler() { return scaler_ ? &*scaler_ : nullptr; }
  int64_t representationSize() const { return representationSize_; }
  // Micro-batches accumulated since the last optimizer step.
  int64_t pendingMicroBatches() const { return pendingMicroBatches_; }

 private:
  StepOutcome runStep(const StepInput& input, Optimizer& optimizer, const StepOptions& options);
  at::Tensor represent(torch::nn::AnyModule& encoder, const at::Tensor& images);
  void dropGradients();
  at::Tensor averageOverRanks(const at::Tensor& metrics);

  LearnerOptions options_;
  at::Device device_ = at::kCPU;
  std::optional<LossScaler> scaler_;
  int64_t representationSize_;
  torch::nn::AnyModule encoder_;
  MLP projector_{nullptr};
  MLP predictor_{nullptr};
  torch::nn::AnyModule targetEncoder_;
  MLP targetProjector_{nullptr};
  // The EMA's operands, gathered once (the modules never change their parameter lists).
  std::vector<at::Tensor> targetParams_, sourceParams_, targetBuffers_, sourceBuffers_, onlineParams_;
  int64_t emaUpdates_ = 0;
  int64_t pendingMicroBatches_ = 0;
  int64_t pendingAccumulate_ = 1;
  GradientsHook gradientsComplete_;
  std::shared_ptr<ProcessGroup> group_;
  bool syncBatchNorm_ = false;
};

}  // namespace byol
