// Argument errors thrown by native/core. They carry the JS error class they should become
// (the binding maps TypeError -> TypeError, RangeError -> RangeError), so core stays free of N-API
// while every message still names the argument, what was expected and what was received.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace byol {

// A value of the wrong kind: a dtype or device name that does not exist, a tensor where none was given.
class TypeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A value of the right kind outside its allowed range: a shape that does not match, tau outside [0, 1].
class RangeError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

// Formats "[2, 3]" for shapes in messages.
std::string formatShape(const std::vector<int64_t>& shape);

// An exception's message without LibTorch's C++ backtrace (c10::Error appends one to what()).
std::string exceptionText(const std::exception& e);

// Whether `e` says memory ran out: std::bad_alloc, or LibTorch's allocators' errors (CPU "can't allocate memory",
// CUDA "out of memory"), whose types differ across versions.
bool isOutOfMemory(const std::exception& e);

// Concatenates the pieces with operator<< into one message.
template <typename... Parts>
std::string message(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace byol

// Contract checks that read like the rule they enforce:
//   BYOL_EXPECT_TYPE(dtype known, "dtype: expected one of ..., received ", name);
#define BYOL_EXPECT_TYPE(cond, ...) \
  do {                              \
    if (!(cond)) throw ::byol::TypeError(::byol::message(__VA_ARGS__)); \
  } while (0)

#define BYOL_EXPECT_RANGE(cond, ...) \
  do {                               \
    if (!(cond)) throw ::byol::RangeError(::byol::message(__VA_ARGS__)); \
  } while (0)
