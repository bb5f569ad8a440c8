// Helpers shared by the op definitions: type dispatch, axis handling, symbolic broadcasting.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/elementwise.h"
#include "runtime/error.h"
#include "runtime/op_kernel.h"

namespace normrt::onnx {

// Calls f.template operator()<T>() with the C++ storage type of `t` (numeric types only).
template <class F>
decltype(auto) visit_numeric(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Float16: return f.template operator()<kernels::float16>();
    case DType::BFloat16: return f.template operator()<kernels::bfloat16>();
    case DType::Int8: return f.template operator()<int8_t>();
    case DType::UInt8: return f.template operator()<uint8_t>();
    case DType::Int16: return f.template operator()<int16_t>();
    case DType::UInt16: return f.template operator()<uint16_t>();
    case DType::Int32: return f.template operator()<int32_t>();
    case DType::UInt32: return f.template operator()<uint32_t>();
    case DType::Int64: return f.template operator()<int64_t>();
    case DType::UInt64: return f.template operator()<uint64_t>();
    default: fail(ErrorCode::NotImplemented, "element type " + dtype_name(t) + " is not supported here");
  }
}

// The same over the floating-point types only.
template <class F>
decltype(auto) visit_float(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f.template operator()<float>();
    case DType::Float64: return f.template operator()<double>();
    case DType::Float16: return f.template operator()<kernels::float16>();
    case DType::BFloat16: return f.template operator()<kernels::bfloat16>();
    default: fail(ErrorCode::NotImplemented, "element type " + dtype_name(t) + " is not a floating-point type");
  }
}

// Calls f.template operator()<U>() with the unsigned integer type of an element's width: for the
// ops that only move elements, whatever their type.
template <class F>
void visit_width(size_t width, F&& f) {
  switch (width) {
    case 1: return f.template operator()<uint8_t>();
    case 2: return f.template operator()<uint16_t>();
    case 4: return f.template operator()<uint32_t>();
    case 8: return f.template operator()<uint64_t>();
    default: fail(ErrorCode::NotImplemented, "elements of " + std::to_string(width) + " bytes cannot be moved here");
  }
}

constexpr std::initializer_list<DType> kFloatTypes = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
constexpr std::initializer_list<DType> kNumericTypes = {
    DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int8,  DType::UInt8,
    DType::Int16,   DType::UInt16,  DType::Int32,   DType::UInt32,   DType::Int64, DType::UInt64};

// The stash_type attribute (default 1, float32) of the ops that compute 16-bit float inputs in a
// wider type: a floating-point type, else InvalidModel naming the node.
DType stash_type_of(const Node& n);

// X's shape with its first dim (the batch) read as 1 if that alone is unknown, else nullopt: the
// ops whose other output dims depend only on X's others (Conv, ConvTranspose, pooling) infer them
// under a symbolic batch and put X's batch dim back (with_batch).
std::optional<Shape> shape_but_batch(const ValueType& x);
SymShape with_batch(const Shape& out, const ValueType& x);

// The length of a 1-D input whose value is not known yet (a shape computed at run time), which is
// the rank of the shape it holds: nullopt when its own shape does not say, or says more than
// kMaxInferredRank, so a file declaring an absurd length cannot make inference allocate it.
constexpr int64_t kMaxInferredRank = 64;
std::optional<size_t> length_as_rank(const ValueType& v);

// Maps axis in [-rank, rank) to [0, rank); `what` names it in the error.
int64_t normalize_axis(int64_t axis, int64_t rank, const InferContext& ctx, const std::string& what = "axis");

// True when two possibly symbolic shapes have the same rank and no pair of known dims differs.
inline bool shapes_may_match(const SymShape& a, const SymShape& b) {
  if (a.size() != b.size()) return false;
  for (size_t d = 0; d < a.size(); ++d)
    if (a[d].known() && b[d].known() && a[d].value != b[d].value) return false;
  return true;
}

// Row-major strides (in elements) of a shape.
inline std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
  return st;
}

// A shape seen as [outer, len, inner] around `axis` (in [0, rank)): the product of the dims
// before it, its own, and the product of those after it.
struct AroundAxis {
  int64_t outer = 1, len = 1, inner = 1;
};
inline AroundAxis around_axis(const Shape& s, int64_t axis) {
  AroundAxis a;
  for (int64_t d = 0; d < axis; ++d) a.outer *= s[d];
  a.len = s[axis];
  for (size_t d = axis + 1; d < s.size(); ++d) a.inner *= s[d];
  return a;
}

// Numpy broadcasting of two possibly symbolic shapes; an error through ctx if incompatible.
SymShape broadcast_sym(const SymShape& a, const SymShape& b, const InferContext& ctx);

// Smallest chunk of elements worth handing to another thread: below it, waking a worker and
// joining it cost more than the loop (measured on the tiny BERT model at 2 threads).
constexpr int64_t kMinParallelElements = 65536;

// Products below this many multiply-adds (about 10 us on one core) stay on one thread.
constexpr int64_t kParallelMacs = int64_t(1) << 20;

// Converts one value (Cast, and integer results computed in double); float to integer saturates and maps NaN to 0 instead of undefined behaviour.
template <class To, class From>
To convert_value(From v) {
  using CF = kernels::compute_t<From>;
  using CT = kernels::compute_t<To>;
  if constexpr (std::is_same_v<To, bool>) {
    return CF(v) != CF(0);
  } else if constexpr (std::is_integral_v<CT> && !std::is_integral_v<CF>) {
    const double d = double(CF(v));
    if (std::isnan(d)) return To(0);
    if (d <= double(std::numeric_limits<CT>::lowest())) return To(std::numeric_limits<CT>::lowest());
    if (d >= double(std::numeric_limits<CT>::max())) return To(std::numeric_limits<CT>::max());
    return To(static_cast<CT>(d));
  } else {
    return To(static_cast<CT>(CF(v)));
  }
}

// Grain for loops over rows of `row_len` elements: at least kMinParallelElements a chunk.
inline int64_t rows_grain(int64_t row_len) {
  return row_len >= kMinParallelElements ? 1 : kMinParallelElements / (row_len > 0 ? row_len : 1);
}

// A float32 view of a tensor: the tensor's own data when it is float32, else a widened copy
// (float16, bfloat16, float64). p is null for a null tensor.
struct FloatIn {
  const float* p = nullptr;
  std::vector<float> buf;
};
FloatIn float_in(const Tensor* t);

// A float32 destination for a tensor; commit() narrows it when the tensor is not float32.
struct FloatOut {
  Tensor* t = nullptr;
  float* p = nullptr;
  std::vector<float> buf;
  void commit();
};
FloatOut float_out(Tensor* t);

// The values of every input known during inference (null where absent or not known yet), in the
// form compute() gets them, so one plan function can serve infer and compute.
std::vector<const Tensor*> known_input_values(const InferContext& ctx);

// y[o] = x[source index of o] for every element o of y (row-major over y's shape), where
// source(d, i) maps output index i of dim d to the input index of dim d, or -1 when the element
// lies outside the input (it then gets the `fill` bytes; null fill means it never happens).
// The data movement of Slice, Tile and Pad.
// Row by row: the last dim's source indices are computed once (they do not depend on the other
// dims), a row whose sources are consecutive is one memcpy, and the odometer runs once per row.
template <class Source>
void gather_elements(const Tensor& x, Tensor& y, Source&& source, const void* fill = nullptr) {
  const size_t rank = x.rank(), width = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y.raw());
  if (y.numel() == 0) return;
  if (rank == 0) {
    std::memcpy(dst, src, width);
    return;
  }
  const std::vector<int64_t> stride = strides_of(x.shape());
  std::vector<int64_t> idx(rank - 1, 0);
  const int64_t inner = y.shape()[rank - 1], rows = y.numel() / inner;
  std::vector<int64_t> last(inner);
  bool consecutive = true;
  for (int64_t j = 0; j < inner; ++j) {
    last[j] = source(rank - 1, j);
    consecutive = consecutive && last[j] >= 0 && last[j] == last[0] + j;
  }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0;
    bool outside = false;
    for (size_t d = 0; d + 1 < rank && !outside; ++d) {
      const int64_t i = source(d, idx[d]);
      outside = i < 0;
      off += i * stride[d];
    }
    char* out = dst + r * inner * width;
    if (outside) {
      for (int64_t j = 0; j < inner; ++j) std::memcpy(out + j * width, fill, width);
    } else if (consecutive) {
      std::memcpy(out, src + (off + last[0]) * width, inner * width);
    } else {
      for (int64_t j = 0; j < inner; ++j) std::memcpy(out + j * width, last[j] < 0 ? fill : src + (off + last[j]) * width, width);
    }
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < y.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace normrt::onnx
