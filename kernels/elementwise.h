// Element-wise arithmetic over raw pointers, with numpy broadcasting described by a BroadcastPlan.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/half.h"

namespace normrt::kernels {

// Storage types for 16-bit floats; arithmetic happens in float.
struct float16 {
  uint16_t bits;
  float16() = default;
  explicit float16(float f) : bits(float_to_half(f)) {}
  operator float() const { return half_to_float(bits); }
};
struct bfloat16 {
  uint16_t bits;
  bfloat16() = default;
  explicit bfloat16(float f) : bits(float_to_bfloat16(f)) {}
  operator float() const { return bfloat16_to_float(bits); }
};

// The type arithmetic on T is done in.
template <class T> struct compute_type { using type = T; };
template <> struct compute_type<float16> { using type = float; };
template <> struct compute_type<bfloat16> { using type = float; };
template <class T> using compute_t = typename compute_type<T>::type;

// Output shape and per-input strides (0 on broadcast dims) after merging adjacent dims that
// broadcast the same way, so the innermost loop is as long as possible.
struct BroadcastPlan {
  std::vector<int64_t> out_shape;  // merged
  std::vector<int64_t> a_stride, b_stride;
  int64_t inner = 1;               // length of the innermost merged dim
  int64_t a_inner_stride = 0, b_inner_stride = 0;  // 0 or 1
  int64_t outer = 1;               // number of inner rows
  int64_t numel = 0;
};

// Returns false if the shapes do not broadcast. `out` receives the unmerged output shape.
bool broadcast_shapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b, std::vector<int64_t>& out);
BroadcastPlan make_broadcast_plan(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

enum class BinaryOp { Add, Sub, Mul, Div };

// x op y for an integer type, wrapping modulo 2^bits as the hardware does: done in an unsigned
// type at least as wide as unsigned int, since signed overflow is undefined in C++ and so is the
// product of two uint16 once promoted to int.
template <class C, class Op> inline C wrapping(C x, C y, Op op) {
  using U = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
  return static_cast<C>(op(static_cast<U>(x), static_cast<U>(y)));
}

template <class C> inline C apply_binary(BinaryOp op, C x, C y) {
  switch (op) {
    case BinaryOp::Add:
      if constexpr (std::is_integral_v<C>) return wrapping(x, y, [](auto a, auto b) { return a + b; });
      else return x + y;
    case BinaryOp::Sub:
      if constexpr (std::is_integral_v<C>) return wrapping(x, y, [](auto a, auto b) { return a - b; });
      else return x - y;
    case BinaryOp::Mul:
      if constexpr (std::is_integral_v<C>) return wrapping(x, y, [](auto a, auto b) { return a * b; });
      else return x * y;
    case BinaryOp::Div:
      if constexpr (std::is_integral_v<C>) {
        // Integer division truncates (as ONNX's reference); division by zero, undefined in C++,
        // gives 0 instead of a crash, and MIN / -1 wraps instead of trapping.
        if (y == 0) return 0;
        if constexpr (std::is_signed_v<C>)
          if (y == -1) return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x));
        return static_cast<C>(x / y);
      } else {
        return x / y;
      }
  }
  return x;
}

// Rows [row_begin, row_end) of the plan (each row is plan.inner elements): out = f(a, b) over the
// broadcast, for any element types (comparisons write bool, Pow mixes base and exponent types).
template <class TA, class TB, class TO, class F>
void broadcast_map(const TA* a, const TB* b, TO* out, const BroadcastPlan& p, int64_t row_begin, int64_t row_end, F&& f) {
  if (row_begin >= row_end) return;  // also keeps zero-sized dims out of the index arithmetic
  const int rank = static_cast<int>(p.out_shape.size());
  std::vector<int64_t> idx(rank > 0 ? rank - 1 : 0, 0);
  // Decompose row_begin into the outer index.
  int64_t r = row_begin;
  for (int d = rank - 2; d >= 0; --d) {
    idx[d] = r % p.out_shape[d];
    r /= p.out_shape[d];
  }
  int64_t a_off = 0, b_off = 0;
  for (int d = 0; d < rank - 1; ++d) {
    a_off += idx[d] * p.a_stride[d];
    b_off += idx[d] * p.b_stride[d];
  }
  const int64_t n = p.inner;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const TA* pa = a + a_off;
    const TB* pb = b + b_off;
    TO* po = out + row * n;
    // Four loop shapes so each is a plain, vectorisable loop.
    if (p.a_inner_stride && p.b_inner_stride) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (p.a_inner_stride) {
      const TB y = pb[0];
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], y);
    } else if (p.b_inner_stride) {
      const TA x = pa[0];
      for (int64_t i = 0; i < n; ++i) po[i] = f(x, pb[i]);
    } else {
      const TO v = f(pa[0], pb[0]);
      for (int64_t i = 0; i < n; ++i) po[i] = v;
    }
    // Advance the outer index like an odometer.
    for (int d = rank - 2; d >= 0; --d) {
      a_off += p.a_stride[d];
      b_off += p.b_stride[d];
      if (++idx[d] < p.out_shape[d]) break;
      a_off -= idx[d] * p.a_stride[d];
      b_off -= idx[d] * p.b_stride[d];
      idx[d] = 0;
    }
  }
}

template <class T, BinaryOp OP>
void binary_rows(const T* a, const T* b, T* out, const BroadcastPlan& p, int64_t row_begin, int64_t row_end) {
  using C = compute_t<T>;
  broadcast_map(a, b, out, p, row_begin, row_end, [](T x, T y) { return T(apply_binary<C>(OP, C(x), C(y))); });
}

template <class T>
void binary_rows(BinaryOp op, const T* a, const T* b, T* out, const BroadcastPlan& p, int64_t row_begin,
                 int64_t row_end) {
  switch (op) {
    case BinaryOp::Add: return binary_rows<T, BinaryOp::Add>(a, b, out, p, row_begin, row_end);
    case BinaryOp::Sub: return binary_rows<T, BinaryOp::Sub>(a, b, out, p, row_begin, row_end);
    case BinaryOp::Mul: return binary_rows<T, BinaryOp::Mul>(a, b, out, p, row_begin, row_end);
    case BinaryOp::Div: return binary_rows<T, BinaryOp::Div>(a, b, out, p, row_begin, row_end);
  }
}

}  // namespace normrt::kernels
