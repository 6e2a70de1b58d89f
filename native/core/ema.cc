#include "core/ema.h"

#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/ema_cpu.h"
#include "core/ema_cuda.h"
#include "core/errors.h"
#include "core/tensor_checks.h"
#ifdef BYOL_EMA_CUDA_KERNEL
#include "core/ema_cuda_launcher.h"
#endif

namespace byol {
namespace {

// --- checks --------------------------------------------------------------------------------------------

void checkPair(const at::Tensor& t, const at::Tensor& s, size_t i, const char* tn, const char* sn) {
  BYOL_EXPECT_TYPE(t.defined(), tn, "[", i, "]: expected a tensor, received an undefined tensor");
  BYOL_EXPECT_TYPE(s.defined(), sn, "[", i, "]: expected a tensor, received an undefined tensor");
  BYOL_EXPECT_TYPE(t.layout() == at::kStrided, tn, "[", i, "]: expected a strided tensor, received layout ",
                   t.layout());
  BYOL_EXPECT_TYPE(s.layout() == at::kStrided, sn, "[", i, "]: expected a strided tensor, received layout ",
                   s.layout());
  BYOL_EXPECT_RANGE(s.device() == t.device(), sn, "[", i, "]: expected a tensor on ", deviceName(t.device()),
                    " like ", tn, "[", i, "], received one on ", deviceName(s.device()));
  BYOL_EXPECT_TYPE(s.scalar_type() == t.scalar_type(), sn, "[", i, "]: expected dtype ", dtypeName(t.scalar_type()),
                   " like ", tn, "[", i, "], received ", dtypeName(s.scalar_type()));
  BYOL_EXPECT_RANGE(s.sizes().equals(t.sizes()), sn, "[", i, "]: expected shape ", shapeOf(t), " like ", tn, "[", i,
                    "], received ", shapeOf(s));
  BYOL_EXPECT_RANGE(at::has_internal_overlap(t) != at::MemOverlap::Yes, tn, "[", i,
                    "]: expected a writable tensor, received a view whose elements share memory (an expanded tensor)");
  BYOL_EXPECT_RANGE(at::get_overlap_status(t, s) != at::MemOverlapStatus::Partial, sn, "[", i,
                    "]: expected memory that does not partly overlap ", tn, "[", i, "], received a partly overlapping view");
  BYOL_EXPECT_RANGE(!t.is_inference() || c10::InferenceMode::is_enabled(), tn, "[", i,
                    "]: expected a normal tensor, received an inference tensor (created in inference mode)");
}

void checkLengths(at::TensorList targets, at::TensorList sources, const char* tn, const char* sn) {
  BYOL_EXPECT_RANGE(targets.size() == sources.size(), sn, ": expected as many tensors as ", tn, " (",
                    targets.size(), "), received ", sources.size());
}

bool emaDtype(at::ScalarType type) {
  return type == at::kFloat || type == at::kHalf || type == at::kBFloat16 || type == at::kDouble;
}

// Same memory order: strides agree on every dimension that has more than one element.
bool sameLayout(const at::Tensor& t, const at::Tensor& s) {
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) > 1 && t.stride(d) != s.stride(d)) return false;
  }
  return true;
}

// Pairs whose elements are one dense block each, in the same order: the flat kernels apply.
bool flatPair(const at::Tensor& t, const at::Tensor& s) {
  return t.is_non_overlapping_and_dense() && s.is_non_overlapping_and_dense() && sameLayout(t, s);
}

// --- CPU kernel selection ---------------------------------------------------------------------------------

bool cpuHasAvx2() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  return ema_cpu::spanAvx2 != nullptr && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

detail::EmaCpuKernel defaultCpuKernel() {
  const char* forced = std::getenv("ATEN_CPU_CAPABILITY");
  if (forced != nullptr && std::strcmp(forced, "default") == 0) return detail::EmaCpuKernel::Default;
  return cpuHasAvx2() ? detail::EmaCpuKernel::Avx2 : detail::EmaCpuKernel::Default;
}

detail::EmaCpuKernel& selectedCpuKernel() {
  static detail::EmaCpuKernel kernel = defaultCpuKernel();
  return kernel;
}

ema_cpu::SpanFn cpuSpanFn() {
  return selectedCpuKernel() == detail::EmaCpuKernel::Avx2 ? ema_cpu::spanAvx2 : &ema_cpu::spanDefault;
}

// --- the update ---------------------------------------------------------------------------------------------

struct CpuSegment {
  char* target;
  const char* source;
  int64_t numel;
  int64_t start;  // offset of its first element in the combined extent
  int64_t elementSize;
  at::ScalarType type;
};

struct CudaEntry {
  ema_cuda::Span span;
  at::ScalarType type;
  at::Device device;
  bool launched;
};

// Reused across calls so that, once grown to the largest list, a call allocates nothing.
thread_local std::vector<CpuSegment> cpuSegments;
thread_local std::vector<CudaEntry> cudaEntries;
thread_local std::vector<ema_cuda::Span> cudaGroup;

// One parallel pass over the combined extent of every CPU segment; each chunk walks the segments it covers.
void runCpu(const std::vector<CpuSegment>& segments, int64_t total, double tau) {
  const ema_cpu::SpanFn fn = cpuSpanFn();
  at::parallel_for(0, total, at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
    auto it = std::upper_bound(segments.begin(), segments.end(), begin,
                               [](int64_t pos, const CpuSegment& seg) { return pos < seg.start; });
    size_t k = static_cast<size_t>(it - segments.begin()) - 1;
    for (int64_t pos = begin; pos < end; ++k) {
      const CpuSegment& seg = segments[k];
      const int64_t offset = pos - seg.start;
      const int64_t count = std::min(seg.numel - offset, end - pos);
      fn(seg.type, seg.target + offset * seg.elementSize, seg.source + offset * seg.elementSize, count, tau);
      pos += count;
    }
  });
}

void runCuda(std::vector<CudaEntry>& entries, double tau) {
#ifdef BYOL_EMA_CUDA_KERNEL
  // One group per (device, dtype); a handful of groups at most, so a quadratic scan costs nothing.
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].launched) continue;
    cudaGroup.clear();
    for (size_t j = i; j < entries.size(); ++j) {
      if (!entries[j].launched && entries[j].type == entries[i].type && entries[j].device == entries[i].device) {
        cudaGroup.push_back(entries[j].span);
        entries[j].launched = true;
      }
    }
    ema_cuda::launchOnDevice(cudaGroup.data(), cudaGroup.size(), entries[i].type, entries[i].device, tau);
  }
#else
  TORCH_CHECK(entries.empty(), "ema: this build has no CUDA kernel");
#endif
}

bool cudaFlatDtype(at::ScalarType type) { return type == at::kFloat || type == at::kHalf || type == at::kBFloat16; }

}  // namespace

// --- public ---------------------------------------------------------------------------------------------

void checkUnitInterval(const char* name, double value) {
  BYOL_EXPECT_RANGE(std::isfinite(value) && value >= 0.0 && value <= 1.0, name, ": expected a number in [0, 1], received ",
                    value);
}

double cosineTau(double step, double totalSteps, double base) {
  checkUnitInterval("base", base);
  BYOL_EXPECT_RANGE(std::isfinite(totalSteps) && totalSteps > 0, "totalSteps: expected a positive number, received ",
                    totalSteps);
  BYOL_EXPECT_RANGE(step >= 0 && step <= totalSteps, "step: expected a number in [0, ", totalSteps,
                    "] (totalSteps), received ", step);
  return 1.0 - (1.0 - base) * (std::cos(M_PI * step / totalSteps) + 1.0) / 2.0;
}

void checkEmaArgs(at::TensorList targets, at::TensorList sources, double tau) {
  checkUnitInterval("tau", tau);
  checkLengths(targets, sources, "targets", "sources");
  for (size_t i = 0; i < targets.size(); ++i) {
    const at::Tensor& t = targets[i];
    checkPair(t, sources[i], i, "targets", "sources");
    BYOL_EXPECT_TYPE(emaDtype(t.scalar_type()), "targets[", i,
                     "]: expected a floating-point dtype (float32, float16, bfloat16 or float64), received ",
                     dtypeName(t.scalar_type()));
    // is_leaf first: for leaves the flag is not read at all, so this check (run on the JS thread by the binding)
    // never reads a flag that a queued update is clearing on the worker.
    BYOL_EXPECT_RANGE(t.is_leaf() || !t.requires_grad(), "targets[", i,
                      "]: expected a leaf tensor or one that does not require grad, received a non-leaf tensor that "
                      "requires grad");
  }
}

void ema_(at::TensorList targets, at::TensorList sources, double tau) {
  checkEmaArgs(targets, sources, tau);
  // Nothing below throws on valid input, so either every target is updated or (on a CUDA launch error) the
  // error names the failure.
  const at::NoGradGuard noGrad;
  cpuSegments.clear();
  cudaEntries.clear();
  int64_t cpuTotal = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    at::Tensor t = targets[i];
    if (t.requires_grad()) t.requires_grad_(false);
    const at::Tensor& s = sources[i];
    if (t.numel() == 0 || !flatPair(t, s)) continue;
    const at::ScalarType type = t.scalar_type();
    if (t.device().is_cpu()) {
      cpuSegments.push_back(CpuSegment{static_cast<char*>(t.data_ptr()), static_cast<const char*>(s.data_ptr()),
                                       t.numel(), cpuTotal, static_cast<int64_t>(t.element_size()), type});
      cpuTotal += t.numel();
      t.unsafeGetTensorImpl()->bump_version();
    } else if (t.device().is_cuda() && detail::emaHasCudaKernel() && cudaFlatDtype(type)) {
      cudaEntries.push_back(CudaEntry{{t.data_ptr(), s.data_ptr(), t.numel()}, type, t.device(), false});
      t.unsafeGetTensorImpl()->bump_version();
    }
  }
  if (cpuTotal > 0) runCpu(cpuSegments, cpuTotal, tau);
  if (!cudaEntries.empty()) runCuda(cudaEntries, tau);
  // Everything the flat kernels do not cover: strided in-place ops (no allocation).
  for (size_t i = 0; i < targets.size(); ++i) {
    at::Tensor t = targets[i];
    const at::Tensor& s = sources[i];
    if (t.numel() == 0) continue;
    const bool flat = flatPair(t, s);
    if (flat && t.device().is_cpu()) continue;
    if (flat && t.device().is_cuda() && detail::emaHasCudaKernel() && cudaFlatDtype(t.scalar_type())) continue;
    t.mul_(tau).add_(s, 1.0 - tau);
  }
}

void checkCopyArgs(at::TensorList targets, at::TensorList sources, const char* targetsName, const char* sourcesName) {
  checkLengths(targets, sources, targetsName, sourcesName);
  for (size_t i = 0; i < targets.size(); ++i) checkPair(targets[i], sources[i], i, targetsName, sourcesName);
}

void copyInto_(at::TensorList targets, at::TensorList sources) {
  checkCopyArgs(targets, sources);
  const at::NoGradGuard noGrad;
  for (size_t i = 0; i < targets.size(); ++i) {
    at::Tensor t = targets[i];
    t.copy_(sources[i]);
  }
}

namespace detail {

EmaCpuKernel emaCpuKernel() { return selectedCpuKernel(); }

bool emaCpuKernelAvailable(EmaCpuKernel kernel) { return kernel == EmaCpuKernel::Default || cpuHasAvx2(); }

void setEmaCpuKernel(EmaCpuKernel kernel) {
  BYOL_EXPECT_RANGE(emaCpuKernelAvailable(kernel), "kernel: expected one this CPU supports, received avx2");
  selectedCpuKernel() = kernel;
}

bool emaHasCudaKernel() {
#ifdef BYOL_EMA_CUDA_KERNEL
  return true;
#else
  return false;
#endif
}

}  // namespace detail
}  // namespace byol
