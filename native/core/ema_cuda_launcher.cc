#include "core/ema_cuda_launcher.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace byol::ema_cuda {

void launchOnDevice(const Span* spans, size_t count, at::ScalarType dtype, at::Device device, double tau) {
  ElementType type = kFloat32;
  switch (dtype) {
    case at::kFloat: type = kFloat32; break;
    case at::kHalf: type = kFloat16; break;
    case at::kBFloat16: type = kBFloat16; break;
    default: TORCH_CHECK(false, "ema: the CUDA kernel has no ", dtype, " version");
  }
  TORCH_CHECK(device.is_cuda() && device.has_index(), "ema: expected a CUDA device with an index, received ", device);
  const c10::cuda::CUDAGuard guard(device);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device.index()).stream();
  const int rc = launch(spans, static_cast<int>(count), type, static_cast<float>(tau), static_cast<float>(1.0 - tau),
                        static_cast<void*>(stream));
  TORCH_CHECK(rc == 0, "ema: the CUDA kernel failed on ", device, ": ", errorString(rc));
}

}  // namespace byol::ema_cuda
