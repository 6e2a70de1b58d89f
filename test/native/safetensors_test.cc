#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/errors.h"
#include "core/resnet.h"
#include "core/safetensors.h"
#include "core/state_dict.h"
#include "test_util.h"

using byol::test::expectThrowContaining;
using byol::test::maxRelDiff;
namespace fs = std::filesystem;

namespace {

fs::path tempDir() {
  fs::path dir = fs::temp_directory_path() / ("byol-safetensors-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

byol::SafetensorsContents parse(const std::string& bytes) {
  return byol::parseSafetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test");
}

std::string withHeader(const std::string& json, const std::string& data) {
  std::string out;
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + json + data;
}

// Every parameter and buffer gets values a fresh model would not have: fresh BN statistics are 0 and 1,
// which would hide a dropped or swapped buffer.
void randomise(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard g;
  for (auto& [name, t] : byol::stateDict(m)) {
    auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
    if (ends("num_batches_tracked")) t.fill_(torch::randint(1, 10000, {1}).item<int64_t>());
    else if (ends("running_var")) t.uniform_(0.5, 2.0);
    else if (ends("running_mean")) t.normal_(0, 0.1);
    else if (t.dim() == 4) t.normal_(0, std::sqrt(2.0 / (t.size(0) * t.size(2) * t.size(3))));
    else if (name.rfind("fc.", 0) == 0) t.normal_(0, 0.02);
    else if (ends("weight")) t.uniform_(0.5, 1.0);
    else t.normal_(0, 0.1);
  }
}

std::string python() {
  const char* env = std::getenv("BYOL_PYTHON");
  return env && *env ? env : "python3";
}

std::string interopScript() { return std::string(BYOL_SOURCE_DIR) + "/scripts/python/safetensors_interop.py"; }

void writeFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// The message a read throws, or "" when it succeeds.
template <typename Read>
std::string errorOf(Read&& read) {
  try {
    read();
    return "";
  } catch (const byol::FormatError& e) {
    return e.what();
  }
}

// Bytes this process has read through read(2)/pread(2) so far (Linux /proc/self/io "rchar").
int64_t bytesRead() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = -1;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return -1;
}

bool pythonHasTorchvision() {
  return std::system((python() + " " + interopScript() + " probe > /dev/null 2>&1").c_str()) == 0;
}

}  // namespace

TEST(Safetensors, RoundTripsEveryDtypeAndMetadata) {
  byol::NamedTensors tensors = {
      {"a.f32", torch::randn({3, 4})},
      {"b.f16", torch::randn({5}).to(at::kHalf)},
      {"c.bf16", torch::randn({2, 2}).to(at::kBFloat16)},
      {"d.f64", torch::randn({1}, at::kDouble)},
      {"e.i64", torch::tensor(int64_t{123456789012})},
      {"f.empty", torch::zeros({0, 3})},
      {"g.u8", torch::randint(0, 255, {7}, at::kByte)},
      {"h \"quoted\"\n", torch::ones({2}, at::kInt)},
      {"i.noncontig", torch::randn({4, 6}).t()},
  };
  const auto bytes = byol::serializeSafetensors(tensors, {{"format", "pt"}, {"note", "ü \\ \""}});
  const auto back = parse(bytes);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, tensors[i].first);
    EXPECT_EQ(back.tensors[i].second.scalar_type(), tensors[i].second.scalar_type());
    EXPECT_TRUE(back.tensors[i].second.equal(tensors[i].second)) << tensors[i].first;
  }
  ASSERT_EQ(back.metadata.size(), 2u);
  EXPECT_EQ(back.metadata[1].second, "ü \\ \"");
  // The data section starts 8-byte aligned.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, ReadsHandWrittenHeaders) {
  float values[2] = {1.5f, -2.0f};
  std::string data(reinterpret_cast<const char*>(values), 8);
  auto c = parse(withHeader(" { \"x\\u00e9\" : {\"shape\":[2], \"dtype\":\"F32\", \"data_offsets\":[0,8]},"
                            " \"__metadata__\":{} }  ", data));
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(c.tensors[0].first, "x\xc3\xa9");
  EXPECT_EQ(c.tensors[0].second[1].item<float>(), -2.0f);
}

TEST(Safetensors, CorruptFilesAreClearErrors) {
  const std::string eight(8, '\0');
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"t\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
  };
  using byol::FormatError;
  expectThrowContaining<FormatError>([&] { parse("abc"); }, "file of 3 bytes is too short");
  expectThrowContaining<FormatError>([&] { parse(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}"); },
                                     "exceeds the 100000000-byte limit");
  expectThrowContaining<FormatError>([&] { parse(withHeader("{}", "").substr(0, 9)); }, "header length 2 exceeds the file (9 bytes)");
  expectThrowContaining<FormatError>([&] { parse(withHeader("{\"t\":", "")); }, "malformed header JSON");
  expectThrowContaining<FormatError>([&] { parse(withHeader("{\"a\":1,\"a\":2}", "")); }, "duplicate key");
  expectThrowContaining<FormatError>([&] { parse(withHeader(std::string(100, '[') + std::string(100, ']'), "")); },
                                     "nesting deeper than 32 levels");
  expectThrowContaining<FormatError>([&] { parse(withHeader("[]", "")); }, "expected a JSON object");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F8", "[2]", "[0,8]"), eight)); },
                                     "tensor 't': dtype: expected one of F64, F32");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[2]", "[0,16]"), eight)); },
                                     "run past the data section (8 bytes; truncated file?)");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[3]", "[0,8]"), eight)); },
                                     "shape [3] of F32 needs 12 bytes, data_offsets give 8");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[-2]", "[0,8]"), eight)); },
                                     "shape: expected non-negative integers");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[2.5]", "[0,8]"), eight)); },
                                     "shape: expected non-negative integers");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[4294967296,4294967296,4294967296]", "[0,8]"), eight)); },
                                     "needs too many bytes");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[2]", "[8,0]"), eight)); },
                                     "expected integers 0 <= begin <= end");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[1]", "[4,8]"), eight)); }, "(leaves a gap)");
  expectThrowContaining<FormatError>([&] { parse(withHeader(entry("F32", "[1]", "[0,4]"), eight)); },
                                     "the tensors cover 4 bytes of a 8-byte data section");
  expectThrowContaining<FormatError>(
      [&] {
        parse(withHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                         eight));
      },
      "(overlaps another tensor)");
  expectThrowContaining<FormatError>([&] { byol::readSafetensors("/nonexistent/x.safetensors"); }, "cannot open");
}

TEST(SafetensorsHeader, MatchesTheFullParse) {
  const fs::path dir = tempDir();
  byol::NamedTensors tensors = {
      {"z.first", torch::randn({3, 4})},
      {"a.half", torch::randn({5}).to(at::kHalf)},
      {"m.bf16", torch::randn({2, 2, 1}).to(at::kBFloat16)},
      {"scalar", torch::tensor(int64_t{7})},
      {"empty", torch::zeros({0, 3})},
      {"flags", torch::ones({3}, at::kBool)},
      {"bytes", torch::randint(0, 255, {9}, at::kByte)},
  };
  const std::string bytes = byol::serializeSafetensors(tensors, {{"format", "pt"}, {"step", "12"}});
  const fs::path path = dir / "h.safetensors";
  writeFile(path, bytes);
  const auto full = byol::readSafetensors(path.string());
  const auto header = byol::readSafetensorsHeader(path.string());
  const auto fromBuffer = byol::parseSafetensorsHeader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                                       bytes.size(), "buffer");
  ASSERT_EQ(header.tensors.size(), full.tensors.size());
  ASSERT_EQ(fromBuffer.tensors.size(), full.tensors.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < full.tensors.size(); ++i) {
    const auto& entry = header.tensors[i];
    EXPECT_EQ(entry.name, full.tensors[i].first);
    EXPECT_EQ(entry.dtype, full.tensors[i].second.scalar_type()) << entry.name;
    EXPECT_EQ(entry.shape, full.tensors[i].second.sizes().vec()) << entry.name;
    EXPECT_EQ(entry.begin, offset) << entry.name;  // data order, tiling the data section
    EXPECT_EQ(entry.end - entry.begin, full.tensors[i].second.nbytes()) << entry.name;
    offset = entry.end;
    EXPECT_EQ(fromBuffer.tensors[i].name, entry.name);
    EXPECT_EQ(fromBuffer.tensors[i].begin, entry.begin);
  }
  EXPECT_EQ(header.metadata, full.metadata);
  // Fewer bytes than the length and the header is the caller's mistake, not the file's.
  expectThrowContaining<byol::RangeError>(
      [&] { byol::parseSafetensorsHeader(reinterpret_cast<const uint8_t*>(bytes.data()), 20, bytes.size()); },
      "size: expected at least the first " + std::to_string(header.dataStart) + " bytes of the file");
  EXPECT_EQ(header.metadata, (byol::Metadata{{"format", "pt"}, {"step", "12"}}));
  EXPECT_EQ(header.dataStart + header.dataSize, bytes.size());
  EXPECT_EQ(offset, header.dataSize);
  // The tensors' bytes are where the offsets say.
  for (size_t i = 0; i < full.tensors.size(); ++i) {
    const auto& entry = header.tensors[i];
    // An empty tensor's data_ptr() is null, and memcmp's pointers must be valid even for 0 bytes.
    if (entry.end == entry.begin) continue;
    EXPECT_EQ(std::memcmp(bytes.data() + header.dataStart + entry.begin, full.tensors[i].second.data_ptr(),
                          entry.end - entry.begin), 0) << entry.name;
  }
  fs::remove_all(dir);
}

TEST(SafetensorsHeader, RejectsWhatTheFullParseRejectsWithTheSameMessage) {
  // The corrupt files of CorruptFilesAreClearErrors, plus a few thousand mutations of a real state dict: the
  // header read and the full read accept the same files and say the same thing about the others.
  const fs::path dir = tempDir();
  const fs::path path = dir / "c.safetensors";
  const std::string eight(8, '\0');
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"t\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
  };
  std::vector<std::string> files = {
      "", "abc", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", withHeader("{}", "").substr(0, 9),
      withHeader("{\"t\":", ""), withHeader("{\"a\":1,\"a\":2}", ""),
      withHeader(std::string(100, '[') + std::string(100, ']'), ""), withHeader("[]", ""), withHeader("{}", ""),
      withHeader(entry("F8", "[2]", "[0,8]"), eight), withHeader(entry("F32", "[2]", "[0,16]"), eight),
      withHeader(entry("F32", "[3]", "[0,8]"), eight), withHeader(entry("F32", "[-2]", "[0,8]"), eight),
      withHeader(entry("F32", "[4294967296,4294967296,4294967296]", "[0,8]"), eight),
      withHeader(entry("F32", "[2]", "[8,0]"), eight), withHeader(entry("F32", "[1]", "[4,8]"), eight),
      withHeader(entry("F32", "[1]", "[0,4]"), eight), withHeader(entry("F32", "[2]", "[0,8]"), eight),
      withHeader("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight),
  };
  torch::manual_seed(5);
  auto model = byol::ResNet(byol::ResNetOptions().depth(18).small_stem(true).classifier(false));
  auto small = std::make_shared<torch::nn::Module>();
  small->register_module("conv1", model->conv1.ptr());
  small->register_module("bn1", model->bn1.ptr());
  const std::string good = byol::serializeSafetensors(byol::stateDict(*small));
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | static_cast<uint8_t>(good[i]);
  std::mt19937 rng(99);
  for (int trial = 0; trial < 1500; ++trial) {
    std::string bytes = good;
    const int kind = trial % 4;
    if (kind == 0) {
      for (int k = 0, n = 1 + rng() % 3; k < n; ++k) bytes[8 + rng() % headerLen] ^= static_cast<char>(1 + rng() % 255);
    } else if (kind == 1) {  // cut anywhere: in the length, the header or the data
      bytes.resize(rng() % bytes.size());
    } else if (kind == 2) {
      const uint64_t lie = rng() % 3 == 0 ? (uint64_t{1} << (rng() % 64)) : headerLen + (rng() % 64) - 32;
      for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((lie >> (8 * i)) & 0xFF);
    } else {
      std::vector<size_t> digits;
      for (size_t i = 8; i < 8 + headerLen; ++i) if (bytes[i] >= '0' && bytes[i] <= '9') digits.push_back(i);
      bytes[digits[rng() % digits.size()]] = static_cast<char>('0' + rng() % 10);
    }
    files.push_back(std::move(bytes));
  }
  int accepted = 0, rejected = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    writeFile(path, files[i]);
    const std::string full = errorOf([&] { byol::readSafetensors(path.string()); });
    const std::string header = errorOf([&] { byol::readSafetensorsHeader(path.string()); });
    ASSERT_EQ(header, full) << "file " << i;
    if (full.empty()) {
      ++accepted;
    } else {
      ++rejected;
      EXPECT_EQ(full.rfind("safetensors: " + path.string() + ": ", 0), 0u) << full;  // names the file
    }
  }
  EXPECT_GT(accepted, 5);     // the good files and mutations that stay well-formed
  EXPECT_GT(rejected, 1000);
  fs::remove_all(dir);
}

TEST(SafetensorsHeader, ReadsTheHeaderButNotTheData) {
  const fs::path dir = tempDir();
  const fs::path path = dir / "big.safetensors";
  const int64_t n = 4 << 20;  // 16 MiB of float32
  byol::writeSafetensors(path.string(), {{"big", torch::zeros({n})}, {"small", torch::ones({3})}});
  const int64_t before = bytesRead();
  if (before < 0) GTEST_SKIP() << "no /proc/self/io rchar on this system";
  const auto header = byol::readSafetensorsHeader(path.string());
  const int64_t headerBytes = bytesRead() - before;
  ASSERT_EQ(header.tensors.size(), 2u);
  EXPECT_EQ(header.tensors[0].shape, std::vector<int64_t>{n});
  EXPECT_LT(headerBytes, 4096) << "the header read read " << headerBytes << " bytes";
  // The control: the full read reads it all (so the count above would have seen a data read).
  const int64_t mid = bytesRead();
  byol::readSafetensors(path.string());
  EXPECT_GE(bytesRead() - mid, n * 4);

  // A data section cut short is still refused: the offsets are checked against the file's size.
  fs::resize_file(path, fs::file_size(path) - 4);
  expectThrowContaining<byol::FormatError>([&] { byol::readSafetensorsHeader(path.string()); },
                                           "run past the data section");
  // A header cut short: its length exceeds the file.
  fs::resize_file(path, header.dataStart - 1);
  expectThrowContaining<byol::FormatError>([&] { byol::readSafetensorsHeader(path.string()); },
                                           "exceeds the file (" + std::to_string(header.dataStart - 1) + " bytes)");
  expectThrowContaining<byol::FormatError>([&] { byol::readSafetensorsHeader((dir / "missing").string()); },
                                           "safetensors: cannot open '" + (dir / "missing").string() +
                                               "': No such file or directory");
  expectThrowContaining<byol::FormatError>([&] { byol::readSafetensorsHeader(dir.string()); },
                                           "': not a regular file");
  fs::remove_all(dir);
}

TEST(SafetensorsHeader, ResNetInferredFromASavedFile) {
  const fs::path dir = tempDir();
  const fs::path path = dir / "w.safetensors";
  byol::ResNet net(byol::ResNetOptions().depth(34).in_channels(1).small_stem(true).classifier(false));
  byol::saveModule(*net, path.string(), at::kHalf);
  byol::TensorShapes shapes;
  for (const auto& entry : byol::readSafetensorsHeader(path.string()).tensors) shapes[entry.name] = entry.shape;
  const auto inferred = byol::inferResNet(shapes);
  ASSERT_TRUE(inferred.has_value());
  EXPECT_EQ(inferred->depth(), 34);
  EXPECT_EQ(inferred->in_channels(), 1);
  EXPECT_TRUE(inferred->small_stem());
  EXPECT_FALSE(inferred->classifier());
  fs::remove_all(dir);
}

TEST(Safetensors, MutatedFilesNeverCrashAndNeverHalfLoad) {
  // A few thousand corrupted versions of a real state dict: flipped bytes (mostly in the header), cut
  // lengths, lying offsets and shapes. Each parse either fails with a FormatError or returns a complete,
  // self-consistent file; loading what parses either succeeds fully or leaves the model untouched.
  torch::manual_seed(11);
  auto model = byol::ResNet(byol::ResNetOptions().depth(18).small_stem(true).classifier(false));
  auto small = std::make_shared<torch::nn::Module>();
  auto conv = small->register_module("conv1", model->conv1.ptr());
  auto bn = small->register_module("bn1", model->bn1.ptr());
  randomise(*small, 3);
  const std::string good = byol::serializeSafetensors(byol::stateDict(*small));
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | static_cast<uint8_t>(good[i]);
  std::mt19937 rng(1234);
  int parsed = 0, rejected = 0, loaded = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bytes = good;
    const int kind = trial % 5;
    if (kind == 0) {  // flip bytes anywhere in the header
      for (int k = 0, n = 1 + rng() % 3; k < n; ++k) bytes[8 + rng() % headerLen] ^= static_cast<char>(1 + rng() % 255);
    } else if (kind == 1) {  // cut the file
      bytes.resize(rng() % bytes.size());
    } else if (kind == 2) {  // lie about the header length
      const uint64_t lie = rng() % 3 == 0 ? (uint64_t{1} << (rng() % 64)) : headerLen + (rng() % 64) - 32;
      for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((lie >> (8 * i)) & 0xFF);
    } else {  // change one digit of the header's numbers (offsets and shapes)
      std::vector<size_t> digits;
      for (size_t i = 8; i < 8 + headerLen; ++i) if (bytes[i] >= '0' && bytes[i] <= '9') digits.push_back(i);
      bytes[digits[rng() % digits.size()]] = static_cast<char>('0' + rng() % 10);
      if (kind == 4) bytes[8 + rng() % headerLen] = "{}[],:\" "[rng() % 8];
    }
    byol::SafetensorsContents contents;
    try {
      contents = parse(bytes);
      ++parsed;
    } catch (const byol::FormatError&) {
      ++rejected;
      continue;
    }
    const auto before = byol::stateDict(*small);
    std::vector<at::Tensor> saved;
    for (const auto& e : before) saved.push_back(e.second.clone());
    try {
      byol::loadStateDict(*small, contents.tensors, true);
      ++loaded;
    } catch (const byol::RangeError&) {
      ++refused;
      for (size_t i = 0; i < saved.size(); ++i) ASSERT_TRUE(before[i].second.equal(saved[i])) << before[i].first;
    }
  }
  EXPECT_EQ(parsed + rejected, 3000);
  EXPECT_GT(rejected, 1500);
  EXPECT_GT(refused, 0);  // e.g. a renamed key or a changed shape that still tiles
  EXPECT_EQ(loaded + refused, parsed);
}

TEST(StateDict, LoadReportsEveryProblemAndLeavesTheModelUnchanged) {
  torch::manual_seed(4);
  byol::ResNet a(byol::ResNetOptions().depth(18));
  byol::ResNet b(byol::ResNetOptions().depth(18).in_channels(1));
  randomise(*a, 1);
  auto source = byol::stateDict(*a);
  source.erase(source.begin() + 2);                                   // bn1.bias missing
  source.emplace_back("extra.weight", torch::zeros({1}));             // unexpected
  source[3].second = source[3].second.to(at::kLong);                   // bn1.running_var as int64
  const auto before = byol::stateDict(*b);
  std::vector<at::Tensor> saved;
  for (const auto& e : before) saved.push_back(e.second.clone());
  try {
    byol::loadStateDict(*b, source, true, "x.safetensors");
    FAIL() << "expected a RangeError";
  } catch (const byol::RangeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("x.safetensors does not match the model (4 problems; the model was left unchanged; pass strict: false"),
              std::string::npos) << msg;
    EXPECT_NE(msg.find("'conv1.weight': shape [64, 3, 7, 7], the model has [64, 1, 7, 7]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'bn1.running_var': dtype int64, the model has float32"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing key 'bn1.bias'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected key 'extra.weight'"), std::string::npos) << msg;
  }
  for (size_t i = 0; i < saved.size(); ++i) EXPECT_TRUE(before[i].second.equal(saved[i])) << before[i].first;

  // strict: false returns the missing and unexpected keys and loads the rest.
  byol::ResNet c(byol::ResNetOptions().depth(18));
  auto partial = byol::stateDict(*a);
  partial.erase(partial.begin() + 2);
  partial.emplace_back("extra.weight", torch::zeros({1}));
  const auto result = byol::loadStateDict(*c, partial, false);
  EXPECT_EQ(result.missing, std::vector<std::string>{"bn1.bias"});
  EXPECT_EQ(result.unexpected, std::vector<std::string>{"extra.weight"});
  EXPECT_TRUE(c->conv1->weight.equal(a->conv1->weight));
  EXPECT_TRUE(c->bn1->running_var.equal(a->bn1->running_var));
}

TEST(StateDict, SaveLoadFilesAtomicallyInEachFloatType) {
  const fs::path dir = tempDir();
  torch::manual_seed(9);
  byol::ResNet a(byol::ResNetOptions().depth(18).small_stem(true));
  randomise(*a, 2);
  for (const auto type : {at::kFloat, at::kHalf, at::kBFloat16}) {
    const std::string path = (dir / "w.safetensors").string();
    byol::saveModule(*a, path, type);
    const auto raw = byol::readSafetensors(path);
    EXPECT_EQ(raw.tensors.size(), 122u);
    for (const auto& [name, t] : raw.tensors) {
      EXPECT_EQ(t.scalar_type(), name.find("num_batches") != std::string::npos ? at::kLong : type) << name;
    }
    byol::ResNet b(byol::ResNetOptions().depth(18).small_stem(true));
    byol::loadModule(*b, path);
    const auto x = byol::stateDict(*a), y = byol::stateDict(*b);
    const double tol = type == at::kFloat ? 0 : type == at::kHalf ? 1e-3 : 8e-3;
    for (size_t i = 0; i < x.size(); ++i) EXPECT_LE(maxRelDiff(y[i].second, x[i].second), tol) << x[i].first;
  }
  // Only the final file is left: the temporary was renamed.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  // A truncated file is refused and the model keeps its weights.
  const std::string path = (dir / "w.safetensors").string();
  fs::resize_file(path, fs::file_size(path) - 100);
  byol::ResNet c(byol::ResNetOptions().depth(18).small_stem(true));
  const at::Tensor before = c->fc->weight.clone();
  expectThrowContaining<byol::FormatError>([&] { byol::loadModule(*c, path); }, "truncated file?");
  EXPECT_TRUE(c->fc->weight.equal(before));
  fs::remove_all(dir);
}

TEST(Interop, ResNet50SavedHereLoadsIntoTorchvisionAndMatches) {
  if (!pythonHasTorchvision()) GTEST_SKIP() << python() << " cannot import torchvision (set BYOL_PYTHON)";
  const fs::path dir = tempDir();
  torch::manual_seed(21);
  byol::ResNet net(byol::ResNetOptions().depth(50));
  randomise(*net, 21);
  net->eval();
  at::Tensor x = torch::randn({2, 3, 64, 64});
  at::Tensor y;
  {
    torch::NoGradGuard g;
    y = net->forward(torch::randn({1, 3, 32, 32}));  // warm-up, then the real one
    net->setHiddenLayer("fc");
    y = net->forward(x);
  }
  byol::saveModule(*net, (dir / "w.safetensors").string());
  byol::writeSafetensors((dir / "io.safetensors").string(), {{"input", x}, {"output", y}});
  const std::string cmd = python() + " " + interopScript() + " check " + (dir / "w.safetensors").string() + " " +
                          (dir / "io.safetensors").string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  fs::remove_all(dir);
}

TEST(Interop, ResNet50WrittenByPythonLoadsHereAndMatches) {
  if (!pythonHasTorchvision()) GTEST_SKIP() << python() << " cannot import torchvision (set BYOL_PYTHON)";
  const fs::path dir = tempDir();
  const std::string cmd = python() + " " + interopScript() + " write " + (dir / "w.safetensors").string() + " " +
                          (dir / "io.safetensors").string() + " --size 64 --batch 2";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  byol::ResNet net(byol::ResNetOptions().depth(50).hidden_layer("fc"));
  const auto result = byol::loadModule(*net, (dir / "w.safetensors").string(), true);
  EXPECT_TRUE(result.missing.empty() && result.unexpected.empty());
  // The BN statistics arrived (Python randomised them away from 0 and 1).
  EXPECT_GT(net->bn1->running_mean.abs().max().item<double>(), 0.01);
  EXPECT_GT(net->bn1->num_batches_tracked.item<int64_t>(), 0);
  const auto io = byol::readSafetensors((dir / "io.safetensors").string());
  net->eval();
  torch::NoGradGuard g;
  const at::Tensor out = net->forward(io.tensors[0].second);
  EXPECT_LT(maxRelDiff(out, io.tensors[1].second), 1e-4);
  fs::remove_all(dir);
}
