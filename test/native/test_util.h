// Small helpers shared by the native tests.
#pragma once

#include <gtest/gtest.h>
#include <ATen/ATen.h>

#include <string>

namespace byol::test {

inline double maxRelDiff(const at::Tensor& a, const at::Tensor& b) {
  const auto x = a.detach().to(at::kDouble), y = b.detach().to(at::kDouble);
  const double scale = std::max(y.abs().max().item<double>(), 1e-30);
  return (x - y).abs().max().item<double>() / scale;
}

// Runs `body`, expects it to throw E whose message contains `needle`.
template <typename E, typename Body>
void expectThrowContaining(Body&& body, const std::string& needle) {
  try {
    body();
    ADD_FAILURE() << "expected an exception containing: " << needle;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

}  // namespace byol::test
