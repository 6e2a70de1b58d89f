// Mixed precision for training: which floating-point type the networks compute in.
//
//   fp32: everything in float32 (the default).
//   bf16: autocast to bfloat16 (convolutions, matmuls; LibTorch's autocast lists decide op by op) on CUDA and on
//         the CPU. bfloat16 has float32's exponent range, so no loss scaling is needed.
//   fp16: autocast to float16, CUDA only (LibTorch's CPU autocast has bfloat16 only), with a dynamic loss scaler
//         (core/loss_scaler.h) against gradients that underflow float16's range.
// Weights, optimizer state and the EMA stay float32 in every mode (the "master weights"): autocast casts copies
// of them per op, and the loss is computed in float32.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace byol {

enum class Precision { Float32, BFloat16, Float16 };

// "fp32" / "bf16" / "fp16"; TypeError naming `argument` otherwise.
Precision parsePrecision(const std::string& name, const char* argument = "precision");
const char* precisionName(Precision precision);
// The autocast type of a reduced precision (kFloat for Float32).
at::ScalarType computeType(Precision precision);

// Throws RangeError when `precision` cannot run on `device` (fp16 off CUDA).
void checkPrecisionFor(Precision precision, at::Device device);

// Autocast on `device`'s type in `precision` for the life of the scope (nothing for fp32). Restores the
// thread's previous switch, type and cast cache on exit: jobs run on shared worker threads.
class AutocastScope {
 public:
  AutocastScope(Precision precision, at::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  at::DeviceType type_ = at::kCPU;
  bool wasEnabled_ = false;
  at::ScalarType previousType_ = at::kFloat;
};

}  // namespace byol
