// Resize (opsets 11-18 and 19+ share this implementation): nearest (four rounding modes), linear
// and cubic (cubic_coeff_a, exclude_outside) with every coordinate_transformation_mode
// (half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric,
// tf_crop_and_resize with roi and extrapolation_value), scales or sizes, axes,
// keep_aspect_ratio_policy and antialias. The interpolation is separable: one axis at a time, each
// output coordinate mapped back to the input with its taps and weights computed once per axis.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

struct Taps {
  std::vector<int64_t> first;    // first tap index per output coordinate (may be < 0: edge padding)
  std::vector<double> weights;   // n per output coordinate
  std::vector<bool> extrapolate; // tf_crop_and_resize outside the input: the extrapolation value
  int n = 0;
};

class Resize final : public OpKernel {
 public:
  explicit Resize(const Node& node)
      : mode_(node.attr_string("mode", "nearest")),
        coord_(node.attr_string("coordinate_transformation_mode", "half_pixel")),
        nearest_(node.attr_string("nearest_mode", "round_prefer_floor")),
        policy_(node.attr_string("keep_aspect_ratio_policy", "stretch")),
        cubic_a_(node.attr_float("cubic_coeff_a", -0.75f)),
        extrapolation_(node.attr_float("extrapolation_value", 0.0f)),
        exclude_outside_(node.attr_int("exclude_outside", 0) != 0),
        antialias_(node.attr_int("antialias", 0) != 0),
        axes_(node.attr_ints("axes")) {
    auto one_of = [&](const std::string& v, std::initializer_list<const char*> ok, const char* what) {
      for (const char* o : ok)
        if (v == o) return;
      fail(ErrorCode::InvalidModel, node.label() + ": unknown " + what + " '" + v + "'");
    };
    one_of(mode_, {"nearest", "linear", "cubic"}, "mode");
    one_of(coord_, {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize"},
           "coordinate_transformation_mode");
    one_of(nearest_, {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}, "nearest_mode");
    one_of(policy_, {"stretch", "not_larger", "not_smaller"}, "keep_aspect_ratio_policy");
  }

  struct Plan {
    std::vector<int64_t> out;     // output shape
    std::vector<double> scale;    // per dim
    std::vector<double> roi;      // 2 * rank: starts then ends (tf_crop_and_resize)
  };

  // nullopt while scales/sizes are unknown.
  std::optional<Plan> plan(const Shape& in, const Tensor* roi, const Tensor* scales, const Tensor* sizes,
                           const std::function<void(const std::string&)>& error) const {
    const size_t rank = in.size();
    std::vector<int64_t> axes = axes_;
    if (axes.empty())
      for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
    for (int64_t& a : axes) {
      if (a < -static_cast<int64_t>(rank) || a >= static_cast<int64_t>(rank)) error("axis " + std::to_string(a) + " is out of range");
      if (a < 0) a += static_cast<int64_t>(rank);
    }
    Plan p;
    p.out = in;
    p.scale.assign(rank, 1.0);
    const bool have_scales = scales && scales->numel() > 0, have_sizes = sizes && sizes->numel() > 0;
    if (have_scales == have_sizes) error("exactly one of scales and sizes must be given");
    if (have_scales) {
      if (scales->numel() != static_cast<int64_t>(axes.size())) error("scales needs one value per resized axis");
      for (size_t i = 0; i < axes.size(); ++i) {
        const double s = scales->double_at(static_cast<int64_t>(i));
        if (!(s > 0)) error("scales must be positive");
        p.scale[axes[i]] = s;
        p.out[axes[i]] = static_cast<int64_t>(std::floor(s * double(in[axes[i]]) + 1e-9));
      }
    } else {
      if (sizes->numel() != static_cast<int64_t>(axes.size())) error("sizes needs one value per resized axis");
      if (policy_ == "stretch") {
        for (size_t i = 0; i < axes.size(); ++i) {
          p.out[axes[i]] = sizes->int_at(static_cast<int64_t>(i));
          p.scale[axes[i]] = double(p.out[axes[i]]) / double(in[axes[i]]);
        }
      } else {
        double s = policy_ == "not_larger" ? INFINITY : 0.0;
        for (size_t i = 0; i < axes.size(); ++i) {
          const double r = double(sizes->int_at(static_cast<int64_t>(i))) / double(in[axes[i]]);
          s = policy_ == "not_larger" ? std::min(s, r) : std::max(s, r);
        }
        for (int64_t a : axes) p.scale[a] = s, p.out[a] = static_cast<int64_t>(std::round(s * double(in[a])));
      }
    }
    for (size_t d = 0; d < rank; ++d)
      if (p.out[d] < 0) error("the output size would be negative");
    if (coord_ == "tf_crop_and_resize") {
      p.roi.resize(2 * rank);
      for (size_t d = 0; d < rank; ++d) p.roi[d] = 0.0, p.roi[rank + d] = 1.0;
      if (!roi || roi->numel() != static_cast<int64_t>(2 * axes.size())) error("tf_crop_and_resize needs roi with two values per resized axis");
      for (size_t i = 0; i < axes.size(); ++i) {
        p.roi[axes[i]] = roi->double_at(static_cast<int64_t>(i));
        p.roi[rank + axes[i]] = roi->double_at(static_cast<int64_t>(axes.size() + i));
      }
    }
    return p;
  }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16});
    const ValueType& x = ctx.input(0);
    ctx.output(0).dtype = x.dtype;
    if (!x.shape_known()) return;
    auto value = [&](size_t i) -> const Tensor* { return ctx.has_input(i) ? ctx.input(i).value : nullptr; };
    for (size_t i : {2, 3})
      if (ctx.has_input(i) && !value(i)) return;  // known at run time
    if (coord_ == "tf_crop_and_resize" && ctx.has_input(1) && !value(1)) return;
    const auto p = plan(x.concrete_shape(), value(1), value(2), value(3), [&](const std::string& e) { ctx.error(e); });
    if (p) ctx.output(0).shape = to_sym(p->out);
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = *ctx.outputs[0];
    auto in = [&](size_t i) -> const Tensor* { return ctx.inputs.size() > i ? ctx.inputs[i] : nullptr; };
    const Plan p = *plan(x.shape(), in(1), in(2), in(3), [&](const std::string& e) { ctx.error(e); });
    const size_t rank = x.rank();
    if (mode_ == "nearest" && nearest_copy(ctx, x, y, p)) return;
    // Work in double, one axis at a time from the innermost (the reference's nesting order).
    // Double buffers from the tensor block cache (no zero fill; reused across runs).
    auto buffer = [](int64_t n) { return allocate_aligned(checked_bytes(DType::Float64, std::max<int64_t>(n, 1), "Resize buffer")); };
    std::shared_ptr<void> cur_block = buffer(x.numel());
    double* cur = static_cast<double*>(cur_block.get());
    visit_float(x.dtype(), [&]<class T>() {
      for (int64_t i = 0; i < x.numel(); ++i) cur[i] = double(kernels::compute_t<T>(x.data<T>()[i]));
    });
    Shape shape = x.shape();
    for (size_t d = rank; d-- > 0;) {
      const bool crop = coord_ == "tf_crop_and_resize" && (p.roi[d] != 0.0 || p.roi[rank + d] != 1.0);
      if (p.out[d] == shape[d] && p.scale[d] == 1.0 && !crop) continue;
      const Taps taps = make_taps(shape[d], p.out[d], p.scale[d], p.roi.empty() ? 0.0 : p.roi[d], p.roi.empty() ? 1.0 : p.roi[rank + d]);
      int64_t outer = 1, inner = 1;
      for (size_t e = 0; e < d; ++e) outer *= shape[e];
      for (size_t e = d + 1; e < rank; ++e) inner *= shape[e];
      const int64_t len = shape[d], olen = p.out[d];
      std::shared_ptr<void> next_block = buffer(outer * olen * inner);
      double* next = static_cast<double*>(next_block.get());
      ctx.parallel.for_range(outer, rows_grain(olen * inner * taps.n), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o)
          for (int64_t j = 0; j < olen; ++j) {
            double* dst = next + (o * olen + j) * inner;
            if (taps.extrapolate[j]) {
              std::fill(dst, dst + inner, double(extrapolation_));
              continue;
            }
            std::fill(dst, dst + inner, 0.0);
            for (int t = 0; t < taps.n; ++t) {
              const double w = taps.weights[j * taps.n + t];
              if (w == 0.0) continue;
              const int64_t src_i = std::clamp<int64_t>(taps.first[j] + t, 0, len - 1);  // edge padding
              const double* src = cur + (o * len + src_i) * inner;
              for (int64_t i = 0; i < inner; ++i) dst[i] += w * src[i];
            }
          }
      });
      cur_block = std::move(next_block);
      cur = next;
      shape[d] = olen;
    }
    visit_float(y.dtype(), [&]<class T>() {
      for (int64_t i = 0; i < y.numel(); ++i) y.data<T>()[i] = T(static_cast<kernels::compute_t<T>>(cur[i]));
    });
  }

 private:
  // Nearest mode picks one input element per output element: when every output coordinate on every
  // axis takes exactly one in-range tap (no extrapolation, nothing excluded), Y is a gather of X's
  // bits, done row by row over the last axis. An output row whose source row is the previous output
  // row's (a 2x upsample repeats each row) is copied from it. False leaves the general path to it.
  bool nearest_copy(ComputeContext& ctx, const Tensor& x, Tensor& y, const Plan& p) const {
    const size_t rank = x.rank();
    if (rank == 0) return false;
    std::vector<std::vector<int64_t>> src(rank);  // per axis: the input coordinate of each output one
    for (size_t d = 0; d < rank; ++d) {
      const int64_t len = x.shape()[d], olen = p.out[d];
      const bool crop = coord_ == "tf_crop_and_resize" && (p.roi[d] != 0.0 || p.roi[rank + d] != 1.0);
      src[d].resize(olen);
      if (olen == len && p.scale[d] == 1.0 && !crop) {
        std::iota(src[d].begin(), src[d].end(), int64_t{0});
        continue;
      }
      const Taps taps = make_taps(len, olen, p.scale[d], p.roi.empty() ? 0.0 : p.roi[d], p.roi.empty() ? 1.0 : p.roi[rank + d]);
      for (int64_t j = 0; j < olen; ++j) {
        if (taps.extrapolate[j]) return false;
        int64_t pick = -1;
        for (int t = 0; t < taps.n; ++t) {
          const double w = taps.weights[j * taps.n + t];
          if (w == 0.0) continue;
          if (w != 1.0 || pick >= 0) return false;
          pick = std::clamp<int64_t>(taps.first[j] + t, 0, len - 1);  // edge padding
        }
        if (pick < 0) return false;
        src[d][j] = pick;
      }
    }
    const size_t es = dtype_size(x.dtype());  // 2, 4 or 8: the types infer accepts
    const int64_t olast = p.out[rank - 1], last = x.shape()[rank - 1];
    const int64_t rows = olast > 0 ? y.numel() / olast : 0;
    const char* xb = static_cast<const char*>(x.raw());
    char* yb = static_cast<char*>(y.raw());
    // The flat input row (over all axes but the last) output row r reads.
    auto source_row = [&](int64_t r) {
      int64_t in_row = 0, stride = 1;
      for (size_t d = rank - 1; d-- > 0;) {
        in_row += src[d][r % p.out[d]] * stride;
        r /= p.out[d], stride *= x.shape()[d];
      }
      return in_row;
    };
    ctx.parallel.for_range(rows, rows_grain(olast), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        char* dst = yb + r * olast * es;
        const int64_t s = source_row(r);
        if (r > r0 && s == source_row(r - 1)) {
          std::memcpy(dst, dst - olast * es, olast * es);
          continue;
        }
        const char* row = xb + s * last * es;
        const int64_t* col = src[rank - 1].data();
        auto gather = [&]<class U>(U*) {  // the element's bits as an unsigned integer of its width
          for (int64_t j = 0; j < olast; ++j) reinterpret_cast<U*>(dst)[j] = reinterpret_cast<const U*>(row)[col[j]];
        };
        if (es == 2) gather(static_cast<uint16_t*>(nullptr));
        else if (es == 4) gather(static_cast<uint32_t*>(nullptr));
        else gather(static_cast<uint64_t*>(nullptr));
      }
    });
    return true;
  }

  // Weights of the taps around fractional position `ratio` (in (0, 1]) for this mode; `scale` for
  // antialiasing when downsampling.
  std::vector<double> coeffs(double ratio, double scale) const {
    if (mode_ == "nearest") {
      if (ratio == 1.0) return {0, 1};
      if (nearest_ == "round_prefer_floor") return {double(ratio <= 0.5), double(ratio > 0.5)};
      if (nearest_ == "round_prefer_ceil") return {double(ratio < 0.5), double(ratio >= 0.5)};
      if (nearest_ == "floor") return {1, 0};
      return {0, 1};
    }
    if (mode_ == "linear") {
      if (!antialias_ || scale >= 1.0) return {1 - ratio, ratio};
      const int64_t start = static_cast<int64_t>(std::floor(-1.0 / scale)) + 1, footprint = 2 - 2 * start;
      std::vector<double> c;
      double sum = 0;
      for (int64_t i = start; i < start + footprint; ++i) {
        const double v = std::clamp(1.0 - std::fabs((double(i) - ratio) * scale), 0.0, 1.0);
        c.push_back(v), sum += v;
      }
      for (double& v : c) v /= sum;
      return c;
    }
    const double a = cubic_a_;
    if (!antialias_ || scale >= 1.0) {
      const double r = ratio, s = 1 - ratio;
      return {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a, ((a + 2) * r - (a + 3)) * r * r + 1,
              ((a + 2) * s - (a + 3)) * s * s + 1, ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a};
    }
    auto kernel = [&](double v) {
      v = std::fabs(v);
      if (v <= 1) return (a + 2) * v * v * v - (a + 3) * v * v + 1;
      if (v < 2) return a * v * v * v - 5 * a * v * v + 8 * a * v - 4 * a;
      return 0.0;
    };
    const int64_t i_start = static_cast<int64_t>(std::floor(-2.0 / scale)) + 1, i_end = 2 - i_start;
    std::vector<double> c;
    double sum = 0;
    for (int64_t i = i_start; i < i_end; ++i) {
      const double v = kernel(scale * (double(i) - ratio));
      c.push_back(v), sum += v;
    }
    for (double& v : c) v /= sum;
    return c;
  }

  Taps make_taps(int64_t in, int64_t out, double scale, double roi_start, double roi_end) const {
    Taps t;
    t.first.resize(out);
    t.extrapolate.assign(out, false);
    const double out_w = scale * double(in);
    for (int64_t j = 0; j < out; ++j) {
      const double x = double(j);
      double xo;
      if (coord_ == "align_corners") {
        xo = out_w == 1 ? 0.0 : x * double(in - 1) / (out_w - 1);
      } else if (coord_ == "asymmetric") {
        xo = x / scale;
      } else if (coord_ == "tf_crop_and_resize") {
        xo = out_w == 1 ? (roi_end - roi_start) * double(in - 1) / 2 : x * (roi_end - roi_start) * double(in - 1) / (out_w - 1);
        xo += roi_start * double(in - 1);
        if (xo < 0 || xo > double(in - 1)) t.extrapolate[j] = true;
      } else if (coord_ == "pytorch_half_pixel") {
        xo = out_w == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
      } else if (coord_ == "half_pixel_symmetric") {
        const double adjustment = double(out) / out_w, center = double(in) / 2;
        xo = center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
      } else {
        xo = (x + 0.5) / scale - 0.5;
      }
      const double fl = std::floor(xo);
      const double ratio = xo == fl ? 1.0 : xo - fl;
      std::vector<double> c = coeffs(ratio, scale);
      if (t.n == 0) {
        t.n = static_cast<int>(c.size());
        t.weights.resize(static_cast<size_t>(out * t.n));
      }
      // The n nearest taps to xo, smaller ones first on ties: ceil(xo) - n/2 onwards.
      const int64_t first = static_cast<int64_t>(std::ceil(xo)) - t.n / 2;
      t.first[j] = first;
      if (exclude_outside_) {
        double sum = 0;
        for (int k = 0; k < t.n; ++k) {
          if (first + k < 0 || first + k >= in) c[k] = 0;
          sum += c[k];
        }
        if (sum != 0)
          for (double& v : c) v /= sum;
      }
      std::copy(c.begin(), c.end(), t.weights.begin() + j * t.n);
    }
    return t;
  }

  std::string mode_, coord_, nearest_, policy_;
  float cubic_a_, extrapolation_;
  bool exclude_outside_, antialias_;
  std::vector<int64_t> axes_;
};

}  // namespace

void register_resize_ops(OpRegistry& r) {
  r.add("", "Resize", 11, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Resize>(n); });
}

}  // namespace normrt::onnx
