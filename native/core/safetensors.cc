#include "core/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/json.h"

namespace byol {
namespace {

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

SafetensorsHeader parseSafetensorsHeader(const uint8_t* data, size_t size, uint64_t fileSize,
                                         const std::string& source) {
  auto bad = [&](const auto&... parts) { return FormatError(message("safetensors: ", source, ": ", parts...)); };
  if (fileSize < 8) throw bad("file of ", fileSize, " bytes is too short for the 8-byte header length");
  // A caller's mistake, not the file's: too few of its bytes were passed.
  BYOL_EXPECT_RANGE(size >= 8 && size <= fileSize, "safetensors: ", source, ": size: expected the first 8 to ", fileSize,
                    " bytes of the file, received ", size);
  const uint64_t headerLen = readLe64(data);
  if (headerLen > kSafetensorsMaxHeader) {
    throw bad("header length ", headerLen, " exceeds the ", kSafetensorsMaxHeader, "-byte limit (corrupt file?)");
  }
  if (headerLen > fileSize - 8) throw bad("header length ", headerLen, " exceeds the file (", fileSize, " bytes)");
  if (headerLen < 2) throw bad("header length ", headerLen, " is too short for a JSON object");
  BYOL_EXPECT_RANGE(headerLen <= size - 8, "safetensors: ", source, ": size: expected at least the first ",
                    8 + headerLen, " bytes of the file (length and header), received ", size);
  const char* headerBegin = reinterpret_cast<const char*>(data + 8);
  // Writers may pad the header with trailing spaces (to align the data); the reader skips whitespace.
  Json root;
  try {
    root = parseJson(headerBegin, headerBegin + headerLen);
  } catch (const JsonError& e) {
    throw bad("malformed header JSON: ", e.what(), " (header byte ", e.offset, ")");
  }
  if (root.kind != Json::Object) throw bad("header: expected a JSON object");

  SafetensorsHeader out;
  out.dataStart = 8 + headerLen;
  out.dataSize = fileSize - out.dataStart;
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
    SafetensorsEntry entry;
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
      const int64_t n = jsonNatural(d);
      if (n < 0) throw bad("tensor '", name, "': shape: expected non-negative integers");
      entry.shape.push_back(n);
      if (n != 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(n)) overflow = true;
      numel *= static_cast<uint64_t>(n);
    }
    const int64_t b = jsonNatural(offsets->items[0]), e = jsonNatural(offsets->items[1]);
    if (b < 0 || e < 0 || b > e) throw bad("tensor '", name, "': data_offsets: expected integers 0 <= begin <= end");
    if (static_cast<uint64_t>(e) > out.dataSize) {
      throw bad("tensor '", name, "': data_offsets [", b, ", ", e, "] run past the data section (", out.dataSize,
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
    out.tensors.push_back(std::move(entry));
  }
  // The tensors must tile the data section: sorted by offset, each starts where the previous ended.
  std::stable_sort(out.tensors.begin(), out.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const SafetensorsEntry& entry : out.tensors) {
    if (entry.begin != expected) {
      throw bad("tensor '", entry.name, "': data_offsets begin at ", entry.begin, " where ", expected,
                entry.begin < expected ? " (overlaps another tensor)" : " (leaves a gap)", " was expected");
    }
    expected = entry.end;
  }
  if (expected != out.dataSize) {
    throw bad("the tensors cover ", expected, " bytes of a ", out.dataSize, "-byte data section");
  }
  return out;
}

SafetensorsContents parseSafetensors(const uint8_t* data, size_t size, const std::string& source) {
  const SafetensorsHeader header = parseSafetensorsHeader(data, size, size, source);
  const uint8_t* dataBegin = data + header.dataStart;
  SafetensorsContents out;
  out.metadata = header.metadata;
  out.tensors.reserve(header.tensors.size());
  for (const SafetensorsEntry& entry : header.tensors) {
    // A C++ bool is 0 or 1: any other byte in a kBool tensor is undefined behaviour in the kernels that read it.
    if (entry.dtype == at::kBool) {
      for (uint64_t k = entry.begin; k < entry.end; ++k) {
        if (dataBegin[k] > 1) {
          throw FormatError(message("safetensors: ", source, ": tensor '", entry.name, "': BOOL element ", k - entry.begin,
                                    " is the byte ", static_cast<int>(dataBegin[k]), " (expected 0 or 1)"));
        }
      }
    }
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

namespace {

// An open regular file and its size; errors name the file.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw FormatError(message("safetensors: cannot open '", path, "': ", std::strerror(errno)));
    struct stat st {};
    std::string problem;
    if (::fstat(fd_, &st) != 0) problem = std::strerror(errno);
    else if (!S_ISREG(st.st_mode)) problem = "not a regular file";
    if (!problem.empty()) {
      ::close(fd_);
      throw FormatError(message("safetensors: cannot open '", path, "': ", problem));
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~InputFile() { ::close(fd_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  uint64_t size() const { return size_; }

  // The first `n` bytes (n <= size()).
  std::string prefix(uint64_t n) {
    std::string bytes(static_cast<size_t>(n), '\0');
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t got = ::pread(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail();
      if (got == 0) throw FormatError(message("safetensors: cannot read '", path_, "': it shrank while being read"));
      done += static_cast<size_t>(got);
    }
    return bytes;
  }

 private:
  [[noreturn]] void fail() const {
    throw FormatError(message("safetensors: cannot read '", path_, "': ", std::strerror(errno)));
  }

  std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

}  // namespace

SafetensorsHeader readSafetensorsHeader(const std::string& path) {
  InputFile file(path);
  const uint64_t size = file.size();
  std::string bytes = file.prefix(std::min<uint64_t>(size, 8));
  // Read the header only when its length is plausible; otherwise the parser names what is wrong.
  if (size >= 8) {
    const uint64_t headerLen = readLe64(reinterpret_cast<const uint8_t*>(bytes.data()));
    if (headerLen <= kSafetensorsMaxHeader && headerLen <= size - 8) bytes = file.prefix(8 + headerLen);
  }
  return parseSafetensorsHeader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), size, path);
}

SafetensorsContents readSafetensors(const std::string& path) {
  InputFile file(path);
  const std::string bytes = file.prefix(file.size());
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
