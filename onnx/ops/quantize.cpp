// Linear quantization: QuantizeLinear, DequantizeLinear (per tensor or per axis) and
// DynamicQuantizeLinear, the ops ONNX Runtime's dynamic quantization writes around MatMulInteger.
// Rounding is to nearest, ties to even, and results saturate to the integer type's range, as the
// spec says. Blocked quantization (block_size, opset 21) is refused by name.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

constexpr std::initializer_list<DType> kQuantTypes = {DType::Int8, DType::UInt8, DType::Int16, DType::UInt16};

template <class F>
void visit_quant(DType t, F&& f) {
  switch (t) {
    case DType::Int8: return f.template operator()<int8_t>();
    case DType::UInt8: return f.template operator()<uint8_t>();
    case DType::Int16: return f.template operator()<int16_t>();
    case DType::UInt16: return f.template operator()<uint16_t>();
    case DType::Int32: return f.template operator()<int32_t>();
    default: fail(ErrorCode::NotImplemented, "quantized element type " + dtype_name(t) + " is not supported");
  }
}

// round-half-to-even(v) saturated to Q's range (NaN gives 0, as a float-to-int Cast does here).
template <class Q>
Q saturate_round(float v) {
  const float r = std::nearbyint(v);  // the default rounding mode: to nearest, ties to even
  if (!(r == r)) return Q(0);
  // In double, which holds every bound exactly (float rounds int32's maximum up, past it).
  return Q(std::clamp<double>(r, double(std::numeric_limits<Q>::lowest()), double(std::numeric_limits<Q>::max())));
}

// How the scale (and zero point) spread over x: per tensor, or one per slice along `axis`.
struct QuantLayout {
  int64_t axis_len = 1, inner = 1;  // per tensor: one value for all
  bool per_axis = false;
  int64_t param_at(int64_t i) const { return per_axis ? (i / inner) % axis_len : 0; }
};

// Checks scale and zero point against x; at compute, returns where each element's parameters are.
QuantLayout quant_layout(const Shape& x, const Tensor& scale, const Tensor* zp, int64_t axis_attr, const ComputeContext& ctx) {
  QuantLayout l;
  if (zp && zp->shape() != scale.shape()) ctx.error("the zero point's shape must equal the scale's");
  if (scale.numel() == 1 && scale.rank() <= 1) return l;
  if (scale.rank() != 1) ctx.error("the scale must be a scalar or 1-D (blocked quantization is not supported)");
  const int64_t rank = static_cast<int64_t>(x.size());
  const int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
  if (axis < 0 || axis >= rank) ctx.error("axis " + std::to_string(axis_attr) + " is out of range for rank " + std::to_string(rank));
  if (scale.numel() != x[axis])
    ctx.error("a 1-D scale must hold one value per element of axis " + std::to_string(axis) + " (" + std::to_string(x[axis]) + "), it holds " +
              std::to_string(scale.numel()));
  l.per_axis = true;
  const AroundAxis around = around_axis(x, axis);
  l.axis_len = around.len, l.inner = around.inner;
  return l;
}

// QuantizeLinear: y = saturate(round(x / scale) + zero_point); y's type is the zero point's
// (uint8 without one).
class QuantizeLinear final : public OpKernel {
 public:
  explicit QuantizeLinear(int64_t axis) : axis_(axis) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, kFloatTypes);
    ctx.expect_type(1, kFloatTypes);
    if (ctx.has_input(2)) ctx.expect_type(2, kQuantTypes);
    ctx.output(0).dtype = ctx.has_input(2) ? ctx.input(2).dtype : DType::UInt8;
    ctx.output(0).shape = ctx.input(0).shape;
  }
  void compute(ComputeContext& ctx) const override {
    const FloatIn x = float_in(ctx.inputs[0]), scale = float_in(ctx.inputs[1]);
    const Tensor* zp = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    const QuantLayout l = quant_layout(ctx.inputs[0]->shape(), *ctx.inputs[1], zp, axis_, ctx);
    Tensor& y = *ctx.outputs[0];
    visit_quant(y.dtype(), [&]<class Q>() {
      Q* out = y.data<Q>();
      ctx.parallel.for_range(y.numel(), kMinParallelElements, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t p = l.param_at(i);
          const float z = zp ? float(zp->data<Q>()[p]) : 0.0f;
          out[i] = saturate_round<Q>(std::nearbyint(x.p[i] / scale.p[p]) + z);
        }
      });
    });
  }

 private:
  int64_t axis_;
};

// DequantizeLinear: y = (x - zero_point) * scale, in the scale's float type.
class DequantizeLinear final : public OpKernel {
 public:
  explicit DequantizeLinear(int64_t axis) : axis_(axis) {}
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Int8, DType::UInt8, DType::Int16, DType::UInt16, DType::Int32});
    ctx.expect_type(1, kFloatTypes);
    if (ctx.has_input(2) && ctx.input(2).dtype != ctx.input(0).dtype)
      ctx.error("the zero point has element type " + dtype_name(ctx.input(2).dtype) + " but x has " + dtype_name(ctx.input(0).dtype));
    ctx.output(0).dtype = ctx.input(1).dtype;
    ctx.output(0).shape = ctx.input(0).shape;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const FloatIn scale = float_in(ctx.inputs[1]);
    const Tensor* zp = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    const QuantLayout l = quant_layout(x.shape(), *ctx.inputs[1], zp, axis_, ctx);
    FloatOut y = float_out(ctx.outputs[0]);
    visit_quant(x.dtype(), [&]<class Q>() {
      const Q* in = x.data<Q>();
      ctx.parallel.for_range(x.numel(), kMinParallelElements, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t p = l.param_at(i);
          // In double: an int32 x less its zero point may not be exact in float.
          const double z = zp ? double(zp->data<Q>()[p]) : 0.0;
          y.p[i] = float((double(in[i]) - z) * double(scale.p[p]));
        }
      });
    });
    y.commit();
  }

 private:
  int64_t axis_;
};

// DynamicQuantizeLinear (11): uint8 y, with scale = (max(x, 0) - min(x, 0)) / 255 and zero point
// saturate(round(-min(x, 0) / scale)), computed from x itself.
class DynamicQuantizeLinear final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32});
    ctx.output(0).dtype = DType::UInt8;
    ctx.output(0).shape = ctx.input(0).shape;
    for (size_t o = 1; o < ctx.num_outputs() && o < 3; ++o) ctx.output(o).shape = SymShape{};
    if (ctx.num_outputs() > 1) ctx.output(1).dtype = DType::Float32;
    if (ctx.num_outputs() > 2) ctx.output(2).dtype = DType::UInt8;
  }
  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const float* in = x.data<float>();
    const int64_t count = x.numel();
    // Min and max in 8 lanes, which the compiler vectorizes (one running value would be a serial
    // chain), with x - x summed beside them: 0 unless some x is NaN or infinite, which only then
    // are looked for, to name the element.
    constexpr int kLanes = 8;
    float lo8[kLanes] = {}, hi8[kLanes] = {}, bad8[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= count; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float v = in[i + l];
        lo8[l] = v < lo8[l] ? v : lo8[l], hi8[l] = v > hi8[l] ? v : hi8[l], bad8[l] += v - v;
      }
    for (; i < count; ++i) lo8[0] = std::min(lo8[0], in[i]), hi8[0] = std::max(hi8[0], in[i]), bad8[0] += in[i] - in[i];
    float lo = 0, hi = 0, bad = 0;
    for (int l = 0; l < kLanes; ++l) lo = std::min(lo, lo8[l]), hi = std::max(hi, hi8[l]), bad += bad8[l];
    if (bad != 0)  // also when bad is NaN
      for (int64_t j = 0; j < count; ++j)
        if (in[j] != in[j]) ctx.error("x holds NaN at element " + std::to_string(j) + ": no scale quantizes it");
    if (!std::isfinite(hi - lo)) ctx.error("x holds an infinity (or a range past float's): no finite scale quantizes it");
    const float scale = (hi - lo) / 255.0f;
    const uint8_t zp = scale == 0 ? 0 : saturate_round<uint8_t>(-lo / scale);
    uint8_t* out = ctx.outputs[0]->data<uint8_t>();
    ctx.parallel.for_range(count, kMinParallelElements, [&](int64_t i0, int64_t i1) {
      if (scale == 0) {
        std::fill(out + i0, out + i1, zp);
        return;
      }
      // round-half-even(x / scale) + zp, saturated, in arithmetic the compiler vectorizes for the
      // baseline ISA (std::nearbyint is a libm call per element there, and float comparisons stay
      // branches). lo <= x <= hi with lo <= 0 <= hi, so |x / scale| stays below 400 even when the
      // scale is subnormal; adding 1.5 * 2^23 to any |v| < 2^22 rounds it to an integer, ties to
      // even (the default rounding mode), held in the sum's low mantissa bits: the sum's bits less
      // the constant's are that integer. Saturation is then integer selects.
      // Locals, not the captures: a store through uint8_t* may alias anything a reference reaches,
      // and reloading them at each step would keep the loop scalar.
      constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
      int32_t round_bits;
      std::memcpy(&round_bits, &kRound, sizeof kRound);
      const int32_t z = zp, offset = round_bits;
      const float sc = scale;
      const float* src = in;
      uint8_t* dst = out;
      for (int64_t j = i0; j < i1; ++j) {
        const float t = src[j] / sc + kRound;
        int32_t bits;
        std::memcpy(&bits, &t, sizeof t);
        int32_t q = bits - offset + z;
        q = q < 0 ? 0 : q;
        q = q > 255 ? 255 : q;
        dst[j] = static_cast<uint8_t>(q);
      }
    });
    if (ctx.outputs.size() > 1 && ctx.outputs[1]) ctx.outputs[1]->data<float>()[0] = scale;
    if (ctx.outputs.size() > 2 && ctx.outputs[2]) ctx.outputs[2]->data<uint8_t>()[0] = zp;
  }
};

std::unique_ptr<OpKernel> make_quant(const Node& n, int64_t opset, bool quantize) {
  if (n.attr_int("block_size", 0) != 0) fail(ErrorCode::NotImplemented, n.label() + ": blocked quantization (block_size) is not supported");
  if (opset >= 23 && n.attributes.count("output_dtype")) fail(ErrorCode::NotImplemented, n.label() + ": the output_dtype attribute is not supported");
  const int64_t axis = n.attr_int("axis", 1);
  if (quantize) return std::make_unique<QuantizeLinear>(axis);
  return std::make_unique<DequantizeLinear>(axis);
}

}  // namespace

void register_quantize_ops(OpRegistry& r) {
  // Opset 13 added per-axis parameters, 19 float16/bfloat16 scales (and float8, not here), 21
  // int16/uint16 and blocks.
  r.add("", "QuantizeLinear", 10, kMaxDefaultOpset, [](const Node& n, int64_t opset) { return make_quant(n, opset, true); });
  r.add("", "DequantizeLinear", 10, kMaxDefaultOpset, [](const Node& n, int64_t opset) { return make_quant(n, opset, false); });
  r.add("", "DynamicQuantizeLinear", 11, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<DynamicQuantizeLinear>(); });
}

}  // namespace normrt::onnx
