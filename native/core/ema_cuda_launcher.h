// The C++ side of the CUDA EMA kernel: picks the device and its current stream, then calls ema_cuda.cu.
// Compiled only when the LibTorch has CUDA and nvcc built ema_cuda.cu (BYOL_EMA_CUDA_KERNEL).
#pragma once

#include <ATen/ATen.h>

#include <cstddef>

#include "core/ema_cuda.h"

namespace byol::ema_cuda {

// Every span lives on `device` and holds `dtype` (float32, float16 or bfloat16). Enqueues the update on the
// device's current stream (no synchronisation); throws c10::Error if a launch fails.
void launchOnDevice(const Span* spans, size_t count, at::ScalarType dtype, at::Device device, double tau);

}  // namespace byol::ema_cuda
