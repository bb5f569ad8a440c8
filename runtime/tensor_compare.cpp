#include "runtime/tensor_compare.h"

#include <algorithm>
#include <cmath>

namespace normrt {

TensorComparison compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  TensorComparison c;
  if (actual.dtype() != expected.dtype()) {
    c.problem = "type " + dtype_name(actual.dtype()) + ", expected " + dtype_name(expected.dtype());
    return c;
  }
  if (actual.shape() != expected.shape()) {
    c.problem = "shape " + shape_to_string(actual.shape()) + ", expected " + shape_to_string(expected.shape());
    return c;
  }
  const bool integral = actual.dtype() == DType::Int64 || actual.dtype() == DType::UInt64;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    if (integral) {  // compare 64-bit integers exactly, not through double
      const int64_t x = actual.int_at(i), y = expected.int_at(i);
      if (x != y) {
        ++c.mismatches;
        c.max_abs = std::max(c.max_abs, std::fabs(double(x) - double(y)));
      }
      continue;
    }
    const double a = actual.double_at(i), e = expected.double_at(i);
    if (std::isnan(a) || std::isnan(e) || std::isinf(a) || std::isinf(e)) {
      if (!(std::isnan(a) && std::isnan(e)) && a != e) ++c.mismatches;
      continue;
    }
    const double d = std::fabs(a - e);
    c.max_abs = std::max(c.max_abs, d);
    if (e != 0) c.max_rel = std::max(c.max_rel, d / std::fabs(e));
    if (d > atol + rtol * std::fabs(e)) ++c.mismatches;
  }
  return c;
}

}  // namespace normrt
