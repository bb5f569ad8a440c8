// The normalization primitives written once with xsimd; norm_<isa>.cpp instantiates them with that
// ISA's compiler flags. See kernels/norm.h for the contract.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <tuple>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "kernels/norm.h"
#include "kernels/simd_fma.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Norm {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  using D = xsimd::batch<double, Arch>;

  // Non-temporal store of a vector to a vector-aligned address: for outputs larger than the caches
  // it skips the read-for-ownership of y's lines (memcpy-like traffic: x read once, y written once).
  // NEON has no plain equivalent; it stores normally.
  static void stream_store(float* p, const B& v) {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      _mm512_stream_ps(p, v);
      return;
    }
#endif
#if defined(__AVX2__)
    if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) {
      _mm256_stream_ps(p, v);
      return;
    }
#endif
    v.store_aligned(p);
  }
  // Orders the streamed stores before anything after the kernel (another thread's reads): called
  // once per kernel call, not per row, since it waits for the write-combining buffers to drain.
  static void stream_fence() {
#if defined(__SSE2__)
    _mm_sfence();
#endif
  }
  template <bool Stream>
  static void put(float* p, const B& v) {
    if constexpr (Stream) stream_store(p, v);
    else v.store_unaligned(p);
  }
  static constexpr size_t kVectorBytes = sizeof(float) * W;
  static int64_t to_alignment(const float* p) {  // scalar elements before p is vector-aligned
    const size_t mis = reinterpret_cast<uintptr_t>(p) % kVectorBytes;
    return mis == 0 ? 0 : static_cast<int64_t>((kVectorBytes - mis) / sizeof(float));
  }

  // The two halves of v added in float, then widened: one double batch of half v's width. xsimd
  // 8.1 has no widening conversion, so this one step uses each ISA's intrinsic. (AVX2 widens both
  // sums at once instead: LaneSums::flush.)
  static D widen_halves(const B& v) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Arch, xsimd::avx512bw>) {
      const __m512 r = v;
      const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1));
      return D(_mm512_cvtps_pd(_mm256_add_ps(_mm512_castps512_ps256(r), hi)));
    }
#endif
#if defined(__aarch64__)
    if constexpr (std::is_same_v<Arch, xsimd::neon64>) {
      const float32x4_t r = v;
      return D(vcvt_f64_f32(vadd_f32(vget_low_f32(r), vget_high_f32(r))));
    }
#endif
    static_assert(B::size == 2 * D::size, "unsupported architecture for widen_halves()");
  }

  // Per-lane double accumulators, fed by a flush per block of float sums and reduced once, at the
  // end. Each flush adds the float vector's halves before widening. AVX-512 and NEON keep two double
  // batches, s and q. AVX2 keeps one, [s, s, q, q] (the halves of both sums added, then pairs of
  // lanes with hadd, then widened): with its 16 registers a second batch was spilled to the stack
  // in LayerNorm's pipelined loop, a store and a reload per block (four batches, each half widened
  // apart, had spilled two). Interleaved trials on Zen 3: four -> two batches, the pipelined step on
  // a 768-value row in L1 1.13-1.14x, whole LayerNorm calls 1.00-1.03x; two -> one (five runs), LN
  // [8,512,768] 1.02-1.04x, [32,128,1024] 1.04-1.13x, [1,128,768], [8,128,768] and GroupNorm
  // 1.00-1.04x. The float additions before the widening are a few more roundings of partial sums of
  // shifted values: max abs error against float64 in the kernel tests 2.5e-7 to 6.1e-7 on AVX2
  // (2.5e-7 -> 2.7e-7 at c = 0 and 4.3e-7 -> 3.8e-7 with scale jumps for the one batch).
  struct LaneSums {
#if defined(__AVX2__)
    static constexpr bool kOneBatch = std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>;
#else
    static constexpr bool kOneBatch = false;
#endif
    // Parentheses, not braces: D{0.0} would pick xsimd's initializer_list constructor and read a
    // whole batch from a one-element list. With kOneBatch, s holds both sums and q stays unused.
    D s = D(0.0), q = D(0.0);
    void flush(const B& sv, const B& qv) {
      if constexpr (kOneBatch) {
#if defined(__AVX2__)
        const __m256 sr = sv, qr = qv;
        const __m128 hs = _mm_add_ps(_mm256_castps256_ps128(sr), _mm256_extractf128_ps(sr, 1));
        const __m128 hq = _mm_add_ps(_mm256_castps256_ps128(qr), _mm256_extractf128_ps(qr, 1));
        s += D(_mm256_cvtps_pd(_mm_hadd_ps(hs, hq)));
#endif
      } else {
        s += widen_halves(sv);
        q += widen_halves(qv);
      }
    }
    // The totals of the flushed sums.
    std::pair<double, double> totals() const {
      if constexpr (kOneBatch) {
        alignas(64) double l[D::size];
        s.store_aligned(l);
        return {l[0] + l[1], l[2] + l[3]};
      } else {
        return {xsimd::hadd(s), xsimd::hadd(q)};
      }
    }
  };

  // Accumulator pairs in shifted_sums_with: 4 where there are 32 vector registers (AVX-512, NEON);
  // 2 with AVX2's 16, where 4 pairs plus a pipelined normalize sweep's operands spilled to the
  // stack in every block.
  static constexpr int kPairs = std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>> ? 2 : 4;
  static_assert(kPairs == 2 || kPairs == 4, "shifted_sums_with's flush adds 2 or 4 pairs");

  // The shifted sums of one row, with `extra(i, vectors)` called for each stretch of vectors the
  // loop reads (and `extra_tail(i)` for each scalar tail element), so another sweep can share the
  // loop. The sums are computed the same way with or without it, bit for bit. PerBlock: one call
  // per block of 4 * kPairs vectors, after its sums, instead of one per kPairs vectors; for a
  // sweep with a fixed cost per call (group_norm's, which checks for a channel boundary).
  // Always inlined: GCC 12 at -O3 had kept it out of line for LayerNorm's sweep with a pivot, so
  // the sweep's operands lived in a closure on the stack and were reloaded after every store
  // through y; that pipeline step took 1200 TSC cycles per 768-value row on Zen 3 against 465
  // inlined (rows of 1000 + N(0, 1), three runs of perf/kernel_bench: [128, 768] in cache
  // 1.7-2.4x faster, [32, 16384] 1.7-2.2x).
  template <bool PerBlock = false, class Extra, class ExtraTail>
  [[gnu::always_inline]] static inline void shifted_sums_with(const float* x, int64_t n, float pivot, double* s_out,
                                                              double* ss_out, Extra&& extra, ExtraTail&& extra_tail) {
    const B p(pivot);
    LaneSums acc;
    int64_t i = 0;
    // kPairs independent (sum, square) accumulator pairs, each fed at most 4 times before the flush
    // into double (which first adds the pairs and the vector's halves in float, and on AVX2 pairs of
    // lanes): a few float additions per value keep the sums accurate to a few ulps.
    constexpr int64_t kBlock = 4 * kPairs * W;
    while (i + kBlock <= n) {
      // The block's first step starts the sums (s = v, q = v * v) instead of adding to zero: 0 + v
      // is not v for IEEE (-0), so the compiler kept a zero register and two more operations.
      B s[kPairs], q[kPairs];
      const int64_t start = i;
      for (int j = 0; j < kPairs; ++j) {
        const B v = B::load_unaligned(x + i + j * W) - p;
        s[j] = v;
        q[j] = v * v;
      }
      if constexpr (!PerBlock) extra(i, kPairs);
      i += kPairs * W;
      for (const int64_t end = start + kBlock; i < end; i += kPairs * W) {
        for (int j = 0; j < kPairs; ++j) {
          const B v = B::load_unaligned(x + i + j * W) - p;
          s[j] += v;
          q[j] = fmadd(v, v, q[j]);
        }
        if constexpr (!PerBlock) extra(i, kPairs);
      }
      if constexpr (PerBlock) extra(start, 4 * kPairs);
      if constexpr (kPairs == 4) acc.flush((s[0] + s[1]) + (s[2] + s[3]), (q[0] + q[1]) + (q[2] + q[3]));
      else acc.flush(s[0] + s[1], q[0] + q[1]);
    }
    // Less than a block left: one vector at a time, then the scalar tail.
    B s0(0.0f), q0(0.0f);
    int64_t count = 0;
    for (; i + W <= n; i += W) {
      const B a = B::load_unaligned(x + i) - p;
      s0 += a;
      q0 = fmadd(a, a, q0);
      extra(i, 1);
      if (++count == 4) {
        acc.flush(s0, q0);
        s0 = B(0.0f), q0 = B(0.0f), count = 0;
      }
    }
    acc.flush(s0, q0);
    double s, ss;
    std::tie(s, ss) = acc.totals();
    for (; i < n; ++i) {
      const float a = x[i] - pivot;
      s += double(a);
      ss += double(a) * double(a);
      extra_tail(i);
    }
    *s_out += s;
    *ss_out += ss;
  }

  static void shifted_sums(const float* x, int64_t n, float pivot, double* s_out, double* ss_out) {
    shifted_sums_with(x, n, pivot, s_out, ss_out, [](int64_t, int) {}, [](int64_t) {});
  }

  template <bool G, bool Bias, bool Pivot>
  static B normalized(const float* x, int64_t i, const B& p, const B& a, const B& c, const float* g, const float* b) {
    B t = B::load_unaligned(x + i);
    if constexpr (Pivot) t = t - p;
    const B z = fmadd(t, a, c);
    if constexpr (G && Bias) return fmadd(z, B::load_unaligned(g + i), B::load_unaligned(b + i));
    else if constexpr (G) return z * B::load_unaligned(g + i);
    else if constexpr (Bias) return z + B::load_unaligned(b + i);
    else return z;
  }
  template <bool G, bool Bias>
  static float normalized_scalar(float x, int64_t i, float pivot, float scale, float offset, const float* g, const float* b) {
    const float z = std::fma(x - pivot, scale, offset);
    if constexpr (G && Bias) return std::fma(z, g[i], b[i]);
    else if constexpr (G) return z * g[i];
    else if constexpr (Bias) return z + b[i];
    else return z;
  }

  template <bool G, bool Bias, bool Pivot, bool Stream>
  static void normalize_loop(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                             const float* b) {
    const B p(pivot), a(scale), c(offset);
    int64_t i = 0;
    if constexpr (Stream)  // scalar head up to y's first vector-aligned element
      for (const int64_t head = std::min(n, to_alignment(y)); i < head; ++i)
        y[i] = normalized_scalar<G, Bias>(x[i], i, pivot, scale, offset, g, b);
    for (; i + 2 * W <= n; i += 2 * W) {
      const B v0 = normalized<G, Bias, Pivot>(x, i, p, a, c, g, b), v1 = normalized<G, Bias, Pivot>(x, i + W, p, a, c, g, b);
      put<Stream>(y + i, v0);
      put<Stream>(y + i + W, v1);
    }
    for (; i + W <= n; i += W) put<Stream>(y + i, normalized<G, Bias, Pivot>(x, i, p, a, c, g, b));
    for (; i < n; ++i) y[i] = normalized_scalar<G, Bias>(x[i], i, pivot, scale, offset, g, b);
  }

  // stream: non-temporal stores (the caller's tensor is larger than the caches). They need y's
  // floats at their natural alignment to reach a vector bound, as tensors always are.
  template <bool G, bool Bias>
  static void normalize_vec_gb(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                               const float* b, bool stream) {
    if (stream && reinterpret_cast<uintptr_t>(y) % sizeof(float) == 0) {
      if (pivot != 0.0f) return normalize_loop<G, Bias, true, true>(x, y, n, pivot, scale, offset, g, b);
      return normalize_loop<G, Bias, false, true>(x, y, n, pivot, scale, offset, g, b);
    }
    if (pivot != 0.0f) return normalize_loop<G, Bias, true, false>(x, y, n, pivot, scale, offset, g, b);
    return normalize_loop<G, Bias, false, false>(x, y, n, pivot, scale, offset, g, b);
  }

  static void normalize_vec(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                            const float* b, bool stream) {
    if (g && b) return normalize_vec_gb<true, true>(x, y, n, pivot, scale, offset, g, b, stream);
    if (g) return normalize_vec_gb<true, false>(x, y, n, pivot, scale, offset, g, b, stream);
    if (b) return normalize_vec_gb<false, true>(x, y, n, pivot, scale, offset, g, b, stream);
    return normalize_vec_gb<false, false>(x, y, n, pivot, scale, offset, g, b, stream);
  }

  template <bool G, bool Bias, bool Pivot>
  static void normalize_rows_loop(const float* const* x, float* const* y, int64_t n, const float* pivot, const float* scale,
                                  const float* offset, const float* g, const float* b) {
    constexpr int R = kRowBlock;
    B p[R], a[R], c[R];
    for (int k = 0; k < R; ++k) p[k] = B(pivot[k]), a[k] = B(scale[k]), c[k] = B(offset[k]);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      const B gv = G ? B::load_unaligned(g + i) : B(1.0f);
      const B bv = Bias ? B::load_unaligned(b + i) : B(0.0f);
      for (int k = 0; k < R; ++k) {
        B t = B::load_unaligned(x[k] + i);
        if constexpr (Pivot) t = t - p[k];
        const B z = fmadd(t, a[k], c[k]);
        if constexpr (G && Bias) fmadd(z, gv, bv).store_unaligned(y[k] + i);
        else if constexpr (G) (z * gv).store_unaligned(y[k] + i);
        else if constexpr (Bias) (z + bv).store_unaligned(y[k] + i);
        else z.store_unaligned(y[k] + i);
      }
    }
    for (; i < n; ++i)
      for (int k = 0; k < R; ++k) y[k][i] = normalized_scalar<G, Bias>(x[k][i], i, pivot[k], scale[k], offset[k], g, b);
  }

  template <bool G, bool Bias>
  static void normalize_rows_gb(const float* const* x, float* const* y, int64_t n, const float* pivot, const float* scale,
                                const float* offset, const float* g, const float* b) {
    bool any_pivot = false;
    for (int k = 0; k < kRowBlock; ++k) any_pivot |= pivot[k] != 0.0f;
    if (any_pivot) return normalize_rows_loop<G, Bias, true>(x, y, n, pivot, scale, offset, g, b);
    return normalize_rows_loop<G, Bias, false>(x, y, n, pivot, scale, offset, g, b);
  }

  static void normalize_rows(const float* const* x, float* const* y, int64_t n, const float* pivot, const float* scale,
                             const float* offset, const float* g, const float* b) {
    if (g && b) return normalize_rows_gb<true, true>(x, y, n, pivot, scale, offset, g, b);
    if (g) return normalize_rows_gb<true, false>(x, y, n, pivot, scale, offset, g, b);
    if (b) return normalize_rows_gb<false, true>(x, y, n, pivot, scale, offset, g, b);
    return normalize_rows_gb<false, false>(x, y, n, pivot, scale, offset, g, b);
  }

  // normalize_vec of one row (x -> y) in the same loop as the shifted sums of the next row: the
  // sums' loads and arithmetic fill the slots the normalize sweep's stores leave idle, and the next
  // row arrives in cache for its own sweep. Both results equal the separate calls bit for bit.
  // `vectors` whole vectors of normalize_vec from value i; everything by value, as normalize_stretch.
  template <bool G, bool Bias, bool Pivot, bool Stream>
  static void normalize_vectors(const float* x, float* y, int64_t i, int vectors, B p, B a, B c, const float* g, const float* b) {
    for (int v = 0; v < vectors; ++v) put<Stream>(y + i + v * W, normalized<G, Bias, Pivot>(x, i + v * W, p, a, c, g, b));
  }
  template <bool G, bool Bias, bool Pivot, bool Stream>
  static void normalize_and_sum_loop(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                                     const float* b, const float* next, float next_pivot, double* s, double* ss) {
    const B p(pivot), a(scale), c(offset);
    shifted_sums_with(
        next, n, next_pivot, s, ss,
        [x, y, g, b, p, a, c](int64_t i, int vectors) { normalize_vectors<G, Bias, Pivot, Stream>(x, y, i, vectors, p, a, c, g, b); },
        [&](int64_t i) { y[i] = normalized_scalar<G, Bias>(x[i], i, pivot, scale, offset, g, b); });
  }

  template <bool G, bool Bias, bool Pivot>
  static void normalize_and_sum_stores(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                                       const float* b, bool stream, const float* next, float next_pivot, double* s, double* ss) {
    // Non-temporal stores need whole aligned vectors, and y's vectors line up with x's and next's.
    if (stream && to_alignment(y) == 0)
      return normalize_and_sum_loop<G, Bias, Pivot, true>(x, y, n, pivot, scale, offset, g, b, next, next_pivot, s, ss);
    return normalize_and_sum_loop<G, Bias, Pivot, false>(x, y, n, pivot, scale, offset, g, b, next, next_pivot, s, ss);
  }

  template <bool G, bool Bias>
  static void normalize_and_sum_gb(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                                   const float* b, bool stream, const float* next, float next_pivot, double* s, double* ss) {
    if (pivot != 0.0f)
      return normalize_and_sum_stores<G, Bias, true>(x, y, n, pivot, scale, offset, g, b, stream, next, next_pivot, s, ss);
    return normalize_and_sum_stores<G, Bias, false>(x, y, n, pivot, scale, offset, g, b, stream, next, next_pivot, s, ss);
  }

  static void normalize_and_sum(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                                const float* b, bool stream, const float* next, float next_pivot, double* s, double* ss) {
    if (g && b) return normalize_and_sum_gb<true, true>(x, y, n, pivot, scale, offset, g, b, stream, next, next_pivot, s, ss);
    if (g) return normalize_and_sum_gb<true, false>(x, y, n, pivot, scale, offset, g, b, stream, next, next_pivot, s, ss);
    if (b) return normalize_and_sum_gb<false, true>(x, y, n, pivot, scale, offset, g, b, stream, next, next_pivot, s, ss);
    return normalize_and_sum_gb<false, false>(x, y, n, pivot, scale, offset, g, b, stream, next, next_pivot, s, ss);
  }

  // y = fma(x - p, a, c) for the whole vectors of [pos, stop); returns where they end. Its own
  // function, with everything by value, because in a lambda capturing by reference each store
  // through y (a may-alias vector store) made GCC reload the captured a, c, x and y: the loop then
  // waited on store-to-load forwarding (GroupNorm at 0.24x memcpy on Zen 3).
  template <bool Pivot, bool Stream = false>
  static int64_t normalize_stretch(const float* x, float* y, int64_t pos, int64_t stop, B p, B a, B c) {
    for (; pos + W <= stop; pos += W) {
      B t = B::load_unaligned(x + pos);
      if constexpr (Pivot) t = t - p;
      put<Stream>(y + pos, fmadd(t, a, c));
    }
    return pos;
  }

  // The channels' sweep of group_norm's pipeline. A stretch of vectors the sums' loop hands over
  // may cross into the next channel; its values past the boundary get the next channel's a and c.
  // Every value is fma(x - pivot, a, c), vector or scalar, as in normalize_channel. The stretches
  // are whole blocks of the sums (8 vectors on AVX2): handed over 2 vectors at a time, the sweep's
  // per-stretch work made the pipeline slower than two plain passes over tensors in cache (Zen 3,
  // paired runs at 1 thread: GN [1,160,64,64] g=32 0.5x); per block it is 1.08-1.35x faster than
  // per 2 vectors on every GN shape of perf/ at 1 and 2 threads, and 1.2-1.3x faster than the
  // plain passes.
  template <bool Pivot, bool Stream>
  static void normalize_channels_and_sum_loop(const float* x, float* y, int64_t lo, int64_t n, int64_t spatial, float pivot,
                                              const float* a, const float* c, const float* next, float next_pivot, double* s,
                                              double* ss) {
    const B p(pivot);
    int64_t ch = lo / spatial, ch_end = (ch + 1) * spatial;
    B av(a[ch]), cv(c[ch]);
    auto sweep = [&](int64_t pos, int64_t end) {  // values [pos, end) of the unit
      while (pos < end) {
        if (pos == ch_end) ++ch, ch_end += spatial, av = B(a[ch]), cv = B(c[ch]);
        const int64_t stop = std::min(end, ch_end);
        pos = normalize_stretch<Pivot, Stream>(x, y, pos, stop, p, av, cv);
        for (; pos < stop; ++pos) y[pos] = std::fma(x[pos] - pivot, a[ch], c[ch]);
      }
    };
    shifted_sums_with<true>(
        next + lo, n, next_pivot, s, ss, [&](int64_t i, int vectors) { sweep(lo + i, lo + i + vectors * W); },
        [&](int64_t i) { sweep(lo + i, lo + i + 1); });
  }
  template <bool Pivot>
  static void normalize_channels_and_sum_stores(const float* x, float* y, int64_t lo, int64_t n, int64_t spatial, float pivot,
                                                const float* a, const float* c, bool stream, const float* next, float next_pivot,
                                                double* s, double* ss) {
    // Streamed only when every vector the sweep stores is aligned: lo, the stretches and the channel
    // boundaries are then all whole vectors from an aligned y.
    if (stream && to_alignment(y) == 0 && spatial % W == 0 && lo % W == 0)
      return normalize_channels_and_sum_loop<Pivot, true>(x, y, lo, n, spatial, pivot, a, c, next, next_pivot, s, ss);
    return normalize_channels_and_sum_loop<Pivot, false>(x, y, lo, n, spatial, pivot, a, c, next, next_pivot, s, ss);
  }
  static void normalize_channels_and_sum(const float* x, float* y, int64_t lo, int64_t n, int64_t spatial, float pivot,
                                         const float* a, const float* c, bool stream, const float* next, float next_pivot,
                                         double* s, double* ss) {
    if (pivot != 0.0f)
      return normalize_channels_and_sum_stores<true>(x, y, lo, n, spatial, pivot, a, c, stream, next, next_pivot, s, ss);
    return normalize_channels_and_sum_stores<false>(x, y, lo, n, spatial, pivot, a, c, stream, next, next_pivot, s, ss);
  }

  template <bool Stream>
  static int64_t normalize_channel_vectors(const float* x, float* y, int64_t i, int64_t n, float pivot, float a, float c) {
    return pivot == 0.0f ? normalize_stretch<false, Stream>(x, y, i, n, B(pivot), B(a), B(c))
                         : normalize_stretch<true, Stream>(x, y, i, n, B(pivot), B(a), B(c));
  }
  static void normalize_channel(const float* x, float* y, int64_t n, float pivot, float a, float c, bool stream) {
    int64_t i = 0;
    if (stream && reinterpret_cast<uintptr_t>(y) % sizeof(float) == 0) {  // as normalize_loop: a scalar head, then aligned
      for (const int64_t head = std::min(n, to_alignment(y)); i < head; ++i) y[i] = std::fma(x[i] - pivot, a, c);
      i = normalize_channel_vectors<true>(x, y, i, n, pivot, a, c);
    } else {
      i = normalize_channel_vectors<false>(x, y, i, n, pivot, a, c);
    }
    for (; i < n; ++i) y[i] = std::fma(x[i] - pivot, a, c);
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
    static const NormPrimitives t{isa,           shifted_sums, normalize_vec,     normalize_channel,
                                  normalize_rows, add_rows,     stream_fence,      normalize_and_sum,
                                  normalize_channels_and_sum};
    return t;
  }
};

}  // namespace normrt::kernels::simd
