# CUDA sources of native/core.
#
# ema_cuda.cu holds CUDA code only (raw pointers, sizes, a stream) and is compiled by nvcc directly, with no
# CMake CUDA language support needed:
#   - whenever nvcc is found, the target byol_cuda_kernels (part of ALL) compiles it for BYOL_CUDA_ARCHITECTURES
#     (default 90: H100/H200) plus PTX of the newest, so the kernel is checked by every build on a machine with
#     nvcc, even against a CPU LibTorch;
#   - only when the LibTorch has CUDA is the object linked into byol_core, together with its C++ launcher
#     (ema_cuda_launcher.cc, which needs c10_cuda) and BYOL_EMA_CUDA_KERNEL defined.
# Without nvcc nothing here happens and CUDA tensors (if any) take the strided fallback of ema_().
# core/device.h has two implementations: device_cuda.cc with a CUDA LibTorch, device_host.cc otherwise.
#
# -DCMAKE_CUDA_ARCHITECTURES="80;90" targets other GPUs; -DBYOL_CUDA_ARCH_FLAGS="..." passes nvcc's own flags.

set(_byol_arch_flags "")
foreach(_arch ${BYOL_CUDA_ARCHITECTURES})
  string(REGEX REPLACE "-(real|virtual)$" "" _arch "${_arch}")
  list(APPEND _byol_arch_flags "-gencode" "arch=compute_${_arch},code=sm_${_arch}")
  set(_byol_newest_arch "${_arch}")
endforeach()
list(APPEND _byol_arch_flags "-gencode" "arch=compute_${_byol_newest_arch},code=compute_${_byol_newest_arch}")
if(BYOL_CUDA_ARCH_FLAGS)
  set(_byol_arch_flags "${BYOL_CUDA_ARCH_FLAGS}")
endif()

# BYOL_TORCH_HAS_CUDA, BYOL_CUDA_NVCC and the wheel's CUDA folders come from cmake/FindLibTorchLocations.cmake.
if(BYOL_TORCH_HAS_CUDA)
  target_sources(byol_core PRIVATE native/core/device_cuda.cc)
  target_compile_definitions(byol_core PUBLIC BYOL_WITH_CUDA=1)
  # cuBLAS/cuSPARSE headers that c10/cuda and ATen/cuda include, where the toolkit has only nvcc and cudart.
  target_include_directories(byol_core PUBLIC ${BYOL_TORCH_CUDA_INCLUDE_DIRS})
else()
  target_sources(byol_core PRIVATE native/core/device_host.cc)
endif()

if(BYOL_CUDA_NVCC)
  set(BYOL_NVCC "${BYOL_CUDA_NVCC}")
else()
  find_program(BYOL_NVCC nvcc
    HINTS ENV CUDACXX ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda
    PATH_SUFFIXES bin)
endif()

if(BYOL_NVCC)
  set(_byol_ema_cuda_src "${CMAKE_CURRENT_SOURCE_DIR}/native/core/ema_cuda.cu")
  set(_byol_ema_cuda_obj "${CMAKE_CURRENT_BINARY_DIR}/ema_cuda.o")
  add_custom_command(
    OUTPUT "${_byol_ema_cuda_obj}"
    COMMAND "${BYOL_NVCC}" -c -O3 -std=c++17 -Xcompiler -fPIC ${_byol_arch_flags}
            -I "${CMAKE_CURRENT_SOURCE_DIR}/native" -o "${_byol_ema_cuda_obj}" "${_byol_ema_cuda_src}"
    DEPENDS "${_byol_ema_cuda_src}" "${CMAKE_CURRENT_SOURCE_DIR}/native/core/ema_cuda.h"
    COMMENT "nvcc native/core/ema_cuda.cu"
    VERBATIM)
  add_custom_target(byol_cuda_kernels ALL DEPENDS "${_byol_ema_cuda_obj}")
  message(STATUS "byol-torch: nvcc ${BYOL_NVCC} compiles native/core/ema_cuda.cu for ${BYOL_CUDA_ARCHITECTURES}; "
                 "LibTorch CUDA: ${BYOL_TORCH_HAS_CUDA}")

  if(BYOL_TORCH_HAS_CUDA)
    set_source_files_properties("${_byol_ema_cuda_obj}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    target_sources(byol_core PRIVATE "${_byol_ema_cuda_obj}" native/core/ema_cuda_launcher.cc)
    add_dependencies(byol_core byol_cuda_kernels)
    target_compile_definitions(byol_core PUBLIC BYOL_EMA_CUDA_KERNEL=1)
    # The CUDA runtime LibTorch was built with: the wheel's (nvidia/*/lib) where it ships one, else the toolkit's.
    find_library(BYOL_CUDART_LIBRARY NAMES cudart PATHS ${BYOL_TORCH_CUDA_LIB_DIRS} NO_DEFAULT_PATH)
    if(NOT BYOL_CUDART_LIBRARY)
      find_package(CUDAToolkit REQUIRED)
      set(BYOL_CUDART_LIBRARY CUDA::cudart)
    endif()
    target_link_libraries(byol_core PUBLIC "${BYOL_CUDART_LIBRARY}")
  endif()
elseif(BYOL_TORCH_HAS_CUDA)
  message(FATAL_ERROR "byol-torch: this LibTorch has CUDA but nvcc was not found (set CUDACXX or CUDA_HOME): the EMA "
                      "kernel native/core/ema_cuda.cu needs it")
else()
  message(STATUS "byol-torch: nvcc not found; native/core/ema_cuda.cu is not compiled")
endif()

# NCCL for the process group's CUDA collectives (core/process_group_gloo.cc), when the LibTorch has CUDA and ships
# c10d's NCCL header, and nccl.h is found (a PyTorch wheel keeps it in site-packages/nvidia/nccl/include). The
# CPU build is unaffected: there the group serves CPU tensors through Gloo only. The NCCL group is made only for
# a group whose training runs on CUDA (ProcessGroupOptions::cuda).
if(BYOL_TORCH_HAS_CUDA AND BYOL_WITH_GLOO)
  set(_byol_c10d_nccl_header "")
  foreach(_dir ${TORCH_INCLUDE_DIRS})
    if(EXISTS "${_dir}/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp")
      set(_byol_c10d_nccl_header "${_dir}/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp")
    endif()
  endforeach()
  find_path(BYOL_NCCL_INCLUDE nccl.h
    HINTS ENV NCCL_HOME ENV NCCL_INCLUDE_DIR ${BYOL_TORCH_CUDA_INCLUDE_DIRS} ${TORCH_INCLUDE_DIRS}
    PATH_SUFFIXES include)
  if(_byol_c10d_nccl_header AND BYOL_NCCL_INCLUDE)
    set_property(SOURCE native/core/process_group_gloo.cc APPEND PROPERTY COMPILE_DEFINITIONS USE_C10D_NCCL BYOL_WITH_NCCL)
    target_include_directories(byol_core PRIVATE "${BYOL_NCCL_INCLUDE}")
    message(STATUS "byol-torch: NCCL collectives for CUDA tensors (nccl.h in ${BYOL_NCCL_INCLUDE})")
  else()
    message(STATUS "byol-torch: no NCCL (c10d header: '${_byol_c10d_nccl_header}', nccl.h: '${BYOL_NCCL_INCLUDE}'); "
                   "CUDA tensors cannot take part in collectives")
  endif()
endif()
