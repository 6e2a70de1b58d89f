#include "targets.h"

namespace byol::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"json", json},
      {"safetensors_header", safetensorsHeader},
      {"safetensors_file", safetensorsFile},
      {"state_dict", stateDict},
      {"resnet_layout", resnetLayout},
      {"optimizer_state", optimizerState},
  };
  return all;
}

}  // namespace byol::fuzz
