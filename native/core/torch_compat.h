// Every difference between the LibTorch versions this project builds against, in one place: Debian's 1.13
// (the CPU machines and CI) and a PyTorch 2.x's (CUDA builds, e.g. the GPU check's PyTorch 2.11). The rest of
// native/ calls these names and never tests the version itself. (c10d's process groups differ only in their
// base class, which core/process_group.cc's templates absorb.)
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#define BYOL_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace byol::compat {

// Autocast's thread-local switches. 2.4 made them per device type (set_autocast_enabled(DeviceType, bool));
// before, CUDA and CPU each had their own functions.
inline bool autocastEnabled(at::DeviceType type) {
#if BYOL_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(type);
#else
  return type == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline void setAutocastEnabled(at::DeviceType type, bool enabled) {
#if BYOL_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (type == at::kCUDA) {
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

inline at::ScalarType autocastDtype(at::DeviceType type) {
#if BYOL_TORCH_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(type);
#else
  return type == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void setAutocastDtype(at::DeviceType type, at::ScalarType dtype) {
#if BYOL_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == at::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

// The caching allocator's statistics index the aggregate over its pools with StatType::AGGREGATE, whose enum
// moved namespace in 2.x (c10::CachingAllocator / c10::CachingDeviceAllocator); its value is 0 in all of them.
inline constexpr std::size_t kAggregateStat = 0;

}  // namespace byol::compat
