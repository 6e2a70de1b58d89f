#include "core/learner.h"

#include "core/byol_loss.h"
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

// Splits BatchNorm statistics into `groups` for as long as it lives, even when forward throws.
class BatchNormGroups {
 public:
  BatchNormGroups(std::vector<torch::nn::Module*> modules, int64_t groups) : modules_(std::move(modules)) {
    for (auto* m : modules_) setBatchNormGroups(*m, groups);
  }
  ~BatchNormGroups() {
    for (auto* m : modules_) setBatchNormGroups(*m, 1);
  }

 private:
  std::vector<torch::nn::Module*> modules_;
};

void freeze(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.set_requires_grad(false);
}

}  // namespace

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
  BYOL_EXPECT_RANGE(options.projectionSize > 0, "projectionSize: expected a positive integer, received ",
                    options.projectionSize);
  BYOL_EXPECT_RANGE(options.projectionHiddenSize > 0, "projectionHiddenSize: expected a positive integer, received ",
                    options.projectionHiddenSize);
  projector_ = MLP(MLPOptions(representationSize)
                       .hidden_size(options.projectionHiddenSize)
                       .out_features(options.projectionSize));
  predictor_ = MLP(MLPOptions(options.projectionSize)
                       .hidden_size(options.projectionHiddenSize)
                       .out_features(options.projectionSize));
  // Projector and predictor live where the encoder lives.
  const auto encoderParameters = encoder_.ptr()->parameters();
  if (!encoderParameters.empty()) {
    projector_->to(encoderParameters.front().device());
    predictor_->to(encoderParameters.front().device());
  }
  if (options.useMomentum) {
    targetEncoder_ = encoder_.clone();
    targetProjector_ = std::dynamic_pointer_cast<MLPImpl>(projector_->clone());
    freeze(*targetEncoder_.ptr());
    freeze(*targetProjector_);
  }
}

at::Tensor Learner::represent(torch::nn::AnyModule& encoder, const at::Tensor& images) {
  at::Tensor input = images;
  if (options_.channelsLast && input.dim() == 4) input = input.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor out = encoder.forward<at::Tensor>(input);
  return out.reshape({out.size(0), -1});
}

Learner::Output Learner::forward(const at::Tensor& view1, const at::Tensor& view2) {
  BYOL_EXPECT_RANGE(view1.sizes() == view2.sizes(), "forward: expected both views of the same shape, received ",
                    shapeOf(view1), " and ", shapeOf(view2));
  BYOL_EXPECT_RANGE(view1.dim() >= 2 && view1.size(0) >= 2,
                    "forward: expected a batch of at least 2 images (BatchNorm needs 2 per view), received shape ",
                    shapeOf(view1));
  const at::Tensor both = at::cat({view1, view2}, 0);

  std::vector<torch::nn::Module*> modules = {encoder_.ptr().get(), projector_.get(), predictor_.get()};
  if (options_.useMomentum) {
    modules.push_back(targetEncoder_.ptr().get());
    modules.push_back(targetProjector_.get());
  }
  BatchNormGroups perView(modules, 2);

  const at::Tensor projections = projector_->forward(represent(encoder_, both));
  const at::Tensor predictions = predictor_->forward(projections);

  at::Tensor targets;
  {
    at::NoGradGuard noGrad;
    targets = options_.useMomentum ? targetProjector_->forward(represent(targetEncoder_, both))
                                   : projector_->forward(represent(encoder_, both));
    targets = targets.detach();
  }
  const auto p = predictions.chunk(2, 0);
  const auto z = targets.chunk(2, 0);
  return Output{symmetricLoss(p[0], p[1], z[0], z[1]), projections.detach()};
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
  at::Tensor representation = represent(encoder_, images);
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

NamedTensors Learner::targetBuffers() const {
  if (!options_.useMomentum) return {};
  NamedTensors out = prefixed("targetEncoder.", targetEncoder_.ptr()->named_buffers());
  append(out, prefixed("targetProjector.", targetProjector_->named_buffers()));
  return out;
}

NamedTensors Learner::emaSourceBuffers() const {
  if (!options_.useMomentum) return {};
  NamedTensors out = prefixed("encoder.", encoder_.ptr()->named_buffers());
  append(out, prefixed("projector.", projector_->named_buffers()));
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

void Learner::to(const at::Device& device) {
  encoder_.ptr()->to(device);
  projector_->to(device);
  predictor_->to(device);
  if (options_.useMomentum) {
    targetEncoder_.ptr()->to(device);
    targetProjector_->to(device);
  }
}

}  // namespace byol
