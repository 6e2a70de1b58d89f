// Linked into every libFuzzer harness: one intra-op thread. The fuzzed tensors are tiny, and LibTorch's OpenMP
// pool would only add threads whose scheduling makes executions slower and less repeatable.
#include <ATen/Parallel.h>

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  at::set_num_threads(1);
  return 0;
}
