// libFuzzer harness of the resnet_layout target: what it feeds and checks is in resnet_layout_target.cc.
// Built by test/fuzz/CMakeLists.txt (clang, -fsanitize=fuzzer,address,undefined); run by `npm run fuzz`.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  byol::fuzz::resnetLayout(data, size);
  return 0;
}
