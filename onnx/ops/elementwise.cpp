// Element-wise ops: Add, Sub, Mul, Div, Pow, Min, Max (numpy broadcasting); comparisons (Equal,
// Less, Greater, LessOrEqual, GreaterOrEqual) and logic (And, Or, Xor, Not) with bool outputs;
// Where; Clip; unary maps (Erf, Tanh, Sigmoid, Softplus, Sqrt, Reciprocal, Exp, Log, HardSigmoid,
// HardSwish, Gelu, Relu, Neg, Abs), float32 on the per-ISA vector kernels where they exist.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "onnx/op_registry.h"
#include "runtime/passes.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

class BinaryArithmetic final : public OpKernel {
 public:
  explicit BinaryArithmetic(kernels::BinaryOp op) : op_(op) {}
  std::vector<int> in_place_inputs() const override { return {0, 1}; }

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


// ---------------------------------------------------------------------------------------------
// Unary maps.

// y[i] = f(x[i]) computed in compute_t<T>, over the tensor in parallel chunks.
template <class T, class F>
void map_elements(const ComputeContext& ctx, const Tensor& x, Tensor& y, F&& f) {
  using C = kernels::compute_t<T>;
  const T* in = x.data<T>();
  T* out = y.data<T>();
  ctx.parallel.for_range(x.numel(), kMinParallelElements, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = T(static_cast<C>(f(C(in[i]))));
  });
}

// Output 0 has input 0's type and shape, for one of `types`.
void same_as_input(InferContext& ctx, const std::vector<DType>& types) {
  ctx.expect_type(0, types);
  ctx.output(0).dtype = ctx.input(0).dtype;
  ctx.output(0).shape = ctx.input(0).shape;
}

// y = f(x) over a floating-point tensor, with the op's attributes in `p`; float32 goes through the
// per-ISA vector form when there is one.
class UnaryFloatMap final : public OpKernel {
 public:
  using Fn = double (*)(double x, const double* p);
  using Simd = void (*)(const kernels::ActivationPrimitives& k, const float* x, float* y, int64_t n);
  UnaryFloatMap(Fn fn, Simd simd, std::vector<double> params = {}) : fn_(fn), simd_(simd), p_(std::move(params)) {}
  std::vector<int> in_place_inputs() const override { return {0}; }

  void infer(InferContext& ctx) const override { same_as_input(ctx, kFloatTypes); }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    if (simd_ && x.dtype() == DType::Float32) {
      const kernels::ActivationPrimitives& k = kernels::activation_primitives(ctx.isa);
      ctx.parallel.for_range(x.numel(), kMinParallelElements,
                             [&](int64_t i0, int64_t i1) { simd_(k, x.data<float>() + i0, y.data<float>() + i0, i1 - i0); });
      return;
    }
    visit_float(x.dtype(), [&]<class T>() { map_elements<T>(ctx, x, y, [&](auto v) { return fn_(double(v), p_.data()); }); });
  }

 private:
  Fn fn_;
  Simd simd_;
  std::vector<double> p_;
};

// y = f(x) over any numeric type, computed in the type itself (Neg, Abs, Relu on integers).
template <class Op>
class UnaryNumericMap final : public OpKernel {
 public:
  explicit UnaryNumericMap(std::initializer_list<DType> types) : types_(types) {}
  std::vector<int> in_place_inputs() const override { return {0}; }
  void infer(InferContext& ctx) const override { same_as_input(ctx, types_); }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    visit_numeric(x.dtype(), [&]<class T>() { map_elements<T>(ctx, x, y, [](auto v) { return Op::apply(v); }); });
  }

 private:
  std::vector<DType> types_;
};

struct NegOp {
  template <class C>
  static C apply(C x) {
    if constexpr (std::is_integral_v<C> && std::is_signed_v<C>) return static_cast<C>(0 - static_cast<std::make_unsigned_t<C>>(x));  // wraps
    else return -x;
  }
};
struct AbsOp {
  template <class C>
  static C apply(C x) {
    if constexpr (std::is_unsigned_v<C>) return x;
    else if constexpr (std::is_integral_v<C>) return x < 0 ? NegOp::apply(x) : x;
    else return std::fabs(x);
  }
};
struct SignOp {
  template <class C>
  static C apply(C x) {
    if constexpr (std::is_floating_point_v<C>)
      if (x != x) return x;
    return x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0));
  }
};
struct ReluOp {
  template <class C>
  static C apply(C x) {
    return x > C(0) ? x : (x == x ? C(0) : x);  // NaN stays NaN
  }
};

constexpr std::initializer_list<DType> kSignedTypes = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                                       DType::Int8,    DType::Int16,   DType::Int32,   DType::Int64};

double erf_fn(double x, const double*) { return std::erf(x); }
double tanh_fn(double x, const double*) { return std::tanh(x); }
double sigmoid_fn(double x, const double*) { return 1.0 / (1.0 + std::exp(-x)); }
double softplus_fn(double x, const double*) { return x > 30 ? x : std::log1p(std::exp(x)); }
double sqrt_fn(double x, const double*) { return std::sqrt(x); }
double reciprocal_fn(double x, const double*) { return 1.0 / x; }
double exp_fn(double x, const double*) { return std::exp(x); }
double log_fn(double x, const double*) { return std::log(x); }
double hard_sigmoid_fn(double x, const double* p) { return std::max(0.0, std::min(1.0, p[0] * x + p[1])); }
double hard_swish_fn(double x, const double*) { return x * std::max(0.0, std::min(1.0, x / 6.0 + 0.5)); }
double gelu_erf_fn(double x, const double*) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_fn(double x, const double*) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

double leaky_relu_fn(double x, const double* p) { return x >= 0 ? x : p[0] * x; }
double elu_fn(double x, const double* p) { return x >= 0 ? x : p[0] * (std::exp(x) - 1.0); }
double selu_fn(double x, const double* p) { return p[1] * (x > 0 ? x : p[0] * (std::exp(x) - 1.0)); }
double floor_fn(double x, const double*) { return std::floor(x); }
double ceil_fn(double x, const double*) { return std::ceil(x); }
double round_fn(double x, const double*) { return std::nearbyint(x); }  // half to even, as ONNX
double sin_fn(double x, const double*) { return std::sin(x); }
double cos_fn(double x, const double*) { return std::cos(x); }
double swish_fn(double x, const double* p) { return x / (1.0 + std::exp(-p[0] * x)); }
double mish_fn(double x, const double*) { return x * std::tanh(x > 30 ? x : std::log1p(std::exp(x))); }

void tanh_simd(const kernels::ActivationPrimitives& k, const float* x, float* y, int64_t n) { k.tanh(x, y, n); }
void sigmoid_simd(const kernels::ActivationPrimitives& k, const float* x, float* y, int64_t n) { k.sigmoid(x, y, n); }
void erf_simd(const kernels::ActivationPrimitives& k, const float* x, float* y, int64_t n) { k.erf(x, y, n); }
template <kernels::Activation A>
void act_simd(const kernels::ActivationPrimitives& k, const float* x, float* y, int64_t n) {
  if (y != x) std::copy(x, x + n, y);
  k.bias_act(y, n, 1, nullptr, n, A);
}

// ---------------------------------------------------------------------------------------------
// Binary maps with broadcasting.

// Equal, Less, Greater, LessOrEqual, GreaterOrEqual: bool output.
enum class Compare { Equal, Less, Greater, LessOrEqual, GreaterOrEqual };

class Comparison final : public OpKernel {
 public:
  explicit Comparison(Compare c) : c_(c) {}
  void infer(InferContext& ctx) const override {
    const ValueType &a = ctx.input(0), &b = ctx.input(1);
    if (a.dtype != b.dtype) ctx.error("inputs have different element types (" + dtype_name(a.dtype) + " and " + dtype_name(b.dtype) + ")");
    if (a.dtype != DType::Bool || c_ != Compare::Equal) ctx.expect_type(0, kNumericTypes);
    ctx.output(0).dtype = DType::Bool;
    if (a.shape && b.shape) ctx.output(0).shape = broadcast_sym(*a.shape, *b.shape, ctx);
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(a.shape(), b.shape());
    bool* out = ctx.outputs[0]->data<bool>();
    auto run = [&]<class T>() {
      using C = kernels::compute_t<T>;
      ctx.parallel.for_range(plan.outer, rows_grain(plan.inner), [&](int64_t r0, int64_t r1) {
        kernels::broadcast_map(a.data<T>(), b.data<T>(), out, plan, r0, r1, [c = c_](T x, T y) {
          const C u = C(x), v = C(y);
          switch (c) {
            case Compare::Equal: return u == v;
            case Compare::Less: return u < v;
            case Compare::Greater: return u > v;
            case Compare::LessOrEqual: return u <= v;
            case Compare::GreaterOrEqual: return u >= v;
          }
          return false;
        });
      });
    };
    if (a.dtype() == DType::Bool) run.template operator()<bool>();
    else visit_numeric(a.dtype(), run);
  }

 private:
  Compare c_;
};

enum class Logic { And, Or, Xor };

class LogicOp final : public OpKernel {
 public:
  explicit LogicOp(Logic l) : l_(l) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Bool});
    ctx.expect_type(1, {DType::Bool});
    ctx.output(0).dtype = DType::Bool;
    if (ctx.input(0).shape && ctx.input(1).shape) ctx.output(0).shape = broadcast_sym(*ctx.input(0).shape, *ctx.input(1).shape, ctx);
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(a.shape(), b.shape());
    kernels::broadcast_map(a.data<bool>(), b.data<bool>(), ctx.outputs[0]->data<bool>(), plan, 0, plan.outer, [l = l_](bool x, bool y) {
      return l == Logic::And ? (x && y) : l == Logic::Or ? (x || y) : (x != y);
    });
  }

 private:
  Logic l_;
};

class NotOp final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Bool});
    ctx.output(0) = ctx.input(0);
    ctx.output(0).value = nullptr;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    for (int64_t i = 0; i < x.numel(); ++i) ctx.outputs[0]->data<bool>()[i] = !x.data<bool>()[i];
  }
};

// Pow(X, Y): X float or integer, Y any numeric type; computed in double, stored as X's type.
class PowOp final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNumericTypes);
    ctx.expect_type(1, kNumericTypes);
    ctx.output(0).dtype = ctx.input(0).dtype;
    if (ctx.input(0).shape && ctx.input(1).shape) ctx.output(0).shape = broadcast_sym(*ctx.input(0).shape, *ctx.input(1).shape, ctx);
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(a.shape(), b.shape());
    visit_numeric(a.dtype(), [&]<class TA>() {
      visit_numeric(b.dtype(), [&]<class TB>() {
        using CA = kernels::compute_t<TA>;
        using CB = kernels::compute_t<TB>;
        ctx.parallel.for_range(plan.outer, rows_grain(plan.inner), [&](int64_t r0, int64_t r1) {
          kernels::broadcast_map(a.data<TA>(), b.data<TB>(), ctx.outputs[0]->data<TA>(), plan, r0, r1, [](TA x, TB y) {
            const double e = double(CB(y)), v = double(CA(x));
            // Squares (the LayerNorm pattern) exactly as a multiplication.
            const double r = e == 2.0 ? v * v : std::pow(v, e);
            if constexpr (std::is_integral_v<CA>) return TA(static_cast<CA>(r));
            else return TA(static_cast<CA>(r));
          });
        });
      });
    });
  }
};

// Max, Min, Sum and Mean over 1..N inputs with broadcasting, folded left (each step broadcast to
// the next shape, float16/bfloat16 rounded at every step as a chain of binary ops would be); Max
// and Min propagate NaN; Mean is the sum divided by N once at the end.
class Variadic final : public OpKernel {
 public:
  enum class Mode { Max, Min, Sum, Mean };
  explicit Variadic(Mode mode) : mode_(mode) {}
  void infer(InferContext& ctx) const override {
    if (ctx.num_inputs() == 0) ctx.error("needs at least one input");
    ctx.expect_type(0, mode_ == Mode::Max || mode_ == Mode::Min ? kNumericTypes : kFloatTypes);
    std::optional<SymShape> shape = ctx.input(0).shape;
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
      if (ctx.input(i).dtype != ctx.input(0).dtype) ctx.error("inputs have different element types");
      if (shape && ctx.input(i).shape) shape = broadcast_sym(*shape, *ctx.input(i).shape, ctx);
      else shape.reset();
    }
    ctx.output(0).dtype = ctx.input(0).dtype;
    ctx.output(0).shape = shape;
  }
  void compute(ComputeContext& ctx) const override {
    Tensor& y = *ctx.outputs[0];
    visit_numeric(y.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      auto step = [mode = mode_](T x, T z) {
        const C u = C(x), v = C(z);
        if (mode == Mode::Sum || mode == Mode::Mean) return T(static_cast<C>(u + v));
        if constexpr (std::is_floating_point_v<C>)
          if (u != u || v != v) return T(static_cast<C>(std::numeric_limits<C>::quiet_NaN()));
        return ((mode == Mode::Max) ? u >= v : u <= v) ? x : z;
      };
      Tensor acc = *ctx.inputs[0];
      for (size_t i = 1; i < ctx.inputs.size(); ++i) {
        const Tensor& b = *ctx.inputs[i];
        const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(acc.shape(), b.shape());
        Shape out_shape;
        kernels::broadcast_shapes(acc.shape(), b.shape(), out_shape);
        Tensor next = Tensor::allocate(y.dtype(), out_shape);
        kernels::broadcast_map(acc.data<T>(), b.data<T>(), next.data<T>(), plan, 0, plan.outer, step);
        acc = std::move(next);
      }
      if (acc.numel() != y.numel()) ctx.error("internal: the result has another shape than inferred");
      const C n = C(ctx.inputs.size());
      if constexpr (std::is_floating_point_v<C>) {
        if (mode_ == Mode::Mean) {
          for (int64_t i = 0; i < acc.numel(); ++i) y.data<T>()[i] = T(static_cast<C>(C(acc.data<T>()[i]) / n));
          return;
        }
      }
      std::copy(acc.data<T>(), acc.data<T>() + acc.numel(), y.data<T>());
    });
  }

 private:
  Mode mode_;
};

// Where(condition, X, Y) with three-way broadcasting.
class WhereOp final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Bool});
    const ValueType &x = ctx.input(1), &y = ctx.input(2);
    if (x.dtype != y.dtype) ctx.error("X and Y have different element types");
    ctx.output(0).dtype = x.dtype;
    if (ctx.input(0).shape && x.shape && y.shape)
      ctx.output(0).shape = broadcast_sym(broadcast_sym(*ctx.input(0).shape, *x.shape, ctx), *y.shape, ctx);
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &c = *ctx.inputs[0], &x = *ctx.inputs[1], &y = *ctx.inputs[2];
    Tensor& out = *ctx.outputs[0];
    const Shape& os = out.shape();
    const size_t rank = os.size();
    // Element strides of each input over the output's dims (0 where it broadcasts).
    auto strides = [&](const Shape& s) {
      std::vector<int64_t> st(rank, 0);
      int64_t acc = 1;
      for (size_t k = 0; k < s.size(); ++k) {
        const size_t d = rank - 1 - k, sd = s.size() - 1 - k;
        st[d] = s[sd] == 1 ? 0 : acc;
        acc *= s[sd];
      }
      return st;
    };
    const std::vector<int64_t> sc = strides(c.shape()), sx = strides(x.shape()), sy = strides(y.shape());
    const size_t width = dtype_size(out.dtype());
    const auto* pc = c.data<bool>();
    const auto* px = static_cast<const char*>(x.raw());
    const auto* py = static_cast<const char*>(y.raw());
    auto* po = static_cast<char*>(out.raw());
    if (out.numel() == 0) return;
    // Row by row over the last dim (typed copies for the common widths), the odometer once per row.
    const int64_t inner = rank ? os[rank - 1] : 1, rows = out.numel() / inner;
    const int64_t ic = rank ? sc[rank - 1] : 0, ix = rank ? sx[rank - 1] : 0, iy = rank ? sy[rank - 1] : 0;
    auto select_rows = [&](auto* typed) {
      using T = std::remove_pointer_t<decltype(typed)>;
      std::vector<int64_t> idx(rank, 0);
      int64_t oc = 0, ox = 0, oy = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const bool* cr = pc + oc;
        if constexpr (std::is_void_v<T>) {
          char* o = po + r * inner * width;
          for (int64_t j = 0; j < inner; ++j)
            std::memcpy(o + j * width, cr[j * ic] ? px + (ox + j * ix) * width : py + (oy + j * iy) * width, width);
        } else {
          const T* xr = reinterpret_cast<const T*>(px) + ox;
          const T* yr = reinterpret_cast<const T*>(py) + oy;
          T* o = reinterpret_cast<T*>(po) + r * inner;
          for (int64_t j = 0; j < inner; ++j) o[j] = cr[j * ic] ? xr[j * ix] : yr[j * iy];
        }
        for (size_t d = rank > 0 ? rank - 1 : 0; d-- > 0;) {  // odometer over all but the last dim
          oc += sc[d], ox += sx[d], oy += sy[d];
          if (++idx[d] < os[d]) break;
          oc -= sc[d] * os[d], ox -= sx[d] * os[d], oy -= sy[d] * os[d];
          idx[d] = 0;
        }
      }
    };
    // Bit copies (uintN_t), so NaN payloads and -0 pass through unchanged.
    switch (width) {
      case 1: select_rows(static_cast<uint8_t*>(nullptr)); break;
      case 2: select_rows(static_cast<uint16_t*>(nullptr)); break;
      case 4: select_rows(static_cast<uint32_t*>(nullptr)); break;
      case 8: select_rows(static_cast<uint64_t*>(nullptr)); break;
      default: select_rows(static_cast<void*>(nullptr)); break;
    }
  }
};

// Clip: opset 6-10 with min/max attributes, 11+ with optional scalar min/max inputs.
class ClipOp final : public OpKernel {
 public:
  ClipOp(bool from_inputs, double lo, double hi) : from_inputs_(from_inputs), lo_(lo), hi_(hi) {}
  std::vector<int> in_place_inputs() const override { return {0}; }
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNumericTypes);
    for (size_t i : {1, 2})
      if (ctx.has_input(i) && ctx.input(i).dtype != ctx.input(0).dtype) ctx.error("min and max must have the input's element type");
    ctx.output(0).dtype = ctx.input(0).dtype;
    ctx.output(0).shape = ctx.input(0).shape;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    visit_numeric(x.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
      if (from_inputs_) {
        for (size_t i : {1, 2}) {
          const Tensor* t = ctx.inputs.size() > i ? ctx.inputs[i] : nullptr;
          if (!t) continue;
          if (t->numel() != 1) ctx.error(std::string(i == 1 ? "min" : "max") + " must be a scalar");
          (i == 1 ? lo : hi) = C(t->data<T>()[0]);
        }
      } else {
        // Saturating: the float attributes meet integer inputs too (int64's max is not a double,
        // and a plain cast of 2^63 or NaN is undefined).
        lo = convert_value<C>(std::max<double>(lo_, double(std::numeric_limits<C>::lowest())));
        hi = convert_value<C>(std::min<double>(hi_, double(std::numeric_limits<C>::max())));
      }
      map_elements<T>(ctx, x, y, [&](C v) { return v != v ? v : std::min(std::max(v, lo), hi); });  // NaN stays NaN
    });
  }

 private:
  bool from_inputs_;
  double lo_, hi_;
};

// IsNaN / IsInf (detect_positive, detect_negative): bool output.
class FloatTest final : public OpKernel {
 public:
  FloatTest(bool nan, bool pos, bool neg) : nan_(nan), pos_(pos), neg_(neg) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kFloatTypes);
    ctx.output(0).dtype = DType::Bool;
    ctx.output(0).shape = ctx.input(0).shape;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    bool* out = ctx.outputs[0]->data<bool>();
    visit_float(x.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const C v = C(x.data<T>()[i]);
        out[i] = nan_ ? v != v : (std::isinf(v) && ((v > 0 && pos_) || (v < 0 && neg_)));
      }
    });
  }

 private:
  bool nan_, pos_, neg_;
};

// PRelu(x, slope): x < 0 ? slope * x : x, slope broadcast to x (unidirectionally).
class PReluOp final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kSignedTypes);
    if (ctx.input(1).dtype != ctx.input(0).dtype) ctx.error("slope must have X's element type");
    ctx.output(0).dtype = ctx.input(0).dtype;
    ctx.output(0).shape = ctx.input(0).shape;
    if (ctx.input(0).shape && ctx.input(1).shape) {
      const SymShape b = broadcast_sym(*ctx.input(0).shape, *ctx.input(1).shape, ctx);
      if (b.size() != ctx.input(0).shape->size()) ctx.error("slope does not broadcast to X");
    }
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &x = *ctx.inputs[0], &slope = *ctx.inputs[1];
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(x.shape(), slope.shape());
    if (plan.numel != x.numel()) ctx.error("slope " + shape_to_string(slope.shape()) + " does not broadcast to X " + shape_to_string(x.shape()));
    visit_numeric(x.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      kernels::broadcast_map(x.data<T>(), slope.data<T>(), ctx.outputs[0]->data<T>(), plan, 0, plan.outer,
                             [](T a, T s) { return C(a) < C(0) ? T(static_cast<C>(C(s) * C(a))) : a; });
    });
  }
};

// Mod(a, b) with broadcasting: fmod=1 takes the dividend's sign (C fmod), fmod=0 the divisor's
// (Python %, integers only).
class ModOp final : public OpKernel {
 public:
  explicit ModOp(bool fmod) : fmod_(fmod) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kNumericTypes);
    if (ctx.input(1).dtype != ctx.input(0).dtype) ctx.error("inputs have different element types");
    const bool is_float = ctx.input(0).dtype == DType::Float32 || ctx.input(0).dtype == DType::Float64 ||
                          ctx.input(0).dtype == DType::Float16 || ctx.input(0).dtype == DType::BFloat16;
    if (is_float && !fmod_) ctx.error("floating-point Mod needs fmod=1");
    ctx.output(0).dtype = ctx.input(0).dtype;
    if (ctx.input(0).shape && ctx.input(1).shape) ctx.output(0).shape = broadcast_sym(*ctx.input(0).shape, *ctx.input(1).shape, ctx);
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    const kernels::BroadcastPlan plan = kernels::make_broadcast_plan(a.shape(), b.shape());
    visit_numeric(a.dtype(), [&]<class T>() {
      using C = kernels::compute_t<T>;
      kernels::broadcast_map(a.data<T>(), b.data<T>(), ctx.outputs[0]->data<T>(), plan, 0, plan.outer, [f = fmod_](T x, T y) {
        const C u = C(x), v = C(y);
        if constexpr (std::is_floating_point_v<C>) {
          return T(static_cast<C>(std::fmod(u, v)));
        } else {
          if (v == 0) return T(0);  // undefined in C++: 0 rather than a crash
          if constexpr (std::is_signed_v<C>)
            if (v == -1) return T(0);
          C r = static_cast<C>(u % v);
          if constexpr (std::is_signed_v<C>)
            if (!f && r != 0 && ((r < 0) != (v < 0))) r = static_cast<C>(r + v);
          return T(r);
        }
      });
    });
  }

 private:
  bool fmod_;
};

// Dropout at inference: the identity (ratio and training_mode are ignored unless training_mode is
// a constant true, which is refused); the optional mask output is all true: bool from opset 10,
// the input's own type (ones) at opsets 7-9.
class DropoutOp final : public OpKernel {
 public:
  explicit DropoutOp(bool bool_mask) : bool_mask_(bool_mask) {}
  void infer(InferContext& ctx) const override {
    if (ctx.has_input(2)) {
      const Tensor* t = ctx.input(2).value;
      if (!t && !ctx.at_run()) {
        // Unknown until run time: checked then.
      } else if (t && t->numel() == 1 && t->data<bool>()[0]) {
        ctx.unsupported("training_mode=true (dropout with randomness) is not supported");
      }
    }
    if (!bool_mask_ && ctx.num_outputs() > 1) ctx.expect_type(0, kFloatTypes);
    ctx.output(0) = ctx.input(0);
    ctx.output(0).value = nullptr;
    if (ctx.num_outputs() > 1) {
      ctx.output(1).dtype = bool_mask_ ? DType::Bool : ctx.input(0).dtype;
      ctx.output(1).shape = ctx.input(0).shape;
    }
  }
  void compute(ComputeContext& ctx) const override {
    std::memcpy(ctx.outputs[0]->raw(), ctx.inputs[0]->raw(), ctx.inputs[0]->byte_size());
    if (ctx.outputs.size() < 2 || !ctx.outputs[1]) return;
    Tensor& mask = *ctx.outputs[1];
    if (bool_mask_) {
      std::fill(mask.data<bool>(), mask.data<bool>() + mask.numel(), true);
      return;
    }
    visit_float(mask.dtype(), [&]<class T>() { std::fill(mask.data<T>(), mask.data<T>() + mask.numel(), T(1.0f)); });
  }

 private:
  bool bool_mask_;
};

template <class Op>
std::unique_ptr<OpKernel> make_numeric_map(std::initializer_list<DType> types) {
  return std::make_unique<UnaryNumericMap<Op>>(types);
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  using kernels::BinaryOp;
  // Opsets 7, 13 and 14 changed only the allowed types; all use multidirectional broadcasting.
  r.add("", "Add", 7, kMaxDefaultOpset, make_binary<BinaryOp::Add>);
  r.add("", "Sub", 7, kMaxDefaultOpset, make_binary<BinaryOp::Sub>);
  r.add("", "Mul", 7, kMaxDefaultOpset, make_binary<BinaryOp::Mul>);
  r.add("", "Div", 7, kMaxDefaultOpset, make_binary<BinaryOp::Div>);
  using F = UnaryFloatMap;
  r.add("", "Erf", 9, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(erf_fn, erf_simd); });
  r.add("", "Tanh", 6, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(tanh_fn, tanh_simd); });
  r.add("", "Sigmoid", 6, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(sigmoid_fn, sigmoid_simd); });
  r.add("", "Softplus", 1, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(softplus_fn, nullptr); });
  r.add("", "Sqrt", 6, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(sqrt_fn, nullptr); });
  r.add("", "Reciprocal", 6, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(reciprocal_fn, nullptr); });
  r.add("", "Exp", 6, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(exp_fn, nullptr); });
  r.add("", "Log", 6, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(log_fn, nullptr); });
  r.add("", "HardSigmoid", 6, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<F>(hard_sigmoid_fn, nullptr, std::vector<double>{n.attr_float("alpha", 0.2f), n.attr_float("beta", 0.5f)});
  });
  r.add("", "HardSwish", 14, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(hard_swish_fn, nullptr); });
  r.add("", "Gelu", 20, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    const std::string approx = n.attr_string("approximate", "none");
    if (approx == "none") return std::make_unique<F>(gelu_erf_fn, act_simd<kernels::Activation::GeluErf>);
    if (approx == "tanh") return std::make_unique<F>(gelu_tanh_fn, act_simd<kernels::Activation::GeluTanh>);
    fail(ErrorCode::InvalidModel, n.label() + ": approximate must be 'none' or 'tanh', got '" + approx + "'");
  });
  r.add(kInternalDomain, "Gelu", 1, 1, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {  // from the gelu passes, any opset
    if (n.attr_string("approximate", "none") == "tanh") return std::make_unique<F>(gelu_tanh_fn, act_simd<kernels::Activation::GeluTanh>);
    return std::make_unique<F>(gelu_erf_fn, act_simd<kernels::Activation::GeluErf>);
  });
  r.add("", "Relu", 6, 13, [](const Node&, int64_t) { return make_numeric_map<ReluOp>(kFloatTypes); });
  r.add("", "Relu", 14, kMaxDefaultOpset, [](const Node&, int64_t) { return make_numeric_map<ReluOp>(kSignedTypes); });
  r.add("", "Neg", 6, kMaxDefaultOpset, [](const Node&, int64_t) { return make_numeric_map<NegOp>(kSignedTypes); });
  r.add("", "Abs", 6, kMaxDefaultOpset, [](const Node&, int64_t) { return make_numeric_map<AbsOp>(kNumericTypes); });
  r.add("", "Equal", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Comparison>(Compare::Equal); });
  r.add("", "Less", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Comparison>(Compare::Less); });
  r.add("", "Greater", 7, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Comparison>(Compare::Greater); });
  r.add("", "LessOrEqual", 12, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Comparison>(Compare::LessOrEqual); });
  r.add("", "GreaterOrEqual", 12, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Comparison>(Compare::GreaterOrEqual); });
  r.add("", "And", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<LogicOp>(Logic::And); });
  r.add("", "Or", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<LogicOp>(Logic::Or); });
  r.add("", "Xor", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<LogicOp>(Logic::Xor); });
  r.add("", "Not", 1, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<NotOp>(); });
  r.add("", "Pow", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<PowOp>(); });
  using V = Variadic;
  r.add("", "Max", 8, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<V>(V::Mode::Max); });
  r.add("", "Min", 8, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<V>(V::Mode::Min); });
  r.add("", "Sum", 8, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<V>(V::Mode::Sum); });
  r.add("", "Mean", 8, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<V>(V::Mode::Mean); });
  r.add("", "Where", 9, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<WhereOp>(); });
  r.add("", "LeakyRelu", 6, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<F>(leaky_relu_fn, nullptr, std::vector<double>{n.attr_float("alpha", 0.01f)});
  });
  r.add("", "Elu", 6, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<F>(elu_fn, nullptr, std::vector<double>{n.attr_float("alpha", 1.0f)});
  });
  r.add("", "Selu", 6, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<F>(selu_fn, nullptr, std::vector<double>{n.attr_float("alpha", 1.67326319217681884765625f), n.attr_float("gamma", 1.05070102214813232421875f)});
  });
  r.add("", "Floor", 6, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(floor_fn, nullptr); });
  r.add("", "Ceil", 6, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(ceil_fn, nullptr); });
  r.add("", "Round", 11, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(round_fn, nullptr); });
  r.add("", "Sin", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(sin_fn, nullptr); });
  r.add("", "Cos", 7, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(cos_fn, nullptr); });
  r.add("", "Mish", 18, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<F>(mish_fn, nullptr); });
  r.add("", "Swish", 24, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<F>(swish_fn, nullptr, std::vector<double>{n.attr_float("alpha", 1.0f)});
  });
  r.add("", "Sign", 9, kMaxDefaultOpset, [](const Node&, int64_t) { return make_numeric_map<SignOp>(kNumericTypes); });
  r.add("", "IsNaN", 9, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<FloatTest>(true, false, false); });
  r.add("", "IsInf", 10, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<FloatTest>(false, n.attr_int("detect_positive", 1) != 0, n.attr_int("detect_negative", 1) != 0);
  });
  r.add("", "PRelu", 9, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<PReluOp>(); });
  r.add("", "Mod", 10, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<ModOp>(n.attr_int("fmod", 0) != 0); });
  // Opset 7 dropped is_test (always inference here), 10 made the mask bool, 12 turned ratio into an input.
  r.add("", "Dropout", 7, kMaxDefaultOpset, [](const Node&, int64_t opset) -> std::unique_ptr<OpKernel> {
    return std::make_unique<DropoutOp>(opset >= 10);
  });
  r.add("", "Clip", 6, 10, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<ClipOp>(false, n.attr_float("min", std::numeric_limits<float>::lowest()),
                                    n.attr_float("max", std::numeric_limits<float>::max()));
  });
  r.add("", "Clip", 11, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<ClipOp>(true, 0, 0); });
}

}  // namespace normrt::onnx
