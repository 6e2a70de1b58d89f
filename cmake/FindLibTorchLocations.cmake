# Finds LibTorch in the project's documented order and stops with one message naming every place tried:
#   1. LIBTORCH      a libtorch folder (environment or -DLIBTORCH=...), as unpacked from a LibTorch archive
#   2. Torch_DIR     a folder holding TorchConfig.cmake (environment or -DTorch_DIR=...)
#   3. Python        the LibTorch inside a PyTorch install (torch.utils.cmake_prefix_path), used only where it
#                    holds a TorchConfig.cmake (Debian's python3-torch has none)
#   4. System        CMake's default search, which finds Debian/Ubuntu's libtorch-dev (1.13)
# Sets BYOL_TORCH_SOURCE to the place that was used.

set(_byol_tried "")

function(_byol_try_torch_dir dir label)
  if(NOT Torch_FOUND AND dir AND EXISTS "${dir}/TorchConfig.cmake")
    find_package(Torch CONFIG QUIET PATHS "${dir}" NO_DEFAULT_PATH)
    if(Torch_FOUND)
      set(Torch_FOUND TRUE PARENT_SCOPE)
      set(BYOL_TORCH_SOURCE "${label}: ${dir}" PARENT_SCOPE)
      foreach(v TORCH_LIBRARIES TORCH_LIBRARY TORCH_INCLUDE_DIRS TORCH_CXX_FLAGS TORCH_INSTALL_PREFIX Torch_DIR Torch_VERSION)
        set(${v} "${${v}}" PARENT_SCOPE)
      endforeach()
      return()
    endif()
  endif()
  set(_byol_tried "${_byol_tried}\n  - ${label}: ${dir} (no usable TorchConfig.cmake)" PARENT_SCOPE)
endfunction()

# 1. LIBTORCH
set(_libtorch "${LIBTORCH}")
if(NOT _libtorch)
  set(_libtorch "$ENV{LIBTORCH}")
endif()
if(_libtorch)
  _byol_try_torch_dir("${_libtorch}/share/cmake/Torch" "LIBTORCH")
else()
  set(_byol_tried "${_byol_tried}\n  - LIBTORCH: not set")
endif()

# 2. Torch_DIR
set(_torch_dir "${Torch_DIR}")
if(NOT _torch_dir)
  set(_torch_dir "$ENV{Torch_DIR}")
endif()
if(_torch_dir AND NOT _torch_dir MATCHES "NOTFOUND" AND NOT _torch_dir STREQUAL BYOL_FOUND_TORCH_DIR)
  _byol_try_torch_dir("${_torch_dir}" "Torch_DIR")
elseif(_torch_dir AND _torch_dir STREQUAL BYOL_FOUND_TORCH_DIR)
  # Torch_DIR is cached from an earlier configure of this build folder: keep what found it then.
  _byol_try_torch_dir("${_torch_dir}" "${BYOL_FOUND_TORCH_LABEL}")
  if(Torch_FOUND)
    set(BYOL_TORCH_SOURCE "${BYOL_FOUND_TORCH_SOURCE}")
  endif()
else()
  set(_byol_tried "${_byol_tried}\n  - Torch_DIR: not set")
endif()

# 3. A Python PyTorch install (BYOL_PYTHON first, then the usual interpreters)
if(NOT Torch_FOUND)
  set(_pythons "$ENV{BYOL_PYTHON}" python3 /usr/bin/python3)
  foreach(py IN LISTS _pythons)
    if(Torch_FOUND OR NOT py)
      continue()
    endif()
    execute_process(
      COMMAND "${py}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
    if(_rc EQUAL 0 AND _prefix)
      _byol_try_torch_dir("${_prefix}/Torch" "PyTorch of ${py}")
    else()
      set(_byol_tried "${_byol_tried}\n  - PyTorch of ${py}: cannot import torch")
    endif()
  endforeach()
endif()

# 4. The system package
if(NOT Torch_FOUND)
  find_package(Torch CONFIG QUIET)
  if(Torch_FOUND)
    set(BYOL_TORCH_SOURCE "system: ${Torch_DIR}")
  else()
    set(_byol_tried "${_byol_tried}\n  - system packages (CMake's default search paths, e.g. /usr/lib/x86_64-linux-gnu/cmake/Torch)")
  endif()
endif()

if(Torch_FOUND AND NOT BYOL_FOUND_TORCH_DIR)
  string(REGEX REPLACE ":.*" "" _label "${BYOL_TORCH_SOURCE}")
  set(BYOL_FOUND_TORCH_DIR "${Torch_DIR}" CACHE INTERNAL "Torch_DIR found by the first configure")
  set(BYOL_FOUND_TORCH_LABEL "${_label}" CACHE INTERNAL "how it was found")
  set(BYOL_FOUND_TORCH_SOURCE "${BYOL_TORCH_SOURCE}" CACHE INTERNAL "how it was found, with the folder")
endif()

if(NOT Torch_FOUND)
  message(FATAL_ERROR "byol-torch: LibTorch was not found. Places tried, in order:${_byol_tried}\n"
    "Get LibTorch in one of these ways:\n"
    "  - Debian/Ubuntu: sudo apt-get install libtorch-dev\n"
    "  - a LibTorch folder: export LIBTORCH=/path/to/libtorch\n"
    "  - a PyTorch 2.x install (pip install torch), found through python3 or BYOL_PYTHON")
endif()
