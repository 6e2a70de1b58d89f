#!/usr/bin/env bash
# The GoogleTest suite of native/core under AddressSanitizer + UndefinedBehaviorSanitizer (`npm run
# test:sanitize`). Not part of `npm test`: the sanitized build and run take longer than CI's budget allows.
#   1. configures build-sanitize/ with -DBYOL_SANITIZE=ON (cmake/Sanitize.cmake), once;
#   2. builds byol_core_tests there, incrementally and in parallel (the Node addon is not built);
#   3. runs it with every finding fatal and printed with its stack.
# Arguments go to the test binary and replace the two runs below with one, e.g. --gtest_filter='Ema.*'.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-sanitize
start=$SECONDS

if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DBYOL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Release -DBYOL_BUILD_TESTS=ON
fi
cmake --build "$build" --target byol_core_tests --parallel "$(nproc)"
built=$SECONDS

# The torchvision and safetensors interop tests run the Python reference helpers (std::system): an
# uninstrumented interpreter that needs no ASan runtime (nothing is LD_PRELOADed) and ignores these options.
# gtest's death tests re-run this same binary, which links the runtime itself.
export BYOL_PYTHON="${BYOL_PYTHON:-$(cat .byol/python 2>/dev/null || echo /usr/bin/python3)}"
# Leaks are checked (detect_leaks=1) and need no suppressions: LibTorch's global state is still reachable at
# exit, so LeakSanitizer does not report it. detect_stack_use_after_return catches a job that kept a reference
# to its submitter's locals; check_initialization_order + strict_init_order catch static initialisation order
# bugs between translation units. UBSan stops at its first finding and prints its stack.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:print_summary=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
tests=$build/byol_core_tests

failed=()
if (($#)); then
  BYOL_HOST_ALLOCATOR=0 "$tests" "$@" || failed+=("byol_core_tests $*")
else
  # The caching host allocator (core/host_allocator.h) serves tensors from its own mmap'd blocks, which ASan
  # does not see: once a test installs it, a read after free or past a tensor's end in our kernels would go
  # unreported. So the suite runs on malloc (BYOL_HOST_ALLOCATOR=0 makes installHostAllocator() do nothing),
  # where every tensor has redzones and freed memory is quarantined; the tests that need the allocator
  # installed run afterwards with it.
  with_allocator='HostCachingAllocator.*:JobLifetime.*'
  echo "== test-sanitize: the suite on malloc (BYOL_HOST_ALLOCATOR=0), without HostCachingAllocator.ServesTensorsOnceInstalled"
  BYOL_HOST_ALLOCATOR=0 "$tests" --gtest_filter='-HostCachingAllocator.ServesTensorsOnceInstalled' ||
    failed+=("the suite on malloc")
  echo "== test-sanitize: with the caching host allocator installed: $with_allocator"
  "$tests" --gtest_filter="$with_allocator" || failed+=("the host allocator's tests")
fi
echo "test-sanitize: build $((built - start)) s, tests $((SECONDS - built)) s, total $((SECONDS - start)) s"
if ((${#failed[@]})); then
  echo "test-sanitize: FAILED: ${failed[*]} (see the sanitizer report or the failing test above)" >&2
  exit 1
fi
