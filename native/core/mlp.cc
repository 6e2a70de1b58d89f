#include "core/mlp.h"

#include "core/errors.h"
#include "core/tensor_checks.h"

namespace byol {

MLPImpl::MLPImpl(const MLPOptions& options_) : options(options_) {
  BYOL_EXPECT_RANGE(options.in_features() >= 1, "mlp: inFeatures: expected a positive integer, received ",
                    options.in_features());
  BYOL_EXPECT_RANGE(options.hidden_size() >= 1, "mlp: hiddenSize: expected a positive integer, received ",
                    options.hidden_size());
  BYOL_EXPECT_RANGE(options.out_features() >= 1, "mlp: projectionSize: expected a positive integer, received ",
                    options.out_features());
  reset();
}

void MLPImpl::reset() {
  net = torch::nn::Sequential();
  net->push_back(torch::nn::Linear(options.in_features(), options.hidden_size()));
  net->push_back(groupBatchNorm1d(options.hidden_size()));
  net->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
  net->push_back(torch::nn::Linear(options.hidden_size(), options.out_features()));
  register_module("net", net);
}

void MLPImpl::pretty_print(std::ostream& stream) const {
  stream << "byol::MLP(" << options.in_features() << " -> " << options.hidden_size() << " -> "
         << options.out_features() << ")";
}

at::Tensor MLPImpl::forward(const at::Tensor& x) {
  BYOL_EXPECT_RANGE(x.dim() == 2 && x.size(1) == options.in_features(), "mlp: input: expected a tensor [N, ",
                    options.in_features(), "], received shape ", shapeOf(x));
  return net->forward(x);
}

}  // namespace byol
