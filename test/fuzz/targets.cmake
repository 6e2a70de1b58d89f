# The fuzz targets' entry functions (test/fuzz/targets.h), paths from the repository root. Compiled into the
# libFuzzer harnesses (test/fuzz/CMakeLists.txt) and into byol_core_tests, whose test/native/fuzz_corpus_test.cc
# replays the committed corpora test/fuzz/corpus/<target>/ through them on every `npm test`.
set(BYOL_FUZZ_TARGET_SOURCES
  test/fuzz/targets.cc
  test/fuzz/json_target.cc
  test/fuzz/safetensors_header_target.cc
  test/fuzz/safetensors_file_target.cc
  test/fuzz/state_dict_target.cc
  test/fuzz/resnet_layout_target.cc
  test/fuzz/optimizer_state_target.cc
)
