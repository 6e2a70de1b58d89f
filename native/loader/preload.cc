// The LibTorch preloader: a Node-API addon of one function and no LibTorch dependency (it links libc only), so
// it loads wherever Node runs. lib/native.ts calls it before it loads the prebuilt binary, whose run-time path
// names no LibTorch folder: once LibTorch's libraries are in the process (loaded by full path, RTLD_GLOBAL), the
// dynamic linker takes them for the binary's DT_NEEDED sonames (libtorch.so, libc10.so, ...).
//
// A separate addon because Node's process.dlopen() unloads a library that registers no module: a library opened
// through it directly would be gone again before the binary loads. The handles opened here are never closed.
#include <dlfcn.h>
#include <node_api.h>

#include <string>

namespace {

napi_value ThrowError(napi_env env, const std::string& message) {
  napi_throw_error(env, nullptr, message.c_str());
  return nullptr;
}

// preload(paths: string[]): undefined. dlopen()s each path, in order, with RTLD_NOW | RTLD_GLOBAL; throws an
// Error naming the library and dlerror()'s reason at the first one that does not load.
napi_value Preload(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  bool is_array = false;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    return ThrowError(env, "preload(paths): paths must be an array of shared library paths");
  }
  uint32_t length = 0;
  if (napi_get_array_length(env, argv[0], &length) != napi_ok) return nullptr;
  for (uint32_t i = 0; i < length; ++i) {
    napi_value element;
    napi_valuetype type;
    if (napi_get_element(env, argv[0], i, &element) != napi_ok || napi_typeof(env, element, &type) != napi_ok) {
      return nullptr;
    }
    if (type != napi_string) {
      return ThrowError(env, "preload(paths): paths[" + std::to_string(i) + "] must be a string");
    }
    size_t size = 0;
    if (napi_get_value_string_utf8(env, element, nullptr, 0, &size) != napi_ok) return nullptr;
    std::string path(size, '\0');
    if (napi_get_value_string_utf8(env, element, path.data(), size + 1, &size) != napi_ok) return nullptr;
    dlerror();  // clear an earlier error
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* reason = dlerror();
      return ThrowError(env, "cannot load " + path + ": " + (reason ? reason : "unknown dlopen error"));
    }
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value preload;
  if (napi_create_function(env, "preload", NAPI_AUTO_LENGTH, Preload, nullptr, &preload) != napi_ok ||
      napi_set_named_property(env, exports, "preload", preload) != napi_ok) {
    return nullptr;
  }
  return exports;
}
