# cmake -DFILE=<shared object> -DRUNPATH=<new run-time path> -P cmake/SetRunPath.cmake
# Rewrites a built binary's run-time search path with CMake's own ELF editor (what `cmake --install` does to
# INSTALL_RPATH); scripts/prebuild.sh uses it to ship the prebuilt binary with $ORIGIN only.
if(NOT FILE OR NOT DEFINED RUNPATH)
  message(FATAL_ERROR "SetRunPath.cmake: pass -DFILE=<binary> -DRUNPATH=<path>")
endif()
file(RPATH_SET FILE "${FILE}" NEW_RPATH "${RUNPATH}")
