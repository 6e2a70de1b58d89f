// The safetensors format: 8-byte little-endian header length N, N bytes of JSON header
// {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...},
// then the raw little-endian tensor data; offsets are relative to the data section.
//
// The parser trusts nothing: the header length is checked against the file size and a 100 MB cap, the
// JSON is parsed strictly (depth-limited, no duplicate keys), every dtype, shape and offset is checked
// (offsets inside the data, tiling it without gaps or overlaps, byte length = numel * item size), and
// any problem is a FormatError naming the file and what is wrong. Nothing is returned half-parsed.
// One parser serves both reads: the header alone (readSafetensorsHeader: names, dtypes, shapes, offsets,
// without reading the data section) and the whole file (readSafetensors: the header, then the tensors).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/named_tensors.h"

namespace byol {

class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct SafetensorsContents {
  NamedTensors tensors;  // in data order
  Metadata metadata;
};

constexpr uint64_t kSafetensorsMaxHeader = 100ull * 1000 * 1000;

// One tensor as the header describes it; [begin, end) are byte offsets into the data section.
struct SafetensorsEntry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in data order
  Metadata metadata;                      // in header order
  uint64_t dataStart = 0;                 // the data section's position in the file: 8 + header length
  uint64_t dataSize = 0;                  // its length: the file size - dataStart
};

// "F32" <-> at::kFloat etc. Throws FormatError for names this library does not read.
at::ScalarType safetensorsDtype(const std::string& name);
std::string safetensorsDtypeName(at::ScalarType type);

// Parses the header of a file of `fileSize` bytes from its first `size` bytes: the 8-byte length (all of a
// shorter file), then the header when the length is valid; more is allowed, up to the whole file. Every
// check of the full parse, the offsets against the data section's size, without touching the data.
// `source` names the file in error messages; too few bytes for a valid length is a RangeError (the caller's).
SafetensorsHeader parseSafetensorsHeader(const uint8_t* data, size_t size, uint64_t fileSize,
                                         const std::string& source = "buffer");
// Reads the 8-byte length and the header of `path` only (not the tensor data) and parses them as above.
SafetensorsHeader readSafetensorsHeader(const std::string& path);

// Parses a whole file image; `source` names it in error messages. Tensors are fresh CPU copies.
SafetensorsContents parseSafetensors(const uint8_t* data, size_t size, const std::string& source = "buffer");
// Serialises CPU or device tensors (copied to host, contiguous) in the given order.
std::string serializeSafetensors(const NamedTensors& tensors, const Metadata& metadata = {});

SafetensorsContents readSafetensors(const std::string& path);
// Writes atomically: a temporary file next to `path`, flushed, then renamed over it.
void writeSafetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

}  // namespace byol
