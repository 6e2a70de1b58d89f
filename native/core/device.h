// Where tensors live and how they get there: the host-to-device path of a training step, the device's memory
// figures and the settings a CUDA run wants.
//
// One header, two implementations chosen by CMake: device_cuda.cc when the LibTorch has CUDA (it needs
// c10_cuda), device_host.cc otherwise (every call then means the CPU).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>

namespace byol {

// Whether this build can use CUDA devices (linked against a CUDA LibTorch).
bool deviceBuildHasCuda();

// `tensor` on `device`. CPU -> CUDA goes from pinned (page-locked) host memory — the tensor itself when pinned,
// else a pinned copy made here — on a side stream that the device's current stream then waits for: the copy
// overlaps the kernels already queued (the previous step), and the calling thread never waits for the device.
// Every other move is Tensor::to.
at::Tensor toDevice(const at::Tensor& tensor, at::Device device);

// A pinned copy of a CPU tensor, for later non-blocking copies to a CUDA device. The tensor itself when it is
// pinned already, or this build has no CUDA or sees no GPU (nothing to pin for).
at::Tensor pinnedCopy(const at::Tensor& tensor);

struct DeviceMemory {
  int64_t allocatedBytes = 0;  // held by live tensors
  int64_t reservedBytes = 0;   // held by the caching allocator (allocated + cached)
  int64_t peakAllocatedBytes = 0;  // since the start or the last resetPeakDeviceMemory
};
// The caching allocator's figures for a CUDA device; nullopt for the CPU.
std::optional<DeviceMemory> deviceMemory(at::Device device);
void resetPeakDeviceMemory(at::Device device);

// What a training run on `device` wants once: on CUDA, cuDNN's benchmark mode (it times the convolution
// algorithms for each new shape once and keeps the fastest; a training run repeats the same shapes). Nothing
// on the CPU.
void prepareDeviceForTraining(at::Device device);

}  // namespace byol
