// The normalization family on the kernels of kernels/norm.h:
//   LayerNormalization (17+), RMSNormalization (23+), GroupNormalization (18-20: scale/bias per
//   group; 21+: per channel), InstanceNormalization (6+), BatchNormalization (9+, inference), and
//   the ONNX Runtime contrib ops SimplifiedLayerNormalization, SkipLayerNormalization and
//   SkipSimplifiedLayerNormalization.
// float32 is computed directly; float16 / bfloat16 are widened to float32 (statistics are always
// float32-or-better) and narrowed on the way out; LayerNormalization on float64 uses the float64
// reference kernel.
#include <algorithm>
#include <cstring>
#include <optional>

#include "kernels/norm.h"
#include "onnx/op_registry.h"
#include "runtime/passes.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

// What a normalization of x moves through memory: x read and y written, as float32 (the kernels'
// precision; float16 / bfloat16 tensors are widened into float32 buffers first).
int64_t bytes_moved(const Tensor& x) { return 2 * x.numel() * int64_t(sizeof(float)); }

using kernels::NormPrimitives;

constexpr std::initializer_list<DType> kNormTypes = {DType::Float32, DType::Float16, DType::BFloat16};

// `t`'s elements (of type T) broadcast to `shape`.
template <class T>
std::vector<T> broadcast_copy(const T* src, const Shape& from, const Shape& shape) {
  std::vector<T> out(checked_numel(shape, "scale")), zeros(out.size(), T(0));
  const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(from, shape);
  kernels::binary_rows<T>(kernels::BinaryOp::Add, src, zeros.data(), out.data(), plan, 0, plan.outer);
  return out;
}

// `t` broadcast to `shape` as float32 (a copy only when it is not already that size).
FloatIn expand_to(const Tensor* t, const Shape& shape) {
  if (!t) return {};
  if (t->shape() == shape || t->numel() == checked_numel(shape, "scale")) return float_in(t);
  FloatIn src = float_in(t);
  FloatIn r;
  r.buf = broadcast_copy(src.p, t->shape(), shape);
  r.p = r.buf.data();
  return r;
}

// Checks that `in` broadcasts to `target` without changing it.
void expect_broadcasts_to(const InferContext& ctx, size_t input, const SymShape& target) {
  if (!ctx.has_input(input) || !ctx.input(input).shape) return;
  const SymShape& s = *ctx.input(input).shape;
  if (s.size() > target.size())
    ctx.error("input " + std::to_string(input) + " " + sym_shape_to_string(s) + " has more dims than " + sym_shape_to_string(target));
  for (size_t k = 0; k < s.size(); ++k) {
    const Dim& d = s[k];
    const Dim& t = target[target.size() - s.size() + k];
    if (d.known() && t.known() && d.value != 1 && d.value != t.value)
      ctx.error("input " + std::to_string(input) + " " + sym_shape_to_string(s) + " does not broadcast to " + sym_shape_to_string(target));
  }
}

void expect_same_type(const InferContext& ctx, std::initializer_list<size_t> inputs) {
  for (size_t i : inputs)
    if (ctx.has_input(i) && ctx.input(i).dtype != ctx.input(0).dtype)
      ctx.error("input " + std::to_string(i) + " has element type " + dtype_name(ctx.input(i).dtype) + ", input 0 has " +
                dtype_name(ctx.input(0).dtype));
}

// Statistics of one long row with its segments spread over threads and merged in order: the
// same sums, hence the same bits, as kernels::row_stats on one thread.
kernels::NormStats split_stats(const ComputeContext& ctx, const NormPrimitives& k, const float* row, int64_t n, double eps,
                               bool rms) {
  auto sums = [&](float pivot) {
    std::vector<kernels::ShiftedSums> parts(kernels::norm_segments(n));
    ctx.parallel.for_range(static_cast<int64_t>(parts.size()), 1, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) parts[s] = kernels::segment_sums(k, row, n, pivot, s);
    });
    kernels::ShiftedSums total;
    for (const auto& p : parts) total.s += p.s, total.ss += p.ss;
    return total;
  };
  const float pivot = kernels::first_pivot(row, n, rms);
  return kernels::stats_from_sums(sums(pivot), n, pivot, eps, rms, sums);
}

// Rows of length d normalized independently: spread rows over threads, or, when there are fewer
// rows than threads and rows are long, split each row's segments and its normalize sweep.
void run_rows(const ComputeContext& ctx, const NormPrimitives& k, kernels::RowNormArgs a, int64_t rows) {
  const int threads = ctx.parallel.threads();
  if (threads == 1 || rows >= threads || a.d < 2 * kernels::kNormSegment) {
    ctx.parallel.for_range(rows, rows_grain(a.d),
                           [&](int64_t r0, int64_t r1) { kernels::row_norm(k, a, r0, r1); });
    return;
  }
  const int64_t d = a.d;
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = a.x + r * d;
    if (a.skip) {
      float* sum = a.sum_out + r * d;
      const float* skip = a.skip + (r % a.skip_rows) * d;
      ctx.parallel.for_range(d, 16384, [&](int64_t i0, int64_t i1) {
        k.add_rows(src + i0, skip + i0, a.bias ? a.bias + i0 : nullptr, sum + i0, i1 - i0);
      });
      src = sum;
    }
    const kernels::NormStats st = split_stats(ctx, k, src, d, a.eps, a.rms);
    float* y = a.y + r * d;
    ctx.parallel.for_range(d, 16384, [&](int64_t i0, int64_t i1) {
      k.normalize_vec(src + i0, y + i0, i1 - i0, st.pivot, st.scale, st.offset, a.gamma ? a.gamma + i0 : nullptr,
                      a.beta ? a.beta + i0 : nullptr, a.stream_stores);
      if (a.stream_stores) k.stream_fence();
    });
    if (a.mean_out) a.mean_out[r] = static_cast<float>(st.mean);
    if (a.inv_std_out) a.inv_std_out[r] = st.inv_std();
  }
}

// Writes float statistics into an output of any float type.
void store_stats(Tensor* out, const std::vector<float>& v) {
  if (!out) return;
  visit_float(out->dtype(), [&]<class U>() {
    for (size_t i = 0; i < v.size(); ++i) out->data<U>()[i] = U(static_cast<kernels::compute_t<U>>(v[i]));
  });
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization, RMSNormalization and the contrib ops built on rows.

struct RowOpConfig {
  bool rms = false;            // RMS: no mean subtraction
  bool skip = false;           // inputs: input, skip, gamma, [beta], [bias] (or gamma, [bias] for RMS)
  bool has_beta_input = true;  // LayerNormalization / SkipLayerNormalization take a beta input
  bool fixed_last_axis = false;
  // The skip_layer_norm pass's form of Add(a, b) -> LayerNormalization: a and b in either order,
  // any broadcast (the kernel's skip rows when b repeats over a's leading dims, else the sum is
  // formed first).
  bool any_broadcast = false;
  int mean_output = -1, inv_std_output = -1, sum_output = -1;
};

// True when `skip` (leading 1s aside) is a suffix of `x`'s shape: its rows repeat over x's
// leading dims, which is the broadcast the skip kernels do.
bool skip_repeats_rows(const Shape& x, const Shape& skip) {
  size_t lead = 0;
  while (lead < skip.size() && skip[lead] == 1 && skip.size() - lead > 1) ++lead;
  const size_t n = skip.size() - lead;
  if (n > x.size() || n == 0) return false;
  return std::equal(skip.begin() + lead, skip.end(), x.end() - n);
}

class RowNorm final : public OpKernel {
 public:
  RowNorm(RowOpConfig cfg, int64_t axis, float eps, DType stash) : cfg_(cfg), axis_(axis), eps_(eps), stash_(stash) {}

  // Output 0 may be computed over the input (or the skip input, of the same shape): a row is read
  // whole for its statistics before any of it is written and never read after (see in_place_inputs
  // in runtime/op_kernel.h). A chain of LayerNorms then works in one buffer that stays in cache,
  // without the read-for-ownership of a second one.
  std::vector<int> in_place_inputs() const override { return cfg_.skip ? std::vector<int>{0, 1} : std::vector<int>{0}; }

  // Input positions for this op form.
  size_t gamma_index() const { return cfg_.skip ? 2 : 1; }
  int beta_index() const { return cfg_.has_beta_input ? int(gamma_index()) + 1 : -1; }
  int bias_index() const { return cfg_.skip ? int(gamma_index()) + (cfg_.has_beta_input ? 2 : 1) : -1; }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32, DType::Float16, DType::BFloat16, DType::Float64});
    ValueType x = ctx.input(0);
    if (cfg_.any_broadcast) {  // the output has the broadcast shape of input and skip
      x.shape.reset();
      if (ctx.input(0).shape && ctx.input(1).shape) x.shape = broadcast_sym(*ctx.input(0).shape, *ctx.input(1).shape, ctx);
    }
    if (x.dtype == DType::Float64 && (cfg_.rms || cfg_.skip)) ctx.unsupported("float64 input is supported by LayerNormalization only");
    ctx.input(gamma_index());
    expect_same_type(ctx, {1, 2, 3, 4});
    ctx.output(0).dtype = x.dtype;
    ctx.output(0).shape = x.shape;
    SymShape stat_shape;
    bool stat_known = false;
    if (x.shape) {
      const int64_t rank = static_cast<int64_t>(x.shape->size());
      if (rank == 0) ctx.error("input 0 must have rank >= 1");
      const int64_t axis = normalize_axis(cfg_.fixed_last_axis ? -1 : axis_, rank, ctx);
      const SymShape normalized(x.shape->begin() + axis, x.shape->end());
      for (int i : {int(gamma_index()), beta_index(), bias_index()})
        if (i >= 0) expect_broadcasts_to(ctx, i, cfg_.skip ? SymShape{normalized.back()} : normalized);
      if (cfg_.skip && ctx.has_input(1) && !cfg_.any_broadcast) expect_broadcasts_to(ctx, 1, *x.shape);
      stat_shape.assign(x.shape->begin(), x.shape->begin() + axis);
      stat_shape.resize(rank, Dim::of(1));
      stat_known = true;
    }
    for (int o : {cfg_.mean_output, cfg_.inv_std_output})
      if (o >= 0 && o < int(ctx.num_outputs())) {
        ctx.output(o).dtype = cfg_.skip ? DType::Float32 : stash_;
        if (stat_known) ctx.output(o).shape = stat_shape;
      }
    if (cfg_.sum_output >= 0 && cfg_.sum_output < int(ctx.num_outputs())) ctx.output(cfg_.sum_output) = ValueType{x.dtype, x.shape};
  }

  void compute(ComputeContext& ctx) const override {
    // Input and skip: for the any-broadcast form, the larger one is the input, and a broadcast
    // the skip kernels do not do is summed here first.
    const Tensor* xp = ctx.inputs[0];
    const Tensor* sp = cfg_.skip ? ctx.inputs[1] : nullptr;
    std::optional<Tensor> summed;
    if (cfg_.any_broadcast) {
      if (sp->numel() > xp->numel()) std::swap(xp, sp);
      if (!skip_repeats_rows(xp->shape(), sp->shape())) {
        FloatIn a = float_in(xp), b = float_in(sp);
        const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(xp->shape(), sp->shape());
        Shape full;
        kernels::broadcast_shapes(xp->shape(), sp->shape(), full);
        summed = Tensor::allocate(DType::Float32, full, "skip sum");
        kernels::binary_rows<float>(kernels::BinaryOp::Add, a.p, b.p, summed->data<float>(), plan, 0, plan.outer);
        xp = &*summed;
        sp = nullptr;
      }
    }
    const Tensor& x = *xp;
    const int64_t rank = static_cast<int64_t>(x.rank());
    const int64_t axis = cfg_.fixed_last_axis ? rank - 1 : (axis_ < 0 ? axis_ + rank : axis_);
    int64_t rows = 1, d = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? rows : d) *= x.shape()[i];
    if (x.numel() == 0) return;
    auto input = [&](int i) -> const Tensor* { return i >= 0 && i < int(ctx.inputs.size()) ? ctx.inputs[i] : nullptr; };
    auto output = [&](int o) -> Tensor* { return o >= 0 && o < int(ctx.outputs.size()) ? ctx.outputs[o] : nullptr; };
    const Shape normalized(x.shape().begin() + axis, x.shape().end());

    if (x.dtype() == DType::Float64) {  // the float64 reference
      const Tensor scale = materialize(*input(gamma_index()), normalized);
      const Tensor* b = input(beta_index());
      const Tensor bias = b ? materialize(*b, normalized) : Tensor();
      std::vector<float> mean(rows), inv(rows);
      ctx.parallel.for_range(rows, rows_grain(d), [&](int64_t r0, int64_t r1) {
        kernels::layer_norm_rows_reference<double, float>(x.data<double>(), scale.data<double>(), b ? bias.data<double>() : nullptr,
                                                          ctx.outputs[0]->data<double>(), mean.data(), inv.data(), d, eps_, r0, r1);
      });
      store_stats(output(cfg_.mean_output), mean);
      store_stats(output(cfg_.inv_std_output), inv);
      return;
    }

    const NormPrimitives& k = kernels::norm_primitives(ctx.isa);
    FloatIn xf = float_in(&x);
    FloatIn gamma = expand_to(input(gamma_index()), cfg_.skip ? Shape{d} : normalized);
    FloatIn beta = expand_to(input(beta_index()), cfg_.skip ? Shape{d} : normalized);
    FloatOut y = float_out(ctx.outputs[0]);
    kernels::RowNormArgs a{xf.p, y.p, d, eps_, cfg_.rms, gamma.p, beta.p};
    a.from_memory = kernels::streams_from_memory(bytes_moved(x));
    a.stream_stores = kernels::prefers_stream_stores(bytes_moved(x));
    FloatIn skip, bias;
    FloatOut sum;
    if (cfg_.skip && sp) {
      const Tensor* s = sp;
      skip = float_in(s);
      bias = expand_to(input(bias_index()), Shape{d});
      if (s->numel() == 0 || !skip_repeats_rows(x.shape(), s->shape()))
        ctx.error("skip " + shape_to_string(s->shape()) + " does not broadcast to input " + shape_to_string(x.shape()) +
                  " (it must match the input's last dims)");
      a.skip = skip.p;
      a.skip_rows = s->numel() / d;
      a.bias = bias.p;
      sum = float_out(output(cfg_.sum_output));
      a.sum_out = sum.p ? sum.p : a.y;  // without the sum output, the sum lives in y until normalized
    }
    std::vector<float> mean, inv;
    if (output(cfg_.mean_output) && !cfg_.rms) mean.resize(rows), a.mean_out = mean.data();
    if (output(cfg_.inv_std_output)) inv.resize(rows), a.inv_std_out = inv.data();
    run_rows(ctx, k, a, rows);
    y.commit();
    sum.commit();
    if (summed && output(cfg_.sum_output)) {  // the sum formed above is the sum output
      FloatOut so = float_out(output(cfg_.sum_output));
      std::memcpy(so.p, summed->data<float>(), summed->byte_size());
      so.commit();
    }
    if (Tensor* m = output(cfg_.mean_output)) {
      if (cfg_.rms) std::memset(m->raw(), 0, m->byte_size());  // RMS forms have no mean
      else store_stats(m, mean);
    }
    store_stats(output(cfg_.inv_std_output), inv);
  }

 private:
  // A float64 `t` broadcast to `shape`, as a tensor.
  static Tensor materialize(const Tensor& t, const Shape& shape) {
    if (t.shape() == shape) return t;
    std::vector<double> v = broadcast_copy(t.data<double>(), t.shape(), shape);
    Tensor out = Tensor::allocate(DType::Float64, shape);
    if (!v.empty()) std::memcpy(out.raw(), v.data(), v.size() * sizeof(double));
    return out;
  }

  RowOpConfig cfg_;
  int64_t axis_;
  double eps_;
  DType stash_;
};


float epsilon_of(const Node& n, float fallback = 1e-5f) {
  const float eps = n.attr_float("epsilon", fallback);
  if (!(eps >= 0) || !std::isfinite(eps)) fail(ErrorCode::InvalidModel, n.label() + ": epsilon must be finite and >= 0");
  return eps;
}

// ---------------------------------------------------------------------------------------------
// GroupNormalization and InstanceNormalization: N * groups units of channels_per_group * spatial.

class GroupNorm final : public OpKernel {
 public:
  // per_channel: scale/bias have C values (GroupNormalization 21+, InstanceNormalization);
  // otherwise one per group (GroupNormalization 18-20). groups = 0 means one group per channel.
  GroupNorm(int64_t groups, float eps, bool per_channel) : groups_(groups), eps_(eps), per_channel_(per_channel) {}

  // As RowNorm: a unit is read whole for its statistics before it is written.
  std::vector<int> in_place_inputs() const override { return {0}; }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNormTypes);
    const ValueType& x = ctx.input(0);
    ctx.input(1), ctx.input(2);
    expect_same_type(ctx, {1, 2});
    ctx.output(0).dtype = x.dtype;
    ctx.output(0).shape = x.shape;
    if (!x.shape) return;
    if (x.shape->size() < 2) ctx.error("input must have rank >= 2 (N, C, ...), got " + sym_shape_to_string(*x.shape));
    const Dim c = (*x.shape)[1];
    if (!c.known()) return;
    const int64_t groups = groups_ ? groups_ : c.value;
    if (groups_ && c.value % groups_ != 0)
      ctx.error("channels (" + std::to_string(c.value) + ") are not divisible by num_groups (" + std::to_string(groups_) + ")");
    const int64_t want = per_channel_ ? c.value : groups;
    for (size_t i : {1, 2}) {
      const ValueType& v = ctx.input(i);
      if (v.shape_known() && checked_numel(v.concrete_shape(), "scale") != want)
        ctx.error("input " + std::to_string(i) + " " + sym_shape_to_string(*v.shape) + " must hold " + std::to_string(want) +
                  (per_channel_ ? " values (one per channel)" : " values (one per group)"));
    }
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    if (x.numel() == 0) return;
    const int64_t n = x.shape()[0], c = x.shape()[1];
    const int64_t groups = groups_ ? groups_ : c;
    const int64_t spatial = x.numel() / (n * c), cpg = c / groups;
    FloatIn xf = float_in(&x), scale = float_in(ctx.inputs[1]), bias = float_in(ctx.inputs[2]);
    if (!per_channel_) {  // per-group values: repeat each for the group's channels
      std::vector<float> s(c), b(c);
      for (int64_t ch = 0; ch < c; ++ch) s[ch] = scale.p[ch / cpg], b[ch] = bias.p[ch / cpg];
      scale.buf = std::move(s), bias.buf = std::move(b);
      scale.p = scale.buf.data(), bias.p = bias.buf.data();
    }
    FloatOut y = float_out(ctx.outputs[0]);
    const NormPrimitives& k = kernels::norm_primitives(ctx.isa);
    const kernels::GroupNormArgs a{xf.p, y.p, groups, cpg, spatial, eps_, scale.p, bias.p,
                                   kernels::prefers_stream_stores(bytes_moved(x))};
    const int64_t units = n * groups, unit_len = cpg * spatial;
    const int threads = ctx.parallel.threads();
    if (threads == 1 || units >= threads || unit_len < 2 * kernels::kNormSegment) {
      ctx.parallel.for_range(units, rows_grain(unit_len), [&](int64_t u0, int64_t u1) { kernels::group_norm(k, a, u0, u1); });
    } else {
      // Fewer units than threads, each long: split the statistics by segment and the sweep by channel.
      for (int64_t u = 0; u < units; ++u) {
        const kernels::NormStats st = split_stats(ctx, k, xf.p + u * unit_len, unit_len, eps_, false);
        if (cpg >= threads) {
          ctx.parallel.for_range(cpg, 1, [&](int64_t c0, int64_t c1) { kernels::group_norm_apply(k, a, u, st, c0, c1); });
        } else {  // one (or few) long channels: split the sweep by element ranges
          for (int64_t j = 0; j < cpg; ++j) {
            const int64_t ch = (u % groups) * cpg + j, off = u * unit_len + j * spatial;
            ctx.parallel.for_range(spatial, 16384, [&](int64_t i0, int64_t i1) {
              k.normalize_channel(xf.p + off + i0, y.p + off + i0, i1 - i0, st.pivot, st.channel_a(scale.p[ch]),
                                  st.channel_c(scale.p[ch], bias.p[ch]), a.stream_stores);
              if (a.stream_stores) k.stream_fence();
            });
          }
        }
      }
    }
    y.commit();
  }

 private:
  int64_t groups_;
  double eps_;
  bool per_channel_;
};

// BatchNormalization in inference mode: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c].
class BatchNorm final : public OpKernel {
 public:
  explicit BatchNorm(float eps) : eps_(eps) {}
  std::vector<int> in_place_inputs() const override { return {0}; }  // element-wise
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNormTypes);
    const ValueType& x = ctx.input(0);
    for (size_t i = 1; i <= 4; ++i) ctx.input(i);
    ctx.output(0).dtype = x.dtype;
    ctx.output(0).shape = x.shape;
    if (ctx.num_outputs() > 1) ctx.unsupported("training-mode outputs (running mean/var) are not supported");
    if (x.shape && x.shape->size() < 2) ctx.error("input must have rank >= 2 (N, C, ...)");
    if (x.shape && (*x.shape)[1].known())
      for (size_t i = 1; i <= 4; ++i)
        if (ctx.input(i).shape_known() && checked_numel(ctx.input(i).concrete_shape(), "bn") != (*x.shape)[1].value)
          ctx.error("input " + std::to_string(i) + " must hold one value per channel (" + std::to_string((*x.shape)[1].value) + ")");
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    if (x.numel() == 0) return;
    const int64_t n = x.shape()[0], c = x.shape()[1], spatial = x.numel() / (n * c);
    FloatIn xf = float_in(&x), scale = float_in(ctx.inputs[1]), bias = float_in(ctx.inputs[2]);
    FloatIn mean = float_in(ctx.inputs[3]), var = float_in(ctx.inputs[4]);
    std::vector<float> a(c), b(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      const double inv = 1.0 / std::sqrt(double(var.p[ch]) + eps_);
      a[ch] = static_cast<float>(scale.p[ch] * inv);
      b[ch] = static_cast<float>(bias.p[ch] - mean.p[ch] * scale.p[ch] * inv);
    }
    FloatOut y = float_out(ctx.outputs[0]);
    const NormPrimitives& k = kernels::norm_primitives(ctx.isa);
    // One read and one write, as memcpy: from 16 MiB moved y goes out with non-temporal stores.
    const bool stream = kernels::prefers_stream_stores(bytes_moved(x));
    ctx.parallel.for_range(n * c, rows_grain(spatial), [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u)
        k.normalize_channel(xf.p + u * spatial, y.p + u * spatial, spatial, 0.0f, a[u % c], b[u % c], stream);
      if (stream) k.stream_fence();
    });
    y.commit();
  }

 private:
  double eps_;
};

std::unique_ptr<OpKernel> make_layer_norm(const Node& n, int64_t) {
  RowOpConfig cfg;
  cfg.mean_output = 1, cfg.inv_std_output = 2;
  return std::make_unique<RowNorm>(cfg, n.attr_int("axis", -1), epsilon_of(n), stash_type_of(n));
}
std::unique_ptr<OpKernel> make_rms_norm(const Node& n, int64_t) {
  RowOpConfig cfg;
  cfg.rms = true, cfg.has_beta_input = false;
  return std::make_unique<RowNorm>(cfg, n.attr_int("axis", -1), epsilon_of(n), stash_type_of(n));
}
std::unique_ptr<OpKernel> make_simplified_layer_norm(const Node& n, int64_t) {
  RowOpConfig cfg;
  cfg.rms = true, cfg.has_beta_input = false, cfg.inv_std_output = 1;
  return std::make_unique<RowNorm>(cfg, n.attr_int("axis", -1), epsilon_of(n), stash_type_of(n));
}
std::unique_ptr<OpKernel> make_skip_layer_norm(const Node& n, int64_t) {
  RowOpConfig cfg;
  cfg.skip = true, cfg.fixed_last_axis = true, cfg.mean_output = 1, cfg.inv_std_output = 2, cfg.sum_output = 3;
  return std::make_unique<RowNorm>(cfg, -1, epsilon_of(n, 1e-12f), DType::Float32);
}
std::unique_ptr<OpKernel> make_skip_simplified_layer_norm(const Node& n, int64_t) {
  RowOpConfig cfg;
  cfg.rms = true, cfg.skip = true, cfg.has_beta_input = false, cfg.fixed_last_axis = true;
  cfg.mean_output = 1, cfg.inv_std_output = 2, cfg.sum_output = 3;
  return std::make_unique<RowNorm>(cfg, -1, epsilon_of(n, 1e-12f), DType::Float32);
}
// Written by the skip_layer_norm pass: inputs a, b, gamma, [beta]; outputs y and, as output 3,
// a + b when something else reads it.
std::unique_ptr<OpKernel> make_fused_skip_layer_norm(const Node& n, int64_t) {
  RowOpConfig cfg;
  cfg.skip = true, cfg.fixed_last_axis = true, cfg.any_broadcast = true, cfg.sum_output = 3;
  cfg.rms = n.attr_int("rms", 0) != 0;
  cfg.has_beta_input = !cfg.rms;
  return std::make_unique<RowNorm>(cfg, -1, epsilon_of(n), DType::Float32);
}
std::unique_ptr<OpKernel> make_group_norm(const Node& n, bool per_channel) {
  const int64_t groups = n.require_attribute("num_groups").i;
  if (n.require_attribute("num_groups").kind != Attribute::Kind::Int || groups <= 0)
    fail(ErrorCode::InvalidModel, n.label() + ": num_groups must be a positive integer, got " + std::to_string(groups));
  return std::make_unique<GroupNorm>(groups, epsilon_of(n), per_channel);
}

}  // namespace

void register_norm_ops(OpRegistry& r) {
  r.add("", "LayerNormalization", 17, kMaxDefaultOpset, make_layer_norm);
  r.add(kInternalDomain, "LayerNormalization", 1, 1, make_layer_norm);  // written by the layer_norm pass
  r.add(kInternalDomain, "GroupNormalization", 1, 1,  // written by the group_norm pass: per-channel scale/bias
        [](const Node& n, int64_t) { return make_group_norm(n, true); });
  r.add("", "RMSNormalization", 23, kMaxDefaultOpset, make_rms_norm);
  r.add(kInternalDomain, "RMSNormalization", 1, 1, make_rms_norm);  // written by the rms_norm pass
  r.add(kInternalDomain, "SkipLayerNormalization", 1, 1, make_fused_skip_layer_norm);  // the skip_layer_norm pass
  r.add("", "GroupNormalization", 18, 20, [](const Node& n, int64_t) { return make_group_norm(n, false); });
  r.add("", "GroupNormalization", 21, kMaxDefaultOpset, [](const Node& n, int64_t) { return make_group_norm(n, true); });
  r.add("", "InstanceNormalization", 6, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<GroupNorm>(0, epsilon_of(n), true);
  });
  r.add("", "BatchNormalization", 9, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    if (n.attr_int("training_mode", 0) != 0)
      fail(ErrorCode::NotImplemented, n.label() + ": training_mode=1 is not supported (inference only)");
    return std::make_unique<BatchNorm>(epsilon_of(n));
  });
  // ONNX Runtime registers SimplifiedLayerNormalization in the default domain; exporters also
  // write it under com.microsoft.
  r.add("", "SimplifiedLayerNormalization", 1, kMaxDefaultOpset, make_simplified_layer_norm);
  r.add(kMicrosoftDomain, "SimplifiedLayerNormalization", 1, 1, make_simplified_layer_norm);
  r.add(kMicrosoftDomain, "SkipLayerNormalization", 1, 1, make_skip_layer_norm);
  r.add(kMicrosoftDomain, "SkipSimplifiedLayerNormalization", 1, 1, make_skip_simplified_layer_norm);
}

}  // namespace normrt::onnx
