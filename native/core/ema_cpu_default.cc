// The portable build of the CPU EMA kernel (at::vec's generic vectors).
#define CPU_CAPABILITY DEFAULT
#include "core/ema_cpu_kernel.h"

#include "core/ema_cpu.h"

namespace byol::ema_cpu {

void spanDefault(c10::ScalarType type, void* target, const void* source, int64_t n, double tau) {
  DEFAULT::span(type, target, source, n, tau);
}

}  // namespace byol::ema_cpu
