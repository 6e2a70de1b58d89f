// JS entry points of the augmentations (native/core/augment.h): augment, validateAugmentOptions.
#pragma once

#include <napi.h>

#include "core/augment.h"

namespace byol::binding {

// Reads a JS options object (undefined: defaults) into AugmentOptions; throws naming the bad field.
AugmentOptions parseAugmentOptions(const Napi::Value& options);

// An augmentation seed: an integer in [0, 2^53 - 1] (what JS numbers hold exactly).
uint64_t seedArg(const Napi::Value& value, const char* name);

void InitAugment(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
