// The normalization primitives written once with xsimd; norm_<isa>.cpp instantiates them with that
// ISA's compiler flags. See kernels/norm.h for the contract.
#pragma once
#include <xsimd/xsimd.hpp>

#include "kernels/norm.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Norm {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  // Per-lane double accumulators. Flushing adds each float lane into its own double, so the
  // flush is W independent additions (vectorised by the compiler) rather than a serial chain;
  // the lanes are reduced once, at the end.
  struct LaneSums {
    alignas(64) double s[W] = {};
    alignas(64) double q[W] = {};
    void flush(const B& sv, const B& qv) {
      alignas(64) float fs[W], fq[W];
      sv.store_aligned(fs);
      qv.store_aligned(fq);
      for (int64_t l = 0; l < W; ++l) s[l] += fs[l], q[l] += fq[l];
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
    double s = 0, ss = 0;
    for (int64_t l = 0; l < W; ++l) s += acc.s[l], ss += acc.q[l];
    for (; i < n; ++i) {
      const float a = x[i] - pivot;
      s += double(a);
      ss += double(a) * double(a);
    }
    *s_out += s;
    *ss_out += ss;
  }

  static void normalize_vec(const float* x, float* y, int64_t n, float pivot, float shift, float inv_std, const float* g,
                            const float* b) {
    const B p(pivot), m(shift), r(inv_std);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      const B t = (B::load_unaligned(x + i) - p) - m;
      const B a = g ? r * B::load_unaligned(g + i) : r;
      const B v = b ? xsimd::fma(t, a, B::load_unaligned(b + i)) : t * a;
      v.store_unaligned(y + i);
    }
    for (; i < n; ++i) {
      const float t = (x[i] - pivot) - shift;
      const float a = g ? inv_std * g[i] : inv_std;
      y[i] = b ? std::fma(t, a, b[i]) : t * a;
    }
  }

  static void normalize_channel(const float* x, float* y, int64_t n, float pivot, float shift, float a, float c) {
    const B p(pivot), m(shift), av(a), cv(c);
    int64_t i = 0;
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
    static const NormPrimitives t{isa, shifted_sums, normalize_vec, normalize_channel, add_rows};
    return t;
  }
};

}  // namespace normrt::kernels::simd
