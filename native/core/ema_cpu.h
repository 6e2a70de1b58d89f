// Entry points of the two builds of the CPU EMA kernel (ema_cpu_kernel.h); used only by ema.cc.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

namespace byol::ema_cpu {

// target[0..n) = tau * target + (1 - tau) * source for float32, float64, float16 or bfloat16.
using SpanFn = void (*)(c10::ScalarType type, void* target, const void* source, int64_t n, double tau);

void spanDefault(c10::ScalarType type, void* target, const void* source, int64_t n, double tau);
// Null where this build has no AVX2 kernel (not x86-64).
extern const SpanFn spanAvx2;

}  // namespace byol::ema_cpu
