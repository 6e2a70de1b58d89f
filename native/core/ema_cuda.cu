// The multi-tensor CUDA EMA kernel: target = tau * target + (1 - tau) * source over up to kSpansPerLaunch
// tensors per launch. CUDA headers only; the C++ side (ema_cuda_launcher.cc) passes raw pointers, sizes and
// the stream.
//
// Work split: every span is cut into chunks of kChunk elements and each block takes one chunk. The span table
// and the prefix sum of chunk counts travel in the kernel's parameter space (< 4 KiB), so a launch needs no
// device memory and the host table can be reused as soon as the launch returns. A block finds its span by a
// binary search over the prefix sums. Where a span's target and source are both 16-byte aligned the block
// moves 16 bytes per load and store (4 floats or 8 halves); the rest of the chunk, or a misaligned span, goes
// element by element. Math in float32, one rounding to the storage type.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/ema_cuda.h"

namespace byol::ema_cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16384;  // elements per block: 16 float4 per thread for float32

struct LaunchArgs {
  void* target[kSpansPerLaunch];
  const void* source[kSpansPerLaunch];
  int64_t numel[kSpansPerLaunch];
  unsigned int firstChunk[kSpansPerLaunch + 1];  // firstChunk[i]: first block of span i; [count]: grid size
  int count;
  float tau;
  float oneMinusTau;
};
static_assert(sizeof(LaunchArgs) <= 4000, "kernel parameters are limited to 4 KiB");

#if defined(__CUDACC_VER_MAJOR__) && (__CUDACC_VER_MAJOR__ > 11 || (__CUDACC_VER_MAJOR__ == 11 && __CUDACC_VER_MINOR__ >= 7))
#define BYOL_GRID_CONSTANT __grid_constant__
#else
#define BYOL_GRID_CONSTANT
#endif

__device__ __forceinline__ float blend(float t, float s, float tau, float omt) { return fmaf(t, tau, s * omt); }

// Element access in float32 for each storage type.
template <typename T>
struct Element;

template <>
struct Element<float> {
  static __device__ __forceinline__ float load(const float* p) { return *p; }
  static __device__ __forceinline__ void store(float* p, float v) { *p = v; }
  // One 16-byte vector: 4 values.
  static constexpr int kPerVector = 4;
  static __device__ __forceinline__ uint4 blendVector(uint4 t, uint4 s, float tau, float omt) {
    float4 a = *reinterpret_cast<float4*>(&t);
    const float4 b = *reinterpret_cast<float4*>(&s);
    a.x = blend(a.x, b.x, tau, omt);
    a.y = blend(a.y, b.y, tau, omt);
    a.z = blend(a.z, b.z, tau, omt);
    a.w = blend(a.w, b.w, tau, omt);
    return *reinterpret_cast<uint4*>(&a);
  }
};

template <>
struct Element<__half> {
  static __device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }
  static __device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
  static constexpr int kPerVector = 8;
  static __device__ __forceinline__ uint4 blendVector(uint4 t, uint4 s, float tau, float omt) {
    __half2* a = reinterpret_cast<__half2*>(&t);
    const __half2* b = reinterpret_cast<const __half2*>(&s);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 x = __half22float2(a[k]);
      const float2 y = __half22float2(b[k]);
      a[k] = __floats2half2_rn(blend(x.x, y.x, tau, omt), blend(x.y, y.y, tau, omt));
    }
    return t;
  }
};

template <>
struct Element<__nv_bfloat16> {
  static __device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
  static __device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
  static constexpr int kPerVector = 8;
  static __device__ __forceinline__ uint4 blendVector(uint4 t, uint4 s, float tau, float omt) {
    __nv_bfloat162* a = reinterpret_cast<__nv_bfloat162*>(&t);
    const __nv_bfloat162* b = reinterpret_cast<const __nv_bfloat162*>(&s);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 x = __bfloat1622float2(a[k]);
      const float2 y = __bfloat1622float2(b[k]);
      a[k] = __floats2bfloat162_rn(blend(x.x, y.x, tau, omt), blend(x.y, y.y, tau, omt));
    }
    return t;
  }
};

template <typename T>
__global__ void __launch_bounds__(kThreads) emaKernel(const BYOL_GRID_CONSTANT LaunchArgs args) {
  // The span whose chunks contain this block: the last i with firstChunk[i] <= blockIdx.x.
  const unsigned int block = blockIdx.x;
  int lo = 0, hi = args.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (args.firstChunk[mid] <= block) lo = mid; else hi = mid - 1;
  }
  T* __restrict__ target = static_cast<T*>(args.target[lo]);
  const T* __restrict__ source = static_cast<const T*>(args.source[lo]);
  const int64_t numel = args.numel[lo];
  const int64_t begin = static_cast<int64_t>(block - args.firstChunk[lo]) * kChunk;
  const int64_t end = begin + kChunk < numel ? begin + kChunk : numel;
  const float tau = args.tau, omt = args.oneMinusTau;

  constexpr int V = Element<T>::kPerVector;
  int64_t scalarFrom = begin;
  // kChunk is a multiple of V, so a chunk of an aligned span starts aligned.
  const bool aligned = ((reinterpret_cast<uintptr_t>(target) | reinterpret_cast<uintptr_t>(source)) & 15) == 0;
  if (aligned) {
    const int64_t vectors = (end - begin) / V;
    uint4* __restrict__ tv = reinterpret_cast<uint4*>(target + begin);
    const uint4* __restrict__ sv = reinterpret_cast<const uint4*>(source + begin);
    // Four loads of each input in flight per thread before the first store.
    constexpr int U = 4;
    int64_t v = threadIdx.x;
    for (; v + (U - 1) * kThreads < vectors; v += U * kThreads) {
      uint4 a[U], b[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        a[u] = tv[v + u * kThreads];
        b[u] = __ldg(sv + v + u * kThreads);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) tv[v + u * kThreads] = Element<T>::blendVector(a[u], b[u], tau, omt);
    }
    for (; v < vectors; v += kThreads) tv[v] = Element<T>::blendVector(tv[v], __ldg(sv + v), tau, omt);
    scalarFrom = begin + vectors * V;
  }
  for (int64_t i = scalarFrom + threadIdx.x; i < end; i += kThreads) {
    Element<T>::store(target + i, blend(Element<T>::load(target + i), Element<T>::load(source + i), tau, omt));
  }
}

template <typename T>
int launchTyped(const Span* spans, int count, float tau, float oneMinusTau, cudaStream_t stream) {
  LaunchArgs args;
  args.tau = tau;
  args.oneMinusTau = oneMinusTau;
  int i = 0;
  while (i < count) {
    // Fill one launch with up to kSpansPerLaunch non-empty spans.
    args.count = 0;
    unsigned long long blocks = 0;
    for (; i < count && args.count < kSpansPerLaunch; ++i) {
      if (spans[i].numel <= 0) continue;
      const unsigned long long chunks = (static_cast<unsigned long long>(spans[i].numel) + kChunk - 1) / kChunk;
      if (args.count > 0 && blocks + chunks > 0x7fffffffULL) break;  // grid.x limit: start a new launch
      const int k = args.count++;
      args.target[k] = spans[i].target;
      args.source[k] = spans[i].source;
      args.numel[k] = spans[i].numel;
      args.firstChunk[k] = static_cast<unsigned int>(blocks);
      blocks += chunks;
    }
    if (args.count == 0) continue;
    args.firstChunk[args.count] = static_cast<unsigned int>(blocks);
    emaKernel<T><<<static_cast<unsigned int>(blocks), kThreads, 0, stream>>>(args);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return static_cast<int>(err);
  }
  return 0;
}

}  // namespace

int launch(const Span* spans, int count, ElementType type, float tau, float oneMinusTau, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case kFloat32: return launchTyped<float>(spans, count, tau, oneMinusTau, s);
    case kFloat16: return launchTyped<__half>(spans, count, tau, oneMinusTau, s);
    case kBFloat16: return launchTyped<__nv_bfloat16>(spans, count, tau, oneMinusTau, s);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

const char* errorString(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

}  // namespace byol::ema_cuda
