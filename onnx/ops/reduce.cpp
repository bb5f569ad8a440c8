// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1,
// ReduceL2, ReduceLogSum, ReduceLogSumExp (axes as an attribute, or as an input from opset 13 for
// ReduceSum and 18 for the others; keepdims; noop_with_empty_axes), ArgMax / ArgMin, and TopK.
// Floating-point sums accumulate in double, so a mean over a long axis keeps float32 precision.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

enum class ReduceMode { Sum, Mean, Max, Min, Prod, SumSquare, L1, L2, LogSum, LogSumExp };

std::vector<int64_t> ints_of(const Tensor& t) {
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.int_at(i);
  return v;
}

// Walks a tensor as [outer..., reduced..., ] through strides: for each output element, the input
// offsets of the elements reduced into it.
struct ReducePlan {
  Shape kept_shape;                       // the output dims (keepdims or not, kept dims only)
  std::vector<int64_t> kept_dims, kept_strides, red_dims, red_strides;
  int64_t out_count = 1, red_count = 1;
};

ReducePlan make_plan(const Shape& in, const std::vector<bool>& reduce) {
  ReducePlan p;
  const std::vector<int64_t> stride = strides_of(in);
  for (size_t d = 0; d < in.size(); ++d) {
    if (reduce[d]) {
      p.red_dims.push_back(in[d]), p.red_strides.push_back(stride[d]), p.red_count *= in[d];
    } else {
      p.kept_dims.push_back(in[d]), p.kept_strides.push_back(stride[d]), p.out_count *= in[d];
    }
  }
  return p;
}

// Calls f(offset) for each of `count` positions of an odometer over dims/strides.
template <class F>
void for_each_offset(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, int64_t base, int64_t count, F&& f) {
  // A fixed array for the usual ranks (a std::vector here trips a GCC 12 false positive,
  // -Wfree-nonheap-object, once inlined into every reduction).
  std::array<int64_t, 16> small{};
  std::vector<int64_t> large(dims.size() > small.size() ? dims.size() : 0, 0);
  int64_t* idx = dims.size() > small.size() ? large.data() : small.data();
  int64_t off = base;
  for (int64_t i = 0; i < count; ++i) {
    f(off);
    for (size_t d = dims.size(); d-- > 0;) {
      off += strides[d];
      if (++idx[d] < dims[d]) break;
      off -= strides[d] * dims[d];
      idx[d] = 0;
    }
  }
}

class Reduce final : public OpKernel {
 public:
  Reduce(ReduceMode mode, bool axes_input, std::vector<int64_t> axes, bool keepdims, bool noop_empty)
      : mode_(mode), axes_input_(axes_input), axes_(std::move(axes)), keepdims_(keepdims), noop_empty_(noop_empty) {}

  // Which dims are reduced; nullopt while the axes input's value is unknown.
  std::optional<std::vector<bool>> reduced(size_t rank, const Tensor* axes_tensor, bool axes_present, const InferContext* ctx,
                                           const ComputeContext* cctx) const {
    std::vector<int64_t> axes = axes_;
    if (axes_input_ && axes_present) {
      if (!axes_tensor) return std::nullopt;
      axes = ints_of(*axes_tensor);
    }
    std::vector<bool> r(rank, axes.empty() && !noop_empty_);
    for (int64_t a : axes) {
      const int64_t d = a < 0 ? a + static_cast<int64_t>(rank) : a;
      if (d < 0 || d >= static_cast<int64_t>(rank)) {
        const std::string msg = "axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank);
        if (ctx) ctx->error(msg);
        cctx->error(msg);
      }
      r[d] = true;
    }
    return r;
  }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int32, DType::Int64, DType::UInt32,
                        DType::UInt64, DType::Int8, DType::UInt8, DType::Bool});
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (x.dtype == DType::Bool && mode_ != ReduceMode::Max && mode_ != ReduceMode::Min) ctx.unsupported("bool input to this reduction");
    if (!x.shape) return;
    const bool has_axes = ctx.has_input(1);
    auto r = reduced(x.shape->size(), has_axes ? ctx.input(1).value : nullptr, has_axes, &ctx, nullptr);
    if (!r) return;
    SymShape out;
    for (size_t d = 0; d < x.shape->size(); ++d)
      if (!(*r)[d]) out.push_back((*x.shape)[d]);
      else if (keepdims_) out.push_back(Dim::of(1));
    ctx.output(0).shape = out;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    const bool has_axes = ctx.inputs.size() > 1 && ctx.inputs[1];
    const std::vector<bool> r = *reduced(x.rank(), has_axes ? ctx.inputs[1] : nullptr, has_axes, nullptr, &ctx);
    const ReducePlan p = make_plan(x.shape(), r);
    auto run = [&]<class T>() {
      using C = kernels::compute_t<T>;
      using Acc = std::conditional_t<std::is_floating_point_v<C>, double, std::conditional_t<std::is_signed_v<C>, int64_t, uint64_t>>;
      const T* in = x.data<T>();
      T* out = y.data<T>();
      ctx.parallel.for_range(p.out_count, rows_grain(std::max<int64_t>(p.red_count, 1)), [&](int64_t o0, int64_t o1) {
        std::vector<int64_t> idx(p.kept_dims.size(), 0);
        int64_t rem = o0, base = 0;
        for (size_t d = p.kept_dims.size(); d-- > 0;) {
          idx[d] = rem % p.kept_dims[d];
          rem /= p.kept_dims[d];
          base += idx[d] * p.kept_strides[d];
        }
        for (int64_t o = o0; o < o1; ++o) {
          out[o] = T(static_cast<C>(reduce_one<T, C, Acc>(in, p, base)));
          for (size_t d = p.kept_dims.size(); d-- > 0;) {
            base += p.kept_strides[d];
            if (++idx[d] < p.kept_dims[d]) break;
            base -= p.kept_strides[d] * p.kept_dims[d];
            idx[d] = 0;
          }
        }
      });
    };
    if (x.dtype() == DType::Bool) run.template operator()<bool>();
    else visit_numeric(x.dtype(), run);
  }

 private:
  // Integer sums, products and negations wrap (two's complement) instead of being undefined.
  template <class Acc>
  static Acc wrap_add(Acc a, Acc b) { return kernels::apply_binary(kernels::BinaryOp::Add, a, b); }
  template <class Acc>
  static Acc wrap_mul(Acc a, Acc b) { return kernels::apply_binary(kernels::BinaryOp::Mul, a, b); }

  template <class T, class C, class Acc>
  Acc reduce_one(const T* in, const ReducePlan& p, int64_t base) const {
    const bool is_float = std::is_floating_point_v<C>;
    switch (mode_) {
      case ReduceMode::Max:
      case ReduceMode::Min: {
        const bool mx = mode_ == ReduceMode::Max;
        C best = mx ? (is_float ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::lowest())
                    : (is_float ? std::numeric_limits<C>::infinity() : std::numeric_limits<C>::max());
        if constexpr (std::is_same_v<C, bool>) best = !mx;
        bool nan = false;
        for_each_offset(p.red_dims, p.red_strides, base, p.red_count, [&](int64_t off) {
          const C v = C(in[off]);
          if constexpr (std::is_floating_point_v<C>) nan |= v != v;
          best = mx ? std::max(best, v) : std::min(best, v);
        });
        if constexpr (std::is_floating_point_v<C>)
          if (nan) return Acc(std::numeric_limits<C>::quiet_NaN());
        return Acc(best);
      }
      default: break;
    }
    Acc acc = mode_ == ReduceMode::Prod ? Acc(1) : Acc(0);
    if (mode_ == ReduceMode::LogSumExp) {
      double m = -std::numeric_limits<double>::infinity();
      for_each_offset(p.red_dims, p.red_strides, base, p.red_count, [&](int64_t off) { m = std::max(m, double(C(in[off]))); });
      if (!std::isfinite(m)) m = 0;
      double s = 0;
      for_each_offset(p.red_dims, p.red_strides, base, p.red_count, [&](int64_t off) { s += std::exp(double(C(in[off])) - m); });
      return convert_value<Acc>(std::log(s) + m);
    }
    for_each_offset(p.red_dims, p.red_strides, base, p.red_count, [&](int64_t off) {
      const Acc v = Acc(C(in[off]));
      switch (mode_) {
        case ReduceMode::Prod: acc = wrap_mul(acc, v); break;
        case ReduceMode::SumSquare:
        case ReduceMode::L2: acc = wrap_add(acc, wrap_mul(v, v)); break;
        case ReduceMode::L1:
          if constexpr (std::is_signed_v<Acc>) acc = wrap_add(acc, v < 0 ? wrap_mul(v, Acc(-1)) : v);
          else acc = wrap_add(acc, v);
          break;
        default: acc = wrap_add(acc, v);
      }
    });
    switch (mode_) {
      // A double result for an integer accumulator converts without undefined behaviour (NaN -> 0,
      // saturating; the mean of nothing was found by fuzzing).
      case ReduceMode::Mean: return p.red_count ? Acc(acc / Acc(p.red_count)) : convert_value<Acc>(std::numeric_limits<double>::quiet_NaN());
      case ReduceMode::L2: return convert_value<Acc>(std::sqrt(double(acc)));
      case ReduceMode::LogSum: return convert_value<Acc>(std::log(double(acc)));
      default: return acc;
    }
  }

  ReduceMode mode_;
  bool axes_input_;
  std::vector<int64_t> axes_;
  bool keepdims_, noop_empty_;
};

// ArgMax / ArgMin along one axis (keepdims, select_last_index), int64 output.
class ArgReduce final : public OpKernel {
 public:
  ArgReduce(bool is_max, int64_t axis, bool keepdims, bool last) : max_(is_max), axis_(axis), keepdims_(keepdims), last_(last) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNumericTypes);
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = DType::Int64;
    if (!x.shape) return;
    const int64_t axis = normalize_axis(axis_, static_cast<int64_t>(x.shape->size()), ctx);
    SymShape out = *x.shape;
    if (keepdims_) out[axis] = Dim::of(1);
    else out.erase(out.begin() + axis);
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const int64_t rank = static_cast<int64_t>(x.rank()), axis = axis_ < 0 ? axis_ + rank : axis_;
    const AroundAxis around = around_axis(x.shape(), axis);
    const int64_t outer = around.outer, len = around.len, inner = around.inner;
    int64_t* out = ctx.outputs[0]->data<int64_t>();
    visit_numeric(x.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t best = 0;
          C bv = C(x.data<T>()[o * len * inner + i]);
          for (int64_t s = 1; s < len; ++s) {
            const C v = C(x.data<T>()[(o * len + s) * inner + i]);
            const bool better = max_ ? (last_ ? v >= bv : v > bv) : (last_ ? v <= bv : v < bv);
            if (better) best = s, bv = v;
          }
          out[o * inner + i] = best;
        }
    });
  }

 private:
  bool max_;
  int64_t axis_;
  bool keepdims_, last_;
};

// TopK (1: k an attribute; 10: k an input; 11: largest, sorted, negative axis): the k largest (or
// smallest) values along an axis and their int64 indices, in order; equal values keep the lower
// index first, and NaN ranks above every number (as numpy's sort places it). sorted=0 allows any
// order; the sorted one is returned.
class TopK final : public OpKernel {
 public:
  TopK(int64_t axis, bool largest, std::optional<int64_t> k_attr) : axis_(axis), largest_(largest), k_attr_(k_attr) {}
  // k from the attribute or the K input, checked against the axis size (-1: not known yet).
  int64_t k_of(const Tensor* k_input, int64_t len, const InferContext& ctx) const {
    int64_t k = 0;
    if (k_attr_) {
      k = *k_attr_;
    } else {
      if (k_input->numel() != 1) ctx.error("K must hold exactly one value, it holds " + std::to_string(k_input->numel()));
      k = k_input->int_at(0);
    }
    if (k < 0 || (len >= 0 && k > len)) ctx.error("k = " + std::to_string(k) + " must lie in [0, " + std::to_string(len) + "], the axis size");
    return k;
  }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.expect_type(0, kNumericTypes);
    if (!k_attr_) ctx.expect_type(1, {DType::Int64});
    ctx.output(0).dtype = x.dtype;
    if (ctx.num_outputs() > 1) ctx.output(1).dtype = DType::Int64;
    if (!x.shape) return;
    const int64_t axis = normalize_axis(axis_, static_cast<int64_t>(x.shape->size()), ctx);
    const Dim& len = (*x.shape)[axis];
    SymShape out = *x.shape;
    const Tensor* k_input = k_attr_ ? nullptr : ctx.input(1).value;
    out[axis] = k_attr_ || k_input ? Dim::of(k_of(k_input, len.known() ? len.value : -1, ctx)) : Dim();
    for (size_t o = 0; o < ctx.num_outputs(); ++o) ctx.output(o).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const int64_t rank = static_cast<int64_t>(x.rank()), axis = axis_ < 0 ? axis_ + rank : axis_;
    const AroundAxis around = around_axis(x.shape(), axis);
    const int64_t outer = around.outer, len = around.len, inner = around.inner;
    Tensor* values = ctx.outputs[0];
    Tensor* indices = ctx.outputs.size() > 1 ? ctx.outputs[1] : nullptr;
    if (!values && !indices) return;
    // k as infer() checked it, reading K at this run: the outputs' size along the axis.
    const int64_t k = (values ? values : indices)->shape()[axis];
    if (k == 0 || outer * inner == 0) return;
    visit_numeric(x.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      const T* in = x.data<T>();
      // a before b: higher (lower) value first, NaN highest, then the lower index.
      auto before = [largest = largest_](const std::pair<C, int64_t>& a, const std::pair<C, int64_t>& b) {
        const bool an = a.first != a.first, bn = b.first != b.first;
        if (an || bn) {
          if (an && bn) return a.second < b.second;
          return largest ? an : bn;
        }
        if (a.first != b.first) return largest ? a.first > b.first : a.first < b.first;
        return a.second < b.second;
      };
      ctx.parallel.for_range(outer * inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, len)), [&](int64_t l0, int64_t l1) {
        std::vector<std::pair<C, int64_t>> line(static_cast<size_t>(len));
        for (int64_t l = l0; l < l1; ++l) {
          const int64_t o = l / inner, i = l % inner;
          for (int64_t s = 0; s < len; ++s) line[s] = {C(in[(o * len + s) * inner + i]), s};
          std::partial_sort(line.begin(), line.begin() + k, line.end(), before);
          for (int64_t s = 0; s < k; ++s) {
            const int64_t at = (o * k + s) * inner + i;
            if (values) values->data<T>()[at] = in[(o * len + line[s].second) * inner + i];
            if (indices) indices->data<int64_t>()[at] = line[s].second;
          }
        }
      });
    });
  }

 private:
  int64_t axis_;
  bool largest_;
  std::optional<int64_t> k_attr_;
};

template <ReduceMode M>
std::unique_ptr<OpKernel> make_reduce(const Node& n, bool axes_input) {
  return std::make_unique<Reduce>(M, axes_input, n.attr_ints("axes"), n.attr_int("keepdims", 1) != 0,
                                  n.attr_int("noop_with_empty_axes", 0) != 0);
}

}  // namespace

void register_reduce_ops(OpRegistry& r) {
  r.add("", "ReduceSum", 1, 12, [](const Node& n, int64_t) { return make_reduce<ReduceMode::Sum>(n, false); });
  r.add("", "ReduceSum", 13, kMaxDefaultOpset, [](const Node& n, int64_t) { return make_reduce<ReduceMode::Sum>(n, true); });
#define NORMRT_REDUCE(NAME, MODE)                                                                                      \
  r.add("", NAME, 1, 17, [](const Node& n, int64_t) { return make_reduce<ReduceMode::MODE>(n, false); });            \
  r.add("", NAME, 18, kMaxDefaultOpset, [](const Node& n, int64_t) { return make_reduce<ReduceMode::MODE>(n, true); });
  NORMRT_REDUCE("ReduceMean", Mean)
  NORMRT_REDUCE("ReduceMax", Max)
  NORMRT_REDUCE("ReduceMin", Min)
  NORMRT_REDUCE("ReduceProd", Prod)
  NORMRT_REDUCE("ReduceSumSquare", SumSquare)
  NORMRT_REDUCE("ReduceL1", L1)
  NORMRT_REDUCE("ReduceL2", L2)
  NORMRT_REDUCE("ReduceLogSum", LogSum)
  NORMRT_REDUCE("ReduceLogSumExp", LogSumExp)
#undef NORMRT_REDUCE
  r.add("", "TopK", 1, 9, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    const Attribute* k = n.attributes.count("k") ? &n.attributes.at("k") : nullptr;
    if (!k || k->kind != Attribute::Kind::Int) fail(ErrorCode::InvalidModel, n.label() + ": the int attribute k is required");
    return std::make_unique<TopK>(n.attr_int("axis", -1), true, k->i);
  });
  r.add("", "TopK", 10, 10, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<TopK>(n.attr_int("axis", -1), true, std::nullopt);
  });
  r.add("", "TopK", 11, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<TopK>(n.attr_int("axis", -1), n.attr_int("largest", 1) != 0, std::nullopt);
  });
  for (bool is_max : {true, false})
    r.add("", is_max ? "ArgMax" : "ArgMin", 1, kMaxDefaultOpset,
          is_max ? +[](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
            return std::make_unique<ArgReduce>(true, n.attr_int("axis", 0), n.attr_int("keepdims", 1) != 0, n.attr_int("select_last_index", 0) != 0);
          }
                 : +[](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
                     return std::make_unique<ArgReduce>(false, n.attr_int("axis", 0), n.attr_int("keepdims", 1) != 0,
                                                        n.attr_int("select_last_index", 0) != 0);
                   });
}

}  // namespace normrt::onnx
