// LayerNormalization (opset 17). The kernel is kernels/norm.h; this file handles the ONNX side:
// axis, epsilon, stash_type, scale/bias broadcast over the normalized shape, optional outputs.
#include "kernels/norm.h"
#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

class LayerNormalization final : public OpKernel {
 public:
  LayerNormalization(int64_t axis, float epsilon, DType stash) : axis_(axis), epsilon_(epsilon), stash_(stash) {}

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kFloatTypes);
    const ValueType& x = ctx.input(0);
    for (size_t i : {1, 2})
      if (ctx.has_input(i) && ctx.input(i).dtype != x.dtype)
        ctx.error("input " + std::to_string(i) + " has element type " + dtype_name(ctx.input(i).dtype) +
                  ", but X has " + dtype_name(x.dtype));
    ctx.input(1);  // scale is required
    ctx.output(0).dtype = x.dtype;
    ctx.output(0).shape = x.shape;
    if (x.shape) {
      const int64_t rank = static_cast<int64_t>(x.shape->size());
      if (rank == 0) ctx.error("X must have rank >= 1");
      const int64_t axis = normalize_axis(axis_, rank, ctx);
      SymShape normalized(x.shape->begin() + axis, x.shape->end());
      for (size_t i : {1, 2})
        if (ctx.has_input(i) && ctx.input(i).shape) {
          // scale and bias must broadcast to the normalized shape without changing it.
          SymShape b = broadcast_sym(normalized, *ctx.input(i).shape, ctx);
          if (b.size() != normalized.size()) ctx.error("input " + std::to_string(i) + " has more dims than the normalized shape");
          for (size_t k = 0; k < b.size(); ++k)
            if (b[k].known() && normalized[k].known() && b[k].value != normalized[k].value)
              ctx.error("input " + std::to_string(i) + " does not broadcast to the normalized shape " +
                        sym_shape_to_string(normalized));
        }
      SymShape stat(x.shape->begin(), x.shape->begin() + axis);
      stat.resize(rank, Dim::of(1));
      for (size_t o : {1, 2})
        if (o < ctx.num_outputs()) ctx.output(o).shape = stat;
    }
    for (size_t o : {1, 2})
      if (o < ctx.num_outputs()) ctx.output(o).dtype = stash_;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const int64_t rank = static_cast<int64_t>(x.rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    int64_t rows = 1, d = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? rows : d) *= x.shape()[i];
    const Shape normalized(x.shape().begin() + axis, x.shape().end());
    const Tensor scale = expand_to(*ctx.inputs[1], normalized);
    const Tensor bias = ctx.inputs.size() > 2 && ctx.inputs[2] ? expand_to(*ctx.inputs[2], normalized) : Tensor();
    Tensor* mean = ctx.outputs.size() > 1 ? ctx.outputs[1] : nullptr;
    Tensor* inv_std = ctx.outputs.size() > 2 ? ctx.outputs[2] : nullptr;
    visit_float(x.dtype(), [&]<class T>() {
      visit_float(stash_, [&]<class U>() {
        ctx.parallel.for_range(rows, rows_grain(d), [&](int64_t r0, int64_t r1) {
          kernels::layer_norm_rows<T, U>(x.data<T>(), scale.data<T>(), bias.numel() ? bias.data<T>() : nullptr,
                                         ctx.outputs[0]->data<T>(), mean ? mean->data<U>() : nullptr,
                                         inv_std ? inv_std->data<U>() : nullptr, d, epsilon_, r0, r1);
        });
      });
    });
  }

 private:
  // `t` broadcast to `shape` (a copy only when it is not already that size).
  static Tensor expand_to(const Tensor& t, const Shape& shape) {
    if (t.shape() == shape) return t;
    Tensor out = Tensor::allocate(t.dtype(), shape);
    Tensor zeros = Tensor::allocate(t.dtype(), shape);
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(t.shape(), shape);
    visit_float(t.dtype(), [&]<class T>() {
      kernels::binary_rows<T>(kernels::BinaryOp::Add, t.data<T>(), zeros.data<T>(), out.data<T>(), plan, 0, plan.outer);
    });
    return out;
  }

  int64_t axis_;
  float epsilon_;
  DType stash_;
};

}  // namespace

void register_norm_ops(OpRegistry& r) {
  r.add("", "LayerNormalization", 17, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    const int64_t stash = n.attr_int("stash_type", 1);
    const DType u = static_cast<DType>(stash);
    if (u != DType::Float32 && u != DType::Float64 && u != DType::BFloat16 && u != DType::Float16)
      fail(ErrorCode::InvalidModel, n.label() + ": stash_type " + std::to_string(stash) + " is not a floating-point type");
    const float eps = n.attr_float("epsilon", 1e-5f);
    if (!(eps >= 0)) fail(ErrorCode::InvalidModel, n.label() + ": epsilon must be >= 0");
    return std::make_unique<LayerNormalization>(n.attr_int("axis", -1), eps, u);
  });
}

}  // namespace normrt::onnx
