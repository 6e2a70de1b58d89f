# Finds the one LibTorch this build uses, in the project's documented order, and stops with one message naming
# every place tried:
#   1. LIBTORCH      a LibTorch root (environment or -DLIBTORCH=...): the folder holding lib/, include/ and
#                    share/cmake/Torch, as unpacked from a LibTorch archive or a PyTorch wheel's torch/ folder
#   2. Torch_DIR     a folder holding TorchConfig.cmake (environment or -DTorch_DIR=...)
#   3. Python        the torch package of BYOL_PYTHON, else of python3 (pip install torch)
#   4. System        CMake's default search (a distribution's LibTorch 2.x)
#
# Every library of the LibTorch is taken from the root that was named. TorchConfig.cmake finds its own libraries
# with find_library(), which looks in CMAKE_PREFIX_PATH and the system folders before the hint it gives, so a
# second LibTorch installed system-wide (e.g. Debian's libtorch-dev 1.13) would otherwise lend it libc10 or
# libtorch: the root goes first in CMAKE_PREFIX_PATH, and the libraries found are checked against it.
#
# Sets: BYOL_TORCH_SOURCE (how it was found, with the folder), BYOL_TORCH_ROOT, BYOL_TORCH_LIB_DIR,
#       BYOL_TORCH_HAS_CUDA; a CUDA LibTorch also configures its CUDA toolkit first (cmake/LibTorchCuda.cmake).

set(BYOL_TORCH_MIN_VERSION 2.4)
set(_byol_tried "")

# A LibTorch root is the folder above share/cmake/Torch.
function(_byol_root_of_torch_dir dir out)
  get_filename_component(_root "${dir}/../../.." ABSOLUTE)
  set(${out} "${_root}" PARENT_SCOPE)
endfunction()

# 1. LIBTORCH
set(_libtorch "${LIBTORCH}")
if(NOT _libtorch)
  set(_libtorch "$ENV{LIBTORCH}")
endif()
if(_libtorch)
  if(EXISTS "${_libtorch}/share/cmake/Torch/TorchConfig.cmake")
    get_filename_component(BYOL_TORCH_ROOT "${_libtorch}" ABSOLUTE)
    set(BYOL_TORCH_SOURCE "LIBTORCH: ${BYOL_TORCH_ROOT}")
  else()
    string(APPEND _byol_tried "\n  - LIBTORCH: ${_libtorch} (no share/cmake/Torch/TorchConfig.cmake there)")
  endif()
else()
  string(APPEND _byol_tried "\n  - LIBTORCH: not set")
endif()

# 2. Torch_DIR (a cached value from an earlier configure of this folder is what found it then: keep its label)
if(NOT BYOL_TORCH_ROOT)
  set(_torch_dir "${Torch_DIR}")
  if(NOT _torch_dir OR _torch_dir MATCHES "NOTFOUND")
    set(_torch_dir "$ENV{Torch_DIR}")
  endif()
  if(_torch_dir AND _torch_dir STREQUAL BYOL_FOUND_TORCH_DIR)
    _byol_root_of_torch_dir("${_torch_dir}" BYOL_TORCH_ROOT)
    set(BYOL_TORCH_SOURCE "${BYOL_FOUND_TORCH_SOURCE}")
  elseif(_torch_dir AND EXISTS "${_torch_dir}/TorchConfig.cmake")
    _byol_root_of_torch_dir("${_torch_dir}" BYOL_TORCH_ROOT)
    set(BYOL_TORCH_SOURCE "Torch_DIR: ${_torch_dir}")
  elseif(_torch_dir)
    string(APPEND _byol_tried "\n  - Torch_DIR: ${_torch_dir} (no TorchConfig.cmake there)")
  else()
    string(APPEND _byol_tried "\n  - Torch_DIR: not set")
  endif()
endif()

# 3. A Python's torch package (its folder is a LibTorch root)
if(NOT BYOL_TORCH_ROOT)
  set(_pythons "$ENV{BYOL_PYTHON}" python3)
  foreach(py IN LISTS _pythons)
    if(BYOL_TORCH_ROOT OR NOT py)
      continue()
    endif()
    execute_process(
      COMMAND "${py}" -c "import os, torch; print(os.path.dirname(torch.__file__))"
      OUTPUT_VARIABLE _root OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
    if(_rc EQUAL 0 AND EXISTS "${_root}/share/cmake/Torch/TorchConfig.cmake")
      set(BYOL_TORCH_ROOT "${_root}")
      set(BYOL_TORCH_SOURCE "PyTorch of ${py}: ${_root}")
    elseif(_rc EQUAL 0)
      string(APPEND _byol_tried "\n  - PyTorch of ${py}: ${_root} holds no share/cmake/Torch (a distribution's python3-torch?)")
    else()
      string(APPEND _byol_tried "\n  - PyTorch of ${py}: cannot import torch")
    endif()
  endforeach()
endif()

if(BYOL_TORCH_ROOT)
  list(PREPEND CMAKE_PREFIX_PATH "${BYOL_TORCH_ROOT}")
  if(EXISTS "${BYOL_TORCH_ROOT}/lib/libc10_cuda.so")
    include(LibTorchCuda)  # before TorchConfig, which looks for the CUDA toolkit itself
  endif()
  # A Torch_DIR cached by an earlier configure would win over PATHS: name the root's own.
  set(Torch_DIR "${BYOL_TORCH_ROOT}/share/cmake/Torch" CACHE PATH "TorchConfig.cmake of the LibTorch used" FORCE)
  find_package(Torch CONFIG QUIET PATHS "${BYOL_TORCH_ROOT}/share/cmake/Torch" NO_DEFAULT_PATH)
  if(NOT Torch_FOUND)
    message(FATAL_ERROR "byol-torch: ${BYOL_TORCH_SOURCE}: TorchConfig.cmake there did not configure (see above)")
  endif()
else()
  # 4. The system's LibTorch
  find_package(Torch CONFIG QUIET)
  if(Torch_FOUND)
    _byol_root_of_torch_dir("${Torch_DIR}" BYOL_TORCH_ROOT)
    set(BYOL_TORCH_SOURCE "system: ${Torch_DIR}")
  else()
    string(APPEND _byol_tried "\n  - system packages (CMake's default search paths)")
    message(FATAL_ERROR "byol-torch: LibTorch was not found. Places tried, in order:${_byol_tried}\n"
      "Get LibTorch ${BYOL_TORCH_MIN_VERSION} or newer in one of these ways:\n"
      "  - a PyTorch install: pip install torch (found through python3, or the interpreter in BYOL_PYTHON)\n"
      "  - a LibTorch folder: export LIBTORCH=/path/to/libtorch\n"
      "  - a folder holding TorchConfig.cmake: export Torch_DIR=/path/to/share/cmake/Torch")
  endif()
endif()

if(Torch_VERSION VERSION_LESS BYOL_TORCH_MIN_VERSION)
  message(FATAL_ERROR "byol-torch: ${BYOL_TORCH_SOURCE} is LibTorch ${Torch_VERSION}; byol-torch needs "
    "${BYOL_TORCH_MIN_VERSION} or newer (pip install torch, or point LIBTORCH at a newer LibTorch)")
endif()

# Every LibTorch library linked must come from the root named above.
get_filename_component(BYOL_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
set(_byol_torch_files "${TORCH_LIBRARY}" "${C10_LIBRARY}" "${c10_LIBRARY}" "${CAFFE2_NVRTC_LIBRARY}")
foreach(_target torch torch_cpu torch_cuda c10 c10_cuda)
  if(TARGET ${_target})
    get_target_property(_location ${_target} IMPORTED_LOCATION_RELEASE)
    if(NOT _location)
      get_target_property(_location ${_target} IMPORTED_LOCATION)
    endif()
    list(APPEND _byol_torch_files "${_location}")
  endif()
endforeach()
foreach(_library IN LISTS TORCH_LIBRARIES)
  if(IS_ABSOLUTE "${_library}" AND _library MATCHES "/lib(torch|c10|caffe2|shm)[^/]*\\.so")
    list(APPEND _byol_torch_files "${_library}")
  endif()
endforeach()
get_filename_component(_byol_root_real "${BYOL_TORCH_ROOT}" REALPATH)
foreach(_file IN LISTS _byol_torch_files)
  if(NOT _file OR _file MATCHES "NOTFOUND")
    continue()
  endif()
  get_filename_component(_real "${_file}" REALPATH)
  string(FIND "${_real}" "${_byol_root_real}/" _at)
  if(NOT _at EQUAL 0)
    message(FATAL_ERROR "byol-torch: ${BYOL_TORCH_SOURCE} was named, but its TorchConfig.cmake resolved ${_file}, "
      "which is not inside ${BYOL_TORCH_ROOT}: two LibTorch installations are mixed. Remove the other one from "
      "CMAKE_PREFIX_PATH, or point LIBTORCH at the LibTorch you mean.")
  endif()
endforeach()

if(TARGET c10_cuda OR TARGET torch_cuda)
  set(BYOL_TORCH_HAS_CUDA ON)
else()
  set(BYOL_TORCH_HAS_CUDA OFF)
endif()

set(BYOL_FOUND_TORCH_DIR "${Torch_DIR}" CACHE INTERNAL "Torch_DIR found by the last configure")
set(BYOL_FOUND_TORCH_SOURCE "${BYOL_TORCH_SOURCE}" CACHE INTERNAL "how it was found, with the folder")
