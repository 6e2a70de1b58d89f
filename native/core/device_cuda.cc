// core/device.h for a LibTorch with CUDA.
#include "core/device.h"

#include <ATen/Context.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/torch_compat.h"

namespace byol {
namespace {

c10::DeviceIndex indexOf(at::Device device) {
  return device.has_index() ? device.index() : c10::cuda::current_device();
}

}  // namespace

bool deviceBuildHasCuda() { return true; }

at::Tensor toDevice(const at::Tensor& tensor, at::Device device) {
  if (tensor.device() == device) return tensor;
  if (!tensor.is_cpu() || !device.is_cuda()) return tensor.to(device);
  const at::Tensor host = tensor.is_pinned() ? tensor : tensor.pin_memory();
  const c10::DeviceIndex index = indexOf(device);
  const c10::cuda::CUDAGuard onDevice(index);
  const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(index);
  const c10::cuda::CUDAStream copyStream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index);
  at::Tensor out;
  {
    const c10::cuda::CUDAStreamGuard onCopyStream(copyStream);
    // Non-blocking from pinned memory: the copy is queued and the host block is kept (the host allocator
    // records an event on this stream) until the copy is done, even if `host` is freed now.
    out = host.to(at::Device(at::kCUDA, index), /*non_blocking=*/true);
  }
  at::cuda::CUDAEvent copied;
  copied.record(copyStream);
  copied.block(compute);
  // `out` was allocated on the copy stream; the compute stream uses it from now on, so its memory must not be
  // handed out again before the compute stream's work on it is done.
  out.record_stream(compute);
  return out;
}

at::Tensor pinnedCopy(const at::Tensor& tensor) {
  if (!tensor.is_cpu() || tensor.is_pinned()) return tensor;
  // Without a GPU there is no device to copy to, hence nothing to pin for, as in a CPU build (pinning would need
  // the CUDA driver: "Found no NVIDIA driver on your system").
  if (!at::hasCUDA()) return tensor;
  return tensor.pin_memory();
}

std::optional<DeviceMemory> deviceMemory(at::Device device) {
  if (!device.is_cuda()) return std::nullopt;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(indexOf(device));
  DeviceMemory out;
  out.allocatedBytes = stats.allocated_bytes[compat::kAggregateStat].current;
  out.reservedBytes = stats.reserved_bytes[compat::kAggregateStat].current;
  out.peakAllocatedBytes = stats.allocated_bytes[compat::kAggregateStat].peak;
  return out;
}

void resetPeakDeviceMemory(at::Device device) {
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(indexOf(device));
}

void prepareDeviceForTraining(at::Device device) {
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
}

}  // namespace byol
