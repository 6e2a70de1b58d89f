// BatchNorm with per-group statistics. A batch made of G equal groups along dim 0 (the BYOL views
// concatenated) is normalised with each group's own statistics, exactly as G separate passes would be,
// and the running statistics are updated as those G passes would update them (in order). The
// convolutions around it still see the large batch. groups = 1 is plain BatchNorm; in eval mode the
// running statistics are used and groups does not matter.
//
// State-dict keys are exactly PyTorch's BatchNorm keys (weight, bias, running_mean, running_var,
// num_batches_tracked), so a network built from it loads torchvision weights.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "core/process_group.h"

namespace byol {

struct GroupBatchNormOptions {
  GroupBatchNormOptions(int64_t spatialDims, int64_t numFeatures)
      : spatial_dims_(spatialDims), num_features_(numFeatures) {}
  // 1: BatchNorm1d, inputs [N, C] or [N, C, L]; 2: BatchNorm2d, inputs [N, C, H, W].
  TORCH_ARG(int64_t, spatial_dims);
  TORCH_ARG(int64_t, num_features);
  TORCH_ARG(double, eps) = 1e-5;
  TORCH_ARG(double, momentum) = 0.1;
  TORCH_ARG(bool, affine) = true;
  TORCH_ARG(bool, track_running_stats) = true;
  TORCH_ARG(int64_t, groups) = 1;
};

class GroupBatchNormImpl : public torch::nn::Cloneable<GroupBatchNormImpl> {
 public:
  explicit GroupBatchNormImpl(const GroupBatchNormOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  at::Tensor forward(const at::Tensor& input);

  // Number of equal groups the next training-mode batches are split into (>= 1).
  void setGroups(int64_t groups);
  int64_t groups() const { return options.groups(); }
  // Training-mode statistics over every rank of `group` (synchronised BatchNorm, core/sync_batch_norm);
  // nullptr: this process's batch only.
  void setSync(std::shared_ptr<ProcessGroup> group) { sync_ = std::move(group); }

  GroupBatchNormOptions options;
  at::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  std::shared_ptr<ProcessGroup> sync_;
};
TORCH_MODULE(GroupBatchNorm);

GroupBatchNorm groupBatchNorm1d(int64_t features, int64_t groups = 1);
GroupBatchNorm groupBatchNorm2d(int64_t features, int64_t groups = 1);

// Sets `groups` (and the process group that synchronises them) on every GroupBatchNorm inside `module`
// (itself included); returns how many it found.
int64_t setBatchNormGroups(torch::nn::Module& module, int64_t groups, const std::shared_ptr<ProcessGroup>& sync = nullptr);

// Splits the BatchNorm statistics of `modules` into `groups` (and, given a process group, synchronises them
// over its ranks) for as long as the scope lives, and puts them back to 1 group, unsynchronised, when it ends,
// even when a forward pass throws. groups = 1 without a process group does nothing.
class BatchNormGroupsScope {
 public:
  BatchNormGroupsScope(std::vector<torch::nn::Module*> modules, int64_t groups,
                       std::shared_ptr<ProcessGroup> sync = nullptr);
  ~BatchNormGroupsScope();
  BatchNormGroupsScope(const BatchNormGroupsScope&) = delete;
  BatchNormGroupsScope& operator=(const BatchNormGroupsScope&) = delete;

 private:
  std::vector<torch::nn::Module*> modules_;
};

}  // namespace byol
