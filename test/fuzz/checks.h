// What the fuzz targets share: the exception a broken property throws, the check that throws it, and
// comparisons that a property needs (bitwise tensor equality: NaN payloads and -0 must survive a round trip).
#pragma once

#include <ATen/ATen.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "core/errors.h"

namespace byol::fuzz {

// A property of an accepted (or rejected) input does not hold. Deliberately not a byol::RangeError/TypeError or
// FormatError: no target may catch it as the reader's documented rejection.
class FuzzInvariantError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

inline bool startsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Same dtype, shape and bytes.
inline bool sameTensor(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return x.nbytes() == y.nbytes() && (x.nbytes() == 0 || std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0);
}

}  // namespace byol::fuzz

// FUZZ_CHECK(condition, "what it means", details...): throws FuzzInvariantError naming the condition.
#define FUZZ_CHECK(cond, ...)                                                                                  \
  do {                                                                                                        \
    if (!(cond)) throw ::byol::fuzz::FuzzInvariantError(::byol::message("fuzz property broken: ", __VA_ARGS__, \
                                                                        " [" #cond "]"));                     \
  } while (0)
