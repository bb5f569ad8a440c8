// ONNX Attention (opset 23; 24 adds nonpad_kv_seqlen) on the tiled kernel of kernels/attention.h.
//   Y = softmax(softcap(Q Kᵀ * scale) + mask) V per (batch, query head), where K and V are
//   past ++ new keys/values, query head h reads key/value head h / (q_heads / kv_heads) (GQA/MQA),
//   and the mask combines attn_mask (bool: false masks; float: added; a short last dim is padded
//   with -inf), is_causal (query i sees keys j <= i + offset, the offset being the past length, or
//   nonpad_kv_seqlen[b] - q_len for an external cache) and nonpad_kv_seqlen (keys j >= it masked).
// Inputs are 4-D [B, heads, seq, head_size] or 3-D [B, seq, heads * head_size]; the kernel reads
// either layout in place through row strides. Fully masked rows give zeros. float32, float16 and
// bfloat16 (computed in float32, which also covers every softmax_precision below float64).
#include <cmath>
#include <cstring>

#include "kernels/attention.h"
#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

constexpr std::initializer_list<DType> kAttentionTypes = {DType::Float32, DType::Float16, DType::BFloat16};

Dim dim_times(const Dim& d, int64_t k) { return d.known() ? Dim::of(d.value * k) : Dim(); }
Dim dim_div(const Dim& d, int64_t k) { return d.known() && k > 0 ? Dim::of(d.value / k) : Dim(); }
Dim dim_plus(const Dim& a, const Dim& b) { return a.known() && b.known() ? Dim::of(a.value + b.value) : Dim(); }

class Attention final : public OpKernel {
 public:
  Attention(const Node& n, int64_t opset)
      : opset_(opset),
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
    const SymShape &sq = *q.shape, &sk = *k.shape, &sv = *v.shape;
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
    ctx.output(0).shape = rank == 4 ? SymShape{batch, hq, q_len, dv} : SymShape{batch, q_len, hq.known() && dv.known() ? dim_times(dv, hq.value) : Dim()};
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
    const int64_t batch = q.shape()[0];
    const int64_t hq = four_d ? q.shape()[1] : q_heads_, hkv = four_d ? k.shape()[1] : kv_heads_;
    const int64_t q_len = four_d ? q.shape()[2] : q.shape()[1], kv_len = four_d ? k.shape()[2] : k.shape()[1];
    const int64_t dk = four_d ? q.shape()[3] : q.shape()[2] / hq, dv = four_d ? v.shape()[3] : v.shape()[2] / hkv;
    const int64_t past = past_k ? past_k->shape()[2] : 0, total = past + kv_len;
    auto expect = [&](const Tensor& t, const Shape& s, const char* what) {
      if (t.shape() != s) ctx.error(std::string(what) + " has shape " + shape_to_string(t.shape()) + ", expected " + shape_to_string(s));
    };
    expect(k, four_d ? Shape{batch, hkv, kv_len, dk} : Shape{batch, kv_len, hkv * dk}, "K");
    expect(v, four_d ? Shape{batch, hkv, kv_len, dv} : Shape{batch, kv_len, hkv * dv}, "V");
    if (past_k) {
      expect(*past_k, {batch, hkv, past, dk}, "past_key");
      expect(*past_v, {batch, hkv, past, dv}, "past_value");
    }

    FloatIn qf = float_in(&q), kf = float_in(&k), vf = float_in(&v);
    FloatOut y = float_out(ctx.outputs[0]);
    Tensor* out_k = ctx.outputs.size() > 1 ? ctx.outputs[1] : nullptr;
    Tensor* out_v = ctx.outputs.size() > 2 ? ctx.outputs[2] : nullptr;
    Tensor* out_scores = ctx.outputs.size() > 3 ? ctx.outputs[3] : nullptr;

    // Keys and values the heads attend over. With a past, or when present_* is asked for, they are
    // laid out as [B, kv_heads, total, head_size] (in the output itself when it is float32).
    struct Source {
      const float* base;
      int64_t head_step_b, head_step_h, row_stride;
    };
    FloatOut present_k, present_v;
    std::vector<float> concat_k, concat_v;
    auto assemble = [&](const FloatIn& now, const Tensor* past_t, Tensor* out, FloatOut& present, std::vector<float>& own,
                        int64_t d) -> Source {
      if (!past_t && !out) {
        if (four_d) return {now.p, hkv * kv_len * d, kv_len * d, d};
        return {now.p, kv_len * hkv * d, d, hkv * d};
      }
      float* dst;
      if (out) {
        present = float_out(out);
        dst = present.p;
      } else {
        own.resize(batch * hkv * total * d);
        dst = own.data();
      }
      FloatIn pf = float_in(past_t);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < hkv; ++h) {
          float* head = dst + (b * hkv + h) * total * d;
          if (past) std::memcpy(head, pf.p + (b * hkv + h) * past * d, past * d * sizeof(float));
          for (int64_t s = 0; s < kv_len; ++s) {
            const float* src = four_d ? now.p + ((b * hkv + h) * kv_len + s) * d : now.p + (b * kv_len + s) * hkv * d + h * d;
            std::memcpy(head + (past + s) * d, src, d * sizeof(float));
          }
        }
      return {dst, hkv * total * d, total * d, d};
    };
    const Source ks = assemble(kf, past_k, out_k, present_k, concat_k, dk);
    const Source vs = assemble(vf, past_v, out_v, present_v, concat_v, dv);

    // The mask as an additive float bias, right-aligned to [B, q_heads, q_len, mask_cols].
    FloatIn mask_f;
    std::vector<float> mask_bool;
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
        mask_bool.resize(mask->numel());
        const bool* m = mask->data<bool>();
        for (int64_t i = 0; i < mask->numel(); ++i) mask_bool[i] = m[i] ? 0.0f : -std::numeric_limits<float>::infinity();
        bias = mask_bool.data();
      } else {
        mask_f = float_in(mask);
        bias = mask_f.p;
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
      if (four_d) {
        a.q = qf.p + (b * hq + h) * q_len * dk, a.q_stride = dk;
        a.y = y.p + (b * hq + h) * q_len * dv, a.y_stride = dv;
      } else {
        a.q = qf.p + b * q_len * hq * dk + h * dk, a.q_stride = hq * dk;
        a.y = y.p + b * q_len * hq * dv + h * dv, a.y_stride = hq * dv;
      }
      a.k = ks.base + b * ks.head_step_b + g * ks.head_step_h, a.k_stride = ks.row_stride;
      a.v = vs.base + b * vs.head_step_b + g * vs.head_step_h, a.v_stride = vs.row_stride;
      a.scale = scale, a.softcap = softcap_;
      if (bias) {
        a.bias = bias + (mb > 1 ? b * mh * mq * mcols : 0) + (mh > 1 ? h * mq * mcols : 0);
        a.bias_stride = mq > 1 ? mcols : 0, a.bias_cols = mcols;
      }
      a.causal = causal_;
      a.causal_offset = past_k ? past : nonpad ? valid[b] - q_len : 0;
      a.kv_valid = valid[b];
      if (scores.p) {
        a.scores = scores.p + (b * hq + h) * q_len * total, a.scores_stride = total;
        a.stage = static_cast<kernels::ScoreStage>(mode_);
      }
      return a;
    };

    const kernels::GemmPrimitives& gemm = kernels::gemm_primitives(ctx.isa);
    const kernels::AttentionPrimitives& prim = kernels::attention_primitives(ctx.isa);
    const int64_t q_blocks = (q_len + kernels::kAttnQueryBlock - 1) / kernels::kAttnQueryBlock;
    const int64_t tasks = batch * hq * q_blocks;
    const int64_t task_work = std::min(q_len, kernels::kAttnQueryBlock) * std::max<int64_t>(total, 1) * (dk + dv);
    ctx.parallel.for_range(tasks, rows_grain(task_work), [&](int64_t t0, int64_t t1) {
      kernels::AttentionScratch scratch;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t bh = t / q_blocks, qb = t % q_blocks;
        const kernels::AttentionHead a = head(bh / hq, bh % hq);
        const int64_t q0 = qb * kernels::kAttnQueryBlock;
        kernels::attention_rows(gemm, prim, a, q0, std::min(q_len, q0 + kernels::kAttnQueryBlock), scratch);
      }
    });
    y.commit();
    present_k.commit();
    present_v.commit();
    scores.commit();
  }

 private:
  int64_t opset_;
  bool causal_;
  int64_t q_heads_, kv_heads_, mode_;
  float scale_, softcap_;
};

}  // namespace

void register_attention_ops(OpRegistry& r) {
  r.add("", "Attention", 23, kMaxDefaultOpset,
        [](const Node& n, int64_t opset) -> std::unique_ptr<OpKernel> { return std::make_unique<Attention>(n, opset); });
}

}  // namespace normrt::onnx
