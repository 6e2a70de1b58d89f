#include "core/learner.h"

#include <chrono>
#include <cmath>

#include "core/byol_loss.h"
#include "core/channels_last.h"
#include "core/data_parallel.h"
#include "core/device.h"
#include "core/ema.h"
#include "core/errors.h"
#include "core/group_batch_norm.h"
#include "core/tensor_checks.h"

namespace byol {
namespace {

NamedTensors prefixed(const std::string& prefix, const torch::OrderedDict<std::string, at::Tensor>& items) {
  NamedTensors out;
  out.reserve(items.size());
  for (const auto& item : items) out.emplace_back(prefix + item.key(), item.value());
  return out;
}

void append(NamedTensors& to, NamedTensors from) {
  for (auto& item : from) to.push_back(std::move(item));
}

std::vector<at::Tensor> tensorsOf(const NamedTensors& named) {
  std::vector<at::Tensor> out;
  out.reserve(named.size());
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

void freeze(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.set_requires_grad(false);
}

// float16/bfloat16 (autocast's outputs) become float32; float32 and float64 stay as they are.
at::Tensor atLeastFloat(const at::Tensor& t) {
  return t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16 ? t.to(at::kFloat) : t;
}

class Stopwatch {
 public:
  // Milliseconds since the last lap (or construction).
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

DecaySchedule parseDecaySchedule(const std::string& name) {
  if (name == "cosine") return DecaySchedule::Cosine;
  if (name == "constant") return DecaySchedule::Constant;
  throw TypeError(message("decaySchedule: expected 'cosine' or 'constant', received '", name, "'"));
}

const char* decayScheduleName(DecaySchedule schedule) {
  return schedule == DecaySchedule::Cosine ? "cosine" : "constant";
}

void LearnerOptions::validate() const {
  BYOL_EXPECT_RANGE(projectionSize > 0, "projectionSize: expected a positive integer, received ", projectionSize);
  BYOL_EXPECT_RANGE(projectionHiddenSize > 0, "projectionHiddenSize: expected a positive integer, received ",
                    projectionHiddenSize);
  checkUnitInterval("movingAverageDecay", movingAverageDecay);
  BYOL_EXPECT_RANGE(totalSteps >= 0, "totalSteps: expected a positive integer, received ", totalSteps);
  BYOL_EXPECT_RANGE(!(useMomentum && decaySchedule == DecaySchedule::Cosine && totalSteps < 1),
                    "totalSteps: the cosine decay schedule needs the run's number of steps (a positive integer), "
                    "received ",
                    totalSteps == 0 ? std::string("undefined") : std::to_string(totalSteps),
                    "; or use decaySchedule: 'constant'");
}

void StepOptions::validate() const {
  BYOL_EXPECT_RANGE(accumulate >= 1, "accumulate: expected a positive integer, received ", accumulate);
  BYOL_EXPECT_RANGE(!maxGradNorm || (*maxGradNorm > 0 && std::isfinite(*maxGradNorm)),
                    "maxGradNorm: expected a positive number, received ", maxGradNorm.value_or(0));
  validateLearningRate(lr);
}

void checkTrainingBatch(const at::Tensor& batch, const char* name) {
  BYOL_EXPECT_RANGE(batch.dim() >= 2 && batch.size(0) >= 2, name,
                    ": expected a batch of N >= 2 images (BatchNorm needs 2 images per view), received shape ",
                    shapeOf(batch));
}

StepInput StepInput::augmenting(at::Tensor images, AugmentOptions view1, uint64_t seed1, AugmentOptions view2,
                                uint64_t seed2) {
  StepInput in;
  in.images = std::move(images);
  in.view1 = std::move(view1);
  in.view2 = std::move(view2);
  in.seed1 = seed1;
  in.seed2 = seed2;
  return in;
}

StepInput StepInput::fromViews(at::Tensor view1, at::Tensor view2) {
  StepInput in;
  in.madeView1 = std::move(view1);
  in.madeView2 = std::move(view2);
  return in;
}

int64_t probeRepresentationSize(torch::nn::AnyModule& encoder, int64_t channels, int64_t imageSize) {
  BYOL_EXPECT_RANGE(imageSize >= 1 && imageSize <= 4096, "imageSize: expected an integer in [1, 4096], received ",
                    imageSize);
  BYOL_EXPECT_RANGE(channels == 1 || channels == 3, "channels: expected 1 or 3, received ", channels);
  torch::nn::Module& module = *encoder.ptr();
  const bool wasTraining = module.is_training();
  struct RestoreMode {
    torch::nn::Module& module;
    bool training;
    ~RestoreMode() { module.train(training); }
  } restore{module, wasTraining};
  at::NoGradGuard noGrad;
  module.eval();
  const auto parameters = module.parameters();
  const auto device = parameters.empty() ? at::Device(at::kCPU) : parameters.front().device();
  const at::Tensor sample =
      encoder.forward<at::Tensor>(at::zeros({2, channels, imageSize, imageSize}, at::TensorOptions().device(device)));
  BYOL_EXPECT_RANGE(sample.dim() >= 2 && sample.size(0) == 2,
                    "net: expected the encoder to return a batch of representations, received shape ", shapeOf(sample));
  return sample.numel() / 2;
}

Learner::Learner(torch::nn::AnyModule encoder, int64_t representationSize, const LearnerOptions& options)
    : options_(options), representationSize_(representationSize), encoder_(std::move(encoder)) {
  BYOL_EXPECT_RANGE(representationSize > 0, "representationSize: expected a positive integer, received ",
                    representationSize);
  options.validate();
  projector_ = MLP(MLPOptions(representationSize)
                       .hidden_size(options.projectionHiddenSize)
                       .out_features(options.projectionSize));
  predictor_ = MLP(MLPOptions(options.projectionSize)
                       .hidden_size(options.projectionHiddenSize)
                       .out_features(options.projectionSize));
  // Projector and predictor live where the encoder lives, in its floating-point type.
  const auto encoderParameters = encoder_.ptr()->parameters();
  if (!encoderParameters.empty()) {
    const at::Tensor& first = encoderParameters.front();
    const auto dtype = at::isFloatingType(first.scalar_type()) ? first.scalar_type() : at::kFloat;
    device_ = first.device();
    projector_->to(device_, dtype);
    predictor_->to(device_, dtype);
  }
  checkPrecisionFor(options.precision, device_);
  if (options.precision == Precision::Float16 || options.lossScaling) scaler_.emplace();
  prepareDeviceForTraining(device_);
  if (options.useMomentum) {
    targetEncoder_ = encoder_.clone();
    targetProjector_ = std::dynamic_pointer_cast<MLPImpl>(projector_->clone());
    freeze(*targetEncoder_.ptr());
    freeze(*targetProjector_);
    targetParams_ = tensorsOf(targetParameters());
    sourceParams_ = tensorsOf(emaSourceParameters());
    targetBuffers_ = targetEncoder_.ptr()->buffers();
    for (auto& b : targetProjector_->buffers()) targetBuffers_.push_back(b);
    sourceBuffers_ = encoder_.ptr()->buffers();
    for (auto& b : projector_->buffers()) sourceBuffers_.push_back(b);
  }
  onlineParams_ = tensorsOf(onlineParameters());
}

at::Tensor Learner::represent(torch::nn::AnyModule& encoder, const at::Tensor& images) {
  at::Tensor out = encoder.forward<at::Tensor>(options_.channelsLast ? toChannelsLast(images) : images);
  return out.reshape({out.size(0), -1});
}

Learner::Output Learner::forward(const at::Tensor& view1, const at::Tensor& view2) {
  BYOL_EXPECT_RANGE(view1.sizes() == view2.sizes(), "forward: expected both views of the same shape, received ",
                    shapeOf(view1), " and ", shapeOf(view2));
  checkTrainingBatch(view1, "views");
  const at::Tensor both = at::cat({toDevice(view1, device_), toDevice(view2, device_)}, 0);

  std::vector<torch::nn::Module*> modules = {encoder_.ptr().get(), projector_.get(), predictor_.get()};
  if (options_.useMomentum) {
    modules.push_back(targetEncoder_.ptr().get());
    modules.push_back(targetProjector_.get());
  }
  BatchNormGroupsScope perView(modules, 2, syncBatchNorm_ ? group_ : nullptr);

  at::Tensor projections, predictions, targets;
  {
    const AutocastScope reduced(options_.precision, device_);
    projections = projector_->forward(represent(encoder_, both));
    predictions = predictor_->forward(projections);
    at::NoGradGuard noGrad;
    targets = options_.useMomentum ? targetProjector_->forward(represent(targetEncoder_, both))
                                   : projector_->forward(represent(encoder_, both));
    targets = targets.detach();
  }
  // The loss (normalisation, cosine) at least in float32 whatever the networks computed in.
  const auto p = atLeastFloat(predictions).chunk(2, 0);
  const auto z = atLeastFloat(targets).chunk(2, 0);
  return Output{symmetricLoss(p[0], p[1], z[0], z[1]), atLeastFloat(projections.detach())};
}

StepOutcome Learner::step(const StepInput& input, Optimizer& optimizer, const StepOptions& options) {
  try {
    return runStep(input, optimizer, options);
  } catch (const std::exception& e) {
    if (!isOutOfMemory(e)) throw;
    dropGradients();  // a half-done backward leaves partial gradients: the next step starts clean
    const at::Tensor& batch = input.images.defined() ? input.images : input.madeView1;
    const bool sized = input.view1 && input.view1->height > 0 && input.view1->width > 0;
    const int64_t height = sized ? input.view1->height : (batch.dim() == 4 ? batch.size(2) : 0);
    const int64_t width = sized ? input.view1->width : (batch.dim() == 4 ? batch.size(3) : 0);
    throw RangeError(message("batch: ", batch.dim() > 0 ? batch.size(0) : 0, " images with views of ", height, "x",
                             width, " px need more memory than ", device_.str(), " has (", exceptionText(e),
                             "); lower the batch size (--batch-size) or the image size (--image-size)"));
  }
}

StepOutcome Learner::runStep(const StepInput& input, Optimizer& optimizer, const StepOptions& options) {
  options.validate();
  BYOL_EXPECT_RANGE(pendingMicroBatches_ == 0 || options.accumulate == pendingAccumulate_,
                    "accumulate: expected ", pendingAccumulate_, " like the ", pendingMicroBatches_,
                    " micro-batch(es) already accumulated for this optimizer step, received ", options.accumulate);
  StepOutcome out;
  out.step = emaUpdates_;
  out.tau = tau();
  Stopwatch clock;

  at::Tensor view1 = input.madeView1, view2 = input.madeView2;
  if (input.view1 && input.view2) {
    checkTrainingBatch(input.images, "images");
    // The views are made where the networks are: on a GPU the batch crosses once, as raw images.
    std::tie(view1, view2) =
        augmentViews(toDevice(input.images, device_), *input.view1, input.seed1, *input.view2, input.seed2);
  }
  out.timings.augment = clock.lap();

  const at::AutoGradMode recordGraph(true);  // training records the graph whatever the caller's mode (restored)
  Output forwarded = forward(view1, view2);
  {
    at::NoGradGuard noGrad;
    out.metrics = at::stack({forwarded.loss.detach().to(at::kFloat), collapseMonitor(forwarded.onlineProjections)});
    // Means over the ranks; every rank then also takes the same non-finite-loss decision below.
    if (group_ && group_->worldSize() > 1) out.metrics = averageOverRanks(out.metrics);
  }
  out.timings.forward = clock.lap();

  // On the CPU the value is already there: a non-finite loss stops before it reaches the gradients.
  if (forwarded.loss.is_cpu() && !std::isfinite(out.metrics[0].item<double>())) {
    dropGradients();
    out.nonFiniteLoss = true;
    return out;
  }
  // The gradient of the mean over micro-batches and, data-parallel, over ranks: the all-reduce then sums.
  const int64_t parts = options.accumulate * (group_ ? group_->worldSize() : 1);
  at::Tensor scaled = parts == 1 ? forwarded.loss : forwarded.loss / double(parts);
  if (scaler_) {
    out.lossScale = scaler_->value();
    scaled = scaler_->scale(scaled);
  }
  scaled.backward();
  forwarded = Output{};  // frees the graph's saved tensors before the optimizer allocates
  out.timings.backward = clock.lap();

  pendingAccumulate_ = options.accumulate;
  if (++pendingMicroBatches_ < options.accumulate) return out;
  pendingMicroBatches_ = 0;

  if (gradientsComplete_) gradientsComplete_(onlineParams_);
  out.timings.allReduce = clock.lap();
  // fp16: unscale and check (every rank holds the same averaged gradients, so every rank decides alike).
  const bool finite = !scaler_ || scaler_->unscale(onlineParams_);
  if (scaler_) scaler_->update(finite);
  if (finite) {
    if (options.maxGradNorm) optimizer.clipGradNormLazily(*options.maxGradNorm);
    optimizer.step(options.lr);
  } else {
    out.gradientsSkipped = true;
  }
  optimizer.zeroGrad();
  out.timings.optimizer = clock.lap();

  out.tau = updateTarget();
  out.optimizerStepped = true;
  out.timings.ema = clock.lap();
  return out;
}

void Learner::setDataParallel(std::shared_ptr<ProcessGroup> group, const DataParallelOptions& options) {
  BYOL_EXPECT_TYPE(group != nullptr, "group: expected a process group");
  BYOL_EXPECT_RANGE(pendingMicroBatches_ == 0, "group: cannot join a process group with ", pendingMicroBatches_,
                    " micro-batch(es) accumulated; join before training or after an optimizer step");
  group_ = std::move(group);
  syncBatchNorm_ = options.syncBatchNorm;
  gradientsComplete_ = GradientAverager(group_, options.bucketBytes, /*presummed=*/true);
}

at::Tensor Learner::averageOverRanks(const at::Tensor& metrics) {
  at::Tensor sum = metrics.contiguous().clone();
  group_->allReduceSum(sum);
  return sum / static_cast<double>(group_->worldSize());
}

void Learner::dropGradients() {
  for (auto& p : onlineParams_) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
  pendingMicroBatches_ = 0;
}

double Learner::tau() const {
  if (!options_.useMomentum || options_.decaySchedule == DecaySchedule::Constant) return options_.movingAverageDecay;
  const auto total = static_cast<double>(options_.totalSteps);
  return cosineTau(std::min(static_cast<double>(emaUpdates_), total), total, options_.movingAverageDecay);
}

void Learner::setEmaUpdates(int64_t updates) {
  BYOL_EXPECT_RANGE(updates >= 0, "step: expected a non-negative integer, received ", updates);
  emaUpdates_ = updates;
}

double Learner::updateTarget() {
  const double t = tau();
  if (options_.useMomentum) {
    ema_(targetParams_, sourceParams_, t);
    if (options_.copyBuffers) copyInto_(targetBuffers_, sourceBuffers_);
  }
  ++emaUpdates_;
  return t;
}

std::pair<at::Tensor, at::Tensor> Learner::embed(const at::Tensor& images, bool withProjection) {
  at::NoGradGuard noGrad;
  const bool wasTraining = encoder_.ptr()->is_training();
  encoder_.ptr()->eval();
  projector_->eval();
  struct Restore {
    Learner* self;
    bool training;
    ~Restore() { self->train(training); }
  } restore{this, wasTraining};
  at::Tensor representation = represent(encoder_, toDevice(images, device_));
  at::Tensor projection = withProjection ? projector_->forward(representation) : at::Tensor();
  return {representation, projection};
}

NamedTensors Learner::onlineParameters() const {
  NamedTensors out = prefixed("encoder.", encoder_.ptr()->named_parameters());
  append(out, prefixed("projector.", projector_->named_parameters()));
  append(out, prefixed("predictor.", predictor_->named_parameters()));
  return out;
}

NamedTensors Learner::targetParameters() const {
  if (!options_.useMomentum) return {};
  NamedTensors out = prefixed("targetEncoder.", targetEncoder_.ptr()->named_parameters());
  append(out, prefixed("targetProjector.", targetProjector_->named_parameters()));
  return out;
}

NamedTensors Learner::emaSourceParameters() const {
  if (!options_.useMomentum) return {};
  NamedTensors out = prefixed("encoder.", encoder_.ptr()->named_parameters());
  append(out, prefixed("projector.", projector_->named_parameters()));
  return out;
}

void Learner::train(bool on) {
  encoder_.ptr()->train(on);
  projector_->train(on);
  predictor_->train(on);
  // The target's BatchNorm runs in training mode (batch statistics), as the paper, whenever we train.
  if (options_.useMomentum) {
    targetEncoder_.ptr()->train(on);
    targetProjector_->train(on);
  }
}

}  // namespace byol
