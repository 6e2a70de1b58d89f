#include "core/dtype.h"

#include <cctype>
#include <utility>

#include "core/errors.h"

namespace byol {
namespace {

// What a machine without a usable GPU is told: at::hasCUDA() is false for a CUDA LibTorch that sees no GPU too,
// so what the build has comes from CMake (BYOL_WITH_CUDA: linked against a CUDA LibTorch).
#ifdef BYOL_WITH_CUDA
constexpr const char* kNoCudaDevice = "was built with CUDA but sees no GPU";
#else
constexpr const char* kNoCudaDevice = "was built without CUDA";
#endif

const std::pair<const char*, at::ScalarType> kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"int32", at::kInt},      {"int64", at::kLong},
    {"uint8", at::kByte},    {"bool", at::kBool},      {"float16", at::kHalf},   {"bfloat16", at::kBFloat16},
};

}  // namespace

const char* dtypeNames() {
  return "float32, float64, int32, int64, uint8, bool, float16, bfloat16";
}

at::ScalarType parseDtype(const std::string& name) {
  for (const auto& [known, type] : kDtypes) {
    if (name == known) return type;
  }
  throw TypeError(message("dtype: expected one of ", dtypeNames(), ", received '", name, "'"));
}

std::string dtypeName(at::ScalarType type) {
  for (const auto& [known, t] : kDtypes) {
    if (t == type) return known;
  }
  return c10::toString(type);
}

at::Device parseDevice(const std::string& name) {
  if (name == "cpu") return at::Device(at::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      const std::string digits = name.substr(5);
      bool allDigits = !digits.empty() && digits.size() < 4;
      for (char c : digits) allDigits = allDigits && std::isdigit(static_cast<unsigned char>(c));
      BYOL_EXPECT_TYPE(allDigits, "device: expected 'cpu', 'cuda' or 'cuda:N', received '", name, "'");
      index = std::stoi(digits);
    }
    const int count = at::hasCUDA() ? static_cast<int>(at::getNumGPUs()) : 0;
    BYOL_EXPECT_RANGE(count > 0, "device: '", name, "' was asked for, but no CUDA device is available (this LibTorch ",
                      kNoCudaDevice, "); use 'cpu'");
    BYOL_EXPECT_RANGE(index < count, "device: expected a CUDA index below ", count, ", received '", name, "'");
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw TypeError(message("device: expected 'cpu', 'cuda' or 'cuda:N', received '", name, "'"));
}

std::string deviceName(const at::Device& device) {
  if (device.is_cpu()) return "cpu";
  return device.str();
}

}  // namespace byol
