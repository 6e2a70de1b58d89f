// The safetensors format: 8-byte little-endian header length N, N bytes of JSON header
// {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...},
// then the raw little-endian tensor data; offsets are relative to the data section.
//
// The parser trusts nothing: the header length is checked against the file size and a 100 MB cap, the
// JSON is parsed strictly (depth-limited, no duplicate keys), every dtype, shape and offset is checked
// (offsets inside the data, tiling it without gaps or overlaps, byte length = numel * item size), and
// any problem is a FormatError naming the file and what is wrong. Nothing is returned half-parsed.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace byol {

class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
using Metadata = std::vector<std::pair<std::string, std::string>>;

struct SafetensorsContents {
  NamedTensors tensors;  // in data order
  Metadata metadata;
};

constexpr uint64_t kSafetensorsMaxHeader = 100ull * 1000 * 1000;

// "F32" <-> at::kFloat etc. Throws FormatError for names this library does not read.
at::ScalarType safetensorsDtype(const std::string& name);
std::string safetensorsDtypeName(at::ScalarType type);

// Parses a whole file image; `source` names it in error messages. Tensors are fresh CPU copies.
SafetensorsContents parseSafetensors(const uint8_t* data, size_t size, const std::string& source = "buffer");
// Serialises CPU or device tensors (copied to host, contiguous) in the given order.
std::string serializeSafetensors(const NamedTensors& tensors, const Metadata& metadata = {});

SafetensorsContents readSafetensors(const std::string& path);
// Writes atomically: a temporary file next to `path`, flushed, then renamed over it.
void writeSafetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

}  // namespace byol
