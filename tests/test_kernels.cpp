// Kernel-level tests against plain float64 references.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/half.h"
#include "kernels/layout.h"
#include "kernels/softmax.h"

using namespace normrt::kernels;

namespace {
int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
// Index of output element `i` in an input of shape `in` broadcast to `out`.
int64_t broadcast_index(int64_t i, const std::vector<int64_t>& out, const std::vector<int64_t>& in) {
  int64_t idx = 0, stride = 1;
  for (size_t d = out.size(); d-- > 0;) {
    const int64_t coord = i % out[d];
    i /= out[d];
    const size_t k = d + in.size() - out.size();
    if (d >= out.size() - in.size()) {
      if (in[k] != 1) idx += coord * stride;
      stride *= in[k];
    }
  }
  return idx;
}
}  // namespace

TEST_CASE("broadcast_shapes follows numpy") {
  std::vector<int64_t> out;
  CHECK(broadcast_shapes({2, 3, 4}, {4}, out));
  CHECK(out == std::vector<int64_t>{2, 3, 4});
  CHECK(broadcast_shapes({2, 1, 4}, {3, 1}, out));
  CHECK(out == std::vector<int64_t>{2, 3, 4});
  CHECK(broadcast_shapes({}, {5}, out));
  CHECK(out == std::vector<int64_t>{5});
  CHECK(broadcast_shapes({0, 3}, {1, 3}, out));
  CHECK(out == std::vector<int64_t>{0, 3});
  CHECK_FALSE(broadcast_shapes({2, 3}, {4}, out));
  CHECK_FALSE(broadcast_shapes({2, 3}, {3, 3}, out));
}

TEST_CASE("binary_rows matches a float64 reference for many broadcast shapes") {
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{17}, {17}},       {{3, 17}, {17}},          {{3, 17}, {3, 1}},         {{1}, {5, 7}},
      {{2, 3, 4, 5}, {1, 3, 1, 5}}, {{2, 1, 4, 1}, {1, 3, 1, 5}}, {{4, 1}, {1, 33}}, {{}, {}},
      {{6, 5, 1}, {5, 9}}, {{1, 1, 1}, {2, 2, 2}},  {{0, 4}, {4}},            {{31}, {1}}};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-3, 3);
  for (auto& [sa, sb] : cases) {
    std::vector<int64_t> out;
    REQUIRE(broadcast_shapes(sa, sb, out));
    std::vector<float> a(numel(sa)), b(numel(sb)), y(numel(out));
    for (auto& v : a) v = u(rng);
    for (auto& v : b) v = u(rng) + 4.0f;  // keep divisors away from 0
    const BroadcastPlan p = make_broadcast_plan(sa, sb);
    CHECK(p.numel == numel(out));
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      // Two halves of the rows, as two threads would do them.
      binary_rows<float>(op, a.data(), b.data(), y.data(), p, 0, p.outer / 2);
      binary_rows<float>(op, a.data(), b.data(), y.data(), p, p.outer / 2, p.outer);
      for (int64_t i = 0; i < numel(out); ++i) {
        const double x = a[broadcast_index(i, out, sa)], z = b[broadcast_index(i, out, sb)];
        const double want = op == BinaryOp::Add ? x + z : op == BinaryOp::Sub ? x - z : op == BinaryOp::Mul ? x * z : x / z;
        REQUIRE(std::fabs(y[i] - want) <= 1e-6 * (1 + std::fabs(want)));
      }
    }
  }
}

TEST_CASE("integer division never traps") {
  const int32_t a[4] = {7, -7, INT32_MIN, 5};
  const int32_t b[4] = {2, 2, -1, 0};
  int32_t y[4];
  const BroadcastPlan p = make_broadcast_plan({4}, {4});
  binary_rows<int32_t>(BinaryOp::Div, a, b, y, p, 0, p.outer);
  CHECK(y[0] == 3);
  CHECK(y[1] == -3);  // truncation toward zero
  CHECK(y[2] == INT32_MIN);  // wraps instead of SIGFPE
  CHECK(y[3] == 0);  // division by zero gives 0, not a crash
}

TEST_CASE("float16 and bfloat16 conversions") {
  CHECK(half_to_float(0x3c00) == 1.0f);
  CHECK(half_to_float(0xc000) == -2.0f);
  CHECK(half_to_float(0x7bff) == 65504.0f);
  CHECK(half_to_float(0x0001) == doctest::Approx(5.960464477539063e-08));
  CHECK(std::isinf(half_to_float(0x7c00)));
  CHECK(std::isnan(half_to_float(0x7e00)));
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(1e6f) == 0x7c00);  // overflow to inf
  CHECK(float_to_half(5.960464477539063e-08f) == 0x0001);
  CHECK(std::isnan(half_to_float(float_to_half(NAN))));
  // Round to nearest even: 1 + 2^-11 lies halfway between 1 and the next half; ties to even (1).
  CHECK(float_to_half(1.0f + 1.0f / 2048) == 0x3c00);
  CHECK(float_to_half(1.0f + 3.0f / 2048) == 0x3c02);
  // Every half round-trips exactly.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    REQUIRE(float_to_half(f) == h);
  }
  CHECK(bfloat16_to_float(0x3f80) == 1.0f);
  CHECK(float_to_bfloat16(1.0f) == 0x3f80);
  CHECK(float_to_bfloat16(1.00390625f) == 0x3f80);  // tie -> even
  CHECK(std::isnan(bfloat16_to_float(float_to_bfloat16(NAN))));
}

TEST_CASE("transpose_rows matches index arithmetic") {
  const std::vector<int64_t> shape = {2, 3, 4, 5};
  const std::vector<std::vector<int64_t>> perms = {{0, 1, 2, 3}, {3, 2, 1, 0}, {0, 2, 1, 3}, {1, 3, 0, 2}};
  std::vector<float> in(120);
  for (int i = 0; i < 120; ++i) in[i] = static_cast<float>(i);
  for (const auto& perm : perms) {
    std::vector<float> out(120, -1);
    std::vector<int64_t> os = {shape[perm[0]], shape[perm[1]], shape[perm[2]], shape[perm[3]]};
    const int64_t rows = 120 / os[3];
    transpose_rows(in.data(), out.data(), 4, shape, perm, 0, rows / 2);
    transpose_rows(in.data(), out.data(), 4, shape, perm, rows / 2, rows);
    for (int64_t a = 0; a < os[0]; ++a)
      for (int64_t b = 0; b < os[1]; ++b)
        for (int64_t c = 0; c < os[2]; ++c)
          for (int64_t d = 0; d < os[3]; ++d) {
            int64_t idx[4];
            idx[perm[0]] = a, idx[perm[1]] = b, idx[perm[2]] = c, idx[perm[3]] = d;
            const int64_t src = ((idx[0] * 3 + idx[1]) * 4 + idx[2]) * 5 + idx[3];
            REQUIRE(out[((a * os[1] + b) * os[2] + c) * os[3] + d] == in[src]);
          }
  }
}

TEST_CASE("transpose_rows: every permutation of rank 3 and 4, element sizes 1 to 8, split anywhere") {
  // Sizes past one block (16 floats, 64 bytes) with tails, a stride of 4096 elements (the
  // [C, H*W] -> [H*W, C] case the blocked path is for), output rows 4 KiB long for some element
  // sizes (the buffered tiles), and row ranges that cut through blocks.
  const std::vector<std::vector<int64_t>> shapes = {{3, 37, 70}, {5, 2, 4096}, {3, 1024, 21}, {2, 4096, 3}, {2, 5, 33, 17}, {1, 1, 9}};
  for (const auto& shape : shapes) {
    const int rank = static_cast<int>(shape.size());
    int64_t total = 1;
    for (int64_t d : shape) total *= d;
    std::vector<int64_t> perm(rank);
    for (int d = 0; d < rank; ++d) perm[d] = d;
    do {
      std::vector<int64_t> os(rank), in_stride(rank, 1);
      for (int d = 0; d < rank; ++d) os[d] = shape[perm[d]];
      for (int d = rank - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * shape[d + 1];
      // want[o] = the input offset of output element o, by index arithmetic.
      std::vector<int64_t> want(total), at(rank, 0);
      for (int64_t o = 0; o < total; ++o) {
        int64_t src = 0;
        for (int d = 0; d < rank; ++d) src += at[d] * in_stride[perm[d]];
        want[o] = src;
        for (int d = rank - 1; d >= 0 && ++at[d] == os[d]; --d) at[d] = 0;
      }
      const int64_t rows = total / os[rank - 1];
      for (size_t esize : {1, 2, 4, 8}) {
        INFO("shape " << shape.size() << "-d, total " << total << ", esize " << esize);
        std::vector<uint8_t> in(total * esize), out(total * esize, 0xee);
        for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint8_t>(i * 7 + i / 251);
        const int64_t cuts[] = {0, rows / 3, rows / 3 + 1, rows - 5 > 0 ? rows - 5 : rows, rows};
        for (size_t c = 0; c + 1 < std::size(cuts); ++c)
          if (cuts[c] < cuts[c + 1]) transpose_rows(in.data(), out.data(), esize, shape, perm, cuts[c], cuts[c + 1]);
        int64_t wrong = 0;
        for (int64_t o = 0; o < total; ++o) wrong += std::memcmp(&out[o * esize], &in[want[o] * esize], esize) != 0;
        CHECK(wrong == 0);
      }
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
}

TEST_CASE("softmax_lanes_f32: strided axis, masked rows, log form") {
  // [2, 3, 2] softmax over axis 1 (inner = 2).
  std::vector<float> x = {1, -INFINITY, 2, -INFINITY, 3, -INFINITY, 0, 0, 0, 0, 0, 0}, y(12), ly(12);
  softmax_lanes_f32(x.data(), y.data(), 3, 2, false, 0, 4);
  softmax_lanes_f32(x.data(), ly.data(), 3, 2, true, 0, 4);
  const double e = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(y[0] == doctest::Approx(std::exp(1.0) / e));
  CHECK(y[4] == doctest::Approx(std::exp(3.0) / e));
  CHECK(ly[2] == doctest::Approx(2.0 - std::log(e)));
  CHECK(y[1] == 0.0f);  // a fully masked lane is zeros, not NaN
  CHECK(std::isinf(ly[1]));
  CHECK(y[6] == doctest::Approx(1.0 / 3));
}
