// The row operations of the attention loop written once with xsimd; attention_<isa>.cpp
// instantiates them with that ISA's flags. Contract in kernels/attention.h.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "kernels/attention.h"
#include "kernels/simd_fma.h"
#include "kernels/simd_math.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Attention {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  static void scale(float* s, int64_t n, float a) {
    const B av(a);
    int64_t j = 0;
    for (; j + W <= n; j += W) (B::load_unaligned(s + j) * av).store_unaligned(s + j);
    for (; j < n; ++j) s[j] *= a;
  }

  static void softcap(float* s, int64_t n, float cap) {
    const B c(cap), inv(1.0f / cap);
    int64_t j = 0;
    for (; j + W <= n; j += W) (c * xsimd::tanh(B::load_unaligned(s + j) * inv)).store_unaligned(s + j);
    for (; j < n; ++j) s[j] = cap * std::tanh(s[j] * (1.0f / cap));
  }

  static void add(float* s, const float* b, int64_t n) {
    int64_t j = 0;
    for (; j + W <= n; j += W) (B::load_unaligned(s + j) + B::load_unaligned(b + j)).store_unaligned(s + j);
    for (; j < n; ++j) s[j] += b[j];
  }

  static void add_constant(float* s, float c, int64_t n) {
    const B cv(c);
    int64_t j = 0;
    for (; j + W <= n; j += W) (B::load_unaligned(s + j) + cv).store_unaligned(s + j);
    for (; j < n; ++j) s[j] += c;
  }

  static void replace(float* s, const float* b, int64_t n) {
    int64_t j = 0;
    for (; j + W <= n; j += W) {
      const B bv = B::load_unaligned(b + j);
      xsimd::select(bv != B(0.0f), bv, B::load_unaligned(s + j)).store_unaligned(s + j);
    }
    for (; j < n; ++j)
      if (b[j] != 0.0f) s[j] = b[j];
  }

  static float max(const float* s, int64_t n) {
    B m(-std::numeric_limits<float>::infinity());
    xsimd::batch_bool<float, Arch> nan(false);  // xsimd::max may drop a NaN: remember it here
    int64_t j = 0;
    for (; j + W <= n; j += W) {
      const B v = B::load_unaligned(s + j);
      nan = nan | (v != v);
      m = xsimd::max(m, v);
    }
    if (xsimd::any(nan)) return std::numeric_limits<float>::quiet_NaN();
    alignas(64) float lanes[W];  // xsimd 8.1 has no horizontal max
    m.store_aligned(lanes);
    float r = lanes[0];
    for (int64_t l = 1; l < W; ++l) r = std::max(r, lanes[l]);
    for (; j < n; ++j) {
      if (std::isnan(s[j])) return s[j];
      r = std::max(r, s[j]);
    }
    return r;
  }

  static float exp_sum(float* s, int64_t n, float m) {
    const B mv(m);
    B acc0(0.0f), acc1(0.0f);
    int64_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
      const B e0 = fast_exp(B::load_unaligned(s + j) - mv), e1 = fast_exp(B::load_unaligned(s + j + W) - mv);
      e0.store_unaligned(s + j);
      e1.store_unaligned(s + j + W);
      acc0 += e0, acc1 += e1;
    }
    for (; j + W <= n; j += W) {
      const B e = fast_exp(B::load_unaligned(s + j) - mv);
      e.store_unaligned(s + j);
      acc0 += e;
    }
    float sum = xsimd::hadd(acc0 + acc1);
    for (; j < n; ++j) sum += (s[j] = std::exp(s[j] - m));
    return sum;
  }

  static void scale_add(float* o, const float* t, int64_t n, float alpha) {
    const B a(alpha);
    int64_t j = 0;
    for (; j + W <= n; j += W) fmadd(B::load_unaligned(o + j), a, B::load_unaligned(t + j)).store_unaligned(o + j);
    for (; j < n; ++j) o[j] = std::fma(o[j], alpha, t[j]);
  }

  // The transposed loop (kernels/attention.h, kAttnTransposedKeyBlock). A chunk is kTV vectors of
  // queries; a tile is 4 rows (keys of Sᵀ, head values of Oᵀ) by one chunk, its 4 * kTV
  // accumulators, kTV operand vectors and the broadcast in registers: 31 of AVX-512's 32, all 16
  // of AVX2's (kTV = 2 there, 8 accumulators, measured 0.94-1.06x the general loop against
  // 1.09-1.19x for 3). NEON's 4 (21 of 32) is unmeasured: qemu is no timing.
  static constexpr int kTV = W == 16 ? 6 : W == 8 ? 3 : 4;
  static constexpr int64_t kTQ = kTV * W;  // queries per chunk: 96 on AVX-512 (the whole query block), 24 on AVX2
  static constexpr int64_t kP = kAttnTransposedPanel;
  static_assert(kAttnTransposedKeyBlock % kAttnTransposedPanel == 0, "key blocks start at a panel");

  static float* aligned(float* p) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63)); }

  // The tile product both tiles share: acc[i] += panel[p * 4 + i] * rows[p] over `steps` steps,
  // rows[p] being NV vectors at rows + p * kTQ. Always inlined: the accumulators stay in registers.
  template <int NV>
  [[gnu::always_inline]] static inline void panel_times_rows(B (&acc)[kP][NV], const float* panel, const float* rows, int64_t steps) {
    for (int64_t p = 0; p < steps; ++p) {
      B bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = B::load_aligned(rows + p * kTQ + v * W);
      for (int i = 0; i < kP; ++i) {
        const B a(panel[p * kP + i]);
        for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(a, bv[v], acc[i][v]);
      }
    }
  }

  // Sᵀ rows of one key panel (kp: depth-major, 4 keys per step) for NV vectors of a chunk of Qᵀ
  // (qt: depth-major, row stride kTQ): the first `rows` go to st (row stride kTQ) and into the
  // block maximum.
  template <int NV>
  static void scores_tile(const float* kp, const float* qt, int64_t dk, float* st, int64_t rows, B (&bmax)[NV]) {
    B acc[kP][NV];
    for (int i = 0; i < kP; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = B(0.0f);
    panel_times_rows<NV>(acc, kp, qt, dk);
    for (int i = 0; i < kP; ++i) {
      if (i == rows) break;
      for (int v = 0; v < NV; ++v) {
        acc[i][v].store_aligned(st + i * kTQ + v * W);
        bmax[v] = xsimd::max(bmax[v], acc[i][v]);
      }
    }
  }

  // Four rows of Oᵀ (ot, row stride kTQ), NV vectors of a chunk: alpha * Oᵀ (nothing on the first
  // key block) plus the panel of Vᵀ (vp: 4 head values per key) times the n rows of Pᵀ (st).
  template <int NV>
  static void values_tile(const float* vp, const float* st, int64_t n, float* ot, const B (&alpha)[NV], bool first) {
    B acc[kP][NV];
    for (int i = 0; i < kP; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = first ? B(0.0f) : B::load_aligned(ot + i * kTQ + v * W) * alpha[v];
    panel_times_rows<NV>(acc, vp, st, n);
    for (int i = 0; i < kP; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v].store_aligned(ot + i * kTQ + v * W);
  }

  // Keys [kb, kb + bk) for one chunk whose queries fill NV vectors (the last chunk of a short query
  // block computes only those): Sᵀ, the online softmax down its columns (running maximum mc and
  // sum lc), and Oᵀ (ot).
  template <int NV>
  static void chunk_step(const AttentionHead& h, int64_t kb, int64_t bk, const float* qt, float* st, float* ot, float* mc, float* lc) {
    const int64_t dk = h.dk, kv = h.kv_len, dpanels = (h.dv + kP - 1) / kP;
    B bmax[NV];
    for (int v = 0; v < NV; ++v) bmax[v] = B(-std::numeric_limits<float>::infinity());
    for (int64_t j = 0; j < bk; j += kP) scores_tile<NV>(h.kt_panels + (kb + j) * dk, qt, dk, st + j * kTQ, std::min(kP, bk - j), bmax);
    // alpha = e^(m_old - m_new) is 0 on the first block (-inf clamps to exactly 0 in fast_exp).
    B mnew[NV], alpha[NV], sum[NV];
    for (int v = 0; v < NV; ++v) {
      const B mold = B::load_aligned(mc + v * W);
      mnew[v] = xsimd::max(mold, bmax[v]);
      alpha[v] = fast_exp(mold - mnew[v]);
      mnew[v].store_aligned(mc + v * W);
      sum[v] = B(0.0f);
    }
    for (int64_t r = 0; r < bk; ++r)
      for (int v = 0; v < NV; ++v) {
        const B e = fast_exp(B::load_aligned(st + r * kTQ + v * W) - mnew[v]);
        e.store_aligned(st + r * kTQ + v * W);
        sum[v] += e;
      }
    for (int v = 0; v < NV; ++v) fmadd(B::load_aligned(lc + v * W), alpha[v], sum[v]).store_aligned(lc + v * W);
    for (int64_t dp = 0; dp < dpanels; ++dp) values_tile<NV>(h.vt_panels + dp * kP * kv + kb * kP, st, bk, ot + dp * kP * kTQ, alpha, kb == 0);
  }

  using ChunkStep = void (*)(const AttentionHead&, int64_t, int64_t, const float*, float*, float*, float*, float*);
  template <size_t... I>
  static constexpr std::array<ChunkStep, sizeof...(I)> chunk_steps(std::index_sequence<I...>) {
    return {&chunk_step<static_cast<int>(I) + 1>...};
  }

  static bool rows_transposed(const AttentionHead& h, int64_t q0, int64_t q1, AttentionScratch& sc) {
    constexpr int64_t BK = kAttnTransposedKeyBlock, kAlign = 16;
    static constexpr std::array<ChunkStep, kTV> steps = chunk_steps(std::make_index_sequence<kTV>());
    const int64_t bq = q1 - q0, chunks = (bq + kTQ - 1) / kTQ, dk = h.dk, dv = h.dv, kv = h.kv_len;
    const int64_t qt_floats = dk * kTQ, ot_floats = (dv + kP - 1) / kP * kP * kTQ;
    sc.qa.resize(chunks * qt_floats + kAlign);
    sc.o.resize(chunks * ot_floats + kAlign);
    sc.s.resize(BK * kTQ + kAlign);
    sc.m.resize(2 * chunks * kTQ + kAlign);
    float* qt = aligned(sc.qa.data());
    float* ot = aligned(sc.o.data());
    float* st = aligned(sc.s.data());
    float* m = aligned(sc.m.data());
    float* l = m + chunks * kTQ;
    // Qᵀ per chunk, zeros for the lanes past q1 (computed, never stored).
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t j = 0; j < kTQ; ++j) {
        const int64_t q = q0 + c * kTQ + j;
        float* col = qt + c * qt_floats + j;
        const float* row = q < q1 ? h.q + q * h.q_stride : nullptr;
        for (int64_t p = 0; p < dk; ++p) col[p * kTQ] = row ? row[p] : 0.0f;
      }
    std::fill(m, m + chunks * kTQ, -std::numeric_limits<float>::infinity());
    std::fill(l, l + chunks * kTQ, 0.0f);
    for (int64_t kb = 0; kb < kv; kb += BK)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t vectors = std::min<int64_t>(kTV, (bq - c * kTQ + W - 1) / W);
        steps[vectors - 1](h, kb, std::min(BK, kv - kb), qt + c * qt_floats, st, ot + c * ot_floats, m + c * kTQ, l + c * kTQ);
      }
    for (int64_t q = q0; q < q1; ++q) {
      const float mq = m[q - q0], lq = l[q - q0];
      if (!std::isfinite(mq) || !std::isfinite(lq) || !(lq > 0.0f)) return false;
    }
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c = (q - q0) / kTQ, j = (q - q0) % kTQ;
      const float* col = ot + c * ot_floats + j;
      const float inv = 1.0f / l[q - q0];
      float* y = h.y + q * h.y_stride;
      for (int64_t d = 0; d < dv; ++d) y[d] = col[d * kTQ] * inv;
    }
    return true;
  }

  static const AttentionPrimitives& table(Isa isa) {
    static const AttentionPrimitives t{isa, scale, softcap, add, add_constant, replace, max, exp_sum, scale_add, rows_transposed};
    return t;
  }
};

}  // namespace normrt::kernels::simd
