#include "core/sync_batch_norm.h"

#include "core/errors.h"

namespace byol {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Every dim but the channels (dim 1).
std::vector<int64_t> statisticsDims(int64_t rank) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < rank; ++d) dims.push_back(d);
  return dims;
}

// A per-channel vector [C] shaped to broadcast over an input of `rank` dims: [1, C, 1, ...].
at::Tensor perChannel(const at::Tensor& v, int64_t rank) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

struct RunningStats {
  at::Tensor mean, var;
};

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, RunningStats running, SyncBatchNormArgs args, ProcessGroup* group) {
    const int64_t groups = args.groups, channels = input.size(1), rank = input.dim();
    const auto dims = statisticsDims(rank);
    const auto parts = input.chunk(groups, 0);

    // This rank's (count, mean, sum of squared deviations) per group and channel, in float64.
    at::Tensor local = at::empty({groups, 2 * channels + 1}, input.options().dtype(at::kDouble));
    for (int64_t g = 0; g < groups; ++g) {
      const auto [var, mean] = at::var_mean(parts[g], dims, /*unbiased=*/false);
      const double count = static_cast<double>(parts[g].numel() / channels);
      at::Tensor row = local[g];
      row[0].fill_(count);
      row.narrow(0, 1, channels).copy_(mean);
      row.narrow(0, 1 + channels, channels).copy_(var.to(at::kDouble) * count);
    }
    // Chan's combination over ranks, in the same order on every rank: every rank gets identical statistics.
    const at::Tensor all = at::stack(group->allGather(local));  // [W, G, 2C + 1]
    const at::Tensor counts = all.select(2, 0).unsqueeze(2);     // [W, G, 1]
    const at::Tensor means = all.narrow(2, 1, channels);
    const at::Tensor total = counts.sum(0);                       // [G, 1]
    const at::Tensor mean = (means * counts).sum(0) / total;      // [G, C]
    const at::Tensor m2 = (all.narrow(2, 1 + channels, channels) + counts * (means - mean).pow(2)).sum(0);
    const at::Tensor varBiased = m2 / total;
    const at::Tensor invstd = (varBiased + args.eps).rsqrt();

    std::vector<at::Tensor> outputs;
    outputs.reserve(groups);
    const auto type = input.scalar_type();
    for (int64_t g = 0; g < groups; ++g) {
      // The eval-mode kernel normalises with the statistics it is given: here the global ones.
      outputs.push_back(at::batch_norm(parts[g], weight, bias, mean[g].to(type), varBiased[g].to(type),
                                       /*training=*/false, 0.0, args.eps, /*cudnn_enabled=*/true));
      if (running.mean.defined()) {
        const at::Tensor unbiased = m2[g] / (total[g] - 1).clamp_min(1);
        running.mean.mul_(1 - args.momentum).add_(mean[g].to(running.mean.scalar_type()), args.momentum);
        running.var.mul_(1 - args.momentum).add_(unbiased.to(running.var.scalar_type()), args.momentum);
      }
    }
    ctx->save_for_backward({input, weight});
    ctx->saved_data["mean"] = mean.to(type);
    ctx->saved_data["invstd"] = invstd.to(type);
    ctx->saved_data["total"] = total.squeeze(1);
    ctx->saved_data["groups"] = groups;
    // The group outlives the step that records and runs this graph (the learner holds it).
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    return at::cat(outputs, 0);
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& input = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor mean = ctx->saved_data["mean"].toTensor();
    const at::Tensor invstd = ctx->saved_data["invstd"].toTensor();
    const at::Tensor total = ctx->saved_data["total"].toTensor();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    auto* group = reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
    const int64_t channels = input.size(1), rank = input.dim();
    const auto dims = statisticsDims(rank);
    const auto xs = input.chunk(groups, 0);
    const auto dys = gradOutputs[0].chunk(groups, 0);

    std::vector<at::Tensor> centred(static_cast<size_t>(groups));
    at::Tensor sums = at::empty({groups, 2 * channels}, input.options().dtype(at::kDouble));
    for (int64_t g = 0; g < groups; ++g) {
      centred[g] = xs[g] - perChannel(mean[g], rank);
      sums[g].narrow(0, 0, channels).copy_(dys[g].sum(dims));
      sums[g].narrow(0, channels, channels).copy_((dys[g] * centred[g]).sum(dims));
    }
    const at::Tensor localSums = sums.clone();
    group->allReduceSum(sums);

    const auto type = input.scalar_type();
    const at::Tensor w = weight.defined() ? weight : at::ones({channels}, input.options());
    std::vector<at::Tensor> gradInputs;
    gradInputs.reserve(groups);
    at::Tensor gradWeight = at::zeros({channels}, input.options().dtype(at::kDouble));
    at::Tensor gradBias = at::zeros({channels}, input.options().dtype(at::kDouble));
    for (int64_t g = 0; g < groups; ++g) {
      const at::Tensor n = total[g];
      const at::Tensor meanDy = (sums[g].narrow(0, 0, channels) / n).to(type);
      const at::Tensor meanDyXmu = (sums[g].narrow(0, channels, channels) / n).to(type);
      const at::Tensor scale = invstd[g] * w;
      gradInputs.push_back((dys[g] - perChannel(meanDy, rank) -
                            centred[g] * perChannel(invstd[g] * invstd[g] * meanDyXmu, rank)) *
                           perChannel(scale, rank));
      gradWeight += localSums[g].narrow(0, channels, channels) * invstd[g].to(at::kDouble);
      gradBias += localSums[g].narrow(0, 0, channels);
    }
    return {at::cat(gradInputs, 0), weight.defined() ? gradWeight.to(type) : at::Tensor(),
            weight.defined() ? gradBias.to(type) : at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor syncBatchNorm(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                         at::Tensor runningMean, at::Tensor runningVar, const SyncBatchNormArgs& args,
                         ProcessGroup& group) {
  BYOL_EXPECT_RANGE(input.dim() >= 2, "syncBatchNorm: input: expected [N, C, ...], received ", input.dim(), " dims");
  BYOL_EXPECT_RANGE(args.groups >= 1 && input.size(0) % args.groups == 0, "syncBatchNorm: input: expected a batch of ",
                    args.groups, " equal groups, received batch size ", input.size(0));
  BYOL_EXPECT_RANGE(group.supports(input.device()),
                    "syncBatchNorm: input: expected a tensor on a device the process group serves, received one on ",
                    input.device());
  return SyncBatchNormFunction::apply(input, weight, bias, RunningStats{std::move(runningMean), std::move(runningVar)},
                                      args, &group);
}

}  // namespace byol
