// Data-parallel training over a ProcessGroup: what makes every rank's learner take the same step.
//   - GradientAverager: after the last micro-batch's backward (Learner's gradients-complete point), the mean of
//     every online gradient over the ranks, in flat buckets (one all-reduce per bucket, not per tensor). The
//     gradients become views into the buckets (DDP's gradient_as_bucket_view), so from the second step on the
//     backward accumulates straight into them and nothing is copied in or out.
//   - broadcastTrainingState: at the start (and after a resume), rank 0's online and target weights, BatchNorm
//     buffers, optimizer state and schedule position on every rank.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "core/optim.h"
#include "core/process_group.h"

namespace byol {

class Learner;

class GradientAverager {
 public:
  // 25 MiB buckets: DDP's default, large enough that per-call latency does not matter.
  static constexpr int64_t kDefaultBucketBytes = 25 << 20;

  // `presummed`: the gradients already carry the 1/worldSize factor (the learner divides its loss), so the
  // all-reduced sum is the mean; otherwise the sum is divided here.
  explicit GradientAverager(std::shared_ptr<ProcessGroup> group, int64_t bucketBytes = kDefaultBucketBytes,
                            bool presummed = false);

  // Replaces each parameter's gradient by its mean over the ranks. A parameter without a gradient takes part
  // as zeros (every rank must send the same layout) and gets the mean as its gradient. Afterwards every
  // gradient is a view into a bucket; a gradient replaced meanwhile (set to none, reassigned) is copied in and
  // becomes a view again.
  void operator()(const std::vector<at::Tensor>& parameters);

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into the parameter list
    at::Tensor flat;
  };
  // Parameter i's place in its bucket, shaped and strided as the parameter (dense layouts), else undefined.
  std::vector<at::Tensor> slots_;
  void plan(const std::vector<at::Tensor>& parameters);

  std::shared_ptr<ProcessGroup> group_;
  int64_t bucketBytes_;
  bool presummed_;
  std::vector<Bucket> buckets_;
  // The parameters the buckets were planned for (their identities): another list gets new buckets.
  std::vector<const void*> plannedFor_;
};

// Makes every rank's learner and optimizer state rank 0's: online and target parameters and buffers, the
// optimizer's state tensors and step count, and the EMA schedule position. Throws RangeError (on every rank)
// when the ranks' optimizer states differ in layout (e.g. only some ranks resumed from a checkpoint).
void broadcastTrainingState(Learner& learner, Optimizer* optimizer, ProcessGroup& group);

}  // namespace byol
