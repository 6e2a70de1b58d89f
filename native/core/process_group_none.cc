// The process group's backend in a build without Gloo's headers (CMake found no gloo/algorithm.h: e.g. a
// LibTorch that does not ship them, on a machine without libgloo-dev). Everything else works; joining a group
// says why it cannot.
#include "core/errors.h"
#include "core/process_group.h"

namespace byol {

std::shared_ptr<ProcessGroup> detail::openProcessGroup(const ProcessGroupOptions&) {
  throw DistributedError(
      "data-parallel training is not in this build of byol-torch: Gloo's headers (gloo/algorithm.h) were not found "
      "when it was built; install them (Debian: libgloo-dev) and rebuild");
}

}  // namespace byol
