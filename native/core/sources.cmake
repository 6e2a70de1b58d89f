# Sources of byol_core, listed explicitly (no globbing): one line per file, grouped by concern.
set(BYOL_CORE_SOURCES
  native/core/errors.cc
  native/core/dtype.cc
  native/core/tensor_factory.cc
  native/core/tensor_checks.cc
  native/core/executor.cc
  native/core/runtime.cc
  native/core/group_batch_norm.cc
  native/core/layers.cc
  native/core/resnet.cc
  native/core/mlp.cc
  native/core/safetensors.cc
  native/core/state_dict.cc
  native/core/host_allocator.cc
  native/core/byol_loss.cc
  native/core/optim.cc
)
