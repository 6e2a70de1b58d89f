# Sources of byol_core, listed explicitly (no globbing): one line per file, grouped by concern.
set(BYOL_CORE_SOURCES
  native/core/errors.cc
  native/core/dtype.cc
  native/core/tensor_factory.cc
  native/core/tensor_checks.cc
  native/core/executor.cc
  native/core/runtime.cc
  native/core/group_batch_norm.cc
  native/core/channels_last.cc
  native/core/layers.cc
  native/core/resnet.cc
  native/core/mlp.cc
  native/core/json.cc
  native/core/safetensors.cc
  native/core/state_dict.cc
  native/core/host_allocator.cc
  native/core/byol_loss.cc
  native/core/precision.cc
  native/core/loss_scaler.cc
  native/core/learner.cc
  native/core/process_group.cc
  native/core/sync_batch_norm.cc
  native/core/data_parallel.cc
  native/core/ema.cc
  native/core/ema_cpu_default.cc
  native/core/ema_cpu_avx2.cc
  native/core/augment.cc
  native/core/augment_ops.cc
  native/core/augment_cpu.cc
  native/core/optim.cc
  native/core/evaluation.cc
)

# The CPU EMA kernel is compiled twice from ema_cpu_kernel.h (ema.cc picks one at run time): a portable build
# and, on x86-64, an AVX2 + FMA + F16C build. Both use at::vec, whose CPU_CAPABILITY macros must be set per
# file, so neither may use the precompiled header. at::vec's AVX2 specialisations include sleef.h, which
# Debian's libtorch-dev lacks (libsleef-dev); without it the AVX2 build uses at::vec's generic vectors, which
# the compiler vectorises for AVX2 under these flags.
set_source_files_properties(native/core/ema_cpu_default.cc PROPERTIES
  COMPILE_DEFINITIONS "CPU_CAPABILITY=DEFAULT" SKIP_PRECOMPILE_HEADERS ON)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  include(CheckIncludeFileCXX)
  set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS})
  check_include_file_cxx(sleef.h BYOL_HAVE_SLEEF_H)
  unset(CMAKE_REQUIRED_INCLUDES)
  set(_byol_avx2_defs "CPU_CAPABILITY=AVX2")
  if(BYOL_HAVE_SLEEF_H)
    list(APPEND _byol_avx2_defs CPU_CAPABILITY_AVX2)
  endif()
  set_source_files_properties(native/core/ema_cpu_avx2.cc PROPERTIES
    COMPILE_DEFINITIONS "${_byol_avx2_defs}" COMPILE_OPTIONS "-mavx2;-mfma;-mf16c" SKIP_PRECOMPILE_HEADERS ON)
else()
  set_source_files_properties(native/core/ema_cpu_avx2.cc PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
endif()
# The CPU augmentation kernels vectorise their selects only without trapping-math (changes no result).
set_source_files_properties(native/core/augment_cpu.cc PROPERTIES COMPILE_OPTIONS "-fno-trapping-math")

# The process group's Gloo backend compiles LibTorch's ProcessGroupGloo.hpp, which needs USE_C10D_GLOO and
# Gloo's headers (Debian: libgloo-dev; the runtime libgloo0 is already LibTorch's dependency). The define differs
# from the precompiled header's, so that file compiles without it. CMakeLists.txt adds process_group_gloo.cc,
# or process_group_none.cc where Gloo's headers are missing.
set_source_files_properties(native/core/process_group_gloo.cc PROPERTIES
  COMPILE_DEFINITIONS "USE_C10D_GLOO" SKIP_PRECOMPILE_HEADERS ON)
