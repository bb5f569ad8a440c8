// Comparing a result with an expected tensor by ONNX's backend-test rule:
// |actual - expected| <= atol + rtol * |expected|, NaN matching NaN, types and shapes exact.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/tensor.h"

namespace normrt {

struct TensorComparison {
  std::string problem;     // non-empty when types or shapes differ
  int64_t mismatches = 0;  // elements outside tolerance (NaN/Inf disagreements included)
  double max_abs = 0;      // largest |actual - expected| over finite pairs
  double max_rel = 0;      // largest |actual - expected| / |expected| over finite, non-zero expected
  bool ok() const { return problem.empty() && mismatches == 0; }
};

TensorComparison compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol);

}  // namespace normrt
