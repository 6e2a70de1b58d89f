// core/device.h for a LibTorch without CUDA: there is only the CPU (a CUDA device name was refused earlier, by
// core/dtype's parseDevice).
#include "core/device.h"

namespace byol {

bool deviceBuildHasCuda() { return false; }

at::Tensor toDevice(const at::Tensor& tensor, at::Device device) {
  return tensor.device() == device ? tensor : tensor.to(device);
}

at::Tensor pinnedCopy(const at::Tensor& tensor) { return tensor; }

std::optional<DeviceMemory> deviceMemory(at::Device) { return std::nullopt; }

void resetPeakDeviceMemory(at::Device) {}

void prepareDeviceForTraining(at::Device) {}

}  // namespace byol
