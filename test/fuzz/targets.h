// The fuzz targets: one entry function per native reader of untrusted bytes (file contents). Each feeds
// arbitrary bytes to its reader, accepts the reader's documented rejection (its error type, with a message
// naming the source) and checks what must hold for what it accepts (round trips, bounds, nothing changed by a
// rejected load). A broken property throws FuzzInvariantError (checks.h); any other exception that escapes is
// an undocumented error; memory errors and undefined behaviour show under the sanitizers.
//
// The same functions run under libFuzzer with ASan + UBSan (test/fuzz/<name>_fuzz.cc, `npm run fuzz`) and, over
// the committed corpora test/fuzz/corpus/<name>/, in the GoogleTest suite (test/native/fuzz_corpus_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace byol::fuzz {

// core/json: parseJson (the safetensors header's JSON).
void json(const uint8_t* data, size_t size);
// core/safetensors: parseSafetensorsHeader, the header alone (what readSafetensorsHeader parses).
void safetensorsHeader(const uint8_t* data, size_t size);
// core/safetensors: readSafetensorsHeader and readSafetensors of a file holding the bytes (tensor data included).
void safetensorsFile(const uint8_t* data, size_t size);
// core/state_dict: loadStateDict of a parsed file into a small module, strict and not.
void stateDict(const uint8_t* data, size_t size);
// core/resnet: inferResNet of a parsed header's names and shapes.
void resnetLayout(const uint8_t* data, size_t size);
// core/optim: Optimizer::loadState of a parsed file (a checkpoint's optimizer.safetensors), Adam and SGD.
void optimizerState(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // its corpus folder test/fuzz/corpus/<name>/ and its harness <name>_fuzz
  void (*run)(const uint8_t* data, size_t size);
};

// Every target, in the order above.
const std::vector<Target>& targets();

}  // namespace byol::fuzz
