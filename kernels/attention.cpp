#include "kernels/attention.h"

#include <algorithm>
#include <cstring>

namespace normrt::kernels {

#if defined(__x86_64__)
const AttentionPrimitives& attention_primitives_avx2();
const AttentionPrimitives& attention_primitives_avx512();
#elif defined(__aarch64__)
const AttentionPrimitives& attention_primitives_neon();
#endif

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The portable row operations: the same contract as attention_simd.h, one value at a time.
void scale_scalar(float* s, int64_t n, float a) {
  for (int64_t j = 0; j < n; ++j) s[j] *= a;
}
void softcap_scalar(float* s, int64_t n, float cap) {
  for (int64_t j = 0; j < n; ++j) s[j] = cap * std::tanh(s[j] / cap);
}
void add_scalar(float* s, const float* b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) s[j] += b[j];
}
void add_constant_scalar(float* s, float c, int64_t n) {
  for (int64_t j = 0; j < n; ++j) s[j] += c;
}
void replace_scalar(float* s, const float* b, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    if (b[j] != 0.0f) s[j] = b[j];
}
float max_scalar(const float* s, int64_t n) {
  float m = kNegInf;
  for (int64_t j = 0; j < n; ++j) {
    if (std::isnan(s[j])) return s[j];
    m = std::max(m, s[j]);
  }
  return m;
}
float exp_sum_scalar(float* s, int64_t n, float m) {
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - m));
  return sum;
}
void scale_add_scalar(float* o, const float* t, int64_t n, float alpha) {
  for (int64_t j = 0; j < n; ++j) o[j] = o[j] * alpha + t[j];
}

}  // namespace

const AttentionPrimitives& attention_primitives(Isa isa) {
  switch (checked_isa(isa)) {
#if defined(__x86_64__)
    case Isa::Avx512: return attention_primitives_avx512();
    case Isa::Avx2: return attention_primitives_avx2();
#elif defined(__aarch64__)
    case Isa::Neon: return attention_primitives_neon();
#endif
    default: {
      static const AttentionPrimitives t{Isa::Scalar,   scale_scalar,     softcap_scalar, add_scalar, add_constant_scalar, replace_scalar,
                                         max_scalar,    exp_sum_scalar,   scale_add_scalar, nullptr};
      return t;
    }
  }
}

namespace {

// End of the keys query i may see: keys [0, visible_end(i)) minus whatever the bias masks.
int64_t visible_end(const AttentionHead& h, int64_t i) {
  int64_t end = std::min(h.kv_len, h.kv_valid);
  if (h.causal) end = std::min(end, i + h.causal_offset + 1);
  return std::max<int64_t>(end, 0);
}

void copy_scores(const AttentionHead& h, int64_t i, int64_t kb, const float* s, int64_t n) {
  std::memcpy(h.scores + i * h.scores_stride + kb, s, n * sizeof(float));
}

}  // namespace

bool attention_is_plain(const AttentionHead& h) {
  return h.bias == nullptr && !h.causal && h.kv_valid >= h.kv_len && h.softcap == 0 && h.scores == nullptr && h.dk > 0 && h.dv > 0 &&
         h.kv_len > 0;
}

size_t attention_keys_t_floats(int64_t kv_len, int64_t dk) {
  constexpr int64_t P = kAttnTransposedPanel;
  return static_cast<size_t>((kv_len + P - 1) / P * P * dk);
}
size_t attention_values_t_floats(int64_t kv_len, int64_t dv) {
  constexpr int64_t P = kAttnTransposedPanel;
  return static_cast<size_t>((dv + P - 1) / P * P * kv_len);
}

// Panel j holds keys [4j, 4j + 4) (zeros past kv_len), step p of the depth at out[(j dk + p) 4 + i].
void pack_attention_keys_t(const float* k, int64_t k_stride, int64_t kv_len, int64_t dk, float scale, float* out) {
  constexpr int64_t P = kAttnTransposedPanel;
  for (int64_t j0 = 0; j0 < kv_len; j0 += P, out += P * dk)
    for (int64_t i = 0; i < P; ++i) {
      const float* row = j0 + i < kv_len ? k + (j0 + i) * k_stride : nullptr;
      for (int64_t p = 0; p < dk; ++p) out[p * P + i] = row ? row[p] * scale : 0.0f;
    }
}

// Panel j holds values [4j, 4j + 4) of every key (zeros past dv), key r at out[(j kv_len + r) 4 + i].
void pack_attention_values_t(const float* v, int64_t v_stride, int64_t kv_len, int64_t dv, float* out) {
  constexpr int64_t P = kAttnTransposedPanel;
  for (int64_t c0 = 0; c0 < dv; c0 += P, out += P * kv_len)
    for (int64_t r = 0; r < kv_len; ++r)
      for (int64_t i = 0; i < P; ++i) out[r * P + i] = c0 + i < dv ? v[r * v_stride + c0 + i] : 0.0f;
}

void attention_rows(const GemmPrimitives& gemm, const AttentionPrimitives& prim, const AttentionHead& h, int64_t q0, int64_t q1,
                    AttentionScratch& sc) {
  if (h.kt_panels && h.vt_panels && prim.rows_transposed && attention_is_plain(h) && prim.rows_transposed(h, q0, q1, sc)) return;
  // The general loop, also for a query block the transposed loop gave back (a score, maximum or
  // sum not finite): it reads K and V in place unless they were packed for it too.
  constexpr int64_t BQ = kAttnQueryBlock, BK = kAttnKeyBlock;
  const int64_t dv = h.dv;
  const bool packed = h.k_packed && h.v_packed;
  const int64_t k_depth_blocks = (h.dk + BK - 1) / BK, qa_block = packed_a_floats(gemm, BQ, BK);
  if (packed) {
    sc.qa.resize(std::max<int64_t>(k_depth_blocks, 1) * qa_block);
  }
  sc.s.resize(BQ * BK);
  sc.o.resize(BQ * std::max<int64_t>(dv, 1));
  if (!packed) sc.pv.resize(BQ * std::max<int64_t>(dv, 1));
  sc.m.resize(BQ);
  sc.l.resize(3 * BQ);  // l, the per-row rescale factor of the current key block, and its row sum
  float* S = sc.s.data();
  float* O = sc.o.data();
  float* PV = sc.pv.data();
  float* M = sc.m.data();
  float* L = sc.l.data();
  float* alpha = L + BQ;
  float* block_sum = L + 2 * BQ;
  const bool want_scores = h.scores != nullptr;

  for (int64_t qb = q0; qb < q1; qb += BQ) {
    const int64_t bq = std::min(BQ, q1 - qb);
    // Later queries see at least as many keys (the causal frontier only moves right), so the last
    // row bounds the key blocks this query block needs. The scores output needs every block.
    const bool masks_remove = std::isinf(h.mask_fill) && h.mask_fill < 0;
    const int64_t kv_end = want_scores || !masks_remove ? h.kv_len : visible_end(h, qb + bq - 1);
    std::fill(M, M + bq, kNegInf);
    std::fill(L, L + bq, 0.0f);
    // The packed path's first P V product writes O (no accumulate), so only the other path, and a
    // query block that sees no key block at all, need O zeroed.
    if (!packed || kv_end == 0) std::fill(O, O + bq * dv, 0.0f);
    if (packed)  // the query block, packed once for every key block
      for (int64_t pb = 0; pb < k_depth_blocks; ++pb)
        pack_a_block(gemm, MatrixView::row_major(h.q + qb * h.q_stride + pb * BK, h.q_stride), bq,
                     std::min(BK, h.dk - pb * BK), sc.qa.data() + pb * qa_block);
    for (int64_t kb = 0; kb < kv_end; kb += BK) {
      const int64_t bk = std::min(BK, kv_end - kb);
      if (packed) {
        for (int64_t pb = 0; pb < k_depth_blocks; ++pb)
          sgemm_packed_a(gemm, sc.qa.data() + pb * qa_block, bq, *h.k_packed, pb, kb, kb + bk, S, BK, pb > 0);
        if (h.dk == 0)
          for (int64_t r = 0; r < bq; ++r) std::fill(S + r * BK, S + r * BK + bk, 0.0f);
      } else {
        sgemm_rows(gemm, bk, h.dk, MatrixView::row_major(h.q + qb * h.q_stride, h.q_stride),
                   MatrixView::transposed(h.k + kb * h.k_stride, h.k_stride), S, BK, 0, bq);
      }
      for (int64_t r = 0; r < bq; ++r) {
        const int64_t i = qb + r;
        float* s = S + r * BK;
        if (!(packed && h.k_packed_scaled)) prim.scale(s, bk, h.scale);
        if (want_scores && h.stage == ScoreStage::Scaled) copy_scores(h, i, kb, s, bk);
        if (h.softcap > 0) prim.softcap(s, bk, h.softcap);
        if (want_scores && h.stage == ScoreStage::Softcapped) copy_scores(h, i, kb, s, bk);
        if (h.bias) {
          const int64_t cols = std::clamp<int64_t>(h.bias_cols - kb, 0, bk);
          (h.bias_replaces ? prim.replace : prim.add)(s, h.bias + i * h.bias_stride + kb, cols);
          std::fill(s + cols, s + bk, kNegInf);
        }
        const int64_t vis = visible_end(h, i) - kb;
        if (vis < bk) {
          float* masked = s + std::max<int64_t>(vis, 0);
          if (masks_remove) std::fill(masked, s + bk, kNegInf);
          else prim.add_constant(masked, h.mask_fill, s + bk - masked);
        }
        if (want_scores && h.stage >= ScoreStage::Masked) copy_scores(h, i, kb, s, bk);

        // Online softmax. NaN sticks in m (and so in l and the output). alpha holds m_old - m_new
        // here; one vector exp below turns every row's into e^(m_old - m_new).
        const float m_old = M[r], m_blk = prim.max(s, bk);
        const float m_new = std::isnan(m_old) || std::isnan(m_blk) ? std::numeric_limits<float>::quiet_NaN() : std::max(m_old, m_blk);
        if (m_new == kNegInf) {  // nothing visible yet: P = 0, O and l unchanged
          std::fill(s, s + bk, 0.0f);
          alpha[r] = 0.0f;  // e^0 = 1
          block_sum[r] = 0.0f;
          continue;
        }
        alpha[r] = m_old == kNegInf ? kNegInf : m_old - m_new;  // e^-inf = 0: no earlier block counted
        block_sum[r] = prim.exp_sum(s, bk, m_new);
        M[r] = m_new;
      }
      prim.exp_sum(alpha, bq, 0.0f);
      for (int64_t r = 0; r < bq; ++r) L[r] = L[r] * alpha[r] + block_sum[r];
      if (dv > 0 && packed) {
        // O = O * alpha + P V, accumulated in place by the microkernel. The packed V block is as deep
        // as the whole key block; P is zero past the keys this query block computed.
        const int64_t kc = std::min(BK, h.kv_len - kb);
        for (int64_t r = 0; r < bq; ++r) {
          if (kb > 0 && alpha[r] != 1.0f) prim.scale(O + r * dv, dv, alpha[r]);
          if (kc > bk) std::fill(S + r * BK + bk, S + r * BK + kc, 0.0f);
        }
        sgemm_inplace_a(gemm, S, BK, bq, *h.v_packed, kb / BK, 0, dv, O, dv, kb > 0);
      } else if (dv > 0) {
        sgemm_rows(gemm, dv, bk, MatrixView::row_major(S, BK), MatrixView::row_major(h.v + kb * h.v_stride, h.v_stride), PV, dv, 0,
                   bq);
        for (int64_t r = 0; r < bq; ++r) prim.scale_add(O + r * dv, PV + r * dv, dv, alpha[r]);
      }
    }
    for (int64_t r = 0; r < bq; ++r) {
      float* y = h.y + (qb + r) * h.y_stride;
      if (L[r] == 0.0f) {  // fully masked row
        std::fill(y, y + dv, 0.0f);
      } else if (dv > 0) {  // with no values y may be null (an empty float16 output's float buffer)
        std::memcpy(y, O + r * dv, dv * sizeof(float));
        prim.scale(y, dv, 1.0f / L[r]);
      }
      if (want_scores && h.stage == ScoreStage::Softmax) {
        float* p = h.scores + (qb + r) * h.scores_stride;
        if (L[r] == 0.0f) {
          std::fill(p, p + h.kv_len, 0.0f);
        } else {
          prim.exp_sum(p, h.kv_len, M[r]);
          prim.scale(p, h.kv_len, 1.0f / L[r]);
        }
      }
    }
  }
}

bool is_causal_mask(const bool* mask, bool keep, int64_t q_len, int64_t kv_len) {
  for (int64_t i = 0; i < q_len; ++i) {
    const bool* row = mask + i * kv_len;
    const int64_t seen = std::clamp<int64_t>(i + kv_len - q_len + 1, 0, kv_len);
    for (int64_t j = 0; j < seen; ++j)
      if (row[j] != keep) return false;
    for (int64_t j = seen; j < kv_len; ++j)
      if (row[j] == keep) return false;
  }
  return true;
}

void attention_reference(const AttentionHead& h, std::vector<double>& y_out) {
  y_out.assign(h.q_len * h.dv, 0.0);
  std::vector<double> s(h.kv_len);
  for (int64_t i = 0; i < h.q_len; ++i) {
    double m = -INFINITY;
    for (int64_t j = 0; j < h.kv_len; ++j) {
      double d = 0;
      for (int64_t c = 0; c < h.dk; ++c) d += double(h.q[i * h.q_stride + c]) * double(h.k[j * h.k_stride + c]);
      d *= h.scale;
      if (h.softcap > 0) d = h.softcap * std::tanh(d / h.softcap);
      if (h.bias) {
        const double b = j < h.bias_cols ? double(h.bias[i * h.bias_stride + j]) : -INFINITY;
        d = h.bias_replaces ? (b != 0 ? b : d) : d + b;
      }
      if (j >= h.kv_valid || (h.causal && j > i + h.causal_offset)) d = std::isinf(h.mask_fill) ? -INFINITY : d + h.mask_fill;
      s[j] = d;
      m = std::max(m, d);
    }
    if (m == -INFINITY) continue;  // fully masked: zeros
    double l = 0;
    for (int64_t j = 0; j < h.kv_len; ++j) l += (s[j] = std::exp(s[j] - m));
    for (int64_t j = 0; j < h.kv_len; ++j)
      for (int64_t c = 0; c < h.dv; ++c) y_out[i * h.dv + c] += s[j] / l * double(h.v[j * h.v_stride + c]);
  }
}

}  // namespace normrt::kernels
