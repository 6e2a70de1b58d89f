#include "core/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include <unistd.h>

#include "core/errors.h"

namespace byol {
namespace {

// ---- a small strict JSON reader (RFC 8259) for the header -------------------------------------------

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  std::string text;  // the string's value, or the number's literal
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

class JsonReader {
 public:
  JsonReader(const char* begin, const char* end, std::string source) : p_(begin), end_(end), source_(std::move(source)) {}

  Json document() {
    Json value = parseValue(0);
    skipSpace();
    if (p_ != end_) fail("unexpected characters after the JSON value");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 32;

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(message("safetensors: ", source_, ": malformed header JSON: ", what, " (header byte ",
                              offset(), ")"));
  }
  size_t offset() const { return static_cast<size_t>(p_ - start()); }
  const char* start() const { return end_ - total_; }

  void skipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  Json parseValue(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 32 levels");
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

  std::string parseString() {
    ++p_;  // "
    std::string out;
    while (true) {
      if (p_ == end_) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(*p_++);
      if (c == '"') return out;
      if (c < 0x20) fail("control character inside a string");
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

 public:
  void setTotal(size_t total) { total_ = total; }

 private:
  const char* p_;
  const char* end_;
  size_t total_ = 0;
  std::string source_;
};

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

// A non-negative integer literal below 2^53 (what JSON readers everywhere agree on), or -1.
int64_t naturalOf(const Json& v) {
  if (v.kind != Json::Number || v.text.empty() || v.text.size() > 16) return -1;
  for (const char c : v.text) if (c < '0' || c > '9') return -1;
  const int64_t n = std::stoll(v.text);
  return n < (int64_t{1} << 53) ? n : -1;
}

struct Entry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

uint64_t readLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void writeLe64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

}  // namespace

at::ScalarType safetensorsDtype(const std::string& name) {
  static const std::map<std::string, at::ScalarType> table = {
      {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"I64", at::kLong},
      {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},   {"U8", at::kByte},       {"BOOL", at::kBool}};
  auto it = table.find(name);
  if (it == table.end()) {
    throw FormatError(message("safetensors: dtype: expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, received '",
                              name, "'"));
  }
  return it->second;
}

std::string safetensorsDtypeName(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return "F64";
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
    default: throw TypeError(message("safetensors: cannot store dtype ", type));
  }
}

SafetensorsContents parseSafetensors(const uint8_t* data, size_t size, const std::string& source) {
  auto bad = [&](const auto&... parts) { return FormatError(message("safetensors: ", source, ": ", parts...)); };
  if (size < 8) throw bad("file of ", size, " bytes is too short for the 8-byte header length");
  const uint64_t headerLen = readLe64(data);
  if (headerLen > kSafetensorsMaxHeader) {
    throw bad("header length ", headerLen, " exceeds the ", kSafetensorsMaxHeader, "-byte limit (corrupt file?)");
  }
  if (headerLen > size - 8) throw bad("header length ", headerLen, " exceeds the file (", size, " bytes)");
  if (headerLen < 2) throw bad("header length ", headerLen, " is too short for a JSON object");
  const char* headerBegin = reinterpret_cast<const char*>(data + 8);
  const char* headerEnd = headerBegin + headerLen;
  // Writers may pad the header with trailing spaces (to align the data); the reader skips whitespace.
  JsonReader reader(headerBegin, headerEnd, source);
  reader.setTotal(headerLen);
  const Json root = reader.document();
  if (root.kind != Json::Object) throw bad("header: expected a JSON object");

  const uint64_t dataSize = size - 8 - headerLen;
  const uint8_t* dataBegin = data + 8 + headerLen;
  SafetensorsContents out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : root.members) {
    if (name == "__metadata__") {
      if (value.kind != Json::Object) throw bad("__metadata__: expected an object of strings");
      for (const auto& [key, text] : value.members) {
        if (text.kind != Json::String) throw bad("__metadata__: \"", key, "\": expected a string value");
        out.metadata.emplace_back(key, text.text);
      }
      continue;
    }
    if (value.kind != Json::Object) throw bad("tensor '", name, "': expected an object");
    const Json* dtype = nullptr;
    const Json* shape = nullptr;
    const Json* offsets = nullptr;
    for (const auto& [key, field] : value.members) {
      if (key == "dtype") dtype = &field;
      else if (key == "shape") shape = &field;
      else if (key == "data_offsets") offsets = &field;
    }
    if (!dtype || dtype->kind != Json::String) throw bad("tensor '", name, "': expected a string \"dtype\"");
    if (!shape || shape->kind != Json::Array) throw bad("tensor '", name, "': expected an array \"shape\"");
    if (!offsets || offsets->kind != Json::Array || offsets->items.size() != 2) {
      throw bad("tensor '", name, "': expected \"data_offsets\": [begin, end]");
    }
    Entry entry;
    entry.name = name;
    try {
      entry.dtype = safetensorsDtype(dtype->text);
    } catch (const FormatError&) {
      throw bad("tensor '", name, "': dtype: expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, received '",
                dtype->text, "'");
    }
    if (shape->items.size() > 16) throw bad("tensor '", name, "': shape has ", shape->items.size(), " dimensions (at most 16)");
    uint64_t numel = 1;
    bool overflow = false;
    for (const Json& d : shape->items) {
      const int64_t n = naturalOf(d);
      if (n < 0) throw bad("tensor '", name, "': shape: expected non-negative integers");
      entry.shape.push_back(n);
      if (n != 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(n)) overflow = true;
      numel *= static_cast<uint64_t>(n);
    }
    const int64_t b = naturalOf(offsets->items[0]), e = naturalOf(offsets->items[1]);
    if (b < 0 || e < 0 || b > e) throw bad("tensor '", name, "': data_offsets: expected integers 0 <= begin <= end");
    if (static_cast<uint64_t>(e) > dataSize) {
      throw bad("tensor '", name, "': data_offsets [", b, ", ", e, "] run past the data section (", dataSize,
                " bytes; truncated file?)");
    }
    const uint64_t itemSize = c10::elementSize(entry.dtype);
    if (overflow || numel * itemSize != static_cast<uint64_t>(e - b)) {
      throw bad("tensor '", name, "': shape ", formatShape(entry.shape), " of ", dtype->text, " needs ",
                overflow ? std::string("too many") : std::to_string(numel * itemSize), " bytes, data_offsets give ",
                e - b);
    }
    entry.begin = static_cast<uint64_t>(b);
    entry.end = static_cast<uint64_t>(e);
    entries.push_back(std::move(entry));
  }
  // The tensors must tile the data section: sorted by offset, each starts where the previous ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const Entry& entry : entries) {
    if (entry.begin != expected) {
      throw bad("tensor '", entry.name, "': data_offsets begin at ", entry.begin, " where ", expected,
                entry.begin < expected ? " (overlaps another tensor)" : " (leaves a gap)", " was expected");
    }
    expected = entry.end;
  }
  if (expected != dataSize) {
    throw bad("the tensors cover ", expected, " bytes of a ", dataSize, "-byte data section");
  }
  for (const Entry& entry : entries) {
    at::Tensor t = at::empty(entry.shape, at::TensorOptions().dtype(entry.dtype));
    if (entry.end > entry.begin) std::memcpy(t.data_ptr(), dataBegin + entry.begin, entry.end - entry.begin);
    out.tensors.emplace_back(entry.name, std::move(t));
  }
  return out;
}

std::string serializeSafetensors(const NamedTensors& tensors, const Metadata& metadata) {
  std::set<std::string> names;
  std::vector<at::Tensor> hosts;
  hosts.reserve(tensors.size());
  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (i) header += ',';
      appendJsonString(header, metadata[i].first);
      header += ':';
      appendJsonString(header, metadata[i].second);
    }
    header += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    BYOL_EXPECT_RANGE(name != "__metadata__" && names.insert(name).second,
                      "safetensors: expected unique tensor names, received '", name, "' twice");
    BYOL_EXPECT_TYPE(tensor.defined(), "safetensors: tensor '", name, "' is undefined");
    at::Tensor host = tensor.detach().to(at::kCPU).contiguous();
    const std::string dtype = safetensorsDtypeName(host.scalar_type());
    const uint64_t bytes = host.nbytes();
    if (!first) header += ',';
    first = false;
    appendJsonString(header, name);
    header += ":{\"dtype\":\"" + dtype + "\",\"shape\":[";
    for (int64_t d = 0; d < host.dim(); ++d) {
      if (d) header += ',';
      header += std::to_string(host.size(d));
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
    hosts.push_back(std::move(host));
  }
  header += '}';
  while (header.size() % 8 != 0) header += ' ';  // align the data section to 8 bytes
  std::string out;
  out.reserve(8 + header.size() + offset);
  writeLe64(out, header.size());
  out += header;
  for (const at::Tensor& host : hosts) {
    out.append(static_cast<const char*>(host.data_ptr()), host.nbytes());
  }
  return out;
}

SafetensorsContents readSafetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw FormatError(message("safetensors: cannot open '", path, "': ", std::strerror(errno)));
  const std::streamoff size = in.tellg();
  if (size < 0) throw FormatError(message("safetensors: cannot read '", path, "'"));
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (size > 0 && !in.read(bytes.data(), size)) throw FormatError(message("safetensors: cannot read '", path, "'"));
  return parseSafetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

void writeSafetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  const std::string bytes = serializeSafetensors(tensors, metadata);
  std::random_device rd;
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw FormatError(message("safetensors: cannot write '", tmp, "': ", std::strerror(errno)));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0 &&
                  ::fsync(::fileno(f)) == 0;
  const int writeErr = errno;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(tmp.c_str());
    throw FormatError(message("safetensors: cannot write '", tmp, "': ", std::strerror(writeErr)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw FormatError(message("safetensors: cannot rename '", tmp, "' to '", path, "': ", std::strerror(err)));
  }
}

}  // namespace byol
