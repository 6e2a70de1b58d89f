# -DBYOL_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer build of native/core and its GoogleTest
# suite (scripts/test-sanitize.sh, `npm run test:sanitize`). Included at the end of CMakeLists.txt, once the
# targets exist. Use a build folder of its own (build-sanitize/): nothing built here may mix with build/.
#
# - The flags go on byol_core as PUBLIC compile and link options, so byol_core_tests (and anything else that
#   links byol_core) compiles and links with exactly the same ones. That also keeps the precompiled header
#   honest: byol_core_tests reuses byol_core's PCH, and GCC ignores a PCH built with other flags (CMake
#   passes -Winvalid-pch, so such a mismatch shows as a warning in the build log, not only as a slow build).
# - UB stops the test at the first finding (-fno-sanitize-recover=undefined) with the stack that
#   UBSAN_OPTIONS=print_stacktrace=1 prints; ASan findings are fatal anyway.
# - Only C++ gets the flags: nvcc (native/core/cuda.cmake) would reject them.
# - The Node addon is not built (EXCLUDE_FROM_ALL, and the script builds byol_core_tests only): a sanitized
#   shared object loaded into an uninstrumented node needs libasan LD_PRELOADed into node, and ASan then
#   also checks node and V8 themselves (which report their own leaks and allocator quirks at exit); that is a
#   different job, with its own suppressions, from checking our core.
# - Frame pointers and -g give whole, symbolised stacks; -O1 keeps them honest (no tail calls folded away)
#   at a fraction of -O0's run time.
# - -Wno-maybe-uninitialized: the instrumentation makes GCC report c10::optional<Tensor> members inside
#   LibTorch's headers as maybe uninitialised (9 warnings, from byol_loss.cc and three test files); GCC's manual
#   warns that sanitizers raise this warning's false-positive rate. The normal build keeps the warning.

option(BYOL_SANITIZE "Build native/core and its tests with AddressSanitizer + UndefinedBehaviorSanitizer" OFF)
if(NOT BYOL_SANITIZE)
  return()
endif()

if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  message(FATAL_ERROR "byol-torch: BYOL_SANITIZE needs GCC or Clang (found ${CMAKE_CXX_COMPILER_ID})")
endif()

set(BYOL_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
target_compile_options(byol_core PUBLIC
  "$<$<COMPILE_LANGUAGE:CXX>:${BYOL_SANITIZE_FLAGS};-g;-O1;-Wno-maybe-uninitialized>")
target_link_options(byol_core PUBLIC ${BYOL_SANITIZE_FLAGS})
if(TARGET byol_addon)
  set_target_properties(byol_addon PROPERTIES EXCLUDE_FROM_ALL ON)
endif()
message(STATUS "byol-torch: sanitized build (ASan + UBSan) of byol_core and byol_core_tests; the Node addon is skipped")
