// Shape and data-movement ops: Shape, Size, Concat, Split, Slice, Squeeze, Unsqueeze, Flatten,
// Expand, Tile, ConstantOfShape, Range, Trilu, CastLike, CumSum, DepthToSpace, SpaceToDepth.
// Ops whose output shape depends on an input's values (Slice starts, Expand shape, ...) infer it
// when that value is known: at session creation for constants, and at every run.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

// The values of a 1-D (or scalar) int32/int64 tensor.
std::vector<int64_t> ints_of(const Tensor& t) {
  std::vector<int64_t> v(t.numel());
  if (t.dtype() == DType::Int64) std::copy(t.data<int64_t>(), t.data<int64_t>() + t.numel(), v.begin());
  else if (t.dtype() == DType::Int32) std::copy(t.data<int32_t>(), t.data<int32_t>() + t.numel(), v.begin());
  else fail(ErrorCode::InvalidModel, "expected an int32 or int64 tensor, got " + dtype_name(t.dtype()));
  return v;
}

Tensor int64_tensor(const std::vector<int64_t>& v, bool scalar = false) {
  Tensor t = Tensor::allocate(DType::Int64, scalar ? Shape{} : Shape{static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

// Copies `rows` blocks of `block` bytes from src (stride src_stride) to dst (stride dst_stride).
void copy_blocks(const char* src, int64_t src_stride, char* dst, int64_t dst_stride, int64_t rows, int64_t block) {
  if (block <= 0) return;
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, block);
}

// ---------------------------------------------------------------------------------------------

// Shape (opset 1-14; 15+ adds start/end).
class ShapeOp final : public OpKernel {
 public:
  ShapeOp(int64_t start, std::optional<int64_t> end) : start_(start), end_(end) {}
  std::pair<int64_t, int64_t> range(int64_t rank) const {
    auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    return {clamp(start_), end_ ? clamp(*end_) : rank};
  }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = DType::Int64;
    if (!x.shape) return;
    const auto [b, e] = range(static_cast<int64_t>(x.shape->size()));
    ctx.output(0).shape = SymShape{Dim::of(std::max<int64_t>(e - b, 0))};
    if (x.shape_known()) {
      const Shape s = x.concrete_shape();
      ctx.set_value(0, int64_tensor(std::vector<int64_t>(s.begin() + b, s.begin() + std::max(b, e))));
    }
  }
  void compute(ComputeContext& ctx) const override {
    const Shape& s = ctx.inputs[0]->shape();
    const auto [b, e] = range(static_cast<int64_t>(s.size()));
    for (int64_t i = b; i < e; ++i) ctx.outputs[0]->data<int64_t>()[i - b] = s[i];
  }

 private:
  int64_t start_;
  std::optional<int64_t> end_;
};

class SizeOp final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.output(0).dtype = DType::Int64;
    ctx.output(0).shape = SymShape{};
    if (ctx.input(0).shape_known())
      ctx.set_value(0, int64_tensor({checked_numel(ctx.input(0).concrete_shape(), "Size input")}, true));
  }
  void compute(ComputeContext& ctx) const override { *ctx.outputs[0]->data<int64_t>() = ctx.inputs[0]->numel(); }
};

// ---------------------------------------------------------------------------------------------

class Concat final : public OpKernel {
 public:
  explicit Concat(int64_t axis) : axis_(axis) {}
  void infer(InferContext& ctx) const override {
    if (ctx.num_inputs() == 0) ctx.error("needs at least one input");
    const ValueType& a = ctx.input(0);
    ctx.output(0).dtype = a.dtype;
    for (size_t i = 1; i < ctx.num_inputs(); ++i)
      if (ctx.input(i).dtype != a.dtype) ctx.error("inputs have different element types");
    if (!a.shape) return;
    const size_t rank = a.shape->size();
    if (rank == 0) ctx.error("inputs must have rank >= 1");
    const int64_t axis = normalize_axis(axis_, static_cast<int64_t>(rank), ctx);
    SymShape out = *a.shape;
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
      const ValueType& b = ctx.input(i);
      if (!b.shape) return;
      if (b.shape->size() != rank) ctx.error("inputs have different ranks");
      for (size_t d = 0; d < rank; ++d) {
        const Dim &x = out[d], &y = (*b.shape)[d];
        if (static_cast<int64_t>(d) == axis) out[d] = x.known() && y.known() ? Dim::of(x.value + y.value) : Dim();
        else if (x.known() && y.known() && x.value != y.value)
          ctx.error("input " + std::to_string(i) + " " + sym_shape_to_string(*b.shape) + " does not match " + sym_shape_to_string(*a.shape) +
                    " outside the axis");
        else if (!x.known()) out[d] = y;
      }
    }
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    Tensor& y = *ctx.outputs[0];
    const int64_t axis = axis_ < 0 ? axis_ + static_cast<int64_t>(y.rank()) : axis_;
    const size_t width = dtype_size(y.dtype());
    const AroundAxis around = around_axis(y.shape(), axis);
    const int64_t outer = around.outer, out_len = around.len, inner = around.inner;
    const int64_t out_row = out_len * inner * static_cast<int64_t>(width);
    int64_t offset = 0;
    for (const Tensor* t : ctx.inputs) {
      const int64_t block = t->shape()[axis] * inner * static_cast<int64_t>(width);
      copy_blocks(static_cast<const char*>(t->raw()), block, static_cast<char*>(y.raw()) + offset, out_row, outer, block);
      offset += block;
    }
  }

 private:
  int64_t axis_;
};

// Split: sizes from the 'split' attribute (opsets 2-12), the split input (13+), num_outputs (18+)
// or equal parts.
class Split final : public OpKernel {
 public:
  Split(int64_t axis, std::vector<int64_t> split_attr, int64_t num_outputs)
      : axis_(axis), split_attr_(std::move(split_attr)), num_outputs_(num_outputs) {}
  std::vector<int64_t> sizes(int64_t len, size_t outputs, const Tensor* split, const std::function<void(const std::string&)>& error) const {
    std::vector<int64_t> s = split ? ints_of(*split) : split_attr_;
    if (!s.empty()) {
      if (s.size() != outputs) error("split has " + std::to_string(s.size()) + " sizes for " + std::to_string(outputs) + " outputs");
      int64_t total = 0;
      for (int64_t v : s) {
        if (v < 0) error("split sizes must be >= 0");
        total += v;
      }
      if (total != len) error("split sizes add up to " + std::to_string(total) + ", the axis has " + std::to_string(len));
      return s;
    }
    const int64_t n = num_outputs_ > 0 ? num_outputs_ : static_cast<int64_t>(outputs);
    if (num_outputs_ > 0) {  // opset 18: the last chunk may be smaller
      const int64_t chunk = (len + n - 1) / n;
      for (int64_t i = 0; i < n; ++i) s.push_back(std::clamp<int64_t>(len - i * chunk, 0, chunk));
    } else {
      if (len % n) error("the axis (" + std::to_string(len) + ") does not split into " + std::to_string(n) + " equal parts");
      s.assign(n, len / n);
    }
    return s;
  }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    for (size_t o = 0; o < ctx.num_outputs(); ++o) ctx.output(o).dtype = x.dtype;
    if (num_outputs_ > 0 && static_cast<int64_t>(ctx.num_outputs()) != num_outputs_) ctx.error("num_outputs disagrees with the outputs");
    if (!x.shape) return;
    const int64_t axis = normalize_axis(axis_, static_cast<int64_t>(x.shape->size()), ctx);
    const Dim len = (*x.shape)[axis];
    if (!len.known() || (ctx.has_input(1) && !ctx.input(1).value)) return;
    const std::vector<int64_t> s =
        sizes(len.value, ctx.num_outputs(), ctx.has_input(1) ? ctx.input(1).value : nullptr, [&](const std::string& e) { ctx.error(e); });
    for (size_t o = 0; o < ctx.num_outputs(); ++o) {
      SymShape out = *x.shape;
      out[axis] = Dim::of(s[o]);
      ctx.output(o).shape = out;
    }
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const int64_t axis = axis_ < 0 ? axis_ + static_cast<int64_t>(x.rank()) : axis_;
    const size_t width = dtype_size(x.dtype());
    const AroundAxis around = around_axis(x.shape(), axis);
    const int64_t outer = around.outer, in_len = around.len, inner = around.inner;
    const int64_t in_row = in_len * inner * static_cast<int64_t>(width);
    // Outer rows across threads (a fused QKV projection's Split copies 1.8 MB per ViT-B/16 layer).
    ctx.parallel.for_range(outer, rows_grain(x.shape()[axis] * inner), [&](int64_t r0, int64_t r1) {
      int64_t offset = 0;
      for (Tensor* y : ctx.outputs) {
        if (!y) continue;
        const int64_t block = y->shape()[axis] * inner * static_cast<int64_t>(width);
        copy_blocks(static_cast<const char*>(x.raw()) + r0 * in_row + offset, in_row, static_cast<char*>(y->raw()) + r0 * block, block,
                    r1 - r0, block);
        offset += block;
      }
    });
  }

 private:
  int64_t axis_;
  std::vector<int64_t> split_attr_;
  int64_t num_outputs_;
};

// ---------------------------------------------------------------------------------------------

// Slice: opset 1-9 starts/ends/axes attributes; 10+ inputs starts, ends, axes, steps.
class Slice final : public OpKernel {
 public:
  Slice(bool from_inputs, std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> axes)
      : from_inputs_(from_inputs), starts_(std::move(starts)), ends_(std::move(ends)), axes_(std::move(axes)) {}

  struct Plan {
    std::vector<int64_t> start, step, count;  // per dim of the input
  };
  // nullopt while an input value is unknown.
  std::optional<Plan> plan(const Shape& in, const std::vector<const Tensor*>& inputs, const std::function<void(const std::string&)>& error) const {
    std::vector<int64_t> starts = starts_, ends = ends_, axes = axes_, steps;
    if (from_inputs_) {
      if (inputs.size() < 3) error("needs the inputs data, starts and ends; the node has " + std::to_string(inputs.size()));
      for (size_t i = 1; i <= 2; ++i)
        if (!inputs[i]) return std::nullopt;
      starts = ints_of(*inputs[1]), ends = ints_of(*inputs[2]);
      if (inputs.size() > 3 && inputs[3]) axes = ints_of(*inputs[3]);
      if (inputs.size() > 4 && inputs[4]) steps = ints_of(*inputs[4]);
    }
    const int64_t rank = static_cast<int64_t>(in.size());
    if (starts.size() != ends.size()) error("starts and ends have different lengths");
    if (axes.empty()) axes = iota_axes(static_cast<int64_t>(starts.size()));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (axes.size() != starts.size() || steps.size() != starts.size()) error("starts, ends, axes and steps must have the same length");
    Plan p;
    p.start.assign(rank, 0), p.step.assign(rank, 1), p.count = in;
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < starts.size(); ++i) {
      int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
      if (a < 0 || a >= rank || seen[a]) error("axis " + std::to_string(axes[i]) + " is out of range or repeated");
      seen[a] = true;
      const int64_t dim = in[a], step = steps[i];
      if (step == 0) error("steps must not be 0");
      int64_t s = starts[i], e = ends[i];
      if (s < 0) s += dim;
      if (e < 0) e += dim;
      int64_t count;
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, dim), e = std::clamp<int64_t>(e, 0, dim);
        count = e > s ? (e - s + step - 1) / step : 0;
      } else {
        s = std::clamp<int64_t>(s, 0, dim - 1), e = std::clamp<int64_t>(e, -1, dim - 1);
        count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
      }
      p.start[a] = s, p.step[a] = step, p.count[a] = dim == 0 ? 0 : count;
    }
    return p;
  }

  // The output has X's rank; an axis the Slice does not touch keeps X's dim, symbolic or not, and
  // one it cuts is known when its dim and the starts, ends and steps are (x[:, :160] of
  // [batch, 320, 64, 64] is [batch, 160, 64, 64]).
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    const std::vector<const Tensor*> ins = known_input_values(ctx);
    const int64_t rank = static_cast<int64_t>(x.shape->size());
    // Which axes are cut: the axes (attribute or input), else the first len(starts).
    std::optional<std::vector<int64_t>> axes;
    if (!from_inputs_) axes = axes_.empty() ? iota_axes(static_cast<int64_t>(starts_.size())) : axes_;
    else if (ins.size() > 3 && ctx.has_input(3)) axes = ins[3] ? std::optional(ints_of(*ins[3])) : std::nullopt;
    else if (ins.size() > 1 && ins[1]) axes = iota_axes(ins[1]->numel());
    else if (const std::optional<size_t> n = length_as_rank(ctx.input(1)))
      axes = iota_axes(static_cast<int64_t>(*n));
    std::vector<bool> cut(rank, !axes);
    if (axes)
      for (int64_t a : *axes) cut[normalize_axis(a, rank, ctx, "Slice axis")] = true;
    Shape in(rank);
    for (int64_t d = 0; d < rank; ++d) in[d] = (*x.shape)[d].known() ? (*x.shape)[d].value : 1;  // cut dims unknown stay unknown below
    const std::optional<Plan> p = plan(in, ins, [&](const std::string& e) { ctx.error(e); });
    SymShape out = *x.shape;
    for (int64_t d = 0; d < rank; ++d)
      if (cut[d]) out[d] = p && (*x.shape)[d].known() ? Dim::of(p->count[d]) : Dim();
    ctx.output(0).shape = out;
  }
  static std::vector<int64_t> iota_axes(int64_t n) {
    std::vector<int64_t> a(static_cast<size_t>(std::max<int64_t>(n, 0)));
    for (int64_t i = 0; i < n; ++i) a[i] = i;
    return a;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    if (y.numel() == 0) return;
    const Plan p = *plan(x.shape(), ctx.inputs, [&](const std::string& e) { ctx.error(e); });
    gather_elements(x, y, [&](size_t d, int64_t i) { return p.start[d] + i * p.step[d]; });
  }

 private:
  bool from_inputs_;
  std::vector<int64_t> starts_, ends_, axes_;
};

// ---------------------------------------------------------------------------------------------
// Views: Squeeze, Unsqueeze, Flatten share the input's bytes (the executor aliases output 0).

class Squeeze final : public OpKernel {
 public:
  Squeeze(bool from_input, std::vector<int64_t> axes) : from_input_(from_input), axes_(std::move(axes)) {}
  int output_aliases_input() const override { return 0; }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    std::vector<int64_t> axes = axes_;
    if (from_input_ && ctx.has_input(1)) {
      if (!ctx.input(1).value) return;
      axes = ints_of(*ctx.input(1).value);
    }
    const int64_t rank = static_cast<int64_t>(x.shape->size());
    std::vector<bool> drop(rank, false);
    if (axes.empty()) {
      for (int64_t d = 0; d < rank; ++d) {
        if (!(*x.shape)[d].known()) return;  // which dims are 1 is not known yet
        drop[d] = (*x.shape)[d].value == 1;
      }
    }
    for (int64_t a : axes) {
      const int64_t d = normalize_axis(a, rank, ctx, "axes");
      const Dim& dim = (*x.shape)[d];
      if (dim.known() && dim.value != 1) ctx.error("cannot squeeze dim " + std::to_string(d) + " of size " + std::to_string(dim.value));
      drop[d] = true;
    }
    SymShape out;
    for (int64_t d = 0; d < rank; ++d)
      if (!drop[d]) out.push_back((*x.shape)[d]);
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext&) const override {}

 private:
  bool from_input_;
  std::vector<int64_t> axes_;
};

class Unsqueeze final : public OpKernel {
 public:
  Unsqueeze(bool from_input, std::vector<int64_t> axes) : from_input_(from_input), axes_(std::move(axes)) {}
  int output_aliases_input() const override { return 0; }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    std::vector<int64_t> axes = axes_;
    if (from_input_) {
      if (!ctx.input(1).value) return;
      axes = ints_of(*ctx.input(1).value);
    }
    const int64_t out_rank = static_cast<int64_t>(x.shape->size() + axes.size());
    std::vector<bool> inserted(out_rank, false);
    for (int64_t a : axes) {
      const int64_t d = normalize_axis(a, out_rank, ctx, "axes");
      if (inserted[d]) ctx.error("axes has a repeated entry");
      inserted[d] = true;
    }
    SymShape out;
    size_t next = 0;
    for (int64_t d = 0; d < out_rank; ++d) out.push_back(inserted[d] ? Dim::of(1) : (*x.shape)[next++]);
    ctx.output(0).shape = out;
    if (x.value) ctx.set_value(0, x.value->reshaped(out_shape_of(out)));
  }
  void compute(ComputeContext&) const override {}
  static Shape out_shape_of(const SymShape& s) {
    Shape r;
    for (const Dim& d : s) r.push_back(d.value);
    return r;
  }

 private:
  bool from_input_;
  std::vector<int64_t> axes_;
};

class Flatten final : public OpKernel {
 public:
  explicit Flatten(int64_t axis) : axis_(axis) {}
  int output_aliases_input() const override { return 0; }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    const int64_t rank = static_cast<int64_t>(x.shape->size());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis > rank) ctx.error("axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(rank));
    Dim a = Dim::of(1), b = Dim::of(1);
    for (int64_t d = 0; d < rank; ++d) {
      Dim& t = d < axis ? a : b;
      const Dim& v = (*x.shape)[d];
      t = t.known() && v.known() ? Dim::of(t.value * v.value) : Dim();
    }
    ctx.output(0).shape = SymShape{a, b};
  }
  void compute(ComputeContext&) const override {}

 private:
  int64_t axis_;
};

// ---------------------------------------------------------------------------------------------

// Expand: broadcast the input to a shape given as an input (bidirectional: the result is the
// broadcast of both).
class Expand final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.expect_type(1, {DType::Int64});
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    if (ctx.input(1).value) {
      ctx.output(0).shape = broadcast_sym(*x.shape, to_sym(ints_of(*ctx.input(1).value)), ctx);
      return;
    }
    // The target shape is known only at run time (a class token expanded to the batch): its length
    // still gives the rank, and a dim of X other than 1 is the output's whatever the target says.
    const std::optional<size_t> target_rank = length_as_rank(ctx.input(1));
    if (!target_rank) return;
    const size_t rank = std::max<size_t>(x.shape->size(), *target_rank);
    SymShape out(rank);
    for (size_t i = 0; i < x.shape->size(); ++i) {
      const Dim& d = (*x.shape)[x.shape->size() - 1 - i];
      if (d.known() && d.value != 1) out[rank - 1 - i] = d;
    }
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(x.shape(), y.shape());
    const size_t width = dtype_size(x.dtype());
    // The element type only matters for its size: copy through same-width integers.
    visit_width(width, [&]<class T>() {
      kernels::broadcast_map(static_cast<const T*>(x.raw()), static_cast<const T*>(y.raw()), static_cast<T*>(y.raw()), plan, 0, plan.outer,
                             [](T a, T) { return a; });
    });
  }
};

class Tile final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.expect_type(1, {DType::Int64});
    ctx.output(0).dtype = x.dtype;
    if (!x.shape || !ctx.input(1).value) return;
    const std::vector<int64_t> rep = ints_of(*ctx.input(1).value);
    if (rep.size() != x.shape->size()) ctx.error("repeats must have one entry per input dim");
    SymShape out = *x.shape;
    for (size_t d = 0; d < rep.size(); ++d) {
      if (rep[d] < 0) ctx.error("repeats must be >= 0");
      out[d] = out[d].known() ? Dim::of(out[d].value * rep[d]) : Dim();
    }
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    gather_elements(x, y, [&](size_t d, int64_t i) { return i % x.shape()[d]; });
  }
};

class ConstantOfShape final : public OpKernel {
 public:
  explicit ConstantOfShape(const Node& n) {
    auto it = n.attributes.find("value");
    if (it == n.attributes.end()) {
      value_ = Tensor::allocate(DType::Float32, {1});
    } else {
      if (it->second.kind != Attribute::Kind::Tensor || !it->second.t || it->second.t->numel() != 1)
        fail(ErrorCode::InvalidModel, n.label() + ": value must be a one-element tensor");
      value_ = *it->second.t;
    }
  }
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Int64});
    ctx.output(0).dtype = value_.dtype();
    if (!ctx.input(0).value) {
      // Known only at run time (zeros_like of the input ids): the shape's length is still the rank.
      if (const std::optional<size_t> rank = length_as_rank(ctx.input(0))) ctx.output(0).shape = SymShape(*rank);
      return;
    }
    const std::vector<int64_t> s = ints_of(*ctx.input(0).value);
    for (int64_t v : s)
      if (v < 0) ctx.error("the shape has a negative entry");
    ctx.output(0).shape = to_sym(s);
  }
  void compute(ComputeContext& ctx) const override {
    Tensor& y = *ctx.outputs[0];
    const size_t width = dtype_size(y.dtype());
    for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(static_cast<char*>(y.raw()) + i * width, value_.raw(), width);
  }

 private:
  Tensor value_;
};

// Range: start, start + delta, ... up to limit (exclusive), each value the previous plus delta as
// the reference computes it. float16 and bfloat16 accumulate in float32 (Range-11, and Range-27's
// default stash_type); Range-27's stash_type may instead name float64 or the input type itself
// (every step then rounds to it).
class Range final : public OpKernel {
 public:
  explicit Range(DType stash = DType::Float32) : stash_(stash) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32, DType::Float64, DType::Int16, DType::Int32, DType::Int64, DType::Float16, DType::BFloat16});
    for (size_t i : {1, 2})
      if (ctx.input(i).dtype != ctx.input(0).dtype) ctx.error("start, limit and delta must have the same element type");
    const DType t = ctx.input(0).dtype;
    if ((t == DType::Float16 || t == DType::BFloat16) && stash_ != DType::Float32 && stash_ != DType::Float64 && stash_ != t)
      ctx.error("stash_type " + dtype_name(stash_) + " is neither float, double nor the input type " + dtype_name(t));
    ctx.output(0).dtype = t;
    if (!ctx.input(0).value || !ctx.input(1).value || !ctx.input(2).value) {
      ctx.output(0).shape = SymShape{Dim()};
      return;
    }
    ctx.output(0).shape = SymShape{Dim::of(count(*ctx.input(0).value, *ctx.input(1).value, *ctx.input(2).value, ctx))};
  }
  static int64_t count(const Tensor& s, const Tensor& l, const Tensor& d, const InferContext& ctx) {
    if (s.numel() != 1 || l.numel() != 1 || d.numel() != 1) ctx.error("start, limit and delta must be scalars");
    return visit_numeric(s.dtype(), [&]<class T>() -> int64_t {
      using C = kernels::compute_t<T>;
      const double start = double(C(s.data<T>()[0])), limit = double(C(l.data<T>()[0])), delta = double(C(d.data<T>()[0]));
      if (delta == 0) ctx.error("delta must not be 0");
      const double n = std::ceil((limit - start) / delta);
      if (!(n < 1e9)) ctx.error("the range has too many elements");
      return std::max<int64_t>(0, static_cast<int64_t>(n));
    });
  }
  void compute(ComputeContext& ctx) const override {
    Tensor& y = *ctx.outputs[0];
    visit_numeric(y.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      auto fill = [&]<class A>(auto round) {
        const A start = A(C(ctx.inputs[0]->data<T>()[0])), delta = A(C(ctx.inputs[2]->data<T>()[0]));
        A v = start;
        for (int64_t i = 0; i < y.numel(); ++i, v = round(A(v + delta))) y.data<T>()[i] = T(C(v));
      };
      auto keep = [](auto v) { return v; };
      if constexpr (std::is_same_v<C, T>) {
        fill.template operator()<T>(keep);
      } else if (stash_ == DType::Float64) {
        fill.template operator()<double>(keep);
      } else if (stash_ == y.dtype()) {  // each sum rounded to the 16-bit type (float32 holds it exactly first)
        fill.template operator()<float>([](float v) { return float(T(v)); });
      } else {
        fill.template operator()<float>(keep);
      }
    });
  }

 private:
  DType stash_;
};

// Trilu: keeps the upper (upper=1) or lower triangle of the last two dims, from diagonal k.
class Trilu final : public OpKernel {
 public:
  explicit Trilu(bool upper) : upper_(upper) {}
  void infer(InferContext& ctx) const override {
    ctx.output(0) = ctx.input(0);
    ctx.output(0).value = nullptr;
    if (ctx.input(0).shape && ctx.input(0).shape->size() < 2) ctx.error("input must have rank >= 2");
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    const int64_t k = ctx.inputs.size() > 1 && ctx.inputs[1] ? ints_of(*ctx.inputs[1]).at(0) : 0;
    const int64_t rows = x.shape()[x.rank() - 2], cols = x.shape().back();
    const size_t width = dtype_size(x.dtype());
    const int64_t mats = rows * cols ? x.numel() / (rows * cols) : 0;
    std::memset(y.raw(), 0, y.byte_size());
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          if (upper_ ? j - i >= k : j - i <= k) {
            const int64_t off = (m * rows + i) * cols + j;
            std::memcpy(static_cast<char*>(y.raw()) + off * width, static_cast<const char*>(x.raw()) + off * width, width);
          }
  }

 private:
  bool upper_;
};

// CumSum(x, axis) with exclusive and reverse.
class CumSum final : public OpKernel {
 public:
  CumSum(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNumericTypes);
    ctx.expect_type(1, {DType::Int32, DType::Int64});
    ctx.output(0).dtype = ctx.input(0).dtype;
    ctx.output(0).shape = ctx.input(0).shape;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    const int64_t rank = static_cast<int64_t>(x.rank());
    int64_t axis = ints_of(*ctx.inputs[1]).at(0);
    if (axis < -rank || axis >= rank) ctx.error("axis " + std::to_string(axis) + " is out of range");
    if (axis < 0) axis += rank;
    const AroundAxis around = around_axis(x.shape(), axis);
    const int64_t outer = around.outer, len = around.len, inner = around.inner;
    visit_numeric(x.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          C acc = C(0);
          for (int64_t s = 0; s < len; ++s) {
            const int64_t t = reverse_ ? len - 1 - s : s;
            const int64_t off = (o * len + t) * inner + i;
            const C v = C(x.data<T>()[off]);
            if (exclusive_) {
              y.data<T>()[off] = T(acc);
              acc = kernels::apply_binary(kernels::BinaryOp::Add, acc, v);  // integers wrap
            } else {
              acc = kernels::apply_binary(kernels::BinaryOp::Add, acc, v);  // integers wrap
              y.data<T>()[off] = T(acc);
            }
          }
        }
    });
  }

 private:
  bool exclusive_, reverse_;
};

// DepthToSpace (1; 11+ with mode) and SpaceToDepth (1+) on [N, C, H, W] with block size b.
// DepthToSpace moves channel blocks of b*b into b x b spatial tiles: y[n, c, h*b+i, w*b+j] =
// x[n, (i*b+j)*C/b² + c, h, w] in DCR mode (the default), x[n, c*b² + i*b+j, h, w] in CRD mode.
// SpaceToDepth is DCR's inverse: y[n, (i*b+j)*C + c, h, w] = x[n, c, h*b+i, w*b+j].
class SpaceDepth final : public OpKernel {
 public:
  enum class Kind { DepthToSpaceDCR, DepthToSpaceCRD, SpaceToDepth };
  SpaceDepth(Kind kind, int64_t block) : kind_(kind), b_(block) {}
  static std::unique_ptr<OpKernel> make(const Node& n, Kind kind) {
    const int64_t b = n.attr_int("blocksize", 0);
    if (b < 1) fail(ErrorCode::InvalidModel, n.label() + ": blocksize must be >= 1, got " + std::to_string(b));
    return std::make_unique<SpaceDepth>(kind, b);
  }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    if (x.shape->size() != 4) ctx.error("input must be 4-D [N, C, H, W], got " + sym_shape_to_string(*x.shape));
    SymShape out = *x.shape;
    const Dim &c = out[1], &h = out[2], &w = out[3];
    if (kind_ == Kind::SpaceToDepth) {
      for (const Dim* d : {&h, &w})
        if (d->known() && d->value % b_ != 0)
          ctx.error("H and W must be multiples of blocksize " + std::to_string(b_) + ", got " + sym_shape_to_string(*x.shape));
      out[1] = c.known() ? Dim::of(c.value * b_ * b_) : Dim();
      out[2] = h.known() ? Dim::of(h.value / b_) : Dim();
      out[3] = w.known() ? Dim::of(w.value / b_) : Dim();
    } else {
      if (c.known() && c.value % (b_ * b_) != 0)
        ctx.error("C must be a multiple of blocksize² (" + std::to_string(b_ * b_) + "), got " + sym_shape_to_string(*x.shape));
      out[1] = c.known() ? Dim::of(c.value / (b_ * b_)) : Dim();
      out[2] = h.known() ? Dim::of(h.value * b_) : Dim();
      out[3] = w.known() ? Dim::of(w.value * b_) : Dim();
    }
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    if (y.numel() == 0) return;
    const int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3], b = b_;
    const size_t width = dtype_size(x.dtype());
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(y.raw());
    visit_width(width, [&]<class U>() {
      const U* in = reinterpret_cast<const U*>(src);
      U* out = reinterpret_cast<U*>(dst);
      if (kind_ == Kind::SpaceToDepth) {
        // One task per input plane (n, c): its b² phases go to b² output planes.
        const int64_t ho = h / b, wo = w / b;
        ctx.parallel.for_range(n * c, std::max<int64_t>(1, kMinParallelElements / std::max<int64_t>(1, h * w)), [&](int64_t p0, int64_t p1) {
          for (int64_t p = p0; p < p1; ++p) {
            const int64_t ni = p / c, ci = p % c;
            const U* plane = in + p * h * w;
            for (int64_t i = 0; i < b; ++i)
              for (int64_t j = 0; j < b; ++j) {
                U* o = out + ((ni * c * b * b) + (i * b + j) * c + ci) * ho * wo;
                for (int64_t hh = 0; hh < ho; ++hh)
                  for (int64_t ww = 0; ww < wo; ++ww) o[hh * wo + ww] = plane[(hh * b + i) * w + ww * b + j];
              }
          }
        });
        return;
      }
      // One task per output plane (n, c): its b² phases come from b² input planes.
      const int64_t co = c / (b * b), wb = w * b;
      ctx.parallel.for_range(n * co, std::max<int64_t>(1, kMinParallelElements / std::max<int64_t>(1, h * w * b * b)), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t ni = p / co, ci = p % co;
          U* o = out + p * h * w * b * b;
          for (int64_t i = 0; i < b; ++i)
            for (int64_t j = 0; j < b; ++j) {
              const int64_t src_c = kind_ == Kind::DepthToSpaceDCR ? (i * b + j) * co + ci : ci * b * b + i * b + j;
              const U* plane = in + (ni * c + src_c) * h * w;
              for (int64_t hh = 0; hh < h; ++hh)
                for (int64_t ww = 0; ww < w; ++ww) o[(hh * b + i) * wb + ww * b + j] = plane[hh * w + ww];
            }
        }
      });
    });
  }

 private:
  Kind kind_;
  int64_t b_;
};

}  // namespace

// CastLike is Cast to the second input's type: registered with Cast in shape_ops.cpp.

void register_tensor_ops(OpRegistry& r) {
  r.add("", "Shape", 1, 14, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<ShapeOp>(0, std::nullopt); });
  r.add("", "Shape", 15, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    std::optional<int64_t> end;
    if (n.attributes.count("end")) end = n.attr_int("end", 0);
    return std::make_unique<ShapeOp>(n.attr_int("start", 0), end);
  });
  r.add("", "Size", 1, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<SizeOp>(); });
  r.add("", "Concat", 4, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    if (!n.attributes.count("axis")) fail(ErrorCode::InvalidModel, n.label() + ": the axis attribute is required");
    return std::make_unique<Concat>(n.attr_int("axis", 0));
  });
  r.add("", "Split", 2, 12, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Split>(n.attr_int("axis", 0), n.attr_ints("split"), 0);
  });
  r.add("", "Split", 13, 17, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Split>(n.attr_int("axis", 0), std::vector<int64_t>{}, 0); });
  r.add("", "Split", 18, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Split>(n.attr_int("axis", 0), std::vector<int64_t>{}, n.attr_int("num_outputs", 0));
  });
  r.add("", "Slice", 1, 9, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Slice>(false, n.attr_ints("starts"), n.attr_ints("ends"), n.attr_ints("axes"));
  });
  r.add("", "Slice", 10, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Slice>(true, std::vector<int64_t>{}, std::vector<int64_t>{}, std::vector<int64_t>{});
  });
  r.add("", "Squeeze", 1, 12, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Squeeze>(false, n.attr_ints("axes")); });
  r.add("", "Squeeze", 13, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Squeeze>(true, std::vector<int64_t>{}); });
  r.add("", "Unsqueeze", 1, 12,
        [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Unsqueeze>(false, n.attr_ints("axes")); });
  r.add("", "Unsqueeze", 13, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Unsqueeze>(true, std::vector<int64_t>{}); });
  r.add("", "Flatten", 1, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Flatten>(n.attr_int("axis", 1)); });
  r.add("", "Expand", 8, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Expand>(); });
  r.add("", "Tile", 6, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Tile>(); });
  r.add("", "ConstantOfShape", 9, kMaxDefaultOpset,
        [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<ConstantOfShape>(n); });
  // Range-27 (stash_type) is known past kMaxDefaultOpset: a model importing opsets 26-27 runs its
  // Range, while any op that may have changed there is still refused by name.
  r.add("", "Range", 11, 26, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Range>(); });
  r.add("", "Range", 27, 27, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Range>(stash_type_of(n)); });
  using SD = SpaceDepth;
  r.add("", "DepthToSpace", 1, 10, [](const Node& n, int64_t) { return SD::make(n, SD::Kind::DepthToSpaceDCR); });
  r.add("", "DepthToSpace", 11, kMaxDefaultOpset, [](const Node& n, int64_t) {
    const std::string mode = n.attr_string("mode", "DCR");
    if (mode != "DCR" && mode != "CRD") fail(ErrorCode::InvalidModel, n.label() + ": mode must be DCR or CRD, got '" + mode + "'");
    return SD::make(n, mode == "DCR" ? SD::Kind::DepthToSpaceDCR : SD::Kind::DepthToSpaceCRD);
  });
  r.add("", "SpaceToDepth", 1, kMaxDefaultOpset, [](const Node& n, int64_t) { return SD::make(n, SD::Kind::SpaceToDepth); });
  r.add("", "Trilu", 14, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Trilu>(n.attr_int("upper", 1) != 0); });
  r.add("", "CumSum", 11, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<CumSum>(n.attr_int("exclusive", 0) != 0, n.attr_int("reverse", 0) != 0);
  });
}

}  // namespace normrt::onnx
