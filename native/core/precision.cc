#include "core/precision.h"

#include "core/errors.h"
#include "core/torch_compat.h"

namespace byol {

Precision parsePrecision(const std::string& name, const char* argument) {
  if (name == "fp32") return Precision::Float32;
  if (name == "bf16") return Precision::BFloat16;
  if (name == "fp16") return Precision::Float16;
  throw TypeError(message(argument, ": expected 'fp32', 'bf16' or 'fp16', received '", name, "'"));
}

const char* precisionName(Precision precision) {
  switch (precision) {
    case Precision::BFloat16: return "bf16";
    case Precision::Float16: return "fp16";
    case Precision::Float32: break;
  }
  return "fp32";
}

at::ScalarType computeType(Precision precision) {
  switch (precision) {
    case Precision::BFloat16: return at::kBFloat16;
    case Precision::Float16: return at::kHalf;
    case Precision::Float32: break;
  }
  return at::kFloat;
}

void checkPrecisionFor(Precision precision, at::Device device) {
  BYOL_EXPECT_RANGE(precision != Precision::Float16 || device.is_cuda(),
                    "precision: 'fp16' needs a CUDA device (autocast on the ", device.str(),
                    " has bfloat16 only); use 'bf16' or 'fp32'");
}

AutocastScope::AutocastScope(Precision precision, at::Device device) {
  if (precision == Precision::Float32) return;
  checkPrecisionFor(precision, device);
  active_ = true;
  type_ = device.type();
  wasEnabled_ = compat::autocastEnabled(type_);
  previousType_ = compat::autocastDtype(type_);
  compat::setAutocastDtype(type_, computeType(precision));
  compat::setAutocastEnabled(type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Leaving the outermost scope drops the cached casts of the weights (they change with every optimizer step).
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::setAutocastEnabled(type_, wasEnabled_);
  compat::setAutocastDtype(type_, previousType_);
}

}  // namespace byol
