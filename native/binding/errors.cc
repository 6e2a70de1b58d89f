#include "binding/errors.h"

#include <c10/util/Exception.h>

#include "core/errors.h"
#include "core/process_group.h"

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
  } catch (const byol::DistributedError& e) {
    // Its own name, so that callers can tell a lost rank or a timeout from a bug.
    Napi::Error error = Napi::Error::New(env, e.what());
    error.Value().Set("name", "DistributedError");
    return error;
  } catch (const std::bad_alloc&) {
    return Napi::RangeError::New(env, "out of memory: the native allocation failed");
  } catch (const std::exception& e) {
    return Napi::Error::New(env, e.what());
  } catch (...) {
    return Napi::Error::New(env, "unknown native error");
  }
}

}  // namespace byol::binding
