// core/safetensors' header parser on arbitrary file images. A rejection is a FormatError naming the source. An
// accepted header describes tensors that tile the data section exactly (each numel x item size bytes, no gap,
// no overlap), with unique names and offsets below 2^53 (what JS numbers hold exactly); and the header-only read
// (readSafetensorsHeader passes the length and the header, not the data) gives the same result, while a byte
// fewer than that is the caller's mistake (a RangeError), never a misparse.
#include <set>

#include "checks.h"
#include "core/safetensors.h"
#include "targets.h"

namespace byol::fuzz {
namespace {

constexpr const char* kSource = "fuzz-input";

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool sameHeader(const SafetensorsHeader& a, const SafetensorsHeader& b) {
  if (a.dataStart != b.dataStart || a.dataSize != b.dataSize || a.metadata != b.metadata ||
      a.tensors.size() != b.tensors.size()) {
    return false;
  }
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const SafetensorsEntry &x = a.tensors[i], &y = b.tensors[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.begin != y.begin || x.end != y.end) return false;
  }
  return true;
}

}  // namespace

void safetensorsHeader(const uint8_t* data, size_t size) {
  SafetensorsHeader header;
  try {
    header = parseSafetensorsHeader(data, size, size, kSource);
  } catch (const FormatError& e) {
    FUZZ_CHECK(startsWith(e.what(), std::string("safetensors: ") + kSource + ": "), "a rejection does not name the source: ",
               e.what());
    return;
  }
  FUZZ_CHECK(size >= 8 && header.dataStart == 8 + le64(data), "the data section does not follow the header");
  FUZZ_CHECK(header.dataStart + header.dataSize == size, "the data section does not end with the file");
  std::set<std::string> names;
  uint64_t next = 0;
  for (const SafetensorsEntry& entry : header.tensors) {
    FUZZ_CHECK(entry.name != "__metadata__" && names.insert(entry.name).second, "tensor name '", entry.name,
               "' is reserved or repeated");
    FUZZ_CHECK(entry.begin == next, "tensor '", entry.name, "' does not start where the previous one ended");
    FUZZ_CHECK(entry.end >= entry.begin && entry.end < (uint64_t{1} << 53), "tensor '", entry.name, "' has offsets [",
               entry.begin, ", ", entry.end, "]");
    FUZZ_CHECK(entry.shape.size() <= 16, "tensor '", entry.name, "' has ", entry.shape.size(), " dimensions");
    // numel x item size must be the byte length, computed here without overflow (unsigned __int128).
    unsigned __int128 bytes = c10::elementSize(entry.dtype);
    for (const int64_t d : entry.shape) {
      FUZZ_CHECK(d >= 0, "tensor '", entry.name, "' has a negative dimension");
      bytes = bytes * static_cast<uint64_t>(d);
      if (bytes > header.dataSize) bytes = header.dataSize + 1;  // too large already; keep it from overflowing
    }
    FUZZ_CHECK(bytes == entry.end - entry.begin, "tensor '", entry.name, "' spans ", entry.end - entry.begin,
               " bytes, not its numel x item size");
    next = entry.end;
  }
  FUZZ_CHECK(next == header.dataSize, "the tensors cover ", next, " of the data section's ", header.dataSize, " bytes");
  std::set<std::string> keys;
  for (const auto& entry : header.metadata) {
    FUZZ_CHECK(keys.insert(entry.first).second, "metadata key '", entry.first, "' is repeated");
  }

  // What readSafetensorsHeader does: the length and the header only, the file's size from the file system.
  const size_t headerEnd = static_cast<size_t>(header.dataStart);
  FUZZ_CHECK(sameHeader(header, parseSafetensorsHeader(data, headerEnd, size, kSource)),
             "the header alone parses differently from the whole file");
  bool rangeError = false;
  try {
    parseSafetensorsHeader(data, headerEnd - 1, size, kSource);
  } catch (const RangeError&) {
    rangeError = true;
  }
  FUZZ_CHECK(rangeError, "a byte short of the header was not refused as the caller's error");
}

}  // namespace byol::fuzz
