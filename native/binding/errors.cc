#include "binding/errors.h"

#include <c10/util/Exception.h>

#include "core/errors.h"

namespace byol::binding {

Napi::Error translateError(Napi::Env env, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Napi::Error& e) {
    return e;
  } catch (const byol::TypeError& e) {
    return Napi::TypeError::New(env, e.what());
  } catch (const byol::RangeError& e) {
    return Napi::RangeError::New(env, e.what());
  } catch (const c10::TypeError& e) {
    return Napi::TypeError::New(env, e.what_without_backtrace());
  } catch (const c10::IndexError& e) {
    return Napi::RangeError::New(env, e.what_without_backtrace());
  } catch (const c10::Error& e) {
    return Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Napi::RangeError::New(env, "out of memory: the native allocation failed");
  } catch (const std::exception& e) {
    return Napi::Error::New(env, e.what());
  } catch (...) {
    return Napi::Error::New(env, "unknown native error");
  }
}

}  // namespace byol::binding
