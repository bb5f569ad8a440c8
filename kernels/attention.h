// Scaled dot-product attention for one (batch, head) at a time, tiled the flash-attention way:
//   for each block of kAttnQueryBlock queries:
//     for each block of kAttnKeyBlock keys the block can see:
//       S = Q_blk K_blkᵀ (sgemm), then per row: scale, softcap, + bias, masks -> -inf;
//       online softmax: m' = max(m, rowmax S), P = exp(S - m'), l = l e^(m - m') + rowsum P,
//       O = O e^(m - m') + P V_blk (sgemm);
//     Y = O / l.
// Memory is the S tile and the O accumulator of one query block, whatever the sequence length;
// with a causal mask, key blocks wholly above the diagonal are never computed.
// A row whose every score is -inf (fully masked) gives zeros, as ONNX's Attention requires; NaN in
// a row's scores makes that row NaN.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/isa.h"

namespace normrt::kernels {

struct AttentionHead;
struct AttentionScratch;

// Row operations of the attention loop, one table per ISA (attention_simd.h).
struct AttentionPrimitives {
  Isa isa;
  void (*scale)(float* s, int64_t n, float a);                         // s *= a
  void (*softcap)(float* s, int64_t n, float cap);                     // s = cap * tanh(s / cap)
  void (*add)(float* s, const float* b, int64_t n);                    // s += b
  void (*add_constant)(float* s, float c, int64_t n);                  // s += c
  void (*replace)(float* s, const float* b, int64_t n);                // s = b where b != 0
  float (*max)(const float* s, int64_t n);                             // NaN if any is NaN; -inf for n == 0
  float (*exp_sum)(float* s, int64_t n, float m);                      // s = exp(s - m); returns the sum
  void (*scale_add)(float* o, const float* t, int64_t n, float alpha); // o = o * alpha + t
  // The transposed loop of a plain head (see kAttnTransposedKeyBlock) for queries [q0, q1);
  // false when a score, a row maximum or a row sum is not finite, and then Y is left for the
  // general loop to write. Null where the ISA has no such loop (the scalar path).
  bool (*rows_transposed)(const AttentionHead& h, int64_t q0, int64_t q1, AttentionScratch& scratch);
};
const AttentionPrimitives& attention_primitives(Isa isa);

// 96 query rows: 16 whole tiles of the 6-row AVX-512/AVX2 microkernel (64 left a 4-row tile, and
// re-read each key block's packed K and V for fewer rows); 2-3.6% faster than 64 at sequence 512
// and 2048, the same at 128 (paired runs in one process).
constexpr int64_t kAttnQueryBlock = 96;
constexpr int64_t kAttnKeyBlock = 256;

// Which stage of the scores the optional scores output holds (ONNX qk_matmul_output_mode).
enum class ScoreStage { Scaled = 0, Softcapped = 1, Masked = 2, Softmax = 3 };

// One head. Row i of Q is at q + i * q_stride (dk values), and likewise K, V (dv values) and Y.
struct AttentionHead {
  int64_t q_len = 0, kv_len = 0, dk = 0, dv = 0;
  const float* q = nullptr;
  int64_t q_stride = 0;
  const float* k = nullptr;
  int64_t k_stride = 0;
  const float* v = nullptr;
  int64_t v_stride = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
  float scale = 1.0f;
  float softcap = 0.0f;  // 0: none
  // Additive bias: score (i, j) gets bias[i * bias_stride + j] for j < bias_cols and -inf for
  // j >= bias_cols (ONNX pads a short mask with -inf). bias_stride 0 broadcasts one row.
  const float* bias = nullptr;
  int64_t bias_stride = 0, bias_cols = 0;
  // The bias replaces the scores where it is nonzero instead of adding to them: a Where mask
  // (0 keeps the score, the fill replaces it), so a NaN or inf score at a masked key stays hidden
  // exactly as the graph's Where hides it.
  bool bias_replaces = false;
  // Query i sees key j only if j <= i + causal_offset (when causal) and j < kv_valid.
  bool causal = false;
  int64_t causal_offset = 0;
  int64_t kv_valid = std::numeric_limits<int64_t>::max();
  // What the causal and kv_valid masks do to a score: -inf removes it (ONNX); a finite value is
  // added to it (ONNX Runtime's mask_filter_value, -10000). With a finite value every key block is
  // computed, since masked keys still take part in the softmax.
  float mask_fill = -std::numeric_limits<float>::infinity();
  // K and V packed for the GEMM microkernel (optional; attention_rows reads k and v otherwise):
  // k_packed holds Kᵀ (depth dk, kv_len columns), v_packed holds V (depth kv_len, dv columns).
  // Worth it when several query blocks share the head: each key block is then packed once.
  const PackedB* k_packed = nullptr;
  const PackedB* v_packed = nullptr;
  // k_packed holds scale * Kᵀ: the scores come out scaled, and the pass that scales them is skipped.
  bool k_packed_scaled = false;
  // K and V packed for the transposed loop (pack_attention_keys_t / pack_attention_values_t), for a
  // plain head (attention_is_plain). When set, attention_rows takes that loop.
  const float* kt_panels = nullptr;
  const float* vt_panels = nullptr;
  // Optional [q_len, kv_len] scores output (row stride scores_stride) at the given stage.
  float* scores = nullptr;
  int64_t scores_stride = 0;
  ScoreStage stage = ScoreStage::Scaled;
};

// Scratch of one thread: the S tile, the O accumulator and the P V product of one query block,
// and the packed Q block of the packed path (the transposed loop keeps Sᵀ, Oᵀ and Qᵀ in them).
struct AttentionScratch {
  std::vector<float> s, o, pv, m, l;
  std::vector<float> qa;
};

// Packs K and V of one head for AttentionHead::k_packed / v_packed (into `storage` when given:
// attention_keys_floats / attention_values_floats floats, 64-byte aligned). Both are packed in depth
// blocks of kAttnKeyBlock, whatever the GEMM's own depth block: a block of keys is then exactly one
// depth block of V, and the query block is packed in the same blocks of the head dimension.
inline PackedB pack_attention_keys(const GemmPrimitives& g, const float* k, int64_t k_stride, int64_t kv_len, int64_t dk,
                                   float* storage = nullptr) {
  return PackedB(g, dk, kv_len, MatrixView::transposed(k, k_stride), storage, kAttnKeyBlock);
}
inline PackedB pack_attention_values(const GemmPrimitives& g, const float* v, int64_t v_stride, int64_t kv_len, int64_t dv,
                                     float* storage = nullptr) {
  return PackedB(g, kv_len, dv, MatrixView::row_major(v, v_stride), storage, kAttnKeyBlock);
}
inline size_t attention_keys_floats(const GemmPrimitives& g, int64_t kv_len, int64_t dk) {
  return PackedB::floats_needed(g, dk, kv_len, kAttnKeyBlock);
}
inline size_t attention_values_floats(const GemmPrimitives& g, int64_t kv_len, int64_t dv) {
  return PackedB::floats_needed(g, kv_len, dv, kAttnKeyBlock);
}

// The transposed loop, for a plain head: softmax(scale Q Kᵀ) V with no mask, bias, softcap or
// scores output. It computes Sᵀ = K Qᵀ, keys down and queries across, a block of
// kAttnTransposedKeyBlock keys at a time:
//   - the softmax runs down the columns, so each query's running maximum and sum are vector lanes
//     (no horizontal reduction per row), and the block maximum is taken from the registers of
//     the tile that computed the scores (no pass of its own);
//   - Oᵀ = Vᵀ Pᵀ has the head dimension as its rows, in tiles of 4, so a head size of 40 (Stable
//     Diffusion's, and the UNet block's) fills every lane, where P V wastes the 8 columns past its
//     32 (40 of 48 lanes).
// K is packed in panels of 4 keys (depth dk, scale folded in), V in panels of 4 of its dv values
// (depth kv_len), once per head; Y = (Oᵀ)ᵀ / l. Any score, maximum or sum that is not finite
// (NaN or inf in Q, K or V) sends the query block to the general loop, so every such case gives
// exactly its result.
constexpr int64_t kAttnTransposedKeyBlock = 128;
constexpr int64_t kAttnTransposedPanel = 4;
bool attention_is_plain(const AttentionHead& h);
size_t attention_keys_t_floats(int64_t kv_len, int64_t dk);
size_t attention_values_t_floats(int64_t kv_len, int64_t dv);
void pack_attention_keys_t(const float* k, int64_t k_stride, int64_t kv_len, int64_t dk, float scale, float* out);
void pack_attention_values_t(const float* v, int64_t v_stride, int64_t kv_len, int64_t dv, float* out);

// True when the bool mask [q_len, kv_len] (row-major) holds `keep` exactly at the keys
// j <= i + (kv_len - q_len) of each query i: the causal mask, aligned to the last key.
bool is_causal_mask(const bool* mask, bool keep, int64_t q_len, int64_t kv_len);

// Queries [q0, q1) of one head (a caller splits heads and query blocks across threads).
void attention_rows(const GemmPrimitives& gemm, const AttentionPrimitives& prim, const AttentionHead& h, int64_t q0, int64_t q1,
                    AttentionScratch& scratch);

// The float64 reference: scores materialized, plain softmax. Used by the tests.
void attention_reference(const AttentionHead& h, std::vector<double>& y_out);

}  // namespace normrt::kernels
