// One place that turns C++ exceptions into JS errors: byol::TypeError/RangeError keep their JS class,
// c10 errors lose their C++ backtrace (what_without_backtrace), everything else becomes an Error.
#pragma once

#include <napi.h>

#include <exception>

namespace byol::binding {

Napi::Error translateError(Napi::Env env, std::exception_ptr error);

// Runs `body` and rethrows any C++ exception as the matching JS error.
template <typename Body>
Napi::Value guarded(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw translateError(env, std::current_exception());
  }
}

// A free function with its C++ exceptions translated: `Napi::Function::New<guardedFunction<fn>>(env, "name")`.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value guardedFunction(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return Fn(info); });
}

}  // namespace byol::binding

// Declares, inside an ObjectWrap class, `guarded<&Class::method>`: the method with its C++ exceptions
// translated, so each class registers `InstanceMethod<&Class::guarded<&Class::method>>("name")` and no
// method repeats the try/catch.
#define BYOL_GUARDED_METHODS(Class)                                                   \
  template <Napi::Value (Class::*Method)(const Napi::CallbackInfo&)>                  \
  Napi::Value guarded(const Napi::CallbackInfo& info) {                               \
    return ::byol::binding::guarded(info.Env(), [&] { return (this->*Method)(info); }); \
  }
