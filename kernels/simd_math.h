// Vector exp and erf for the hot loops, cheaper than xsimd's general ones (which handle every
// input range and branch on it): the softmax's exp of x <= 0, and erf for GELU and the Erf op.
#pragma once

#include <xsimd/xsimd.hpp>

#include "kernels/simd_fma.h"

namespace normrt::kernels::simd {

// exp(x) for the softmax, x <= 0 in practice: 2^k * p(r) with k = round(x / ln 2), r = x - k ln 2
// in two parts, p a degree-5 polynomial fitted to exp's relative error on [-ln 2 / 2, ln 2 / 2]
// (iteratively reweighted least squares, p(0) = 1): 9.3e-8 in exact arithmetic, 1.6e-7 measured in
// float against float64 exp over [-87, 3], where the degree-6 Taylor polynomial it replaced
// measured 2.3e-7 with one more multiply-add.
// k comes from adding 1.5 * 2^23 + 127, which leaves round(x / ln 2) + 127 in the low mantissa
// bits (no rounding or conversion instructions); shifted into the exponent field (the bits above
// them shift out) they are 2^k's bits. Adding 1.5 * 2^23 and then subtracting it and adding 127 as
// integers, two more operations, measured 5% slower in the softmax's exp loop on Zen 3. x is
// first clamped to -88 or more (-inf, masked scores, included): there k = -127, the bits of 2^k
// are all 0 and the result is exactly +0, so one max stands in for a compare and a blend; between
// -88 and -87.3 the result underflows gradually (below 1.2e-38). NaN stays NaN (max(-88, x)
// returns x, its second operand, when x is NaN). Up to 88.7 it is exact, just above it +inf, and
// beyond that (which no softmax reaches: x is a score minus its row's max) undefined.
template <class Arch>
inline xsimd::batch<float, Arch> fast_exp(const xsimd::batch<float, Arch>& x_in) {
  using B = xsimd::batch<float, Arch>;
  using I = xsimd::batch<int32_t, Arch>;
  const B x = xsimd::max(B(-88.0f), x_in);
  const B magic(12583039.0f);  // 1.5 * 2^23 + 127
  const B t = fmadd(x, B(1.44269504088896341f), magic);
  const B k = t - magic;
  B r = fmadd(k, B(-0.693359375f), x);  // ln 2 high part (exact product)
  r = fmadd(k, B(2.12194440e-4f), r);    // ln 2 low part
  B p(0.008290211670100689f);
  p = fmadd(p, r, B(0.041897717863321304f));
  p = fmadd(p, r, B(0.1666763573884964f));
  p = fmadd(p, r, B(0.4999915063381195f));
  p = fmadd(p, r, B(0.9999997019767761f));
  p = fmadd(p, r, B(1.0f));
  const B two_k = xsimd::bitwise_cast<B>(xsimd::bitwise_cast<I>(t) << 23);  // k + 127 in the exponent field
  return p * two_k;
}

// erf(x) in two branches, both computed for every lane (no branching on the vector): below
// |x| = 0.921875, x P(x^2); above it, 1 - exp(Q(|x|)) with Q fitted to log(erfc), |x| clamped
// to 3.925 (beyond which erf rounds to 1 in float). P (degree 5 in x^2) and Q (degree 6) were
// fitted by iteratively reweighted least squares to the absolute error in erf: 7e-9 and 1.5e-9 in
// exact arithmetic; measured in float against float64 erf over [-6, 6], max abs error 8.5e-8 (the
// xsimd-polynomial version it replaced, with a division, measured 8.7e-8 and was 1.16x slower in
// interleaved trials on Zen 3). NaN stays NaN (min(3.925, NaN) returns its second operand),
// +-inf give +-1. The shape of the large branch follows ONNX Runtime's MLAS.
template <class Arch>
inline xsimd::batch<float, Arch> fast_erf(const xsimd::batch<float, Arch>& x) {
  using B = xsimd::batch<float, Arch>;
  const B a = xsimd::abs(x);
  const B t = x * x;
  B ps(-0.0005835170741192997f);
  ps = fmadd(ps, t, B(0.004956443794071674f));
  ps = fmadd(ps, t, B(-0.02673501707613468f));
  ps = fmadd(ps, t, B(0.11280623078346252f));
  ps = fmadd(ps, t, B(-0.3761231005191803f));
  ps = fmadd(ps, t, B(1.1283791065216064f));
  const B small = x * ps;
  const B ac = xsimd::min(B(3.925f), a);
  B q(0.00019472873827908188f);
  q = fmadd(q, ac, B(-0.0030315443873405457f));
  q = fmadd(q, ac, B(0.022181175649166107f));
  q = fmadd(q, ac, B(-0.10383844375610352f));
  q = fmadd(q, ac, B(-0.6372863054275513f));
  q = fmadd(q, ac, B(-1.1276150941848755f));
  q = fmadd(q, ac, B(-0.00020998730906285346f));
  B large = B(1.0f) - fast_exp(q);
  large = xsimd::select(x < B(0.0f), -large, large);
  return xsimd::select(a < B(0.921875f), small, large);
}

}  // namespace normrt::kernels::simd
