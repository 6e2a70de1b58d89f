# The CUDA toolkit a CUDA LibTorch is configured with (included by FindLibTorchLocations.cmake before
# TorchConfig.cmake, which looks for CUDA itself with CMake's FindCUDA and FindCUDAToolkit).
#
# A PyTorch wheel (pip install torch, the CUDA build) ships the CUDA runtime libraries it was built with, and
# their headers, in site-packages/nvidia/ (cu13/ for CUDA 13; one folder per library for CUDA 12): libcudart,
# cuBLAS, cuSPARSE, NVRTC, cuDNN, NCCL. What it does not ship is nvcc. So:
#   - nvcc (CUDACXX, CUDA_HOME/bin, CUDA_PATH/bin, /usr/local/cuda/bin, then PATH) compiles the EMA kernel, and its
#     toolkit root is what FindCUDA needs (CUDA_TOOLKIT_ROOT_DIR); it is asked of nvcc itself, since a wrapper
#     script on PATH would make FindCUDA guess the wrong folder;
#   - every library and header that toolkit lacks (a minimal toolkit has nvcc and cudart only) is taken from the
#     wheel's nvidia/ folders, and those folders come first in the addon's run-time search path, so the process
#     loads the CUDA runtime torch was built with.
# Sets BYOL_CUDA_NVCC, BYOL_CUDA_TOOLKIT_ROOT, BYOL_TORCH_CUDA_LIB_DIRS and BYOL_TORCH_CUDA_INCLUDE_DIRS.

find_program(BYOL_CUDA_NVCC nvcc
  HINTS ENV CUDACXX ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda
  PATH_SUFFIXES bin)
if(NOT BYOL_CUDA_NVCC AND DEFINED ENV{CUDACXX} AND EXISTS "$ENV{CUDACXX}")
  set(BYOL_CUDA_NVCC "$ENV{CUDACXX}")
endif()
if(NOT BYOL_CUDA_NVCC)
  message(FATAL_ERROR "byol-torch: ${BYOL_TORCH_SOURCE} is a CUDA LibTorch, and building against it needs nvcc "
    "(the EMA kernel native/core/ema_cuda.cu): install the CUDA toolkit's compiler, or name it with CUDACXX or "
    "CUDA_HOME. To build for the CPU only, point LIBTORCH or BYOL_PYTHON at a CPU build of PyTorch.")
endif()

# nvcc's dry run prints the toolkit root it runs from ("#$ TOP=<root>/bin/..").
set(_byol_probe "${CMAKE_BINARY_DIR}/byol_nvcc_probe.cu")
file(WRITE "${_byol_probe}" "")
execute_process(COMMAND "${BYOL_CUDA_NVCC}" --dryrun -c "${_byol_probe}" -o "${_byol_probe}.o"
  OUTPUT_VARIABLE _byol_out ERROR_VARIABLE _byol_out RESULT_VARIABLE _byol_rc)
string(REGEX MATCH "#\\$ TOP=([^\n]*)" _byol_top "${_byol_out}")
if(NOT _byol_rc EQUAL 0 OR NOT CMAKE_MATCH_1)
  message(FATAL_ERROR "byol-torch: ${BYOL_CUDA_NVCC} --dryrun did not name its toolkit root:\n${_byol_out}")
endif()
get_filename_component(BYOL_CUDA_TOOLKIT_ROOT "${CMAKE_MATCH_1}" ABSOLUTE)
set(CUDA_TOOLKIT_ROOT_DIR "${BYOL_CUDA_TOOLKIT_ROOT}" CACHE PATH "CUDA toolkit root (of nvcc)" FORCE)
set(CUDAToolkit_ROOT "${BYOL_CUDA_TOOLKIT_ROOT}")
set(CMAKE_CUDA_COMPILER "${BYOL_CUDA_TOOLKIT_ROOT}/bin/nvcc")
set(CUDA_NVCC_EXECUTABLE "${BYOL_CUDA_TOOLKIT_ROOT}/bin/nvcc" CACHE FILEPATH "nvcc" FORCE)

# The wheel's CUDA libraries: site-packages/nvidia/*/lib, next to site-packages/torch.
get_filename_component(_byol_site "${BYOL_TORCH_ROOT}/.." ABSOLUTE)
file(GLOB _byol_nvidia_dirs LIST_DIRECTORIES true "${_byol_site}/nvidia/*")
set(BYOL_TORCH_CUDA_LIB_DIRS "")
set(BYOL_TORCH_CUDA_INCLUDE_DIRS "")
foreach(_dir IN LISTS _byol_nvidia_dirs)
  if(IS_DIRECTORY "${_dir}/lib")
    list(APPEND BYOL_TORCH_CUDA_LIB_DIRS "${_dir}/lib")
  endif()
  if(IS_DIRECTORY "${_dir}/include")
    list(APPEND BYOL_TORCH_CUDA_INCLUDE_DIRS "${_dir}/include")
  endif()
endforeach()

# The wheel names its libraries by soname only (libcublas.so.13, no libcublas.so): let find_library() take
# those, in the wheel's folders, for the libraries the toolkit lacks.
execute_process(COMMAND "${BYOL_CUDA_NVCC}" --version OUTPUT_VARIABLE _byol_version_text)
string(REGEX MATCH "release ([0-9]+)\\.([0-9]+)" _byol_release "${_byol_version_text}")
set(BYOL_CUDA_MAJOR "${CMAKE_MATCH_1}")
list(APPEND CMAKE_FIND_LIBRARY_SUFFIXES ".so.${BYOL_CUDA_MAJOR}" ".so.12" ".so.11" ".so.10" ".so.9" ".so.0" ".so.1")
list(APPEND CMAKE_LIBRARY_PATH ${BYOL_TORCH_CUDA_LIB_DIRS})
list(APPEND CMAKE_INCLUDE_PATH ${BYOL_TORCH_CUDA_INCLUDE_DIRS})

# NVRTC: FindCUDA looks for it in the toolkit only.
if(NOT EXISTS "${BYOL_CUDA_TOOLKIT_ROOT}/lib64/libnvrtc.so")
  find_library(CUDA_nvrtc_LIBRARY NAMES nvrtc PATHS ${BYOL_TORCH_CUDA_LIB_DIRS} NO_DEFAULT_PATH)
endif()

message(STATUS "byol-torch: CUDA LibTorch: nvcc ${BYOL_CUDA_NVCC} (CUDA ${BYOL_CUDA_MAJOR}, toolkit "
               "${BYOL_CUDA_TOOLKIT_ROOT}); the wheel's CUDA libraries: ${BYOL_TORCH_CUDA_LIB_DIRS}")
