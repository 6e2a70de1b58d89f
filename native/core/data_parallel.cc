#include "core/data_parallel.h"

#include "core/errors.h"
#include "core/learner.h"

namespace byol {
namespace {

std::vector<const void*> identities(const std::vector<at::Tensor>& tensors) {
  std::vector<const void*> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) out.push_back(t.unsafeGetTensorImpl());
  return out;
}

}  // namespace

GradientAverager::GradientAverager(std::shared_ptr<ProcessGroup> group, int64_t bucketBytes, bool presummed)
    : group_(std::move(group)), bucketBytes_(bucketBytes), presummed_(presummed) {
  BYOL_EXPECT_TYPE(group_ != nullptr, "group: expected a process group");
  BYOL_EXPECT_RANGE(bucketBytes_ >= 1, "bucketBytes: expected a positive integer, received ", bucketBytes_);
}

void GradientAverager::plan(const std::vector<at::Tensor>& parameters) {
  buckets_.clear();
  // Consecutive parameters of one dtype and device share a bucket until it holds bucketBytes.
  std::vector<int64_t> offsets(parameters.size());
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
    offsets[i] = last->flat.numel();
    last->members.push_back(i);
    last->flat = at::empty({last->flat.numel() + p.numel()}, last->flat.options());
  }
  slots_.assign(parameters.size(), at::Tensor());
  for (auto& bucket : buckets_) {
    bucket.flat.zero_();
    for (size_t i : bucket.members) {
      const at::Tensor& p = parameters[i];
      // A dense parameter (contiguous or channels-last) gets a slot of its own strides, so that the optimizer's
      // fused kernels still see matching layouts; anything else is copied in and out.
      if (p.is_non_overlapping_and_dense())
        slots_[i] = bucket.flat.as_strided(p.sizes(), p.strides(), bucket.flat.storage_offset() + offsets[i]);
    }
  }
  plannedFor_ = identities(parameters);
}

void GradientAverager::operator()(const std::vector<at::Tensor>& parameters) {
  if (group_->worldSize() == 1) return;
  at::NoGradGuard noGrad;
  if (identities(parameters) != plannedFor_) plan(parameters);
  const double scale = 1.0 / static_cast<double>(group_->worldSize());
  for (auto& bucket : buckets_) {
    int64_t offset = 0;
    for (size_t i : bucket.members) {
      at::Tensor p = parameters[i];
      const at::Tensor& slot = slots_[i];
      const at::Tensor& grad = p.grad();
      const bool inPlace = slot.defined() && grad.defined() && grad.data_ptr() == slot.data_ptr();
      if (!inPlace) {
        at::Tensor place = slot.defined() ? slot : bucket.flat.narrow(0, offset, p.numel()).view(p.sizes());
        if (grad.defined()) place.copy_(grad);
        else place.zero_();
        // From now on the backward accumulates into the bucket itself.
        if (slot.defined()) p.mutable_grad() = slot;
      }
      offset += p.numel();
    }
    group_->allReduceSum(bucket.flat);
    if (!presummed_) bucket.flat.mul_(scale);
    offset = 0;
    for (size_t i : bucket.members) {
      at::Tensor p = parameters[i];
      if (!slots_[i].defined()) {
        const at::Tensor mean = bucket.flat.narrow(0, offset, p.numel()).view(p.sizes());
        if (p.grad().defined()) p.mutable_grad().copy_(mean);
        else p.mutable_grad() = mean.clone();
      }
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
