// core/resnet's inferResNet on the names and shapes of an arbitrary safetensors header (what `byol embed` and
// `byol eval` read to choose the encoder they build before loading a weights file). Whatever it infers must be
// backed by the file: the two tensors whose size the inferred options choose, conv1.weight (in_channels) and
// fc.weight (num_classes), must be in the header with exactly the shapes that model has. Otherwise a header of a
// few hundred bytes (conv1.weight [0, 1000000, 7, 7]: zero bytes of data) makes the caller build a model of
// gigabytes before the load that would refuse the file.
#include "checks.h"
#include "core/resnet.h"
#include "core/safetensors.h"
#include "targets.h"

namespace byol::fuzz {

void resnetLayout(const uint8_t* data, size_t size) {
  SafetensorsHeader header;
  try {
    header = parseSafetensorsHeader(data, size, size, "fuzz-input");
  } catch (const FormatError&) {
    return;  // the safetensors targets own the parser's rejections
  }
  TensorShapes shapes;
  for (const SafetensorsEntry& entry : header.tensors) shapes[entry.name] = entry.shape;
  const std::optional<ResNetOptions> found = inferResNet(shapes);
  if (!found) return;

  const ResNetOptions& o = *found;
  FUZZ_CHECK(isResNetDepth(o.depth()), "inferred depth ", o.depth());
  const bool bottleneck = o.depth() >= 50;
  const int64_t kernel = o.small_stem() ? 3 : 7;
  const std::vector<int64_t> conv1{64, o.in_channels(), kernel, kernel};
  FUZZ_CHECK(o.in_channels() >= 1 && shapes.at("conv1.weight") == conv1, "inferred in_channels ", o.in_channels(),
             " (small_stem ", o.small_stem(), ") from conv1.weight ", formatShape(shapes.at("conv1.weight")),
             ": the model's conv1.weight would be ", formatShape(conv1));
  FUZZ_CHECK(o.classifier() == (shapes.count("fc.weight") > 0), "classifier inferred without fc.weight or the reverse");
  if (o.classifier()) {
    const std::vector<int64_t> fc{o.num_classes(), bottleneck ? 2048 : 512};
    FUZZ_CHECK(o.num_classes() >= 1 && shapes.at("fc.weight") == fc, "inferred num_classes ", o.num_classes(),
               " from fc.weight ", formatShape(shapes.at("fc.weight")), ": the model's fc.weight would be ",
               formatShape(fc));
  }
}

}  // namespace byol::fuzz
