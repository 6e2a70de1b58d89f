#include "core/errors.h"

#include <c10/util/Exception.h>

#include <new>
#include <string>

namespace byol {

std::string exceptionText(const std::exception& e) {
  if (const auto* c10Error = dynamic_cast<const c10::Error*>(&e)) return c10Error->what_without_backtrace();
  return e.what();
}

bool isOutOfMemory(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return true;
  if (dynamic_cast<const c10::Error*>(&e) == nullptr) return false;
  const std::string text = exceptionText(e);
  return text.find("out of memory") != std::string::npos || text.find("can't allocate memory") != std::string::npos ||
         text.find("Cannot allocate memory") != std::string::npos;
}

std::string formatShape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

}  // namespace byol
