// libFuzzer harness of the safetensors_header target: what it feeds and checks is in safetensors_header_target.cc.
// Built by test/fuzz/CMakeLists.txt (clang, -fsanitize=fuzzer,address,undefined); run by `npm run fuzz`.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  byol::fuzz::safetensorsHeader(data, size);
  return 0;
}
