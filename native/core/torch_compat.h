// LibTorch API that differs between the 2.x releases byol-torch builds against (2.4 or newer, checked by
// cmake/FindLibTorchLocations.cmake), in one place: the rest of native/ calls these names.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <cstddef>

namespace byol::compat {

// Autocast's thread-local switches, per device type.
inline bool autocastEnabled(at::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
inline void setAutocastEnabled(at::DeviceType type, bool enabled) { at::autocast::set_autocast_enabled(type, enabled); }
inline at::ScalarType autocastDtype(at::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
inline void setAutocastDtype(at::DeviceType type, at::ScalarType dtype) { at::autocast::set_autocast_dtype(type, dtype); }

// The caching allocator's statistics index the aggregate over its pools with StatType::AGGREGATE, whose enum
// moved namespace during 2.x (c10::CachingAllocator, then c10::CachingDeviceAllocator); its value is 0 in all.
inline constexpr std::size_t kAggregateStat = 0;

}  // namespace byol::compat
