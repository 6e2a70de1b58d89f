// The target network's exponential moving average: target = tau * target + (1 - tau) * source, in place,
// over a whole parameter list in one call.
//
// Contract (checked for every pair before anything is written, so a bad call changes no target):
//   - as many sources as targets; each pair has the same shape, dtype and device;
//   - dtypes: float32, float16, bfloat16 (math in float32) and float64 (math in float64);
//   - tau finite and in [0, 1]; tau = 1 leaves the targets bit for bit, tau = 0 copies the sources exactly;
//   - a target is writable (no expanded/self-overlapping view, no partial overlap with its source) and is a
//     leaf or does not require grad. The update runs under NoGradGuard and every target ends with
//     requires_grad = false: the target network never gets gradients (BYOL.md).
//
// How it runs:
//   - Pairs whose memory is dense with identical strides (contiguous, channels-last, ...) take the fast path.
//     CPU: one at::parallel_for over the combined element count of all such pairs (every dtype), each chunk
//     mapped onto its tensor segments. The span kernel (ema_cpu_kernel.h) is built twice and chosen at run
//     time: AVX2+FMA+F16C where the CPU has it (at::vec's AVX2 vectors when sleef.h is installed, else loops
//     the compiler vectorises; F16C intrinsics for float16), and a portable build (plain loops; float16 there
//     converts in software, ~10x slower than float32). ATEN_CPU_CAPABILITY=default forces the portable one.
//     CUDA: a multi-tensor kernel (native/core/ema_cuda.cu) per (device, dtype) group on the current stream,
//     when this build has it (BYOL_EMA_CUDA_KERNEL).
//   - Any other pair (non-dense or differently strided views, float64 on CUDA, a CUDA build without the
//     kernel) is updated with in-place strided ops under no-grad: target.mul_(tau).add_(source, 1 - tau). Two
//     passes, for 16-bit dtypes one extra rounding, and no tensor-sized allocation (ATen wraps the scalar in a
//     0-dim tensor).
//   - The fast path allocates no tensor memory (test/native/ema_test.cc counts). The segment table lives in a
//     thread_local vector that keeps its capacity, so after the first call with the largest list there is no
//     heap allocation at all.
//   - Writes through raw pointers bump each target's version counter, as an in-place op would.
#pragma once

#include <ATen/ATen.h>

namespace byol {

// Checks the contract above and throws byol::TypeError / byol::RangeError naming the offending element
// ("sources[3]: expected shape [64, 3, 7, 7] like targets[3], received [64, 3, 3, 3]"). Writes nothing.
void checkEmaArgs(at::TensorList targets, at::TensorList sources, double tau);

// target = tau * target + (1 - tau) * source for every pair; checks first (see checkEmaArgs).
void ema_(at::TensorList targets, at::TensorList sources, double tau);

// Checks that `targets[i].copy_(sources[i])` is valid for every pair (lengths, shape, dtype, device,
// writable targets). Any dtype. Writes nothing.
void checkCopyArgs(at::TensorList targets, at::TensorList sources, const char* targetsName = "targets",
                   const char* sourcesName = "sources");

// Copies every source into its target in place under no-grad (BatchNorm running statistics from the
// online to the target network); checks first (see checkCopyArgs).
void copyInto_(at::TensorList targets, at::TensorList sources);

// Throws RangeError "<name>: expected a number in [0, 1], received <value>" unless value is finite in [0, 1]:
// the one range check of tau and of the decay base, wherever they come from.
void checkUnitInterval(const char* name, double value);

// The paper's schedule: tau_k = 1 - (1 - base) * (cos(pi k / K) + 1) / 2, from `base` at step 0 up to 1 at
// step K = totalSteps. The paper uses base 0.996 (1000 epochs); DeepMind's presets 0.99 (100-300 epochs) and
// 0.97 (40 epochs). Throws RangeError naming base, totalSteps (> 0) or step (in [0, totalSteps]).
double cosineTau(double step, double totalSteps, double base);

namespace detail {
// Which CPU kernel build runs: the AVX2 one where the CPU supports it, unless the environment variable
// ATEN_CPU_CAPABILITY is "default". Tests force each in turn.
enum class EmaCpuKernel { Default, Avx2 };
EmaCpuKernel emaCpuKernel();
bool emaCpuKernelAvailable(EmaCpuKernel kernel);
void setEmaCpuKernel(EmaCpuKernel kernel);  // throws RangeError if the CPU lacks it
// Whether CUDA tensors use the multi-tensor kernel (true) or the strided fallback (false) in this build.
bool emaHasCudaKernel();
}  // namespace detail

}  // namespace byol
