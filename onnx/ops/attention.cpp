// ONNX Attention (opset 23; 24 adds nonpad_kv_seqlen) on the tiled kernel of kernels/attention.h.
//   Y = softmax(softcap(Q Kᵀ * scale) + mask) V per (batch, query head), where K and V are
//   past ++ new keys/values, query head h reads key/value head h / (q_heads / kv_heads) (GQA/MQA),
//   and the mask combines attn_mask (bool: false masks; float: added; a short last dim is padded
//   with -inf), is_causal (query i sees keys j <= i + offset, the offset being the past length, or
//   nonpad_kv_seqlen[b] - q_len for an external cache) and nonpad_kv_seqlen (keys j >= it masked).
// Inputs are 4-D [B, heads, seq, head_size] or 3-D [B, seq, heads * head_size]; the kernel reads
// either layout in place through row strides. Fully masked rows give zeros. float32, float16 and
// bfloat16 (computed in float32, which also covers every softmax_precision below float64).
// A bool mask that is exactly the causal pattern (one for every batch and head, as GPT-2-style
// exports build it) runs as is_causal: key blocks above the diagonal are skipped, not computed.
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

#include "kernels/attention.h"
#include "onnx/op_registry.h"
#include "runtime/passes.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

constexpr std::initializer_list<DType> kAttentionTypes = {DType::Float32, DType::Float16, DType::BFloat16};

// Where the rows of one head live: 4-D [B, heads, seq, d] (BNSH), 3-D [B, seq, heads * d] (BSNH)
// and packed layouts are all a base pointer and three steps.
struct HeadLayout {
  const float* base = nullptr;
  int64_t batch_step = 0, head_step = 0, row_stride = 0;
  int64_t offset(int64_t b, int64_t h) const { return b * batch_step + h * head_step; }
  const float* head(int64_t b, int64_t h) const { return base + offset(b, h); }
  static HeadLayout bnsh(const float* p, int64_t heads, int64_t seq, int64_t d) { return {p, heads * seq * d, seq * d, d}; }
  static HeadLayout bsnh(const float* p, int64_t heads, int64_t seq, int64_t d) { return {p, seq * heads * d, d, heads * d}; }
  static HeadLayout of(const float* p, bool heads_first, int64_t heads, int64_t seq, int64_t d) {
    return heads_first ? bnsh(p, heads, seq, d) : bsnh(p, heads, seq, d);
  }
};

// The shape of a 4-D operand the attention pass left as [B, S, heads, D] (its Transpose dropped),
// given as [B, heads, S, D]; any other shape as it is. For Shape and SymShape.
template <class S>
S heads_first(S shape, bool bsnh) {
  if (bsnh && shape.size() == 4) std::swap(shape[1], shape[2]);
  return shape;
}

// dst[b, h] = past[b, h] ++ now[b, h]: the [B, heads, past_len + len, d] key or value cache.
HeadLayout concat_past(const HeadLayout& now, int64_t len, const float* past, int64_t past_len, int64_t batch, int64_t heads,
                       int64_t d, float* dst) {
  const int64_t total = past_len + len;
  if (d == 0) return HeadLayout::bnsh(dst, heads, total, d);  // nothing to copy; dst may be null (no floats)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      float* out = dst + (b * heads + h) * total * d;
      if (past_len) std::memcpy(out, past + (b * heads + h) * past_len * d, past_len * d * sizeof(float));
      const float* src = now.head(b, h);
      for (int64_t s = 0; s < len; ++s) std::memcpy(out + (past_len + s) * d, src + s * now.row_stride, d * sizeof(float));
    }
  return HeadLayout::bnsh(dst, heads, total, d);
}

// Query sequences at least this long get K and V packed once per head for the GEMM microkernel
// (every query block then reuses them); shorter ones (decoding) read K and V in place.
constexpr int64_t kPackMinQueries = 16;
// Query blocks are cut in whole granules of this many queries (see run_attention's task loop).
constexpr int64_t kQueryGranule = 16;

// Runs the kernel over every (batch, query head, query block) task. Query head h reads key/value
// head h / (heads / kv_heads).
template <class MakeHead>
void run_heads(const ComputeContext& ctx, int64_t batch, int64_t heads, int64_t kv_heads, int64_t q_len, int64_t total, int64_t dk,
               int64_t dv, MakeHead&& make_head) {
  // No batch entries, query heads or queries: an empty output, nothing to attend. (Q with 0 heads
  // passes infer()'s multiple-of-kv-heads check, which runs on every run's shapes; its group of 0
  // query heads per key/value head was a division by zero, found by fuzz_model_load.)
  if (batch == 0 || heads == 0 || q_len == 0) return;
  const kernels::GemmPrimitives& gemm = kernels::gemm_primitives(ctx.isa);
  const kernels::AttentionPrimitives& prim = kernels::attention_primitives(ctx.isa);
  const int64_t group = heads / kv_heads;
  std::vector<std::optional<kernels::PackedB>> packed_k, packed_v;
  std::vector<const float*> kt_panels, vt_panels;
  // A plain head (no mask of any kind, softcap or scores output) takes the transposed loop where
  // the ISA has one, with K and V packed for it; other heads of long enough query sequences get
  // them packed for the GEMM microkernel; the rest read them in place.
  bool transposed = q_len >= kPackMinQueries && prim.rows_transposed != nullptr;
  for (int64_t b = 0; b < batch && transposed; ++b) transposed = kernels::attention_is_plain(make_head(b, 0));
  const bool pack = transposed || (q_len >= kPackMinQueries && total > 0 && dk > 0 && dv > 0);
  std::shared_ptr<void> workspace;  // from the tensor block cache, so repeated runs reuse it instead of faulting in new pages
  if (pack) {
    // Per head, rounded up to whole 64-byte lines so every head's panels stay aligned.
    auto lines = [](size_t floats) { return static_cast<int64_t>((floats + 15) / 16 * 16); };
    const int64_t k_floats = lines(transposed ? kernels::attention_keys_t_floats(total, dk) : kernels::attention_keys_floats(gemm, total, dk));
    const int64_t v_floats =
        lines(transposed ? kernels::attention_values_t_floats(total, dv) : kernels::attention_values_floats(gemm, total, dv));
    workspace = allocate_aligned(checked_bytes(DType::Float32, checked_numel({batch * kv_heads, k_floats + v_floats}, "attention workspace"),
                                               "attention workspace"));
    float* ws = static_cast<float*>(workspace.get());
    if (transposed) kt_panels.resize(batch * kv_heads), vt_panels.resize(batch * kv_heads);
    else packed_k.resize(batch * kv_heads), packed_v.resize(batch * kv_heads);
    ctx.parallel.for_range(batch * kv_heads, rows_grain(total * (dk + dv)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const kernels::AttentionHead a = make_head(i / kv_heads, (i % kv_heads) * group);
        float* k_ws = ws + i * (k_floats + v_floats);
        float* v_ws = k_ws + k_floats;
        if (transposed) {
          kernels::pack_attention_keys_t(a.k, a.k_stride, total, dk, a.scale, k_ws);
          kernels::pack_attention_values_t(a.v, a.v_stride, total, dv, v_ws);
          kt_panels[i] = k_ws, vt_panels[i] = v_ws;
        } else {
          packed_k[i].emplace(kernels::pack_attention_keys(gemm, a.k, a.k_stride, total, dk, k_ws));
          // Fold the scale into the packed keys (once per head) instead of scaling every score.
          prim.scale(k_ws, static_cast<int64_t>(kernels::attention_keys_floats(gemm, total, dk)), a.scale);
          packed_v[i].emplace(kernels::pack_attention_values(gemm, a.v, a.v_stride, total, dv, v_ws));
        }
      }
    });
  }
  // Query blocks of at most kAttnQueryBlock queries, of equal sizes in whole granules of 16 (a
  // whole number of vectors of queries on every ISA's transposed loop): ViT's 197 queries go as 64,
  // 64 and 69, not 96, 96 and 5, whose last block ran every key block for one vector of queries
  // (on AVX-512 a tile a sixth as wide, its FMA chains waiting on their latency). Attention alone
  // on [1,12,197,64], paired runs at 1 thread: 1.029x (400 rounds); whole models within noise.
  const int64_t q_blocks = (q_len + kernels::kAttnQueryBlock - 1) / kernels::kAttnQueryBlock;
  const int64_t granules = (q_len + kQueryGranule - 1) / kQueryGranule;
  auto block_start = [&](int64_t qb) { return std::min(q_len, qb * granules / q_blocks * kQueryGranule); };
  const int64_t tasks = batch * heads * q_blocks;
  const int64_t task_work = std::min(q_len, kernels::kAttnQueryBlock) * std::max<int64_t>(total, 1) * (dk + dv);
  ctx.parallel.for_range(tasks, rows_grain(task_work), [&](int64_t t0, int64_t t1) {
    thread_local kernels::AttentionScratch scratch;  // bounded (one query block), reused across runs
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / q_blocks, qb = t % q_blocks, b = bh / heads, h = bh % heads;
      kernels::AttentionHead a = make_head(b, h);
      if (!kt_panels.empty()) {
        a.kt_panels = kt_panels[b * kv_heads + h / group];
        a.vt_panels = vt_panels[b * kv_heads + h / group];
      } else if (!packed_k.empty()) {
        a.k_packed_scaled = true;
        a.k_packed = &*packed_k[b * kv_heads + h / group];
        a.v_packed = &*packed_v[b * kv_heads + h / group];
      }
      kernels::attention_rows(gemm, prim, a, block_start(qb), block_start(qb + 1), scratch);
    }
  });
}

Dim dim_times(const Dim& d, int64_t k) { return d.known() ? Dim::of(d.value * k) : Dim(); }
Dim dim_div(const Dim& d, int64_t k) { return d.known() && k > 0 ? Dim::of(d.value / k) : Dim(); }
Dim dim_plus(const Dim& a, const Dim& b) { return a.known() && b.known() ? Dim::of(a.value + b.value) : Dim(); }

class Attention final : public OpKernel {
 public:
  // `internal`: the node the attention pass writes, which may also carry mask_fill (what a masked
  // score becomes; -inf for ONNX) and mask_keep_value (the bool that keeps a score; true for ONNX)
  // from the Where it replaced.
  Attention(const Node& n, int64_t opset, bool internal = false)
      : opset_(opset),
        internal_(internal),
        mask_fill_(internal ? n.attr_float("mask_fill", -std::numeric_limits<float>::infinity()) : -std::numeric_limits<float>::infinity()),
        mask_keep_(internal ? n.attr_int("mask_keep_value", 1) != 0 : true),
        q_bsnh_(internal && n.attr_int("q_bsnh", 0) != 0),
        k_bsnh_(internal && n.attr_int("k_bsnh", 0) != 0),
        v_bsnh_(internal && n.attr_int("v_bsnh", 0) != 0),
        y_bsnh_(internal && n.attr_int("y_bsnh", 0) != 0),
        causal_(n.attr_int("is_causal", 0) != 0),
        q_heads_(n.attr_int("q_num_heads", 0)),
        kv_heads_(n.attr_int("kv_num_heads", 0)),
        mode_(n.attr_int("qk_matmul_output_mode", 0)),
        scale_(n.attr_float("scale", std::nanf(""))),
        softcap_(n.attr_float("softcap", 0.0f)) {
    if (mode_ < 0 || mode_ > 3)
      fail(ErrorCode::InvalidModel, n.label() + ": qk_matmul_output_mode must be 0..3, got " + std::to_string(mode_));
    if (q_heads_ < 0 || kv_heads_ < 0) fail(ErrorCode::InvalidModel, n.label() + ": head counts must be positive");
    if (softcap_ < 0) fail(ErrorCode::InvalidModel, n.label() + ": softcap must be >= 0");
  }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kAttentionTypes);
    const ValueType &q = ctx.input(0), &k = ctx.input(1), &v = ctx.input(2);
    if (k.dtype != q.dtype || v.dtype != q.dtype) ctx.error("Q, K and V must have the same element type");
    if (ctx.has_input(3) && ctx.input(3).dtype != DType::Bool && ctx.input(3).dtype != q.dtype)
      ctx.error("attn_mask must be bool or the element type of Q");
    if (ctx.has_input(4) != ctx.has_input(5)) ctx.error("past_key and past_value must be given together");
    for (size_t i : {4, 5})
      if (ctx.has_input(i) && ctx.input(i).dtype != q.dtype) ctx.error("past_key / past_value must have the element type of Q");
    if (ctx.has_input(6)) {
      if (opset_ < 24) ctx.error("nonpad_kv_seqlen needs opset 24");
      if (ctx.input(6).dtype != DType::Int64) ctx.error("nonpad_kv_seqlen must be int64");
    }
    for (size_t o = 0; o < ctx.num_outputs(); ++o) ctx.output(o).dtype = q.dtype;
    if (!q.shape || !k.shape || !v.shape) return;
    const size_t rank = q.shape->size();
    if (rank != 3 && rank != 4) ctx.error("Q must be 3-D or 4-D, got " + sym_shape_to_string(*q.shape));
    if (k.shape->size() != rank || v.shape->size() != rank) ctx.error("Q, K and V must have the same rank");
    const SymShape sq = heads_first(*q.shape, q_bsnh_), sk = heads_first(*k.shape, k_bsnh_), sv = heads_first(*v.shape, v_bsnh_);
    Dim batch = sq[0], hq, hkv, q_len, kv_len, dk, dv;
    if (rank == 4) {
      hq = sq[1], q_len = sq[2], dk = sq[3], hkv = sk[1], kv_len = sk[2], dv = sv[3];
      if (q_heads_ && hq.known() && hq.value != q_heads_) ctx.error("q_num_heads disagrees with Q's shape");
      if (kv_heads_ && hkv.known() && hkv.value != kv_heads_) ctx.error("kv_num_heads disagrees with K's shape");
      if (sk[3].known() && dk.known() && sk[3].value != dk.value) ctx.error("Q and K head sizes differ");
    } else {
      if (q_heads_ <= 0 || kv_heads_ <= 0) ctx.error("3-D inputs need the q_num_heads and kv_num_heads attributes");
      hq = Dim::of(q_heads_), hkv = Dim::of(kv_heads_), q_len = sq[1], kv_len = sk[1];
      for (auto [d, heads, what] : {std::tuple{sq[2], q_heads_, "Q"}, {sk[2], kv_heads_, "K"}, {sv[2], kv_heads_, "V"}})
        if (d.known() && d.value % heads != 0) ctx.error(std::string(what) + "'s hidden size does not divide by its head count");
      dk = dim_div(sq[2], q_heads_), dv = dim_div(sv[2], kv_heads_);
      if (sk[2].known() && dk.known() && sk[2].value != dk.value * kv_heads_) ctx.error("Q and K head sizes differ");
    }
    if (hq.known() && hkv.known() && (hkv.value == 0 || hq.value % hkv.value != 0))
      ctx.error("q heads (" + std::to_string(hq.value) + ") must be a multiple of kv heads (" + std::to_string(hkv.value) + ")");
    Dim total = kv_len;
    if (ctx.has_input(4)) {
      const ValueType& pk = ctx.input(4);
      if (pk.shape && pk.shape->size() != 4) ctx.error("past_key must be 4-D [B, kv_heads, past, head_size]");
      if (pk.shape) total = dim_plus((*pk.shape)[2], kv_len);
    }
    ctx.output(0).shape = rank == 4 ? (y_bsnh_ ? SymShape{batch, q_len, hq, dv} : SymShape{batch, hq, q_len, dv})
                                    : SymShape{batch, q_len, hq.known() && dv.known() ? dim_times(dv, hq.value) : Dim()};
    if (ctx.num_outputs() > 1) ctx.output(1).shape = SymShape{batch, hkv, total, dk};
    if (ctx.num_outputs() > 2) ctx.output(2).shape = SymShape{batch, hkv, total, dv};
    if (ctx.num_outputs() > 3) ctx.output(3).shape = SymShape{batch, hq, q_len, total};
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &q = *ctx.inputs[0], &k = *ctx.inputs[1], &v = *ctx.inputs[2];
    const Tensor* mask = ctx.inputs.size() > 3 ? ctx.inputs[3] : nullptr;
    const Tensor* past_k = ctx.inputs.size() > 4 ? ctx.inputs[4] : nullptr;
    const Tensor* past_v = ctx.inputs.size() > 5 ? ctx.inputs[5] : nullptr;
    const Tensor* nonpad = ctx.inputs.size() > 6 ? ctx.inputs[6] : nullptr;
    const bool four_d = q.rank() == 4;
    const Shape sq = heads_first(q.shape(), q_bsnh_), sk = heads_first(k.shape(), k_bsnh_), sv = heads_first(v.shape(), v_bsnh_);
    const int64_t batch = sq[0];
    const int64_t hq = four_d ? sq[1] : q_heads_, hkv = four_d ? sk[1] : kv_heads_;
    const int64_t q_len = four_d ? sq[2] : sq[1], kv_len = four_d ? sk[2] : sk[1];
    const int64_t dk = four_d ? sq[3] : sq[2] / hq, dv = four_d ? sv[3] : sv[2] / hkv;
    const int64_t past = past_k ? past_k->shape()[2] : 0, total = past + kv_len;
    auto expect = [&](const Shape& have, const Shape& s, const char* what) {
      if (have != s) ctx.error(std::string(what) + " has shape " + shape_to_string(have) + ", expected " + shape_to_string(s));
    };
    expect(sk, four_d ? Shape{batch, hkv, kv_len, dk} : Shape{batch, kv_len, hkv * dk}, "K");
    expect(sv, four_d ? Shape{batch, hkv, kv_len, dv} : Shape{batch, kv_len, hkv * dv}, "V");
    if (past_k) {
      expect(past_k->shape(), {batch, hkv, past, dk}, "past_key");
      expect(past_v->shape(), {batch, hkv, past, dv}, "past_value");
    }

    FloatIn qf = float_in(&q), kf = float_in(&k), vf = float_in(&v);
    FloatOut y = float_out(ctx.outputs[0]);
    Tensor* out_k = ctx.outputs.size() > 1 ? ctx.outputs[1] : nullptr;
    Tensor* out_v = ctx.outputs.size() > 2 ? ctx.outputs[2] : nullptr;
    Tensor* out_scores = ctx.outputs.size() > 3 ? ctx.outputs[3] : nullptr;

    // Keys and values the heads attend over. With a past, or when present_* is asked for, they are
    // laid out as [B, kv_heads, total, head_size] (in the output itself when it is float32).
    FloatOut present_k, present_v;
    std::vector<float> concat_k, concat_v;
    auto assemble = [&](const FloatIn& now, const Tensor* past_t, Tensor* out, FloatOut& present, std::vector<float>& own,
                        int64_t d, bool bsnh) {
      const HeadLayout layout = HeadLayout::of(now.p, four_d && !bsnh, hkv, kv_len, d);
      if (!past_t && !out) return layout;
      float* dst;
      if (out) {
        present = float_out(out);
        dst = present.p;
      } else {
        own.resize(batch * hkv * total * d);
        dst = own.data();
      }
      const FloatIn pf = float_in(past_t);
      return concat_past(layout, kv_len, pf.p, past, batch, hkv, d, dst);
    };
    const HeadLayout qs = HeadLayout::of(qf.p, four_d && !q_bsnh_, hq, q_len, dk);
    const HeadLayout ys = HeadLayout::of(nullptr, four_d && !y_bsnh_, hq, q_len, dv);  // steps only: Y is written
    const HeadLayout ks = assemble(kf, past_k, out_k, present_k, concat_k, dk, k_bsnh_);
    const HeadLayout vs = assemble(vf, past_v, out_v, present_v, concat_v, dv, v_bsnh_);

    // The mask as an additive float bias, right-aligned to [B, q_heads, q_len, mask_cols].
    FloatIn mask_f;
    std::vector<float> mask_bool, mask_wide;  // a bool mask as a float bias; a mask widened to every key
    bool mask_is_causal = false;
    const float* bias = nullptr;
    int64_t mb = 1, mh = 1, mq = 1, mcols = 0;
    if (mask) {
      const Shape& s = mask->shape();
      if (s.empty() || s.size() > 4) ctx.error("attn_mask must have rank 1 to 4, got " + shape_to_string(s));
      Shape s4(4 - s.size(), 1);
      s4.insert(s4.end(), s.begin(), s.end());
      mb = s4[0], mh = s4[1], mq = s4[2], mcols = s4[3];
      if ((mb != 1 && mb != batch) || (mh != 1 && mh != hq) || (mq != 1 && mq != q_len) || mcols > total)
        ctx.error("attn_mask " + shape_to_string(s) + " does not broadcast to [" + std::to_string(batch) + ", " + std::to_string(hq) + ", " +
                  std::to_string(q_len) + ", " + std::to_string(total) + "]");
      if (mask->dtype() == DType::Bool) {
        const bool* m = mask->data<bool>();
        // One causal mask for every batch and head (GPT-2's masked_fill) runs as the causal mask,
        // whose key blocks above the diagonal are never computed. No query row is fully masked
        // there, so the fill (-inf or a value whose exp underflows) is the same as dropping keys.
        mask_is_causal = !causal_ && !nonpad && !out_scores && mb == 1 && mh == 1 && mq == q_len && mcols == total && total >= q_len &&
                         kernels::is_causal_mask(m, mask_keep_, q_len, total);
        if (!mask_is_causal) {
          mask_bool.resize(mask->numel());
          for (int64_t i = 0; i < mask->numel(); ++i) mask_bool[i] = m[i] == mask_keep_ ? 0.0f : mask_fill_;
          bias = mask_bool.data();
        }
      } else {
        mask_f = float_in(mask);
        bias = mask_f.p;
      }
      // The attention pass's mask came from an Add or a Where, which broadcast a last dim of 1
      // over every key (ONNX's attn_mask pads a short one with -inf instead): widen it here.
      if (bias && internal_ && mcols == 1 && total > 1) {
        mask_wide.resize(static_cast<size_t>(mask->numel() * total));
        for (size_t i = 0; i < mask_wide.size(); ++i) mask_wide[i] = bias[static_cast<int64_t>(i) / total];
        mcols = total;
        bias = mask_wide.data();
      }
    }
    std::vector<int64_t> valid(batch, total);
    if (nonpad) {
      if (nonpad->numel() != batch) ctx.error("nonpad_kv_seqlen must hold one length per batch entry (" + std::to_string(batch) + ")");
      for (int64_t b = 0; b < batch; ++b) {
        valid[b] = nonpad->data<int64_t>()[b];
        if (valid[b] < 0 || valid[b] > total)
          ctx.error("nonpad_kv_seqlen[" + std::to_string(b) + "] = " + std::to_string(valid[b]) + " is outside [0, " + std::to_string(total) + "]");
      }
    }
    FloatOut scores = float_out(out_scores);
    const float scale = std::isnan(scale_) ? 1.0f / std::sqrt(float(dk)) : scale_;

    auto head = [&](int64_t b, int64_t h) {
      kernels::AttentionHead a;
      a.q_len = q_len, a.kv_len = total, a.dk = dk, a.dv = dv;
      const int64_t g = h / (hq / hkv);  // the key/value head of query head h
      a.q = qs.head(b, h), a.q_stride = qs.row_stride;
      a.y = y.p + ys.offset(b, h), a.y_stride = ys.row_stride;
      a.k = ks.head(b, g), a.k_stride = ks.row_stride;
      a.v = vs.head(b, g), a.v_stride = vs.row_stride;
      a.scale = scale, a.softcap = softcap_;
      if (bias) {
        a.bias = bias + (mb > 1 ? b * mh * mq * mcols : 0) + (mh > 1 ? h * mq * mcols : 0);
        a.bias_stride = mq > 1 ? mcols : 0, a.bias_cols = mcols;
        a.bias_replaces = internal_ && mask->dtype() == DType::Bool;  // a Where mask: the fill replaces
      }
      a.causal = causal_ || mask_is_causal;
      a.causal_offset = mask_is_causal ? total - q_len : past_k ? past : nonpad ? valid[b] - q_len : 0;
      a.kv_valid = valid[b];
      if (scores.p) {
        a.scores = scores.p + (b * hq + h) * q_len * total, a.scores_stride = total;
        a.stage = static_cast<kernels::ScoreStage>(mode_);
      }
      return a;
    };

    run_heads(ctx, batch, hq, hkv, q_len, total, dk, dv, head);
    y.commit();
    present_k.commit();
    present_v.commit();
    scores.commit();
  }

 private:
  int64_t opset_;
  bool internal_;
  float mask_fill_;
  bool mask_keep_;
  // The attention pass dropped the Transpose of a 4-D input or output: it is [B, S, heads, D]
  // instead of [B, heads, S, D] (the memory layout of the 3-D form).
  bool q_bsnh_, k_bsnh_, v_bsnh_, y_bsnh_;
  bool causal_;
  int64_t q_heads_, kv_heads_, mode_;
  float scale_, softcap_;
};

// com.microsoft MultiHeadAttention, as ONNX Runtime's transformer optimizer writes it:
//   query [B, S, N*H] with key/value [B, L, N*H] / [B, L, N*Hv], or key/value already split into
//   heads [B, N, L, H] (cross attention over a cache), or packed KV [B, L, N, 2, H], or packed
//   QKV [B, S, N, 3, H]; optional bias [N*H + N*H + N*Hv] added to Q, K, V; key_padding_mask
//   (int32: [B] key lengths, [B, total] or [B, S, total] of 1 = keep / 0 = pad); attention_bias
//   [B|1, N|1, S, total]; past_key/past_value [B, N, P, H] -> present [B, N, P+L, H];
//   unidirectional (query i sees keys j <= i + P). Masked scores get mask_filter_value (-10000)
//   added, as ONNX Runtime does, so a fully masked row is a softmax over its raw scores, not zeros.
// Not supported (refused at session creation): the shared past/present buffer (past_sequence_length),
// cache_indirection, the [3B+2] mask form and the qk output.
class MultiHeadAttention final : public OpKernel {
 public:
  explicit MultiHeadAttention(const Node& n)
      : heads_(n.attr_int("num_heads", 0)),
        unidirectional_(n.attr_int("unidirectional", 0) != 0),
        scale_(n.attr_float("scale", std::nanf(""))),
        filter_(n.attr_float("mask_filter_value", -10000.0f)) {
    if (heads_ <= 0) fail(ErrorCode::InvalidModel, n.label() + ": num_heads must be positive");
    for (size_t i : {8, 9})
      if (n.inputs.size() > i && n.inputs[i] >= 0)
        fail(ErrorCode::NotImplemented, n.label() + ": input " + std::to_string(i) + " (" + (i == 8 ? "past_sequence_length" : "cache_indirection") +
                                            ") is not supported");
    if (n.outputs.size() > 3 && n.outputs[3] >= 0) fail(ErrorCode::NotImplemented, n.label() + ": the qk output is not supported");
  }

  // The layout of this call's inputs, from their shapes.
  struct Dims {
    int64_t batch = 0, q_len = 0, kv_len = 0, past = 0, h = 0, hv = 0;
    enum class Form { Separate, SplitHeads, PackedKV, PackedQKV } form = Form::Separate;
  };
  Dims dims(const Shape& q, const Shape* k, const Shape* v, const Shape* past_k, const std::function<void(const std::string&)>& error) const {
    Dims d;
    const int64_t n = heads_;
    d.batch = q[0], d.q_len = q[1];
    if (q.size() == 5) {
      if (k || v) error("packed QKV (5-D query) takes no key or value");
      if (q[2] != n || q[3] != 3) error("packed QKV must be [B, S, num_heads, 3, head_size], got " + shape_to_string(q));
      d.form = Dims::Form::PackedQKV, d.kv_len = q[1], d.h = d.hv = q[4];
    } else if (q.size() == 3) {
      if (q[2] % n) error("query hidden size " + std::to_string(q[2]) + " does not divide by num_heads " + std::to_string(n));
      d.h = q[2] / n;
      if (!k) error("key is required unless the query is packed QKV");
      if (k->size() == 5) {
        if (v) error("packed KV (5-D key) takes no value");
        if ((*k)[0] != d.batch || (*k)[2] != n || (*k)[3] != 2 || (*k)[4] != d.h)
          error("packed KV must be [B, L, num_heads, 2, head_size], got " + shape_to_string(*k));
        d.form = Dims::Form::PackedKV, d.kv_len = (*k)[1], d.hv = d.h;
      } else if (k->size() == 4) {
        if (!v || v->size() != 4) error("a 4-D key needs a 4-D value");
        if ((*k)[0] != d.batch || (*k)[1] != n || (*k)[3] != d.h) error("key must be [B, num_heads, L, head_size], got " + shape_to_string(*k));
        if ((*v)[0] != d.batch || (*v)[1] != n || (*v)[2] != (*k)[2]) error("value must be [B, num_heads, L, v_head_size], got " + shape_to_string(*v));
        d.form = Dims::Form::SplitHeads, d.kv_len = (*k)[2], d.hv = (*v)[3];
      } else if (k->size() == 3) {
        if (!v || v->size() != 3) error("a 3-D key needs a 3-D value");
        if ((*k)[0] != d.batch || (*k)[2] != q[2]) error("key must be [B, L, " + std::to_string(q[2]) + "], got " + shape_to_string(*k));
        if ((*v)[0] != d.batch || (*v)[1] != (*k)[1] || (*v)[2] % n) error("value must be [B, L, num_heads * v_head_size], got " + shape_to_string(*v));
        d.kv_len = (*k)[1], d.hv = (*v)[2] / n;
      } else {
        error("key must be 3-D, 4-D or 5-D, got " + shape_to_string(*k));
      }
    } else {
      error("query must be 3-D or 5-D (packed QKV), got " + shape_to_string(q));
    }
    if (past_k) {
      if (d.form == Dims::Form::SplitHeads) error("past_key cannot be combined with a 4-D key");
      if (past_k->size() != 4 || (*past_k)[0] != d.batch || (*past_k)[1] != n || (*past_k)[3] != d.h)
        error("past_key must be [B, num_heads, P, head_size], got " + shape_to_string(*past_k));
      d.past = (*past_k)[2];
    }
    return d;
  }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kAttentionTypes);
    const ValueType& q = ctx.input(0);
    for (size_t i : {1, 2, 3, 5, 6, 7})
      if (ctx.has_input(i) && ctx.input(i).dtype != q.dtype) ctx.error("input " + std::to_string(i) + " must have the element type of query");
    if (ctx.has_input(4) && ctx.input(4).dtype != DType::Int32) ctx.error("key_padding_mask must be int32");
    if (ctx.has_input(6) != ctx.has_input(7)) ctx.error("past_key and past_value must be given together");
    for (size_t o = 0; o < ctx.num_outputs(); ++o) ctx.output(o).dtype = q.dtype;
    auto known = [&](size_t i) { return ctx.has_input(i) && ctx.input(i).shape_known(); };
    // Shapes with symbolic dims are checked when the op runs.
    if (!known(0) || (ctx.has_input(1) && !known(1)) || (ctx.has_input(2) && !known(2)) || (ctx.has_input(6) && !known(6))) return;
    const Shape qs = q.concrete_shape();
    const Shape ks = ctx.has_input(1) ? ctx.input(1).concrete_shape() : Shape{}, vs = ctx.has_input(2) ? ctx.input(2).concrete_shape() : Shape{};
    const Shape ps = ctx.has_input(6) ? ctx.input(6).concrete_shape() : Shape{};
    const Dims d = dims(qs, ctx.has_input(1) ? &ks : nullptr, ctx.has_input(2) ? &vs : nullptr, ctx.has_input(6) ? &ps : nullptr,
                        [&](const std::string& e) { ctx.error(e); });
    const int64_t total = d.past + d.kv_len;
    ctx.output(0).shape = to_sym({d.batch, d.q_len, heads_ * d.hv});
    if (ctx.num_outputs() > 1) ctx.output(1).shape = to_sym({d.batch, heads_, total, d.h});
    if (ctx.num_outputs() > 2) ctx.output(2).shape = to_sym({d.batch, heads_, total, d.hv});
  }

  void compute(ComputeContext& ctx) const override {
    auto in = [&](size_t i) { return ctx.inputs.size() > i ? ctx.inputs[i] : nullptr; };
    const Tensor &q = *in(0), *k = in(1), *v = in(2), *bias = in(3), *pad = in(4), *attn_bias = in(5), *past_k = in(6), *past_v = in(7);
    const Dims d = dims(q.shape(), k ? &k->shape() : nullptr, v ? &v->shape() : nullptr, past_k ? &past_k->shape() : nullptr,
                        [&](const std::string& e) { ctx.error(e); });
    const int64_t n = heads_, batch = d.batch, q_len = d.q_len, kv_len = d.kv_len, past = d.past, total = past + kv_len;
    const int64_t dh = d.h, dhv = d.hv;
    if (past_k && past_v->shape() != Shape{batch, n, past, dhv})
      ctx.error("past_value must be " + shape_to_string({batch, n, past, dhv}) + ", got " + shape_to_string(past_v->shape()));

    FloatIn qf = float_in(&q), kf = float_in(k), vf = float_in(v), bf = float_in(bias);
    HeadLayout ql, kl, vl;
    using Form = Dims::Form;
    if (d.form == Form::PackedQKV) {
      const int64_t row = n * 3 * dh;
      ql = {qf.p, q_len * row, 3 * dh, row}, kl = {qf.p + dh, q_len * row, 3 * dh, row}, vl = {qf.p + 2 * dh, q_len * row, 3 * dh, row};
    } else {
      ql = HeadLayout::bsnh(qf.p, n, q_len, dh);
      if (d.form == Form::PackedKV) {
        const int64_t row = n * 2 * dh;
        kl = {kf.p, kv_len * row, 2 * dh, row}, vl = {kf.p + dh, kv_len * row, 2 * dh, row};
      } else if (d.form == Form::SplitHeads) {
        kl = HeadLayout::bnsh(kf.p, n, kv_len, dh), vl = HeadLayout::bnsh(vf.p, n, kv_len, dhv);
      } else {
        kl = HeadLayout::bsnh(kf.p, n, kv_len, dh), vl = HeadLayout::bsnh(vf.p, n, kv_len, dhv);
      }
    }
    // The input projection's bias: Q, K and V rows plus their slice of it, copied once.
    std::vector<float> qb, kb, vb;
    if (bias) {
      if (bias->numel() != n * (2 * dh + dhv)) ctx.error("bias must hold " + std::to_string(n * (2 * dh + dhv)) + " values");
      if (d.form == Form::SplitHeads) ctx.error("bias cannot be applied to a key/value already split into heads");
      auto add_bias = [&](const HeadLayout& src, int64_t len, int64_t dd, const float* b, std::vector<float>& dst) {
        dst.resize(batch * len * n * dd);
        for (int64_t bi = 0; bi < batch; ++bi)
          for (int64_t h = 0; h < n; ++h)
            for (int64_t s = 0; s < len; ++s) {
              const float* x = src.head(bi, h) + s * src.row_stride;
              float* y = dst.data() + ((bi * len + s) * n + h) * dd;
              for (int64_t c = 0; c < dd; ++c) y[c] = x[c] + b[h * dd + c];
            }
        return HeadLayout::bsnh(dst.data(), n, len, dd);
      };
      ql = add_bias(ql, q_len, dh, bf.p, qb);
      kl = add_bias(kl, kv_len, dh, bf.p + n * dh, kb);
      vl = add_bias(vl, kv_len, dhv, bf.p + 2 * n * dh, vb);
    }
    FloatOut present_k, present_v;
    std::vector<float> concat_k, concat_v;
    auto assemble = [&](const HeadLayout& now, const Tensor* past_t, Tensor* out, FloatOut& present, std::vector<float>& own, int64_t dd) {
      if (!past_t && !out) return now;
      float* dst;
      if (out) {
        present = float_out(out);
        dst = present.p;
      } else {
        own.resize(batch * n * total * dd);
        dst = own.data();
      }
      const FloatIn pf = float_in(past_t);
      return concat_past(now, kv_len, pf.p, past, batch, n, dd, dst);
    };
    kl = assemble(kl, past_k, ctx.outputs.size() > 1 ? ctx.outputs[1] : nullptr, present_k, concat_k, dh);
    vl = assemble(vl, past_v, ctx.outputs.size() > 2 ? ctx.outputs[2] : nullptr, present_v, concat_v, dhv);

    // One additive bias over [bb, bh, bq, total] from attention_bias and the 2-D/3-D padding masks.
    std::vector<int64_t> valid(batch, total);
    FloatIn ab = float_in(attn_bias);
    std::vector<float> combined;
    const float* bias_p = nullptr;
    int64_t bb = 1, bh = 1, bq = 1;
    if (attn_bias) {
      const Shape& s = attn_bias->shape();
      if (s.size() != 4 || (s[0] != 1 && s[0] != batch) || (s[1] != 1 && s[1] != n) || s[2] != q_len || s[3] != total)
        ctx.error("attention_bias must be [B or 1, num_heads or 1, " + std::to_string(q_len) + ", " + std::to_string(total) + "], got " +
                  shape_to_string(s));
      bb = s[0], bh = s[1], bq = q_len;
      bias_p = ab.p;
    }
    if (pad) {
      const Shape& s = pad->shape();
      const int32_t* m = pad->data<int32_t>();
      if (s.size() == 1 && s[0] == batch) {
        for (int64_t b = 0; b < batch; ++b) {
          if (m[b] < 0 || m[b] > total) ctx.error("key_padding_mask length " + std::to_string(m[b]) + " is outside [0, " + std::to_string(total) + "]");
          valid[b] = m[b];
        }
      } else if ((s.size() == 2 && s[0] == batch && s[1] == total) || (s.size() == 3 && s[0] == batch && s[1] == q_len && s[2] == total)) {
        const int64_t mq = s.size() == 3 ? q_len : 1;
        const int64_t nb = batch, nh = bh, nq = std::max(bq, mq);
        combined.assign(nb * nh * nq * total, 0.0f);
        for (int64_t b = 0; b < nb; ++b)
          for (int64_t h = 0; h < nh; ++h)
            for (int64_t i = 0; i < nq; ++i) {
              float* row = combined.data() + ((b * nh + h) * nq + i) * total;
              const int32_t* mrow = m + (b * mq + (mq > 1 ? i : 0)) * total;
              const float* brow = bias_p ? bias_p + (((bb > 1 ? b : 0) * bh + h) * bq + i) * total : nullptr;
              for (int64_t j = 0; j < total; ++j) row[j] = (brow ? brow[j] : 0.0f) + (mrow[j] == 0 ? filter_ : 0.0f);
            }
        bias_p = combined.data(), bb = nb, bq = nq;
      } else {
        ctx.error("key_padding_mask must be [B], [B, total] or [B, S, total] (total = " + std::to_string(total) + "), got " + shape_to_string(s));
      }
    }
    FloatOut y = float_out(ctx.outputs[0]);
    const float scale = std::isnan(scale_) ? 1.0f / std::sqrt(float(dh)) : scale_;
    auto head = [&](int64_t b, int64_t h) {
      kernels::AttentionHead a;
      a.q_len = q_len, a.kv_len = total, a.dk = dh, a.dv = dhv;
      a.q = ql.head(b, h), a.q_stride = ql.row_stride;
      a.k = kl.head(b, h), a.k_stride = kl.row_stride;
      a.v = vl.head(b, h), a.v_stride = vl.row_stride;
      a.y = y.p + b * q_len * n * dhv + h * dhv, a.y_stride = n * dhv;
      a.scale = scale;
      if (bias_p) {
        a.bias = bias_p + ((bb > 1 ? b : 0) * bh + (bh > 1 ? h : 0)) * bq * total;
        a.bias_stride = bq > 1 ? total : 0, a.bias_cols = total;
      }
      a.causal = unidirectional_, a.causal_offset = past;
      a.kv_valid = valid[b];
      a.mask_fill = filter_;
      return a;
    };
    run_heads(ctx, batch, n, n, q_len, total, dh, dhv, head);
    y.commit();
    present_k.commit();
    present_v.commit();
  }

 private:
  int64_t heads_;
  bool unidirectional_;
  float scale_, filter_;
};

}  // namespace

void register_attention_ops(OpRegistry& r) {
  r.add("", "Attention", 23, kMaxDefaultOpset,
        [](const Node& n, int64_t opset) -> std::unique_ptr<OpKernel> { return std::make_unique<Attention>(n, opset); });
  // Written by the attention pass (runtime/passes.cpp) for any opset: opset-23 semantics.
  r.add(kInternalDomain, "Attention", 1, 1,
        [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Attention>(n, 23, true); });
  r.add(kMicrosoftDomain, "MultiHeadAttention", 1, 1,
        [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<MultiHeadAttention>(n); });
}

}  // namespace normrt::onnx
