// The AVX2 + FMA + F16C build of the CPU EMA kernel. native/core/sources.cmake compiles this file with
// -mavx2 -mfma -mf16c and CPU_CAPABILITY=AVX2 on x86-64 (plus CPU_CAPABILITY_AVX2 where sleef.h is there for
// at::vec's AVX2 headers); ema.cc calls it only where the CPU has all three.
#include "core/ema_cpu.h"

#if defined(__AVX2__)
#include "core/ema_cpu_kernel.h"

namespace byol::ema_cpu {
namespace {
void spanAvx2Impl(c10::ScalarType type, void* target, const void* source, int64_t n, double tau) {
  AVX2::span(type, target, source, n, tau);
}
}  // namespace
const SpanFn spanAvx2 = &spanAvx2Impl;
}  // namespace byol::ema_cpu

#else
namespace byol::ema_cpu {
const SpanFn spanAvx2 = nullptr;
}  // namespace byol::ema_cpu
#endif
