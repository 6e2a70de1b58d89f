// saveTensors / loadTensors / readSafetensorsHeader / inferResNet: safetensors files (native/binding/serialize.cc).
#pragma once

#include <napi.h>

namespace byol::binding {

void InitSerialize(Napi::Env env, Napi::Object exports);

}  // namespace byol::binding
