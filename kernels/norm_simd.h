// The normalization primitives written once with xsimd; norm_<isa>.cpp instantiates them with that
// ISA's compiler flags. See kernels/norm.h for the contract.
#pragma once
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "kernels/norm.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Norm {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  using D = xsimd::batch<double, Arch>;

  // The float lanes of v as two double batches (low half, high half). xsimd 8.1 has no widening
  // conversion, so this one step uses each ISA's intrinsic.
  static std::pair<D, D> widen(const B& v) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, xsimd::avx512bw>) {
      const __m512 r = v;
      const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1));
      return {D(_mm512_cvtps_pd(_mm512_castps512_ps256(r))), D(_mm512_cvtps_pd(hi))};
    }
#endif
#if defined(__AVX2__)
    if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) {
      const __m256 r = v;
      return {D(_mm256_cvtps_pd(_mm256_castps256_ps128(r))), D(_mm256_cvtps_pd(_mm256_extractf128_ps(r, 1)))};
    }
#endif
#if defined(__aarch64__)
    if constexpr (std::is_same_v<Arch, xsimd::neon64>) {
      const float32x4_t r = v;
      return {D(vcvt_f64_f32(vget_low_f32(r))), D(vcvt_high_f64_f32(r))};
    }
#endif
    static_assert(B::size == 2 * D::size, "unsupported architecture for widen()");
  }

  // Per-lane double accumulators: each flush widens the float lanes and adds them in double
  // vectors, so nothing leaves the registers; the lanes are reduced once, at the end.
  struct LaneSums {
    // Parentheses, not braces: D{0.0} would pick xsimd's initializer_list constructor and read a
    // whole batch from a one-element list.
    D s_lo = D(0.0), s_hi = D(0.0), q_lo = D(0.0), q_hi = D(0.0);
    void flush(const B& sv, const B& qv) {
      const auto [a, b] = widen(sv);
      const auto [c, d] = widen(qv);
      s_lo += a, s_hi += b, q_lo += c, q_hi += d;
    }
  };

  static void shifted_sums(const float* x, int64_t n, float pivot, double* s_out, double* ss_out) {
    const B p(pivot);
    LaneSums acc;
    int64_t i = 0;
    // Four independent accumulators, each fed at most 4 times before the flush into double: a
    // chain of 4 float additions per lane keeps the sums accurate to a few ulps.
    constexpr int64_t kBlock = 16 * W;
    while (i + kBlock <= n) {
      B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f), q0(0.0f), q1(0.0f), q2(0.0f), q3(0.0f);
      for (const int64_t end = i + kBlock; i < end; i += 4 * W) {
        const B a = B::load_unaligned(x + i) - p, b = B::load_unaligned(x + i + W) - p;
        const B c = B::load_unaligned(x + i + 2 * W) - p, d = B::load_unaligned(x + i + 3 * W) - p;
        s0 += a, s1 += b, s2 += c, s3 += d;
        q0 = xsimd::fma(a, a, q0), q1 = xsimd::fma(b, b, q1), q2 = xsimd::fma(c, c, q2), q3 = xsimd::fma(d, d, q3);
      }
      acc.flush((s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3));
    }
    // Fewer than 16 vectors left: one vector at a time, then the scalar tail.
    B s0(0.0f), q0(0.0f);
    int64_t count = 0;
    for (; i + W <= n; i += W) {
      const B a = B::load_unaligned(x + i) - p;
      s0 += a;
      q0 = xsimd::fma(a, a, q0);
      if (++count == 4) {
        acc.flush(s0, q0);
        s0 = B(0.0f), q0 = B(0.0f), count = 0;
      }
    }
    acc.flush(s0, q0);
    double s = xsimd::hadd(acc.s_lo + acc.s_hi), ss = xsimd::hadd(acc.q_lo + acc.q_hi);
    for (; i < n; ++i) {
      const float a = x[i] - pivot;
      s += double(a);
      ss += double(a) * double(a);
    }
    *s_out += s;
    *ss_out += ss;
  }

  // One loop per (gamma?, beta?, shift?) form so the loop body has no branches.
  template <bool G, bool Bias, bool Shift>
  static void normalize_loop(const float* x, float* y, int64_t n, float pivot, float shift, float inv_std, const float* g,
                             const float* b) {
    const B p(pivot), m(shift), r(inv_std);
    auto one = [&](int64_t i) {
      B t = B::load_unaligned(x + i) - p;
      if constexpr (Shift) t = t - m;
      B a = r;
      if constexpr (G) a = r * B::load_unaligned(g + i);
      if constexpr (Bias) return xsimd::fma(t, a, B::load_unaligned(b + i));
      else return B(t * a);
    };
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      const B v0 = one(i), v1 = one(i + W);
      v0.store_unaligned(y + i);
      v1.store_unaligned(y + i + W);
    }
    for (; i + W <= n; i += W) one(i).store_unaligned(y + i);
    for (; i < n; ++i) {
      float t = x[i] - pivot;
      if constexpr (Shift) t = t - shift;
      const float a = G ? inv_std * g[i] : inv_std;
      y[i] = Bias ? std::fma(t, a, b[i]) : t * a;
    }
  }

  static void normalize_vec(const float* x, float* y, int64_t n, float pivot, float shift, float inv_std, const float* g,
                            const float* b) {
    const bool sh = shift != 0.0f;
    if (g && b) return sh ? normalize_loop<true, true, true>(x, y, n, pivot, shift, inv_std, g, b)
                          : normalize_loop<true, true, false>(x, y, n, pivot, shift, inv_std, g, b);
    if (g) return sh ? normalize_loop<true, false, true>(x, y, n, pivot, shift, inv_std, g, b)
                     : normalize_loop<true, false, false>(x, y, n, pivot, shift, inv_std, g, b);
    if (b) return sh ? normalize_loop<false, true, true>(x, y, n, pivot, shift, inv_std, g, b)
                     : normalize_loop<false, true, false>(x, y, n, pivot, shift, inv_std, g, b);
    return sh ? normalize_loop<false, false, true>(x, y, n, pivot, shift, inv_std, g, b)
              : normalize_loop<false, false, false>(x, y, n, pivot, shift, inv_std, g, b);
  }

  template <bool G, bool Bias>
  static void normalize_rows_loop(const float* const* x, float* const* y, int64_t n, const float* pivot, const float* shift,
                                  const float* inv_std, const float* g, const float* b) {
    constexpr int R = kRowBlock;
    B p[R], m[R], r[R];
    for (int k = 0; k < R; ++k) p[k] = B(pivot[k]), m[k] = B(shift[k]), r[k] = B(inv_std[k]);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      const B gv = G ? B::load_unaligned(g + i) : B(1.0f);
      const B bv = Bias ? B::load_unaligned(b + i) : B(0.0f);
      for (int k = 0; k < R; ++k) {
        const B t = (B::load_unaligned(x[k] + i) - p[k]) - m[k];
        const B a = G ? r[k] * gv : r[k];
        (Bias ? xsimd::fma(t, a, bv) : B(t * a)).store_unaligned(y[k] + i);
      }
    }
    for (; i < n; ++i)
      for (int k = 0; k < R; ++k) {
        const float t = (x[k][i] - pivot[k]) - shift[k];
        const float a = G ? inv_std[k] * g[i] : inv_std[k];
        y[k][i] = Bias ? std::fma(t, a, b[i]) : t * a;
      }
  }

  static void normalize_rows(const float* const* x, float* const* y, int64_t n, const float* pivot, const float* shift,
                             const float* inv_std, const float* g, const float* b) {
    if (g && b) return normalize_rows_loop<true, true>(x, y, n, pivot, shift, inv_std, g, b);
    if (g) return normalize_rows_loop<true, false>(x, y, n, pivot, shift, inv_std, g, b);
    if (b) return normalize_rows_loop<false, true>(x, y, n, pivot, shift, inv_std, g, b);
    return normalize_rows_loop<false, false>(x, y, n, pivot, shift, inv_std, g, b);
  }

  static void normalize_channel(const float* x, float* y, int64_t n, float pivot, float shift, float a, float c) {
    const B p(pivot), m(shift), av(a), cv(c);
    int64_t i = 0;
    if (shift == 0.0f)
      for (; i + W <= n; i += W) xsimd::fma(B::load_unaligned(x + i) - p, av, cv).store_unaligned(y + i);
    for (; i + W <= n; i += W) xsimd::fma((B::load_unaligned(x + i) - p) - m, av, cv).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = std::fma((x[i] - pivot) - shift, a, c);
  }

  static void add_rows(const float* x, const float* skip, const float* bias, float* out, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      B v = B::load_unaligned(x + i) + B::load_unaligned(skip + i);
      if (bias) v += B::load_unaligned(bias + i);
      v.store_unaligned(out + i);
    }
    for (; i < n; ++i) out[i] = bias ? (x[i] + skip[i]) + bias[i] : x[i] + skip[i];
  }

  static const NormPrimitives& table(Isa isa) {
    static const NormPrimitives t{isa, shifted_sums, normalize_vec, normalize_channel, normalize_rows, add_rows};
    return t;
  }
};

}  // namespace normrt::kernels::simd
