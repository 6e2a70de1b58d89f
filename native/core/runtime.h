// Facts about the LibTorch in use and the per-thread settings that jobs must carry.
#pragma once

#include <string>

namespace byol {

std::string libtorchVersion();  // e.g. "1.13.1"
int availableCores();           // what the process may use (affinity-aware)

// Grad mode and the intra-op thread count are thread-local in LibTorch: a job captures them where it is
// created and applies them on the worker thread that runs it.
struct ThreadSettings {
  bool gradEnabled = true;
  int numThreads = 1;

  static ThreadSettings current();
  void apply() const;  // on the calling thread
};

}  // namespace byol
