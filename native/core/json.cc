#include "core/json.h"

#include <cstdio>
#include <cstring>
#include <set>

#include "core/errors.h"

namespace byol {
namespace {

class JsonReader {
 public:
  JsonReader(const char* begin, const char* end) : begin_(begin), p_(begin), end_(end) {}

  Json document() {
    Json value = parseValue(0);
    skipSpace();
    if (p_ != end_) fail("unexpected characters after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw JsonError(what, static_cast<size_t>(p_ - begin_)); }

  void skipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  Json parseValue(int depth) {
    if (depth > kJsonMaxDepth) fail(message("nesting deeper than ", kJsonMaxDepth, " levels"));
    skipSpace();
    if (p_ == end_) fail("unexpected end");
    const char c = *p_;
    if (c == '{') return parseObject(depth);
    if (c == '[') return parseArray(depth);
    if (c == '"') {
      Json v;
      v.kind = Json::String;
      v.text = parseString();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parseNumber();
    if (literal("true")) { Json v; v.kind = Json::Bool; v.boolean = true; return v; }
    if (literal("false")) { Json v; v.kind = Json::Bool; return v; }
    if (literal("null")) return Json{};
    fail(message("unexpected character '", printable(c), "'"));
  }

  static std::string printable(char c) {
    if (c >= 0x20 && c < 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
    return buf;
  }

  bool literal(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, word, n) == 0) {
      p_ += n;
      return true;
    }
    return false;
  }

  Json parseObject(int depth) {
    Json v;
    v.kind = Json::Object;
    ++p_;  // {
    skipSpace();
    if (p_ != end_ && *p_ == '}') { ++p_; return v; }
    std::set<std::string> seen;
    while (true) {
      skipSpace();
      if (p_ == end_ || *p_ != '"') fail("expected a string key");
      std::string key = parseString();
      if (!seen.insert(key).second) fail(message("duplicate key \"", key, "\""));
      skipSpace();
      if (p_ == end_ || *p_ != ':') fail("expected ':'");
      ++p_;
      v.members.emplace_back(std::move(key), parseValue(depth + 1));
      skipSpace();
      if (p_ == end_) fail("unexpected end inside an object");
      if (*p_ == ',') { ++p_; continue; }
      if (*p_ == '}') { ++p_; return v; }
      fail("expected ',' or '}'");
    }
  }

  Json parseArray(int depth) {
    Json v;
    v.kind = Json::Array;
    ++p_;  // [
    skipSpace();
    if (p_ != end_ && *p_ == ']') { ++p_; return v; }
    while (true) {
      v.items.push_back(parseValue(depth + 1));
      skipSpace();
      if (p_ == end_) fail("unexpected end inside an array");
      if (*p_ == ',') { ++p_; continue; }
      if (*p_ == ']') { ++p_; return v; }
      fail("expected ',' or ']'");
    }
  }

  Json parseNumber() {
    const char* begin = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("malformed number");
    if (*p_ == '0') ++p_;
    else while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("malformed number");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !(*p_ >= '0' && *p_ <= '9')) fail("malformed number");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    Json v;
    v.kind = Json::Number;
    v.text.assign(begin, p_);
    return v;
  }

  unsigned hex4() {
    if (end_ - p_ < 4) fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const char c = *p_;
      code <<= 4;
      if (c >= '0' && c <= '9') code |= c - '0';
      else if (c >= 'a' && c <= 'f') code |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') code |= c - 'A' + 10;
      else fail("bad \\u escape");
    }
    return code;
  }

  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Copies one raw UTF-8 sequence (RFC 8259 8.1: JSON text is UTF-8). Stray continuation bytes, truncated or
  // overlong sequences, encoded surrogates and code points above U+10FFFF are errors: names read here become JS
  // strings, where different invalid byte strings would all decode to the same U+FFFD name.
  void copyUtf8(std::string& out) {
    const unsigned char lead = static_cast<unsigned char>(*p_);
    long len = 0;
    unsigned cp = 0, min = 0;
    if ((lead & 0xE0) == 0xC0) { len = 2; cp = lead & 0x1Fu; min = 0x80; }
    else if ((lead & 0xF0) == 0xE0) { len = 3; cp = lead & 0x0Fu; min = 0x800; }
    else if ((lead & 0xF8) == 0xF0) { len = 4; cp = lead & 0x07u; min = 0x10000; }
    else fail("invalid UTF-8 inside a string");
    if (end_ - p_ < len) fail("invalid UTF-8 inside a string");
    for (long k = 1; k < len; ++k) {
      const unsigned char c = static_cast<unsigned char>(p_[k]);
      if ((c & 0xC0) != 0x80) fail("invalid UTF-8 inside a string");
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("invalid UTF-8 inside a string");
    out.append(p_, static_cast<size_t>(len));
    p_ += len;
  }

  std::string parseString() {
    ++p_;  // "
    std::string out;
    while (true) {
      if (p_ == end_) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(*p_++);
      if (c == '"') return out;
      if (c < 0x20) fail("control character inside a string");
      if (c >= 0x80) {
        --p_;
        copyUtf8(out);
        continue;
      }
      if (c != '\\') { out += static_cast<char>(c); continue; }
      if (p_ == end_) fail("unterminated escape");
      const char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') fail("unpaired surrogate");
            p_ += 2;
            const unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate");
          }
          appendUtf8(out, cp);
          break;
        }
        default: fail(message("bad escape '\\", printable(e), "'"));
      }
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

}  // namespace

Json parseJson(const char* begin, const char* end) { return JsonReader(begin, end).document(); }

int64_t jsonNatural(const Json& v) {
  if (v.kind != Json::Number || v.text.empty() || v.text.size() > 16) return -1;
  for (const char c : v.text) if (c < '0' || c > '9') return -1;
  const int64_t n = std::stoll(v.text);
  return n < (int64_t{1} << 53) ? n : -1;
}

void appendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (const unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

}  // namespace byol
