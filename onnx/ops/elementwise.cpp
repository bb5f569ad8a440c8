// Add, Sub, Mul, Div (numpy broadcasting, opset 7+) and unary math (Erf).
#include <cmath>

#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

class BinaryArithmetic final : public OpKernel {
 public:
  explicit BinaryArithmetic(kernels::BinaryOp op) : op_(op) {}

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNumericTypes);
    const ValueType &a = ctx.input(0), &b = ctx.input(1);
    if (a.dtype != b.dtype)
      ctx.error("inputs have different element types (" + dtype_name(a.dtype) + " and " + dtype_name(b.dtype) + ")");
    ValueType& y = ctx.output(0);
    y.dtype = a.dtype;
    if (a.shape && b.shape) y.shape = broadcast_sym(*a.shape, *b.shape, ctx);
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    Tensor& y = *ctx.outputs[0];
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(a.shape(), b.shape());
    visit_numeric(a.dtype(), [&]<class T>() {
      ctx.parallel.for_range(plan.outer, rows_grain(plan.inner), [&](int64_t r0, int64_t r1) {
        kernels::binary_rows<T>(op_, a.data<T>(), b.data<T>(), y.data<T>(), plan, r0, r1);
      });
    });
  }

 private:
  kernels::BinaryOp op_;
};

template <kernels::BinaryOp OP>
std::unique_ptr<OpKernel> make_binary(const Node&, int64_t) {
  return std::make_unique<BinaryArithmetic>(OP);
}

// y = f(x) element by element over floating-point tensors.
class UnaryFloat final : public OpKernel {
 public:
  using Fn = double (*)(double);
  // The float32 primitive in the per-ISA table.
  using SimdFn = void (*kernels::ActivationPrimitives::*)(const float*, float*, int64_t);
  // fn: the float64 definition (other float types); simd: the float32 primitive, may be null.
  UnaryFloat(Fn fn, SimdFn simd) : fn_(fn), simd_(simd) {}

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kFloatTypes);
    ctx.output(0).dtype = ctx.input(0).dtype;
    ctx.output(0).shape = ctx.input(0).shape;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    if (simd_ && x.dtype() == DType::Float32) {  // the per-ISA vector form
      const auto f = kernels::activation_primitives(ctx.isa).*simd_;
      ctx.parallel.for_range(x.numel(), kMinParallelElements, [&](int64_t i0, int64_t i1) { f(x.data<float>() + i0, y.data<float>() + i0, i1 - i0); });
      return;
    }
    visit_float(x.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      const T* in = x.data<T>();
      T* out = y.data<T>();
      ctx.parallel.for_range(x.numel(), kMinParallelElements, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) out[i] = T(static_cast<C>(fn_(double(C(in[i])))));
      });
    });
  }

 private:
  Fn fn_;
  SimdFn simd_;
};

double erf_fn(double x) { return std::erf(x); }

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  using kernels::BinaryOp;
  // Opsets 7, 13 and 14 changed only the allowed types; all use multidirectional broadcasting.
  r.add("", "Add", 7, kMaxDefaultOpset, make_binary<BinaryOp::Add>);
  r.add("", "Sub", 7, kMaxDefaultOpset, make_binary<BinaryOp::Sub>);
  r.add("", "Mul", 7, kMaxDefaultOpset, make_binary<BinaryOp::Mul>);
  r.add("", "Div", 7, kMaxDefaultOpset, make_binary<BinaryOp::Div>);
  r.add("", "Erf", 9, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<UnaryFloat>(erf_fn, &kernels::ActivationPrimitives::erf);
  });
}

}  // namespace normrt::onnx
