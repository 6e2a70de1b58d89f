// JS entry points of the augmentations (native/core/augment.h): augment, validateAugmentOptions.
#pragma once

#include <napi.h>

#include "core/augment.h"

namespace byol::binding {

// Reads a JS options object (undefined: defaults) into AugmentOptions; throws naming the bad field.
AugmentOptions parseAugmentOptions(const Napi::Value& options);

void InitAugment(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
