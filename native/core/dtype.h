// Names of dtypes and devices as the JS API spells them, and their conversion to LibTorch types.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace byol {

// "float32", "float64", "int32", "int64", "uint8", "bool", "float16", "bfloat16".
at::ScalarType parseDtype(const std::string& name);
std::string dtypeName(at::ScalarType type);
// The list of accepted names, for error messages.
const char* dtypeNames();

// "cpu", "cuda", "cuda:N". CUDA names are checked against the devices present.
at::Device parseDevice(const std::string& name);
std::string deviceName(const at::Device& device);

}  // namespace byol
