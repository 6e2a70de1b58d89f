#include "core/data_parallel.h"

#include "core/errors.h"
#include "core/learner.h"

namespace byol {

GradientAverager::GradientAverager(std::shared_ptr<ProcessGroup> group, int64_t bucketBytes)
    : group_(std::move(group)), bucketBytes_(bucketBytes) {
  BYOL_EXPECT_TYPE(group_ != nullptr, "group: expected a process group");
  BYOL_EXPECT_RANGE(bucketBytes_ >= 1, "bucketBytes: expected a positive integer, received ", bucketBytes_);
}

void GradientAverager::plan(const std::vector<at::Tensor>& parameters) {
  buckets_.clear();
  // Consecutive parameters of one dtype share a bucket until it holds bucketBytes.
  for (size_t i = 0; i < parameters.size(); ++i) {
    const at::Tensor& p = parameters[i];
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    Bucket* last = buckets_.empty() ? nullptr : &buckets_.back();
    const bool fits = last && last->flat.scalar_type() == p.scalar_type() && last->flat.device() == p.device() &&
                      last->flat.nbytes() + bytes <= static_cast<size_t>(bucketBytes_);
    if (!fits) {
      buckets_.push_back(Bucket{{}, at::empty({0}, p.options().requires_grad(false))});
      last = &buckets_.back();
    }
    last->members.push_back(i);
    last->flat = at::empty({last->flat.numel() + p.numel()}, last->flat.options());
  }
  planned_ = parameters.size();
}

void GradientAverager::operator()(const std::vector<at::Tensor>& parameters) {
  if (group_->worldSize() == 1) return;
  at::NoGradGuard noGrad;
  if (planned_ != parameters.size()) plan(parameters);
  const double scale = 1.0 / static_cast<double>(group_->worldSize());
  for (auto& bucket : buckets_) {
    int64_t offset = 0;
    for (size_t i : bucket.members) {
      const at::Tensor& p = parameters[i];
      at::Tensor slot = bucket.flat.narrow(0, offset, p.numel()).view(p.sizes());
      if (p.grad().defined()) slot.copy_(p.grad());
      else slot.zero_();
      offset += p.numel();
    }
    group_->allReduceSum(bucket.flat);
    bucket.flat.mul_(scale);
    offset = 0;
    for (size_t i : bucket.members) {
      at::Tensor p = parameters[i];
      const at::Tensor mean = bucket.flat.narrow(0, offset, p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(mean);
      else p.mutable_grad() = mean.clone();
      offset += p.numel();
    }
  }
}

void broadcastTrainingState(Learner& learner, Optimizer* optimizer, ProcessGroup& group) {
  if (group.worldSize() == 1) return;
  at::NoGradGuard noGrad;
  NamedTensors state = optimizer ? optimizer->state() : NamedTensors{};
  int64_t stateNumel = 0;
  for (const auto& [name, t] : state) stateNumel += t.numel();

  // Every rank's (state tensors, state elements, EMA updates): the layouts must match before any state moves.
  const at::Tensor mine = at::tensor({static_cast<double>(state.size()), static_cast<double>(stateNumel),
                                      static_cast<double>(learner.emaUpdates())},
                                     at::kDouble);
  const auto all = group.allGather(mine);
  for (size_t r = 1; r < all.size(); ++r) {
    BYOL_EXPECT_RANGE(all[r][0].item<double>() == all[0][0].item<double>() &&
                          all[r][1].item<double>() == all[0][1].item<double>(),
                      "optimizer: rank ", r, " holds ", all[r][0].item<int64_t>(), " optimizer state tensors (",
                      all[r][1].item<int64_t>(), " values) but rank 0 holds ", all[0][0].item<int64_t>(), " (",
                      all[0][1].item<int64_t>(),
                      "); every rank must start from the same state (a resumed run needs the checkpoint on every rank)");
  }
  learner.setEmaUpdates(all[0][2].item<int64_t>());

  std::vector<at::Tensor> tensors;
  auto add = [&](const std::vector<at::Tensor>& list) { tensors.insert(tensors.end(), list.begin(), list.end()); };
  for (torch::nn::Module* m : {learner.encoder().ptr().get(), static_cast<torch::nn::Module*>(learner.projector().get()),
                               static_cast<torch::nn::Module*>(learner.predictor().get())}) {
    add(m->parameters());
    add(m->buffers());
  }
  if (learner.options().useMomentum) {
    for (torch::nn::Module* m : {learner.targetEncoder().ptr().get(),
                                 static_cast<torch::nn::Module*>(learner.targetProjector().get())}) {
      add(m->parameters());
      add(m->buffers());
    }
  }
  for (auto& [name, t] : state) tensors.push_back(t);
  group.broadcastCoalesced(tensors);
  if (optimizer && !state.empty()) optimizer->loadState(state);
}

}  // namespace byol
