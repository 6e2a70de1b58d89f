// A small strict JSON reader (RFC 8259) and string writer, for file headers this library reads and writes
// (safetensors). The reader trusts nothing: nesting is depth-limited, duplicate object keys, unpaired
// surrogates, control characters inside strings and trailing characters are errors. Numbers are kept as
// their literal text; the caller decides what it accepts (see jsonNatural).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace byol {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  std::string text;  // the string's value, or the number's literal
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;  // in document order, keys unique
};

// What is wrong with a JSON text and where (a byte offset from its start); callers add the context.
class JsonError : public std::runtime_error {
 public:
  JsonError(const std::string& what, size_t offset) : std::runtime_error(what), offset(offset) {}
  size_t offset;
};

constexpr int kJsonMaxDepth = 32;

// Parses [begin, end) as one JSON value, surrounded by optional whitespace. Throws JsonError.
Json parseJson(const char* begin, const char* end);

// A non-negative integer literal below 2^53 (what JSON readers everywhere agree on), or -1.
int64_t jsonNatural(const Json& value);

// Appends `s` as a JSON string literal (quotes, backslashes and control characters escaped).
void appendJsonString(std::string& out, const std::string& s);

}  // namespace byol
