// Ops that move elements by index tensors: GatherElements, GatherND, ScatterElements (and the
// deprecated Scatter), ScatterND, OneHot, NonZero. Every index is checked against its axis
// before anything is written, so a bad index is an error naming the node, never a stray read or
// write; negative indices count from the end of their axis, as the spec allows.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

// The index at position i of an int32/int64 index tensor, wrapped into [0, axis_len); an error
// naming `what` when it lies outside [-axis_len, axis_len).
int64_t checked_index(const Tensor& idx, int64_t i, int64_t axis_len, const ComputeContext& ctx, const char* what) {
  const int64_t v = idx.int_at(i);
  if (v < -axis_len || v >= axis_len)
    ctx.error(std::string(what) + " " + std::to_string(v) + " is out of range for an axis of size " + std::to_string(axis_len));
  return v < 0 ? v + axis_len : v;
}

// The scatter reductions (ScatterElements and ScatterND opset 16 adds add and mul, 18 max and min).
enum class Reduction { None, Add, Mul, Max, Min };

Reduction reduction_of(const Node& n, int64_t opset) {
  const std::string r = n.attr_string("reduction", "none");
  if (r == "none") return Reduction::None;
  if (opset >= 16 && r == "add") return Reduction::Add;
  if (opset >= 16 && r == "mul") return Reduction::Mul;
  if (opset >= 18 && r == "max") return Reduction::Max;
  if (opset >= 18 && r == "min") return Reduction::Min;
  fail(ErrorCode::InvalidModel, n.label() + ": reduction '" + r + "' is not defined at opset " + std::to_string(opset));
}

// dst = dst (reduction) src for one element of the storage type T.
template <class T>
void reduce_into(T& dst, T src, Reduction r) {
  using C = kernels::compute_t<T>;
  const C a = C(dst), b = C(src);
  switch (r) {
    case Reduction::None: dst = src; return;
    case Reduction::Add: dst = T(kernels::apply_binary(kernels::BinaryOp::Add, a, b)); return;  // integers wrap
    case Reduction::Mul: dst = T(kernels::apply_binary(kernels::BinaryOp::Mul, a, b)); return;
    case Reduction::Max: dst = T(std::max(a, b)); return;
    case Reduction::Min: dst = T(std::min(a, b)); return;
  }
}

// Runs f.template operator()<T>() with T the storage type for the reduction: the numeric type
// itself when the updates combine with what is there, a same-width unsigned integer when they
// only replace it (any element type, bool included).
template <class F>
void visit_scatter(DType t, Reduction r, F&& f) {
  if (r == Reduction::None) visit_width(dtype_size(t), std::forward<F>(f));
  else visit_numeric(t, std::forward<F>(f));
}

// ScatterElements and ScatterND: updates of data's element type, and a reduction only over numbers.
void check_scatter_types(const ValueType& data, const ValueType& upd, Reduction r, const InferContext& ctx) {
  if (upd.dtype != data.dtype) ctx.error("updates have element type " + dtype_name(upd.dtype) + " but data has " + dtype_name(data.dtype));
  if (r != Reduction::None && data.dtype == DType::Bool) ctx.unsupported("a reduction over bool elements");
}

// ---------------------------------------------------------------------------------------------

// GatherElements and ScatterElements: indices of data's rank whose dims other than axis do not
// exceed data's.
void check_element_indices(const SymShape& data, const SymShape& idx, int64_t axis_attr, const InferContext& ctx) {
  const int64_t rank = static_cast<int64_t>(data.size());
  if (rank == 0) ctx.error("data must have rank >= 1");
  if (static_cast<int64_t>(idx.size()) != rank)
    ctx.error("indices have rank " + std::to_string(idx.size()) + " but data has rank " + std::to_string(rank));
  const int64_t axis = normalize_axis(axis_attr, rank, ctx);
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && idx[d].known() && data[d].known() && idx[d].value > data[d].value)
      ctx.error("indices dim " + std::to_string(d) + " (" + std::to_string(idx[d].value) + ") exceeds data's (" + std::to_string(data[d].value) + ")");
}

// Calls f(i, offset) for the elements i of indices in rows [r0, r1) of its last dim, with offset
// the data element it addresses: i's position with the axis coordinate replaced by indices[i]
// (already checked to lie in [-len, len)).
template <class F>
void for_each_element_target(const Shape& data, const Tensor& idx, int64_t axis, int64_t r0, int64_t r1, F&& f) {
  const int64_t rank = static_cast<int64_t>(data.size()), axis_len = data[axis];
  const std::vector<int64_t> stride = strides_of(data);
  const Shape& is = idx.shape();
  const int64_t inner = is.back();
  for (int64_t r = r0; r < r1; ++r) {
    // Offset into data of this row's position, leaving out the axis (its index varies).
    int64_t base = 0, rem = r;
    for (int64_t d = rank - 1; d-- > 0;) {
      const int64_t p = rem % is[d];
      rem /= is[d];
      if (d != axis) base += p * stride[d];
    }
    for (int64_t j = 0; j < inner; ++j) {
      int64_t v = idx.int_at(r * inner + j);
      if (v < 0) v += axis_len;
      f(r * inner + j, axis == rank - 1 ? base + v : base + j + v * stride[axis]);
    }
  }
}

// GatherElements (11, 13): output[p] = data[p with p[axis] replaced by indices[p]]; the output has
// the indices' shape, whose dims other than axis may not exceed data's.
class GatherElements final : public OpKernel {
 public:
  explicit GatherElements(int64_t axis) : axis_(axis) {}
  void infer(InferContext& ctx) const override {
    const ValueType &data = ctx.input(0), &idx = ctx.input(1);
    ctx.expect_type(1, {DType::Int32, DType::Int64});
    ctx.output(0).dtype = data.dtype;
    ctx.output(0).shape = idx.shape;
    if (data.shape && idx.shape) check_element_indices(*data.shape, *idx.shape, axis_, ctx);
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &data = *ctx.inputs[0], &idx = *ctx.inputs[1];
    Tensor& y = *ctx.outputs[0];
    const int64_t rank = static_cast<int64_t>(data.rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    const int64_t axis_len = data.shape()[axis];
    for (int64_t i = 0; i < idx.numel(); ++i) checked_index(idx, i, axis_len, ctx, "index");
    if (y.numel() == 0) return;
    const int64_t inner = idx.shape().back(), rows = idx.numel() / inner;
    visit_width(dtype_size(data.dtype()), [&]<class U>() {
      const U* src = static_cast<const U*>(data.raw());
      U* dst = static_cast<U*>(y.raw());
      ctx.parallel.for_range(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t r0, int64_t r1) {
        for_each_element_target(data.shape(), idx, axis, r0, r1, [&](int64_t i, int64_t off) { dst[i] = src[off]; });
      });
    });
  }

 private:
  int64_t axis_;
};

// ScatterElements (11, 13, 16, 18) and Scatter (9, 10): output = data, then for every position p
// of indices, output[p with p[axis] = indices[p]] (reduction)= updates[p], in order (a repeated
// target without a reduction keeps the last update).
class ScatterElements final : public OpKernel {
 public:
  ScatterElements(int64_t axis, Reduction r) : axis_(axis), reduction_(r) {}
  void infer(InferContext& ctx) const override {
    const ValueType &data = ctx.input(0), &idx = ctx.input(1), &upd = ctx.input(2);
    ctx.expect_type(1, {DType::Int32, DType::Int64});
    check_scatter_types(data, upd, reduction_, ctx);
    ctx.output(0).dtype = data.dtype;
    ctx.output(0).shape = data.shape;
    if (!data.shape || !idx.shape) return;
    check_element_indices(*data.shape, *idx.shape, axis_, ctx);
    if (upd.shape && !shapes_may_match(*upd.shape, *idx.shape))
      ctx.error("updates " + sym_shape_to_string(*upd.shape) + " must have the indices' shape " + sym_shape_to_string(*idx.shape));
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &data = *ctx.inputs[0], &idx = *ctx.inputs[1], &upd = *ctx.inputs[2];
    Tensor& y = *ctx.outputs[0];
    const int64_t rank = static_cast<int64_t>(data.rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    const int64_t axis_len = data.shape()[axis];
    for (int64_t i = 0; i < idx.numel(); ++i) checked_index(idx, i, axis_len, ctx, "index");
    if (y.raw() != data.raw() && data.byte_size()) std::memcpy(y.raw(), data.raw(), data.byte_size());
    if (idx.numel() == 0) return;
    visit_scatter(data.dtype(), reduction_, [&]<class T>() {
      const T* u = static_cast<const T*>(upd.raw());
      T* dst = static_cast<T*>(y.raw());
      for_each_element_target(data.shape(), idx, axis, 0, idx.numel() / idx.shape().back(),
                              [&](int64_t i, int64_t off) { reduce_into(dst[off], u[i], reduction_); });
    });
  }

 private:
  int64_t axis_;
  Reduction reduction_;
};

// The shapes GatherND and ScatterND share: data [D...] of rank r, indices [Q..., k] of rank q,
// whose last dim k says how many leading data dims (after the batch dims) each index tuple
// picks; each tuple selects a slice of data of shape D[b+k:].
struct NdPlan {
  int64_t batches = 1;     // product of the b batch dims
  int64_t tuples = 1;      // index tuples per batch entry
  int64_t k = 0;           // entries per tuple
  int64_t slice = 1;       // elements per selected slice
  int64_t batch_elems = 1; // data elements per batch entry
};

NdPlan nd_plan(const Shape& data, const Shape& idx, int64_t b) {
  NdPlan p;
  p.k = idx.back();
  for (int64_t d = 0; d < b; ++d) p.batches *= idx[d];
  for (size_t d = b; d + 1 < idx.size(); ++d) p.tuples *= idx[d];
  for (size_t d = b + p.k; d < data.size(); ++d) p.slice *= data[d];
  for (size_t d = b; d < data.size(); ++d) p.batch_elems *= data[d];
  return p;
}

// Checks the static rules both ops share; returns k when known (else -1).
int64_t check_nd_shapes(const SymShape& data, const SymShape& idx, int64_t b, InferContext& ctx) {
  const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(idx.size());
  if (r < 1) ctx.error("data must have rank >= 1");
  if (q < 1) ctx.error("indices must have rank >= 1");
  if (b < 0 || b >= std::min(q, r)) ctx.error("batch_dims " + std::to_string(b) + " must lie in [0, min(rank of data, rank of indices))");
  for (int64_t d = 0; d < b; ++d)
    if (data[d].known() && idx[d].known() && data[d].value != idx[d].value)
      ctx.error("batch dim " + std::to_string(d) + " differs: data has " + std::to_string(data[d].value) + ", indices " + std::to_string(idx[d].value));
  const Dim& kd = idx.back();
  if (!kd.known()) return -1;
  if (kd.value < 1 || kd.value > r - b)
    ctx.error("the indices' last dim (" + std::to_string(kd.value) + ") must lie in [1, " + std::to_string(r - b) + "]");
  return kd.value;
}

// Data offset (in elements, within one batch entry) of index tuple `t`, every entry checked.
int64_t tuple_offset(const Tensor& idx, int64_t t, int64_t k, const Shape& data, int64_t b, const std::vector<int64_t>& stride,
                     const ComputeContext& ctx) {
  int64_t off = 0;
  for (int64_t e = 0; e < k; ++e) off += checked_index(idx, t * k + e, data[b + e], ctx, "index") * stride[b + e];
  return off;
}

// GatherND (11; 12+ with batch_dims): output [Q..., D[b+k:]...], each tuple's slice of data.
class GatherND final : public OpKernel {
 public:
  explicit GatherND(int64_t batch_dims) : batch_dims_(batch_dims) {}
  void infer(InferContext& ctx) const override {
    const ValueType &data = ctx.input(0), &idx = ctx.input(1);
    ctx.expect_type(1, {DType::Int64});
    ctx.output(0).dtype = data.dtype;
    if (!data.shape || !idx.shape) return;
    const int64_t k = check_nd_shapes(*data.shape, *idx.shape, batch_dims_, ctx);
    if (k < 0) return;
    SymShape out(idx.shape->begin(), idx.shape->end() - 1);
    out.insert(out.end(), data.shape->begin() + batch_dims_ + k, data.shape->end());
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &data = *ctx.inputs[0], &idx = *ctx.inputs[1];
    Tensor& y = *ctx.outputs[0];
    const NdPlan p = nd_plan(data.shape(), idx.shape(), batch_dims_);
    const std::vector<int64_t> stride = strides_of(data.shape());
    std::vector<int64_t> offs(static_cast<size_t>(p.batches * p.tuples));
    for (int64_t t = 0; t < p.batches * p.tuples; ++t) offs[t] = (t / std::max<int64_t>(p.tuples, 1)) * p.batch_elems + tuple_offset(idx, t, p.k, data.shape(), batch_dims_, stride, ctx);
    const size_t width = dtype_size(data.dtype()), block = static_cast<size_t>(p.slice) * width;
    if (block == 0) return;
    const char* src = static_cast<const char*>(data.raw());
    char* dst = static_cast<char*>(y.raw());
    ctx.parallel.for_range(static_cast<int64_t>(offs.size()), std::max<int64_t>(1, 65536 / static_cast<int64_t>(block)), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) std::memcpy(dst + t * block, src + offs[t] * width, block);
    });
  }

 private:
  int64_t batch_dims_;
};

// ScatterND (11, 13; reductions at 16 and 18): output = data, then each tuple's slice
// (reduction)= the matching slice of updates [Q..., D[k:]...], in order.
class ScatterND final : public OpKernel {
 public:
  explicit ScatterND(Reduction r) : reduction_(r) {}
  void infer(InferContext& ctx) const override {
    const ValueType &data = ctx.input(0), &idx = ctx.input(1), &upd = ctx.input(2);
    ctx.expect_type(1, {DType::Int64});
    check_scatter_types(data, upd, reduction_, ctx);
    ctx.output(0).dtype = data.dtype;
    ctx.output(0).shape = data.shape;
    if (!data.shape || !idx.shape) return;
    const int64_t k = check_nd_shapes(*data.shape, *idx.shape, 0, ctx);
    if (k < 0 || !upd.shape) return;
    SymShape want(idx.shape->begin(), idx.shape->end() - 1);
    want.insert(want.end(), data.shape->begin() + k, data.shape->end());
    if (!shapes_may_match(*upd.shape, want))
      ctx.error("updates " + sym_shape_to_string(*upd.shape) + " must have shape " + sym_shape_to_string(want));
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &data = *ctx.inputs[0], &idx = *ctx.inputs[1], &upd = *ctx.inputs[2];
    Tensor& y = *ctx.outputs[0];
    const NdPlan p = nd_plan(data.shape(), idx.shape(), 0);
    const std::vector<int64_t> stride = strides_of(data.shape());
    std::vector<int64_t> offs(static_cast<size_t>(p.tuples));
    for (int64_t t = 0; t < p.tuples; ++t) offs[t] = tuple_offset(idx, t, p.k, data.shape(), 0, stride, ctx);
    if (y.raw() != data.raw() && data.byte_size()) std::memcpy(y.raw(), data.raw(), data.byte_size());
    visit_scatter(data.dtype(), reduction_, [&]<class T>() {
      const T* u = static_cast<const T*>(upd.raw());
      T* dst = static_cast<T*>(y.raw());
      for (int64_t t = 0; t < p.tuples; ++t)
        for (int64_t e = 0; e < p.slice; ++e) reduce_into(dst[offs[t] + e], u[t * p.slice + e], reduction_);
    });
  }

 private:
  Reduction reduction_;
};

// ---------------------------------------------------------------------------------------------

// OneHot (9, 11): output = indices' shape with a dim of `depth` inserted at axis; values[1] where
// the index (truncated to an integer) equals the position along it, values[0] elsewhere. An index
// outside [-depth, depth) (opset 9-10: outside [0, depth)), or not finite, gives a row of values[0].
class OneHot final : public OpKernel {
 public:
  OneHot(int64_t axis, bool negative_indices) : axis_(axis), negative_(negative_indices) {}
  static int64_t depth_of(const Tensor& t, const InferContext& ctx) {
    if (t.numel() != 1) ctx.error("depth must hold exactly one value, it holds " + std::to_string(t.numel()));
    const double d = t.double_at(0);
    if (!(d >= 1 && d < 9.2e18)) ctx.error("depth must be a positive number, got " + std::to_string(d));
    return static_cast<int64_t>(d);
  }
  void infer(InferContext& ctx) const override {
    const ValueType &idx = ctx.input(0), &depth = ctx.input(1), &values = ctx.input(2);
    ctx.expect_type(0, kNumericTypes);
    ctx.expect_type(1, kNumericTypes);
    if (values.shape && values.shape->size() != 1) ctx.error("values must be a 1-D tensor [off_value, on_value]");
    if (values.shape && (*values.shape)[0].known() && (*values.shape)[0].value != 2) ctx.error("values must hold exactly two elements [off_value, on_value]");
    ctx.output(0).dtype = values.dtype;
    if (!idx.shape) return;
    const int64_t rank = static_cast<int64_t>(idx.shape->size()) + 1;
    const int64_t axis = normalize_axis(axis_, rank, ctx);
    SymShape out = *idx.shape;
    out.insert(out.begin() + axis, depth.value ? Dim::of(depth_of(*depth.value, ctx)) : Dim());
    ctx.output(0).shape = out;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &idx = *ctx.inputs[0], &values = *ctx.inputs[2];
    Tensor& y = *ctx.outputs[0];
    if (values.numel() != 2) ctx.error("values must hold exactly two elements [off_value, on_value]");
    const int64_t rank = static_cast<int64_t>(y.rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    const AroundAxis around = around_axis(y.shape(), axis);
    const int64_t depth = around.len, inner = around.inner;
    visit_width(dtype_size(values.dtype()), [&]<class U>() {
      const U off = static_cast<const U*>(values.raw())[0], on = static_cast<const U*>(values.raw())[1];
      U* out = static_cast<U*>(y.raw());
      std::fill(out, out + y.numel(), off);
      for (int64_t i = 0; i < idx.numel(); ++i) {
        // Every index type read as double: exact for any integer within reach of a real depth (an
        // output that large could not be allocated), and NaN, infinities and indices far outside
        // (int64 or uint64 beyond 2^53 included) fail the range test without an overflowing cast.
        const double d = idx.double_at(i);
        if (!(std::fabs(d) < double(depth) + 1)) continue;
        int64_t v = static_cast<int64_t>(d);
        if (v < 0 && negative_) v += depth;
        if (v < 0 || v >= depth) continue;
        const int64_t o = i / inner, in = i % inner;
        out[(o * depth + v) * inner + in] = on;
      }
    });
  }

 private:
  int64_t axis_;
  bool negative_;
};

// NonZero (9, 13): the indices of the non-zero elements, one column per element in row-major
// order, one row per input dim ([1, n] for a scalar, as ONNX Runtime gives). The count is known
// only from the values: at session creation when the input is constant (the node folds), else at
// every run.
class NonZero final : public OpKernel {
 public:
  static int64_t count(const Tensor& x) {
    int64_t n = 0;
    visit_width(dtype_size(x.dtype()), [&]<class U>() {
      const U* p = static_cast<const U*>(x.raw());
      for (int64_t i = 0; i < x.numel(); ++i) n += is_nonzero(p[i], x.dtype());
    });
    return n;
  }
  // Compared as the element type does: a float's negative zero is zero.
  template <class U>
  static bool is_nonzero(U bits, DType t) {
    if (t == DType::Float32 || t == DType::Float64) return (bits << 1) != 0;
    if (t == DType::Float16 || t == DType::BFloat16) return U(bits << 1) != 0;
    return bits != 0;
  }
  static void fill(const Tensor& x, Tensor& y) {
    const Shape& s = x.shape();
    const int64_t n = y.shape()[1];
    int64_t* out = y.data<int64_t>();
    int64_t col = 0;
    std::vector<int64_t> pos(s.size(), 0);
    visit_width(dtype_size(x.dtype()), [&]<class U>() {
      const U* p = static_cast<const U*>(x.raw());
      for (int64_t i = 0; i < x.numel(); ++i) {
        if (is_nonzero(p[i], x.dtype())) {
          if (s.empty()) out[col] = 0;
          for (size_t d = 0; d < s.size(); ++d) out[d * n + col] = pos[d];
          ++col;
        }
        for (size_t d = s.size(); d-- > 0;) {
          if (++pos[d] < s[d]) break;
          pos[d] = 0;
        }
      }
    });
  }
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    if (x.dtype != DType::Bool) ctx.expect_type(0, kNumericTypes);
    ctx.output(0).dtype = DType::Int64;
    if (!x.shape) return;
    const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(x.shape->size()));
    if (!x.value) {
      ctx.output(0).shape = SymShape{Dim::of(rows), Dim()};
      return;
    }
    const int64_t n = count(*x.value);
    if (ctx.at_run()) {
      ctx.output(0).shape = SymShape{Dim::of(rows), Dim::of(n)};
      return;
    }
    Tensor y = Tensor::allocate(DType::Int64, {rows, n}, "NonZero output");
    fill(*x.value, y);
    ctx.set_value(0, std::move(y));
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    fill(x, y);  // sized by infer(), which counted these same values at this run
  }
};

}  // namespace

void register_index_ops(OpRegistry& r) {
  r.add("", "GatherElements", 11, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<GatherElements>(n.attr_int("axis", 0));
  });
  r.add("", "Scatter", 9, 10, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<ScatterElements>(n.attr_int("axis", 0), Reduction::None);
  });
  r.add("", "ScatterElements", 11, kMaxDefaultOpset, [](const Node& n, int64_t opset) -> std::unique_ptr<OpKernel> {
    return std::make_unique<ScatterElements>(n.attr_int("axis", 0), reduction_of(n, opset));
  });
  r.add("", "GatherND", 11, kMaxDefaultOpset, [](const Node& n, int64_t opset) -> std::unique_ptr<OpKernel> {
    if (opset < 12 && n.attributes.count("batch_dims")) fail(ErrorCode::InvalidModel, n.label() + ": batch_dims needs opset 12");
    return std::make_unique<GatherND>(n.attr_int("batch_dims", 0));
  });
  r.add("", "ScatterND", 11, kMaxDefaultOpset, [](const Node& n, int64_t opset) -> std::unique_ptr<OpKernel> {
    return std::make_unique<ScatterND>(reduction_of(n, opset));
  });
  r.add("", "OneHot", 9, 10, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<OneHot>(n.attr_int("axis", -1), false); });
  r.add("", "OneHot", 11, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<OneHot>(n.attr_int("axis", -1), true);
  });
  r.add("", "NonZero", 9, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<NonZero>(); });
}

}  // namespace normrt::onnx
