#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <torch/version.h>
#include <sched.h>

#include <thread>

namespace byol {

std::string libtorchVersion() {
  return TORCH_VERSION;
}

int availableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

ThreadSettings ThreadSettings::current() {
  return ThreadSettings{at::GradMode::is_enabled(), at::get_num_threads()};
}

void ThreadSettings::apply() const {
  at::GradMode::set_enabled(gradEnabled);
  if (at::get_num_threads() != numThreads) at::set_num_threads(numThreads);
}

}  // namespace byol
