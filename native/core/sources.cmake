# Sources of byol_core, listed explicitly (no globbing): one line per file, grouped by concern.
set(BYOL_CORE_SOURCES
  native/core/errors.cc
  native/core/dtype.cc
  native/core/tensor_factory.cc
  native/core/tensor_checks.cc
  native/core/executor.cc
  native/core/runtime.cc
  native/core/host_allocator.cc
  native/core/optim.cc
)
