// libFuzzer harness of the optimizer_state target: what it feeds and checks is in optimizer_state_target.cc.
// Built by test/fuzz/CMakeLists.txt (clang, -fsanitize=fuzzer,address,undefined); run by `npm run fuzz`.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  byol::fuzz::optimizerState(data, size);
  return 0;
}
