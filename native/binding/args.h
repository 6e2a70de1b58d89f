// Parsing JS arguments: each helper checks one argument and throws a JS TypeError/RangeError that names it,
// says what was expected and what was received.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

namespace byol::binding {

// "a number", "a string", "undefined", ... for messages.
std::string describe(const Napi::Value& v);

std::string stringArg(const Napi::Value& v, const char* name);
double numberArg(const Napi::Value& v, const char* name);
int64_t intArg(const Napi::Value& v, const char* name);
bool boolArg(const Napi::Value& v, const char* name);
std::vector<int64_t> intListArg(const Napi::Value& v, const char* name);
// A shape: an array of non-negative integers.
std::vector<int64_t> shapeArg(const Napi::Value& v, const char* name = "shape");
at::ScalarType dtypeArg(const Napi::Value& v, const char* name = "dtype");
at::Device deviceArg(const Napi::Value& v, const char* name = "device");

// Reads `key` from an options object (undefined when missing or when `options` is undefined).
Napi::Value option(const Napi::Value& options, const char* key);
// Reads an optional option, checked like the matching *Arg helper: `fallback` when undefined.
int64_t intOption(const Napi::Value& options, const char* key, int64_t fallback);
double numberOption(const Napi::Value& options, const char* key, double fallback);
bool boolOption(const Napi::Value& options, const char* key, bool fallback);
std::string stringOption(const Napi::Value& options, const char* key, const std::string& fallback);

}  // namespace byol::binding
