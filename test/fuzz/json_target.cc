// core/json's reader on arbitrary bytes. It must reject with a JsonError pointing inside the input, or return
// a document that (1) nests no deeper than its limit, (2) holds only valid UTF-8 strings (RFC 8259 8.1: the JS
// side decodes every name as UTF-8, where two different invalid byte strings become the same name), and
// (3) reads back the same after being written out again.
#include <algorithm>
#include <cstring>

#include "checks.h"
#include "core/json.h"
#include "targets.h"

namespace byol::fuzz {
namespace {

// Whether `s` is well-formed UTF-8: no stray continuation bytes, no truncated or overlong sequences, no
// UTF-16 surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
bool validUtf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Containers on the deepest path (a scalar root is 0).
int nesting(const Json& v) {
  int deepest = 0;
  for (const Json& item : v.items) deepest = std::max(deepest, nesting(item));
  for (const auto& member : v.members) deepest = std::max(deepest, nesting(member.second));
  return v.kind == Json::Array || v.kind == Json::Object ? deepest + 1 : 0;
}

void checkStrings(const Json& v) {
  if (v.kind == Json::String) FUZZ_CHECK(validUtf8(v.text), "a string value is not valid UTF-8");
  for (const Json& item : v.items) checkStrings(item);
  for (const auto& [key, value] : v.members) {
    FUZZ_CHECK(validUtf8(key), "an object key is not valid UTF-8");
    checkStrings(value);
  }
}

// Compact JSON text of `v`, through the library's own string writer.
void write(const Json& v, std::string& out) {
  switch (v.kind) {
    case Json::Null: out += "null"; return;
    case Json::Bool: out += v.boolean ? "true" : "false"; return;
    case Json::Number: out += v.text; return;
    case Json::String: appendJsonString(out, v.text); return;
    case Json::Array:
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        write(v.items[i], out);
      }
      out += ']';
      return;
    case Json::Object:
      out += '{';
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (i) out += ',';
        appendJsonString(out, v.members[i].first);
        out += ':';
        write(v.members[i].second, out);
      }
      out += '}';
      return;
  }
}

bool same(const Json& a, const Json& b) {
  if (a.kind != b.kind || a.boolean != b.boolean || a.text != b.text || a.items.size() != b.items.size() ||
      a.members.size() != b.members.size()) {
    return false;
  }
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (!same(a.items[i], b.items[i])) return false;
  }
  for (size_t i = 0; i < a.members.size(); ++i) {
    if (a.members[i].first != b.members[i].first || !same(a.members[i].second, b.members[i].second)) return false;
  }
  return true;
}

}  // namespace

void json(const uint8_t* data, size_t size) {
  const char* begin = reinterpret_cast<const char*>(data);
  Json document;
  try {
    document = parseJson(begin, begin + size);
  } catch (const JsonError& e) {
    FUZZ_CHECK(e.offset <= size, "a JsonError points past the input: offset ", e.offset, " of ", size, " bytes");
    FUZZ_CHECK(std::strlen(e.what()) > 0, "a JsonError says nothing");
    return;
  }
  // The root is depth 0 and a container at depth kJsonMaxDepth may still hold (empty) containers.
  FUZZ_CHECK(nesting(document) <= kJsonMaxDepth + 1, "accepted a document nested ", nesting(document), " deep");
  checkStrings(document);
  std::string text;
  write(document, text);
  Json again;
  try {
    again = parseJson(text.data(), text.data() + text.size());
  } catch (const JsonError& e) {
    FUZZ_CHECK(false, "the written-out document does not read back: ", e.what());
  }
  FUZZ_CHECK(same(document, again), "the written-out document reads back different");
}

}  // namespace byol::fuzz
