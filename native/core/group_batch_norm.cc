#include "core/group_batch_norm.h"

#include "core/errors.h"
#include "core/sync_batch_norm.h"
#include "core/tensor_checks.h"

namespace byol {

GroupBatchNormImpl::GroupBatchNormImpl(const GroupBatchNormOptions& options_) : options(options_) {
  BYOL_EXPECT_RANGE(options.spatial_dims() == 1 || options.spatial_dims() == 2,
                    "batchNorm: spatialDims: expected 1 or 2, received ", options.spatial_dims());
  BYOL_EXPECT_RANGE(options.num_features() >= 1, "batchNorm: numFeatures: expected a positive integer, received ",
                    options.num_features());
  BYOL_EXPECT_RANGE(options.eps() > 0, "batchNorm: eps: expected a positive number, received ", options.eps());
  BYOL_EXPECT_RANGE(options.momentum() >= 0 && options.momentum() <= 1,
                    "batchNorm: momentum: expected a number in [0, 1], received ", options.momentum());
  setGroups(options.groups());
  reset();
}

void GroupBatchNormImpl::reset() {
  const int64_t c = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
  } else {
    weight = bias = at::Tensor();
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  } else {
    running_mean = running_var = num_batches_tracked = at::Tensor();
  }
}

void GroupBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << "byol::GroupBatchNorm" << options.spatial_dims() << "d(" << options.num_features()
         << ", eps=" << options.eps() << ", momentum=" << options.momentum() << ", groups=" << options.groups() << ")";
}

void GroupBatchNormImpl::setGroups(int64_t groups) {
  BYOL_EXPECT_RANGE(groups >= 1, "groups: expected a positive integer, received ", groups);
  options.groups(groups);
}

at::Tensor GroupBatchNormImpl::forward(const at::Tensor& input) {
  const int64_t rank = input.dim();
  if (options.spatial_dims() == 2) {
    BYOL_EXPECT_RANGE(rank == 4, "batchNorm2d: input: expected a 4-d tensor [N, C, H, W], received shape ",
                      shapeOf(input));
  } else {
    BYOL_EXPECT_RANGE(rank == 2 || rank == 3, "batchNorm1d: input: expected a 2-d or 3-d tensor [N, C(, L)], received shape ",
                      shapeOf(input));
  }
  BYOL_EXPECT_RANGE(input.size(1) == options.num_features(), "batchNorm: input: expected ", options.num_features(),
                    " channels (dim 1), received shape ", shapeOf(input));
  const bool batchStats = is_training() || !options.track_running_stats();
  const bool update = is_training() && options.track_running_stats();
  const int64_t groups = batchStats ? options.groups() : 1;
  const int64_t n = input.size(0);
  BYOL_EXPECT_RANGE(n % groups == 0, "batchNorm: input: expected a batch of ", groups,
                    " equal groups (batch size divisible by ", groups, "), received batch size ", n);
  if (sync_ && is_training()) {
    if (update) num_batches_tracked.add_(groups);
    return syncBatchNorm(input, weight, bias, update ? running_mean : at::Tensor(), update ? running_var : at::Tensor(),
                         SyncBatchNormArgs{groups, options.momentum(), options.eps()}, *sync_);
  }
  if (groups == 1) {
    if (update) num_batches_tracked.add_(1);
    return at::batch_norm(input, weight, bias, running_mean, running_var, batchStats, options.momentum(),
                          options.eps(), /*cudnn_enabled=*/true);
  }
  // Each group is one of the separate passes: the same op on the same rows, running statistics updated
  // in group order.
  std::vector<at::Tensor> outputs;
  outputs.reserve(groups);
  for (const at::Tensor& part : input.chunk(groups, 0)) {
    outputs.push_back(at::batch_norm(part, weight, bias, running_mean, running_var, batchStats, options.momentum(),
                                     options.eps(), /*cudnn_enabled=*/true));
  }
  if (update) num_batches_tracked.add_(groups);
  return at::cat(outputs, 0);
}

GroupBatchNorm groupBatchNorm1d(int64_t features, int64_t groups) {
  return GroupBatchNorm(GroupBatchNormOptions(1, features).groups(groups));
}

GroupBatchNorm groupBatchNorm2d(int64_t features, int64_t groups) {
  return GroupBatchNorm(GroupBatchNormOptions(2, features).groups(groups));
}

int64_t setBatchNormGroups(torch::nn::Module& module, int64_t groups, const std::shared_ptr<ProcessGroup>& sync) {
  BYOL_EXPECT_RANGE(groups >= 1, "groups: expected a positive integer, received ", groups);
  int64_t found = 0;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* bn = dynamic_cast<GroupBatchNormImpl*>(m.get())) {
      bn->setGroups(groups);
      bn->setSync(sync);
      ++found;
    }
  }
  return found;
}

BatchNormGroupsScope::BatchNormGroupsScope(std::vector<torch::nn::Module*> modules, int64_t groups,
                                           std::shared_ptr<ProcessGroup> sync)
    : modules_(groups == 1 && !sync ? std::vector<torch::nn::Module*>{} : std::move(modules)) {
  for (auto* m : modules_) setBatchNormGroups(*m, groups, sync);
}

BatchNormGroupsScope::~BatchNormGroupsScope() {
  for (auto* m : modules_) setBatchNormGroups(*m, 1);
}

}  // namespace byol
