#include "binding/args.h"

#include <cmath>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/tensor_factory.h"

namespace byol::binding {

std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return std::string("a boolean (") + (v.As<Napi::Boolean>().Value() ? "true" : "false") + ")";
    case napi_number: return "the number " + v.ToString().Utf8Value();
    case napi_string: return "the string '" + v.As<Napi::String>().Utf8Value() + "'";
    case napi_bigint: return "a bigint";
    case napi_function: return "a function";
    default: return v.IsArray() ? "an array" : "an object";
  }
}

std::string stringArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsString(), name, ": expected a string, received ", describe(v));
  return v.As<Napi::String>().Utf8Value();
}

double numberArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsNumber(), name, ": expected a number, received ", describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

int64_t intArg(const Napi::Value& v, const char* name) {
  const double d = numberArg(v, name);
  BYOL_EXPECT_RANGE(std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.007199254740992e15, name,
                    ": expected an integer, received ", d);
  return static_cast<int64_t>(d);
}

bool boolArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsBoolean(), name, ": expected a boolean, received ", describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::vector<int64_t> intListArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsArray(), name, ": expected an array of integers, received ", describe(v));
  auto array = v.As<Napi::Array>();
  std::vector<int64_t> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(intArg(array.Get(i), name));
  return out;
}

std::vector<int64_t> shapeArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsArray(), name, ": expected an array of non-negative integers, received ", describe(v));
  auto array = v.As<Napi::Array>();
  std::vector<double> dims;
  dims.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) dims.push_back(numberArg(array.Get(i), name));
  return validateShape(dims, name);
}

at::ScalarType dtypeArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsString(), name, ": expected one of ", dtypeNames(), ", received ", describe(v));
  return parseDtype(v.As<Napi::String>().Utf8Value());
}

at::Device deviceArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsString(), name, ": expected 'cpu', 'cuda' or 'cuda:N', received ", describe(v));
  return parseDevice(v.As<Napi::String>().Utf8Value());
}

Napi::Value option(const Napi::Value& options, const char* key) {
  if (!options.IsObject()) return options.Env().Undefined();
  return options.As<Napi::Object>().Get(key);
}

int64_t intOption(const Napi::Value& options, const char* key, int64_t fallback) {
  Napi::Value v = option(options, key);
  return v.IsUndefined() ? fallback : intArg(v, key);
}

double numberOption(const Napi::Value& options, const char* key, double fallback) {
  Napi::Value v = option(options, key);
  return v.IsUndefined() ? fallback : numberArg(v, key);
}

bool boolOption(const Napi::Value& options, const char* key, bool fallback) {
  Napi::Value v = option(options, key);
  return v.IsUndefined() ? fallback : boolArg(v, key);
}

std::string stringOption(const Napi::Value& options, const char* key, const std::string& fallback) {
  Napi::Value v = option(options, key);
  return v.IsUndefined() ? fallback : stringArg(v, key);
}

}  // namespace byol::binding
