#include "core/sync_batch_norm.h"

#include "core/errors.h"

namespace byol {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A per-channel vector [C] shaped to broadcast over an input of `rank` dims: [1, C, 1, ...].
at::Tensor perChannel(const at::Tensor& v, int64_t rank) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

struct RunningStats {
  at::Tensor mean, var;
};

// The per-channel statistics and gradients come from ATen's own BatchNorm CPU kernels (one fused pass each, as
// the unsynchronised layer runs); only per-channel vectors are computed here and exchanged.
struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, RunningStats running, SyncBatchNormArgs args, ProcessGroup* group) {
    const int64_t groups = args.groups, channels = input.size(1);
    const auto parts = input.chunk(groups, 0);

    // This rank's (count, mean, sum of squared deviations) per group and channel, in float64.
    at::Tensor local = at::empty({groups, 2 * channels + 1}, input.options().dtype(at::kDouble));
    for (int64_t g = 0; g < groups; ++g) {
      // The kernel behind BatchNorm's training statistics (biased variance); no running statistics passed.
      const auto [mean, var] = at::batch_norm_update_stats(parts[g], {}, {}, 0.0);
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

    std::vector<at::Tensor> outputs;
    outputs.reserve(groups);
    const auto type = input.scalar_type();
    const at::Tensor meanT = mean.to(type), varT = varBiased.to(type);
    for (int64_t g = 0; g < groups; ++g) {
      // The eval-mode kernel normalises with the statistics it is given: here the global ones.
      outputs.push_back(at::batch_norm(parts[g], weight, bias, meanT[g], varT[g], /*training=*/false, 0.0, args.eps,
                                       /*cudnn_enabled=*/true));
      if (running.mean.defined()) {
        const at::Tensor unbiased = m2[g] / (total[g] - 1).clamp_min(1);
        running.mean.mul_(1 - args.momentum).add_(mean[g].to(running.mean.scalar_type()), args.momentum);
        running.var.mul_(1 - args.momentum).add_(unbiased.to(running.var.scalar_type()), args.momentum);
      }
    }
    ctx->save_for_backward({input, weight});
    ctx->saved_data["mean"] = meanT;
    ctx->saved_data["var"] = varT;
    ctx->saved_data["total"] = total.squeeze(1);
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["eps"] = args.eps;
    // The group outlives the step that records and runs this graph (the learner holds it).
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    return groups == 1 ? outputs.front() : at::cat(outputs, 0);
  }

  // With S1 = sum(dy) and S2 = sum(dy * (x - mean)) over every rank's rows of a group, N their count, and
  // a = w * invstd:  dx = a * (dy - S1 / N - (x - mean) * invstd^2 * S2 / N) = a * dy - (alpha * x + beta),
  // alpha = a * invstd^2 * S2 / N, beta = a * S1 / N - alpha * mean. ATen's eval-mode backward gives a * dy
  // and this rank's sums (its grad_bias is S1, its grad_weight S2 * invstd) in one pass; the ranks' sums are
  // all-reduced; the affine correction is one more pass.
  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& input = saved[0];
    const int64_t channels = input.size(1), rank = input.dim();
    const at::Tensor weight = saved[1].defined() ? saved[1] : at::ones({channels}, input.options());
    const at::Tensor mean = ctx->saved_data["mean"].toTensor();
    const at::Tensor var = ctx->saved_data["var"].toTensor();
    const at::Tensor total = ctx->saved_data["total"].toTensor();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const double eps = ctx->saved_data["eps"].toDouble();
    auto* group = reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
    const auto xs = input.chunk(groups, 0);
    const auto dys = gradOutputs[0].chunk(groups, 0);

    std::vector<at::Tensor> gradInputs(static_cast<size_t>(groups));
    at::Tensor gradWeight = at::zeros({channels}, input.options());
    at::Tensor gradBias = at::zeros({channels}, input.options());
    at::Tensor sums = at::empty({groups, 2 * channels}, input.options().dtype(at::kDouble));
    const at::Tensor invstd = (var.to(at::kDouble) + eps).rsqrt();  // [G, C]
    for (int64_t g = 0; g < groups; ++g) {
      auto [dx, dw, db] = at::native_batch_norm_backward(dys[g].contiguous(xs[g].suggest_memory_format()), xs[g], weight,
                                                         mean[g], var[g], {}, {}, /*train=*/false, eps,
                                                         {true, true, true});
      gradInputs[g] = dx;
      gradWeight += dw;
      gradBias += db;
      sums[g].narrow(0, 0, channels).copy_(db);
      sums[g].narrow(0, channels, channels).copy_(dw.to(at::kDouble) / invstd[g]);
    }
    group->allReduceSum(sums);

    const auto type = input.scalar_type();
    for (int64_t g = 0; g < groups; ++g) {
      const at::Tensor a = weight.to(at::kDouble) * invstd[g];
      const at::Tensor alpha = a * invstd[g] * invstd[g] * sums[g].narrow(0, channels, channels) / total[g];
      const at::Tensor beta = a * sums[g].narrow(0, 0, channels) / total[g] - alpha * mean[g].to(at::kDouble);
      gradInputs[g].addcmul_(xs[g], perChannel(alpha.to(type), rank), -1).sub_(perChannel(beta.to(type), rank));
    }
    const bool affine = saved[1].defined();
    return {groups == 1 ? gradInputs.front() : at::cat(gradInputs, 0), affine ? gradWeight : at::Tensor(),
            affine ? gradBias : at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
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
