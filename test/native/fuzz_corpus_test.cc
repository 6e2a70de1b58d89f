// Replays the fuzz corpora on every `npm test`, without clang or sanitizers: each file of
// test/fuzz/corpus/<target>/ (the seeds, and a regression input for every crash or broken property fuzzing
// found) goes through the entry function its libFuzzer harness calls (test/fuzz/targets.h), which checks the
// target's properties and throws when one breaks.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "../fuzz/targets.h"

namespace fs = std::filesystem;

namespace byol::fuzz {
// GoogleTest names a failing parameter with this (found by argument-dependent lookup).
void PrintTo(const Target& target, std::ostream* out) { *out << target.name; }
}  // namespace byol::fuzz

namespace {

fs::path corpusRoot() { return fs::path(BYOL_SOURCE_DIR) / "test" / "fuzz" / "corpus"; }

std::string readBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> inputsOf(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class FuzzCorpus : public ::testing::TestWithParam<byol::fuzz::Target> {};

TEST_P(FuzzCorpus, EveryInputKeepsTheTargetsProperties) {
  const byol::fuzz::Target& target = GetParam();
  const fs::path dir = corpusRoot() / target.name;
  ASSERT_TRUE(fs::is_directory(dir)) << dir << " is missing (node test/fuzz/make-corpus.mjs writes the seeds)";
  const std::vector<fs::path> files = inputsOf(dir);
  ASSERT_GE(files.size(), 3u) << dir << " holds too few inputs to exercise " << target.name;
  for (const fs::path& file : files) {
    const std::string bytes = readBytes(file);
    try {
      target.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << target.name << "/" << file.filename().string() << ": " << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpus, ::testing::ValuesIn(byol::fuzz::targets()),
                         [](const ::testing::TestParamInfo<byol::fuzz::Target>& info) {
                           return std::string(info.param.name);
                         });

// A folder without a target would be replayed by nothing.
TEST(FuzzCorpusFolders, EachNamesATarget) {
  std::set<std::string> names;
  for (const byol::fuzz::Target& target : byol::fuzz::targets()) names.insert(target.name);
  for (const auto& entry : fs::directory_iterator(corpusRoot())) {
    EXPECT_TRUE(names.count(entry.path().filename().string()))
        << entry.path() << " is not the corpus of any target in test/fuzz/targets.cc";
  }
}

}  // namespace
