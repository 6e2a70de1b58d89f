// core/safetensors' file readers on a file holding arbitrary bytes: readSafetensorsHeader (length and header
// only) and readSafetensors (header, then every tensor's data). Both must agree with the in-memory parse of the
// same bytes: the same rejection message, naming the file, or the same header. What readSafetensors accepts
// must be the file's own bytes, in fresh contiguous CPU tensors of the header's dtypes and shapes, BOOL ones
// holding only 0 and 1, and must survive writing out and reading back unchanged (names, order, dtypes, shapes,
// bits, metadata).
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "checks.h"
#include "core/safetensors.h"
#include "targets.h"

namespace byol::fuzz {
namespace {

// The bytes as a file that the readers open by path: an in-memory file (memfd), reached through
// /proc/self/fd. A file on disk would cost a writeback per input (ext4 flushes a truncated-and-rewritten file
// on close), which made this target 50 times slower.
class ScratchFile {
 public:
  ScratchFile() : fd_(::memfd_create("byol-fuzz-input", MFD_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error(std::string("fuzz: memfd_create: ") + std::strerror(errno));
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~ScratchFile() { ::close(fd_); }
  const std::string& write(const uint8_t* data, size_t size) {
    bool ok = ::ftruncate(fd_, 0) == 0;
    for (size_t done = 0; ok && done < size;) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      ok = n > 0;
      done += ok ? static_cast<size_t>(n) : 0;
    }
    if (!ok) throw std::runtime_error("fuzz: cannot write the scratch file " + path_);
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

// The message of the FormatError `read` throws, or nothing when it returns.
template <typename Read>
std::optional<std::string> rejection(Read&& read) {
  try {
    read();
  } catch (const FormatError& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

}  // namespace

void safetensorsFile(const uint8_t* data, size_t size) {
  static ScratchFile scratch;
  const std::string& path = scratch.write(data, size);

  // Rejections: each file reader says exactly what the in-memory parser of the same part of the bytes says,
  // naming the file. The header-only read cannot see the data, so the full read may refuse what it accepts, but
  // never the reverse.
  const auto fromHeaderFile = rejection([&] { readSafetensorsHeader(path); });
  const auto fromHeaderBytes = rejection([&] { parseSafetensorsHeader(data, size, size, path); });
  const auto fromFile = rejection([&] { readSafetensors(path); });
  const auto fromBytes = rejection([&] { parseSafetensors(data, size, path); });
  FUZZ_CHECK(fromHeaderFile == fromHeaderBytes, "readSafetensorsHeader and parseSafetensorsHeader disagree: '",
             fromHeaderFile.value_or("accepted"), "' vs '", fromHeaderBytes.value_or("accepted"), "'");
  FUZZ_CHECK(fromFile == fromBytes, "readSafetensors and parseSafetensors disagree: '", fromFile.value_or("accepted"),
             "' vs '", fromBytes.value_or("accepted"), "'");
  FUZZ_CHECK(!fromHeaderFile || fromFile == fromHeaderFile, "readSafetensors accepted a header readSafetensorsHeader refuses");
  if (fromFile) {
    FUZZ_CHECK(startsWith(*fromFile, "safetensors: " + path + ": "), "a rejection does not name the file: ", *fromFile);
    return;
  }

  const SafetensorsHeader header = readSafetensorsHeader(path);
  const SafetensorsContents contents = readSafetensors(path);
  FUZZ_CHECK(contents.metadata == header.metadata, "readSafetensors' metadata differs from the header's");
  FUZZ_CHECK(contents.tensors.size() == header.tensors.size(), "readSafetensors returned ", contents.tensors.size(),
             " tensors, the header has ", header.tensors.size());
  for (size_t i = 0; i < contents.tensors.size(); ++i) {
    const auto& [name, t] = contents.tensors[i];
    const SafetensorsEntry& entry = header.tensors[i];
    FUZZ_CHECK(name == entry.name && t.scalar_type() == entry.dtype && t.sizes() == at::IntArrayRef(entry.shape),
               "tensor ", i, " ('", name, "') is not the header's '", entry.name, "'");
    FUZZ_CHECK(t.device().is_cpu() && t.is_contiguous(), "tensor '", name, "' is not a contiguous CPU tensor");
    const uint64_t bytes = entry.end - entry.begin;
    FUZZ_CHECK(t.nbytes() == bytes && (bytes == 0 || std::memcmp(t.data_ptr(), data + header.dataStart + entry.begin,
                                                                   bytes) == 0),
               "tensor '", name, "' does not hold the file's bytes");
    // A C++ bool is 0 or 1; any other byte in a kBool tensor is undefined behaviour in every LibTorch kernel
    // that reads it (copy_ already turns 58 into 1, so a loaded bool buffer would not be the file's).
    if (t.scalar_type() == at::kBool) {
      const auto* bytes = static_cast<const uint8_t*>(t.data_ptr());
      for (int64_t k = 0; k < t.numel(); ++k) {
        FUZZ_CHECK(bytes[k] <= 1, "BOOL tensor '", name, "' holds the byte ", int(bytes[k]), " at element ", k);
      }
    }
  }

  const std::string written = serializeSafetensors(contents.tensors, contents.metadata);
  const SafetensorsContents again =
      parseSafetensors(reinterpret_cast<const uint8_t*>(written.data()), written.size(), "written");
  FUZZ_CHECK(again.metadata == contents.metadata, "the metadata changed in a write and read");
  FUZZ_CHECK(again.tensors.size() == contents.tensors.size(), "a write and read changed the tensor count");
  for (size_t i = 0; i < again.tensors.size(); ++i) {
    FUZZ_CHECK(again.tensors[i].first == contents.tensors[i].first && sameTensor(again.tensors[i].second,
                                                                                 contents.tensors[i].second),
               "tensor '", contents.tensors[i].first, "' changed in a write and read");
  }
}

}  // namespace byol::fuzz
