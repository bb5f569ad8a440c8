// Identity, Reshape, Transpose, Constant, Gather, Cast, CastLike.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/layout.h"
#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

class Identity final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.output(0) = ctx.input(0);
  }
  void compute(ComputeContext&) const override {}  // output 0 is a view of input 0
  int output_aliases_input() const override { return 0; }
};

// Reshape: opset 5-13 (0 copies the input dim), 14+ adds allowzero (0 means a zero dim).
class Reshape final : public OpKernel {
 public:
  explicit Reshape(bool allowzero) : allowzero_(allowzero) {}

  void infer(InferContext& ctx) const override {
    const ValueType& data = ctx.input(0);
    const ValueType& shape = ctx.input(1);
    if (shape.dtype != DType::Int64) ctx.error("the shape input must be int64, not " + dtype_name(shape.dtype));
    ValueType& out = ctx.output(0);
    out.dtype = data.dtype;
    if (!shape.value) {
      // Only the rank is known before the shape tensor's contents are.
      if (const std::optional<size_t> rank = length_as_rank(shape)) out.shape = SymShape(*rank);
      return;
    }
    const Tensor& s = *shape.value;
    if (s.rank() != 1) ctx.error("the shape input must be 1-D, got rank " + std::to_string(s.rank()));
    SymShape dims(s.numel());
    int infer_at = -1;
    for (int64_t i = 0; i < s.numel(); ++i) {
      int64_t v = s.data<int64_t>()[i];
      if (v == -1) {
        if (infer_at >= 0) ctx.error("the shape input has more than one -1");
        infer_at = static_cast<int>(i);
      } else if (v == 0 && !allowzero_) {
        if (!data.shape) continue;  // rank unknown at creation: the dim stays unknown
        if (static_cast<size_t>(i) >= data.shape->size())
          ctx.error("shape entry " + std::to_string(i) + " is 0 but the input has no dim " + std::to_string(i));
        dims[i] = (*data.shape)[i];
      } else if (v < 0) {
        ctx.error("the shape input has the invalid entry " + std::to_string(v));
      } else {
        dims[i] = Dim::of(v);
      }
    }
    if (infer_at >= 0 && allowzero_)
      for (const Dim& d : dims)
        if (d.known() && d.value == 0) ctx.error("allowzero=1 with both 0 and -1 in the shape");
    if (data.shape_known()) {
      const int64_t total = checked_numel(data.concrete_shape(), ctx.node().label());
      int64_t known = 1;
      bool all_known = true;
      for (size_t i = 0; i < dims.size(); ++i)
        if (static_cast<int>(i) != infer_at) {
          if (dims[i].known())
            known *= dims[i].value;
          else
            all_known = false;
        }
      if (all_known) {
        if (infer_at >= 0) {
          if (known == 0 || total % known != 0)
            ctx.error("cannot reshape " + sym_shape_to_string(*data.shape) + " to " + s_to_string(s));
          dims[infer_at] = Dim::of(total / known);
        } else if (known != total) {
          ctx.error("cannot reshape " + sym_shape_to_string(*data.shape) + " (" + std::to_string(total) +
                    " elements) to " + s_to_string(s));
        }
      }
    }
    out.shape = dims;
  }
  void compute(ComputeContext&) const override {}
  int output_aliases_input() const override { return 0; }

 private:
  static std::string s_to_string(const Tensor& s) {
    return shape_to_string(Shape(s.data<int64_t>(), s.data<int64_t>() + s.numel()));
  }
  bool allowzero_;
};

class Transpose final : public OpKernel {
 public:
  explicit Transpose(std::vector<int64_t> perm) : perm_(std::move(perm)) {}

  std::vector<int64_t> perm_for(size_t rank, const InferContext* ctx) const {
    std::vector<int64_t> p = perm_;
    if (p.empty())
      for (size_t i = 0; i < rank; ++i) p.push_back(static_cast<int64_t>(rank - 1 - i));
    if (ctx) {
      if (p.size() != rank)
        ctx->error("perm has " + std::to_string(p.size()) + " entries for an input of rank " + std::to_string(rank));
      std::vector<bool> seen(rank, false);
      for (int64_t v : p) {
        if (v < 0 || v >= static_cast<int64_t>(rank) || seen[v]) ctx->error("perm is not a permutation of the input's dims");
        seen[v] = true;
      }
    }
    return p;
  }

  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    std::vector<int64_t> p = perm_for(x.shape->size(), &ctx);
    SymShape out;
    for (int64_t v : p) out.push_back((*x.shape)[v]);
    ctx.output(0).shape = out;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    if (y.numel() == 0) return;
    std::vector<int64_t> p = perm_for(x.rank(), nullptr);
    const int64_t row = x.rank() ? y.shape().back() : 1;
    ctx.parallel.for_range(y.numel() / row, rows_grain(row), [&](int64_t r0, int64_t r1) {
      kernels::transpose_rows(x.raw(), y.raw(), dtype_size(x.dtype()), x.shape(), p, r0, r1);
    });
  }

 private:
  std::vector<int64_t> perm_;
};

// Constant: its value is known at session creation, so the executor never runs it.
class Constant final : public OpKernel {
 public:
  explicit Constant(const Node& node) {
    int count = 0;
    for (const auto& [name, attr] : node.attributes) {
      ++count;
      // The kind first: a "value" that is not a tensor (a malformed file) has no tensor to read.
      const Attribute::Kind want = name == "value"          ? Attribute::Kind::Tensor
                                   : name == "value_float"  ? Attribute::Kind::Float
                                   : name == "value_floats" ? Attribute::Kind::Floats
                                   : name == "value_int"    ? Attribute::Kind::Int
                                                            : Attribute::Kind::Ints;
      const bool known = name == "value" || name == "value_float" || name == "value_floats" || name == "value_int" || name == "value_ints";
      if (known && (attr.kind != want || (want == Attribute::Kind::Tensor && !attr.t)))
        fail(ErrorCode::InvalidModel, node.label() + ": attribute '" + name + "' must be of type " + attribute_kind_name(want));
      if (name == "value") {
        value_ = *attr.t;
      } else if (name == "value_float") {
        value_ = Tensor::allocate(DType::Float32, {});
        *value_.data<float>() = attr.f;
      } else if (name == "value_floats") {
        value_ = Tensor::allocate(DType::Float32, {static_cast<int64_t>(attr.floats.size())});
        std::copy(attr.floats.begin(), attr.floats.end(), value_.data<float>());
      } else if (name == "value_int") {
        value_ = Tensor::allocate(DType::Int64, {});
        *value_.data<int64_t>() = attr.i;
      } else if (name == "value_ints") {
        value_ = Tensor::allocate(DType::Int64, {static_cast<int64_t>(attr.ints.size())});
        std::copy(attr.ints.begin(), attr.ints.end(), value_.data<int64_t>());
      } else if (name == "value_string" || name == "value_strings" || name == "sparse_value") {
        fail(ErrorCode::NotImplemented, node.label() + ": attribute '" + name + "' is not supported");
      } else {
        fail(ErrorCode::InvalidModel, node.label() + ": unknown attribute '" + name + "'");
      }
    }
    if (count != 1)
      fail(ErrorCode::InvalidModel, node.label() + ": exactly one value attribute is required, found " + std::to_string(count));
  }

  void infer(InferContext& ctx) const override {
    ctx.output(0).dtype = value_.dtype();
    ctx.output(0).shape = to_sym(value_.shape());
    ctx.output(0).value = &value_;
  }
  void compute(ComputeContext& ctx) const override {
    if (value_.byte_size()) std::memcpy(ctx.outputs[0]->raw(), value_.raw(), value_.byte_size());
  }

 private:
  Tensor value_;
};

class Gather final : public OpKernel {
 public:
  explicit Gather(int64_t axis) : axis_(axis) {}

  void infer(InferContext& ctx) const override {
    const ValueType &data = ctx.input(0), &idx = ctx.input(1);
    ctx.expect_type(1, {DType::Int32, DType::Int64});
    ctx.output(0).dtype = data.dtype;
    if (!data.shape || !idx.shape) return;
    const int64_t rank = static_cast<int64_t>(data.shape->size());
    if (rank == 0) ctx.error("data must have rank >= 1");
    const int64_t axis = normalize_axis(axis_, rank, ctx);
    SymShape out(data.shape->begin(), data.shape->begin() + axis);
    out.insert(out.end(), idx.shape->begin(), idx.shape->end());
    out.insert(out.end(), data.shape->begin() + axis + 1, data.shape->end());
    ctx.output(0).shape = out;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &data = *ctx.inputs[0], &idx = *ctx.inputs[1];
    Tensor& out = *ctx.outputs[0];
    const int64_t rank = static_cast<int64_t>(data.rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    const AroundAxis around = around_axis(data.shape(), axis);
    const int64_t outer = around.outer, axis_len = around.len, inner = around.inner;
    const int64_t n_idx = idx.numel();
    const size_t block = static_cast<size_t>(inner) * dtype_size(data.dtype());
    // Validate every index before writing anything, so a bad index is an error, never a stray read.
    for (int64_t j = 0; j < n_idx; ++j) {
      int64_t v = idx.int_at(j);
      if (v < -axis_len || v >= axis_len)
        ctx.error("index " + std::to_string(v) + " is out of range for axis of size " + std::to_string(axis_len));
    }
    const auto* src = static_cast<const uint8_t*>(data.raw());
    auto* dst = static_cast<uint8_t*>(out.raw());
    ctx.parallel.for_range(outer * n_idx, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, inner)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r / n_idx, j = r % n_idx;
        int64_t v = idx.int_at(j);
        if (v < 0) v += axis_len;
        std::memcpy(dst + r * block, src + (o * axis_len + v) * block, block);
      }
    });
  }

 private:
  int64_t axis_;
};

template <class F>
decltype(auto) visit_castable(DType t, F&& f) {
  if (t == DType::Bool) return f.template operator()<bool>();
  return visit_numeric(t, std::forward<F>(f));
}

// Cast(x) to `to`; CastLike(x, like) (opset 15+) to like's element type (to_ is Undefined).
class Cast final : public OpKernel {
 public:
  explicit Cast(DType to) : to_(to) {}
  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    if (!dtype_supported(x.dtype)) ctx.unsupported("cannot cast from " + dtype_name(x.dtype));
    const DType to = to_ == DType::Undefined ? ctx.input(1).dtype : to_;
    if (!dtype_supported(to)) ctx.unsupported("cannot cast to " + dtype_name(to));
    ctx.output(0).dtype = to;
    ctx.output(0).shape = x.shape;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    visit_castable(x.dtype(), [&]<class From>() {
      visit_castable(y.dtype(), [&]<class To>() {
        const From* in = x.data<From>();
        To* out = y.data<To>();
        ctx.parallel.for_range(x.numel(), kMinParallelElements, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) out[i] = convert_value<To, From>(in[i]);
        });
      });
    });
  }

 private:
  DType to_;
};

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.add("", "Identity", 1, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Identity>();
  });
  r.add("", "Reshape", 5, 13, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Reshape>(false);
  });
  r.add("", "Reshape", 14, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Reshape>(n.attr_int("allowzero", 0) != 0);
  });
  r.add("", "Transpose", 1, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Transpose>(n.attr_ints("perm"));
  });
  r.add("", "Constant", 1, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Constant>(n);
  });
  r.add("", "Gather", 1, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Gather>(n.attr_int("axis", 0));
  });
  r.add("", "CastLike", 15, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Cast>(DType::Undefined); });
  r.add("", "Cast", 6, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    const DType to = static_cast<DType>(n.require_attribute("to").i);
    if (n.require_attribute("to").kind != Attribute::Kind::Int)
      fail(ErrorCode::InvalidModel, n.label() + ": attribute 'to' must be an int");
    if (!dtype_supported(to)) fail(ErrorCode::NotImplemented, n.label() + ": cannot cast to " + dtype_name(to));
    return std::make_unique<Cast>(to);
  });
}

}  // namespace normrt::onnx
