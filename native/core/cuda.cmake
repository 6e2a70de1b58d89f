# CUDA sources of native/core.
#
# ema_cuda.cu holds CUDA code only (raw pointers, sizes, a stream) and is compiled by nvcc directly, with no
# CMake CUDA language support needed:
#   - whenever nvcc is found, the target byol_cuda_kernels (part of ALL) compiles it for sm_90 plus PTX, so
#     the kernel is checked by every build on a machine with nvcc, even against a CPU LibTorch;
#   - only when the LibTorch has CUDA is the object linked into byol_core, together with its C++ launcher
#     (ema_cuda_launcher.cc, which needs c10_cuda) and BYOL_EMA_CUDA_KERNEL defined.
# Without nvcc nothing here happens and CUDA tensors (if any) take the strided fallback of ema_().
# Set -DBYOL_CUDA_ARCH_FLAGS="..." to target other GPUs.

set(BYOL_CUDA_ARCH_FLAGS "-gencode;arch=compute_90,code=sm_90;-gencode;arch=compute_90,code=compute_90"
  CACHE STRING "nvcc architecture flags for native/core/*.cu")

find_program(BYOL_NVCC nvcc
  HINTS ENV CUDACXX ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda
  PATH_SUFFIXES bin)

if(TARGET c10_cuda OR TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(BYOL_TORCH_HAS_CUDA ON)
else()
  set(BYOL_TORCH_HAS_CUDA OFF)
endif()

if(BYOL_NVCC)
  set(_byol_ema_cuda_src "${CMAKE_CURRENT_SOURCE_DIR}/native/core/ema_cuda.cu")
  set(_byol_ema_cuda_obj "${CMAKE_CURRENT_BINARY_DIR}/ema_cuda.o")
  add_custom_command(
    OUTPUT "${_byol_ema_cuda_obj}"
    COMMAND "${BYOL_NVCC}" -c -O3 -std=c++17 -Xcompiler -fPIC ${BYOL_CUDA_ARCH_FLAGS}
            -I "${CMAKE_CURRENT_SOURCE_DIR}/native" -o "${_byol_ema_cuda_obj}" "${_byol_ema_cuda_src}"
    DEPENDS "${_byol_ema_cuda_src}" "${CMAKE_CURRENT_SOURCE_DIR}/native/core/ema_cuda.h"
    COMMENT "nvcc native/core/ema_cuda.cu"
    VERBATIM)
  add_custom_target(byol_cuda_kernels ALL DEPENDS "${_byol_ema_cuda_obj}")
  message(STATUS "byol-torch: nvcc ${BYOL_NVCC} compiles native/core/ema_cuda.cu; LibTorch CUDA: ${BYOL_TORCH_HAS_CUDA}")

  if(BYOL_TORCH_HAS_CUDA)
    find_package(CUDAToolkit REQUIRED)
    set_source_files_properties("${_byol_ema_cuda_obj}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    target_sources(byol_core PRIVATE "${_byol_ema_cuda_obj}" native/core/ema_cuda_launcher.cc)
    add_dependencies(byol_core byol_cuda_kernels)
    target_compile_definitions(byol_core PUBLIC BYOL_EMA_CUDA_KERNEL=1)
    target_link_libraries(byol_core PUBLIC CUDA::cudart)
  endif()
else()
  message(STATUS "byol-torch: nvcc not found; native/core/ema_cuda.cu is not compiled")
endif()

# NCCL for the process group's CUDA collectives (core/process_group.cc), when the LibTorch has CUDA and ships
# c10d's NCCL header, and nccl.h is found (a PyTorch wheel keeps it in site-packages/nvidia/nccl/include). The
# CPU build is unaffected: there the group serves CPU tensors through Gloo only.
if(BYOL_TORCH_HAS_CUDA)
  set(_byol_c10d_nccl_header "")
  foreach(_dir ${TORCH_INCLUDE_DIRS})
    if(EXISTS "${_dir}/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp")
      set(_byol_c10d_nccl_header "${_dir}/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp")
    endif()
  endforeach()
  get_filename_component(_byol_torch_root "${BYOL_TORCH_LIB_DIR}/.." ABSOLUTE)
  find_path(BYOL_NCCL_INCLUDE nccl.h
    HINTS ENV NCCL_HOME ENV NCCL_INCLUDE_DIR "${_byol_torch_root}/../nvidia/nccl/include" ${TORCH_INCLUDE_DIRS}
    PATH_SUFFIXES include)
  if(_byol_c10d_nccl_header AND BYOL_NCCL_INCLUDE)
    set_property(SOURCE native/core/process_group.cc APPEND PROPERTY COMPILE_DEFINITIONS USE_C10D_NCCL BYOL_WITH_NCCL)
    target_include_directories(byol_core PRIVATE "${BYOL_NCCL_INCLUDE}")
    message(STATUS "byol-torch: NCCL collectives for CUDA tensors (nccl.h in ${BYOL_NCCL_INCLUDE})")
  else()
    message(STATUS "byol-torch: no NCCL (c10d header: '${_byol_c10d_nccl_header}', nccl.h: '${BYOL_NCCL_INCLUDE}'); "
                   "CUDA tensors cannot take part in collectives")
  endif()
endif()
