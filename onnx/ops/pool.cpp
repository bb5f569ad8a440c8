// Pooling and padding over [N, C, spatial...]: AveragePool, MaxPool (with Indices), GlobalAveragePool,
// GlobalMaxPool (any number of spatial dims; strides, dilations, pads, auto_pad, ceil_mode,
// count_include_pad), MaxUnpool, and Pad (constant, reflect, edge, wrap; attribute and input forms).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

struct PoolGeometry {
  std::vector<int64_t> in, kernel, out, stride, dilation, pad_begin, pad_end;
  int64_t in_size = 1, out_size = 1, kernel_size = 1;
};

struct PoolAttrs {
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;
  std::vector<int64_t> kernel, pads, strides, dilations;

  PoolGeometry geometry(const std::vector<int64_t>& in, const std::function<void(const std::string&)>& error) const {
    const size_t k = in.size();
    PoolGeometry g;
    g.in = in, g.kernel = kernel;
    if (kernel.size() != k) error("kernel_shape needs one value per spatial dim (" + std::to_string(k) + ")");
    // assign, not a conditional of two vectors: GCC 12 warns (wrongly) about freeing its temporary.
    g.stride = strides, g.dilation = dilations;
    if (strides.empty()) g.stride.assign(k, 1);
    if (dilations.empty()) g.dilation.assign(k, 1);
    if (g.stride.size() != k || g.dilation.size() != k) error("strides and dilations need one value per spatial dim");
    g.pad_begin.assign(k, 0), g.pad_end.assign(k, 0);
    if (!pads.empty()) {
      if (pads.size() != 2 * k) error("pads needs two values per spatial dim");
      for (size_t d = 0; d < k; ++d) g.pad_begin[d] = pads[d], g.pad_end[d] = pads[k + d];
    }
    for (size_t d = 0; d < k; ++d) {
      if (g.kernel[d] <= 0 || g.stride[d] <= 0 || g.dilation[d] <= 0) error("kernel_shape, strides and dilations must be positive");
      const int64_t extent = g.dilation[d] * (g.kernel[d] - 1) + 1;
      int64_t out;
      if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        out = (in[d] + g.stride[d] - 1) / g.stride[d];
        const int64_t total = std::max<int64_t>(0, (out - 1) * g.stride[d] + extent - in[d]);
        g.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
        g.pad_end[d] = total - g.pad_begin[d];
      } else {
        if (auto_pad == "VALID") g.pad_begin[d] = g.pad_end[d] = 0;
        const int64_t span = in[d] + g.pad_begin[d] + g.pad_end[d] - extent;
        if (span < 0) error("the window is larger than the padded input");
        out = (ceil_mode ? (span + g.stride[d] - 1) / g.stride[d] : span / g.stride[d]) + 1;
        // A window may not start in the right padding (ceil mode).
        if (ceil_mode && (out - 1) * g.stride[d] >= in[d] + g.pad_begin[d]) --out;
      }
      g.out.push_back(out);
      g.in_size *= in[d], g.out_size *= out, g.kernel_size *= g.kernel[d];
    }
    return g;
  }
};

PoolAttrs pool_attrs(const Node& n) {
  PoolAttrs a;
  a.auto_pad = n.attr_string("auto_pad", "NOTSET");
  a.ceil_mode = n.attr_int("ceil_mode", 0) != 0;
  a.kernel = n.attr_ints("kernel_shape");
  a.pads = n.attr_ints("pads");
  a.strides = n.attr_ints("strides");
  a.dilations = n.attr_ints("dilations");
  if (a.kernel.empty()) fail(ErrorCode::InvalidModel, n.label() + ": kernel_shape is required");
  if (a.auto_pad != "NOTSET" && a.auto_pad != "SAME_UPPER" && a.auto_pad != "SAME_LOWER" && a.auto_pad != "VALID")
    fail(ErrorCode::InvalidModel, n.label() + ": unknown auto_pad '" + a.auto_pad + "'");
  return a;
}

// The window of one output position, dim by dim: its taps inside the input are w in [lo, hi) (one
// run, as the position grows with w), and `inside` and `in_pads` count the taps inside the input
// and inside the explicit pads. The window is their product over the dims, so only the taps that
// read the input are visited: a window mostly in padding costs what it reads, not its size.
struct PoolWindow {
  std::vector<int64_t> start, lo, hi, w;  // start: the input position of tap 0, per dim
  int64_t inside = 1, in_pads = 1;

  explicit PoolWindow(size_t k) : start(k), lo(k), hi(k), w(k) {}

  // Tap t of dim d reads position start + t * dilation. Counted, not walked: a kernel of a million
  // taps over pads of a million costs per output what the input holds, not a million steps.
  void place(const PoolGeometry& g, const std::vector<int64_t>& op) {
    inside = in_pads = 1;
    for (size_t d = 0; d < g.in.size(); ++d) {
      const int64_t s = start[d] = op[d] * g.stride[d] - g.pad_begin[d], dil = g.dilation[d], k = g.kernel[d];
      auto taps_below = [&](int64_t end) {  // taps t with s + t * dil < end
        return end <= s ? 0 : std::min(k, (end - s + dil - 1) / dil);
      };
      lo[d] = taps_below(0), hi[d] = taps_below(g.in[d]);
      if (hi[d] <= lo[d]) lo[d] = hi[d] = 0;
      // Windows start at or after -pad_begin, so only the end of the pads can cut them.
      inside *= hi[d] - lo[d], in_pads *= taps_below(g.in[d] + g.pad_end[d]);
    }
  }

  // f(offset in the plane) for every tap inside the input of the window place() set, in row-major
  // window order.
  template <class F>
  void for_inside(const PoolGeometry& g, F&& f) {
    if (inside == 0) return;
    const size_t k = g.in.size(), last = k - 1;
    for (size_t d = 0; d < k; ++d) w[d] = lo[d];
    for (;;) {
      int64_t base = 0;  // the plane offset of the tap at w, but with the last dim at its start
      for (size_t d = 0; d < last; ++d) base = (base + start[d] + w[d] * g.dilation[d]) * g.in[d + 1];
      base += start[last];
      for (int64_t t = lo[last]; t < hi[last]; ++t) f(base + t * g.dilation[last]);
      size_t d = last;
      while (d-- > 0) {
        if (++w[d] < hi[d]) break;
        w[d] = lo[d];
      }
      if (d == size_t(-1)) return;
    }
  }
};

class Pool final : public OpKernel {
 public:
  // global: the kernel is the whole plane.
  // column_major: MaxPool's storage_order = 1, Indices counted with the first spatial dim fastest.
  Pool(bool is_max, bool global, PoolAttrs attrs, bool count_include_pad, bool column_major = false)
      : max_(is_max), global_(global), a_(std::move(attrs)), count_pad_(count_include_pad), column_major_(column_major) {}

  PoolGeometry geometry(const Shape& x, const std::function<void(const std::string&)>& error) const {
    std::vector<int64_t> in(x.begin() + 2, x.end());
    if (!global_) return a_.geometry(in, error);
    PoolAttrs whole;
    whole.kernel = in;
    for (int64_t& v : whole.kernel) v = std::max<int64_t>(v, 1);
    return whole.geometry(in, error);
  }

  void infer(InferContext& ctx) const override {
    if (max_)  // MaxPool-12 added 8-bit integers (a maximum needs no rounding)
      ctx.expect_type(0, {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int8, DType::UInt8});
    else
      ctx.expect_type(0, {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16});
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (ctx.num_outputs() > 1) ctx.output(1).dtype = DType::Int64;
    if (!x.shape) return;
    if (x.shape->size() < 3) ctx.error("X must be [N, C, spatial...]");
    const std::optional<Shape> xb = shape_but_batch(x);
    if (!xb) return;
    const Shape& xs = *xb;
    const PoolGeometry g = geometry(xs, [&](const std::string& e) { ctx.error(e); });
    Shape out{xs[0], xs[1]};
    out.insert(out.end(), g.out.begin(), g.out.end());
    for (size_t o = 0; o < ctx.num_outputs(); ++o) ctx.output(o).shape = with_batch(out, x);
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    Tensor* indices = ctx.outputs.size() > 1 ? ctx.outputs[1] : nullptr;
    if (x.rank() < 3) ctx.error("X must be [N, C, spatial...], got " + shape_to_string(x.shape()));
    const PoolGeometry g = geometry(x.shape(), [&](const std::string& e) { ctx.error(e); });
    const int64_t planes = x.shape()[0] * x.shape()[1];
    visit_numeric(x.dtype(), [&]<class T>() {  // the types infer allows
      using C = kernels::compute_t<T>;
      ctx.parallel.for_range(planes, rows_grain(g.out_size * g.kernel_size), [&](int64_t p0, int64_t p1) {
        std::vector<int64_t> op(g.in.size());
        PoolWindow window(g.in.size());
        for (int64_t plane = p0; plane < p1; ++plane) {
          const T* xp = x.data<T>() + plane * g.in_size;
          std::fill(op.begin(), op.end(), 0);
          for (int64_t o = 0; o < g.out_size; ++o) {
            double acc = max_ ? -std::numeric_limits<double>::infinity() : 0.0;
            int64_t arg = -1;
            bool nan = false;
            window.place(g, op);
            window.for_inside(g, [&](int64_t off) {
              const double v = double(C(xp[off]));
              if (max_) {
                if (v != v) nan = true;
                if (v > acc || arg < 0) acc = v, arg = off;
              } else {
                acc += v;
              }
            });
            const int64_t count = count_pad_ ? window.in_pads : window.inside;
            double r = max_ ? (nan ? std::numeric_limits<double>::quiet_NaN() : acc) : (count ? acc / double(count) : 0.0);
            if constexpr (std::is_integral_v<C>)
              if (arg < 0) r = 0;  // a window of padding only: -inf has no integer form
            y.data<T>()[plane * g.out_size + o] = T(static_cast<C>(r));
            if (indices) {
              const int64_t at = std::max<int64_t>(arg, 0);
              indices->data<int64_t>()[plane * g.out_size + o] = plane * g.in_size + (column_major_ ? column_major_offset(g.in, at) : at);
            }
            for (size_t d = g.in.size(); d-- > 0;) {
              if (++op[d] < g.out[d]) break;
              op[d] = 0;
            }
          }
        }
      });
    });
  }

 private:
  // The column-major offset of the value at row-major offset `off` of a plane of `dims`.
  static int64_t column_major_offset(const std::vector<int64_t>& dims, int64_t off) {
    std::vector<int64_t> at(dims.size());
    for (size_t d = dims.size(); d-- > 0;) at[d] = off % dims[d], off /= dims[d];
    int64_t r = 0;
    for (size_t d = dims.size(); d-- > 0;) r = r * dims[d] + at[d];
    return r;
  }

  bool max_, global_;
  PoolAttrs a_;
  bool count_pad_, column_major_;
};

// ---------------------------------------------------------------------------------------------

class Pad final : public OpKernel {
 public:
  Pad(bool from_inputs, std::string mode, std::vector<int64_t> pads, float value)
      : from_inputs_(from_inputs), mode_(std::move(mode)), pads_(std::move(pads)), value_(value) {
    if (mode_ != "constant" && mode_ != "reflect" && mode_ != "edge" && mode_ != "wrap")
      fail(ErrorCode::InvalidModel, "Pad: unknown mode '" + mode_ + "'");
  }

  // Per-dim (begin, end) pads; nullopt while the pads input is unknown.
  std::optional<std::vector<int64_t>> pads_for(size_t rank, const std::vector<const Tensor*>& ins,
                                               const std::function<void(const std::string&)>& error) const {
    std::vector<int64_t> p = pads_;
    std::vector<int64_t> axes;
    if (from_inputs_) {
      if (ins.size() < 2) error("needs the inputs data and pads; the node has " + std::to_string(ins.size()));
      if (!ins[1]) return std::nullopt;
      p.clear();
      for (int64_t i = 0; i < ins[1]->numel(); ++i) p.push_back(ins[1]->int_at(i));
      if (ins.size() > 3 && ins[3]) {
        for (int64_t i = 0; i < ins[3]->numel(); ++i) axes.push_back(ins[3]->int_at(i));
      }
    }
    if (axes.empty())
      for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
    if (p.size() != 2 * axes.size()) error("pads has " + std::to_string(p.size()) + " values for " + std::to_string(axes.size()) + " axes");
    std::vector<int64_t> full(2 * rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = axes[i] < 0 ? axes[i] + static_cast<int64_t>(rank) : axes[i];
      if (a < 0 || a >= static_cast<int64_t>(rank)) error("axis " + std::to_string(axes[i]) + " is out of range");
      full[a] = p[i], full[rank + a] = p[axes.size() + i];
    }
    return full;
  }

  void infer(InferContext& ctx) const override {
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (from_inputs_ && ctx.num_inputs() > 1 && ctx.has_input(1)) ctx.expect_type(1, {DType::Int64});  // pads
    if (from_inputs_ && ctx.num_inputs() > 3 && ctx.has_input(3)) ctx.expect_type(3, {DType::Int32, DType::Int64});  // axes
    if (!x.shape_known()) return;
    const std::vector<const Tensor*> ins = known_input_values(ctx);
    const Shape xs = x.concrete_shape();
    auto p = pads_for(xs.size(), ins, [&](const std::string& e) { ctx.error(e); });
    if (!p) return;
    Shape out = xs;
    for (size_t d = 0; d < xs.size(); ++d) {
      out[d] += (*p)[d] + (*p)[xs.size() + d];
      if (out[d] < 0) ctx.error("pads remove more than dim " + std::to_string(d) + " holds");
      if (mode_ != "constant" && xs[d] == 0 && out[d] > 0) ctx.error("cannot " + mode_ + "-pad an empty dim");
    }
    ctx.output(0).shape = to_sym(out);
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    const std::vector<int64_t> p = *pads_for(x.rank(), ctx.inputs, [&](const std::string& e) { ctx.error(e); });
    const size_t width = dtype_size(x.dtype());
    // The fill value for constant mode, in the tensor's element type.
    std::vector<char> fill(width, 0);
    if (from_inputs_ && ctx.inputs.size() > 2 && ctx.inputs[2]) std::memcpy(fill.data(), ctx.inputs[2]->raw(), width);
    else if (!from_inputs_)
      visit_numeric(x.dtype(), [&]<class T>() {
        const T v = T(static_cast<kernels::compute_t<T>>(value_));
        std::memcpy(fill.data(), &v, width);
      });
    gather_elements(
        x, y,
        [&](size_t d, int64_t o) -> int64_t {
          const int64_t n = x.shape()[d];
          int64_t i = o - p[d];
          if (i >= 0 && i < n) return i;
          if (mode_ == "constant") return -1;
          if (mode_ == "edge") return std::clamp<int64_t>(i, 0, n - 1);
          if (mode_ == "wrap") return ((i % n) + n) % n;
          const int64_t period = 2 * (n - 1);  // reflect, without repeating the edge
          if (period == 0) return 0;
          i = ((i % period) + period) % period;
          return i >= n ? period - i : i;
        },
        fill.data());
  }

 private:
  bool from_inputs_;
  std::string mode_;
  std::vector<int64_t> pads_;
  float value_;
};

// MaxUnpool (9, 11): the partial inverse of MaxPool. X [N, C, spatial...] holds pooled values and
// I (int64, X's shape) their flat positions in the unpooled tensor of the inferred shape
// [N, C, (in - 1) * stride - pad_begin - pad_end + kernel ...]; every other element is 0. With
// output_shape the pads are ignored and the inferred tensor sits at the start of each dim of the
// larger output, as ONNX's reference and conformance cases define it (ONNX Runtime instead reads
// the positions as flat offsets into output_shape).
class MaxUnpool final : public OpKernel {
 public:
  MaxUnpool(std::vector<int64_t> kernel, std::vector<int64_t> strides, std::vector<int64_t> pads)
      : kernel_(std::move(kernel)), strides_(std::move(strides)), pads_(std::move(pads)) {}

  // The inferred shape for X's shape; its spatial dims need X's spatial dims known.
  template <class Error>
  SymShape inferred(const SymShape& x, bool has_output_shape, Error&& error) const {
    const size_t k = kernel_.size();
    if (x.size() != k + 2) error("X must be [N, C] and " + std::to_string(k) + " spatial dims (kernel_shape's count), got " + sym_shape_to_string(x));
    if (!strides_.empty() && strides_.size() != k) error("strides needs one value per spatial dim (" + std::to_string(k) + ")");
    if (!pads_.empty() && pads_.size() != 2 * k) error("pads needs two values per spatial dim (" + std::to_string(2 * k) + ")");
    SymShape out(x.begin(), x.begin() + 2);
    for (size_t d = 0; d < k; ++d) {
      const Dim& in = x[d + 2];
      if (!in.known()) {
        out.push_back(Dim());
        continue;
      }
      const int64_t stride = strides_.empty() ? 1 : strides_[d];
      const int64_t pad = has_output_shape || pads_.empty() ? 0 : pads_[d] + pads_[k + d];
      const int64_t v = (in.value - 1) * stride - pad + kernel_[d];
      if (v < 0) error("the pads exceed the unpooled size of spatial dim " + std::to_string(d));
      out.push_back(Dim::of(v));
    }
    return out;
  }

  void infer(InferContext& ctx) const override {
    const ValueType &x = ctx.input(0), &idx = ctx.input(1);
    ctx.expect_type(0, kFloatTypes);
    ctx.expect_type(1, {DType::Int64});
    const bool has_shape = ctx.has_input(2);
    if (has_shape) ctx.expect_type(2, {DType::Int64});
    ctx.output(0).dtype = x.dtype;
    if (!x.shape) return;
    if (idx.shape && !shapes_may_match(*idx.shape, *x.shape))
      ctx.error("I " + sym_shape_to_string(*idx.shape) + " must have X's shape " + sym_shape_to_string(*x.shape));
    const SymShape inf = inferred(*x.shape, has_shape, [&](const std::string& m) { ctx.error(m); });
    if (!has_shape) {
      ctx.output(0).shape = inf;
      return;
    }
    const Tensor* shape = ctx.input(2).value;
    if (!shape) {
      ctx.output(0).shape = SymShape(x.shape->size());
      return;
    }
    if (shape->rank() != 1 || shape->numel() != static_cast<int64_t>(x.shape->size()))
      ctx.error("output_shape must be 1-D with one value per dim of X (" + std::to_string(x.shape->size()) + ")");
    SymShape out;
    for (int64_t d = 0; d < shape->numel(); ++d) {
      const int64_t v = shape->data<int64_t>()[d];
      if (inf[d].known() ? v < inf[d].value : v < 0)
        ctx.error("output_shape " + sym_shape_to_string(to_sym(Shape(shape->data<int64_t>(), shape->data<int64_t>() + shape->numel()))) +
                  " is smaller than the unpooled shape " + sym_shape_to_string(inf));
      out.push_back(Dim::of(v));
    }
    ctx.output(0).shape = out;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &x = *ctx.inputs[0], &idx = *ctx.inputs[1];
    Tensor& y = *ctx.outputs[0];
    const bool has_shape = ctx.inputs.size() > 2 && ctx.inputs[2];
    const Shape inf = [&] {
      const SymShape s = inferred(to_sym(x.shape()), has_shape, [&](const std::string& m) { ctx.error(m); });
      Shape r;
      for (const Dim& d : s) r.push_back(d.value);
      return r;
    }();
    const int64_t total = checked_numel(inf, "MaxUnpool unpooled shape");
    const int64_t* pos = idx.data<int64_t>();
    for (int64_t i = 0; i < idx.numel(); ++i)
      if (pos[i] < 0 || pos[i] >= total)
        ctx.error("index " + std::to_string(pos[i]) + " is outside the unpooled tensor " + sym_shape_to_string(to_sym(inf)) + " (" + std::to_string(total) + " elements)");
    if (y.numel() == 0) return;  // (an empty tensor's storage may be null, which memset must not get)
    std::memset(y.raw(), 0, y.byte_size());
    const size_t width = dtype_size(x.dtype());
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(y.raw());
    const bool same = inf == y.shape();
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t o = pos[i];
      if (!same) {
        // The flat position in the inferred shape, re-addressed in the output's.
        int64_t rem = o, stride = 1;
        o = 0;
        for (size_t d = inf.size(); d-- > 0;) {
          o += (rem % inf[d]) * stride;
          rem /= inf[d];
          stride *= y.shape()[d];
        }
      }
      std::memcpy(dst + o * width, src + i * width, width);
    }
  }

 private:
  std::vector<int64_t> kernel_, strides_, pads_;
};

}  // namespace

void register_pool_ops(OpRegistry& r) {
  r.add("", "AveragePool", 7, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Pool>(false, false, pool_attrs(n), n.attr_int("count_include_pad", 0) != 0);
  });
  r.add("", "MaxPool", 8, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    const int64_t order = n.attr_int("storage_order", 0);
    if (order != 0 && order != 1) fail(ErrorCode::InvalidModel, n.label() + ": storage_order must be 0 (row-major) or 1 (column-major), got " + std::to_string(order));
    return std::make_unique<Pool>(true, false, pool_attrs(n), false, order == 1);
  });
  r.add("", "GlobalAveragePool", 1, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Pool>(false, true, PoolAttrs{}, false); });
  r.add("", "GlobalMaxPool", 1, kMaxDefaultOpset,
        [](const Node&, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Pool>(true, true, PoolAttrs{}, false); });
  r.add("", "MaxUnpool", 9, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    const std::vector<int64_t> kernel = n.attr_ints("kernel_shape"), strides = n.attr_ints("strides"), pads = n.attr_ints("pads");
    if (kernel.empty()) fail(ErrorCode::InvalidModel, n.label() + ": kernel_shape is required");
    for (int64_t v : kernel)
      if (v < 1) fail(ErrorCode::InvalidModel, n.label() + ": kernel_shape values must be >= 1");
    for (int64_t v : strides)
      if (v < 1) fail(ErrorCode::InvalidModel, n.label() + ": strides must be >= 1");
    for (int64_t v : pads)
      if (v < 0) fail(ErrorCode::InvalidModel, n.label() + ": pads must be >= 0");
    return std::make_unique<MaxUnpool>(kernel, strides, pads);
  });
  r.add("", "Pad", 2, 10, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Pad>(false, n.attr_string("mode", "constant"), n.attr_ints("pads"), n.attr_float("value", 0.0f));
  });
  r.add("", "Pad", 11, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Pad>(true, n.attr_string("mode", "constant"), std::vector<int64_t>{}, 0.0f);
  });
}

}  // namespace normrt::onnx
