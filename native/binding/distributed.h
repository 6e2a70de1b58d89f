// NativeProcessGroup: a joined c10d process group (native/core/process_group.h) for data-parallel training.
#pragma once

#include <napi.h>

#include <memory>

namespace byol {
class ProcessGroup;
}

namespace byol::binding {

void InitDistributed(Napi::Env env, Napi::Object exports);

// TypeError naming `name` unless `value` is a NativeProcessGroup.
std::shared_ptr<ProcessGroup> unwrapProcessGroup(const Napi::Value& value, const char* name);

}  // namespace byol::binding
