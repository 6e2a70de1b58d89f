// The boundary between the CUDA EMA kernel (ema_cuda.cu, compiled by nvcc with CUDA headers only) and C++:
// plain types, raw pointers, sizes and a stream passed as void*. No CUDA or LibTorch header here.
#pragma once

#include <cstdint>

namespace byol::ema_cuda {

enum ElementType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// One tensor's contiguous memory: `numel` elements of the group's element type.
struct Span {
  void* target;
  const void* source;
  int64_t numel;
};

// How many spans one kernel launch covers; launch() issues ceil(count / kSpansPerLaunch) launches.
constexpr int kSpansPerLaunch = 128;

// target = tau * target + oneMinusTau * source over every span (all on the current device, all of `type`),
// enqueued on `stream` (a cudaStream_t). Returns 0 or the cudaError_t of the first failed launch; spans
// with numel 0 are skipped. Allocates nothing.
int launch(const Span* spans, int count, ElementType type, float tau, float oneMinusTau, void* stream);

// cudaGetErrorString for a code returned by launch().
const char* errorString(int code);

}  // namespace byol::ema_cuda
