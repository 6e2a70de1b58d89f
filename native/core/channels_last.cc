#include "core/channels_last.h"

namespace byol {

at::Tensor toChannelsLast(const at::Tensor& x) {
  return x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

void makeChannelsLast(torch::nn::Module& module) {
  torch::NoGradGuard noGrad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

}  // namespace byol
