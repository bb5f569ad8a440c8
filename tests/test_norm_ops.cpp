// The normalization ops through sessions: every op form, float16/bfloat16, every ISA path, and the
// thread-splitting paths (few long rows, few large groups) giving the same bits as one thread.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "kernels/half.h"
#include "kernels/norm.h"
#include "kernel_test_util.h"
#include "test_util.h"

using namespace normrt;
using namespace normrt::test;

namespace {
using Dims = std::vector<std::variant<int64_t, std::string>>;
Dims dims_of(const Shape& s) {
  Dims d;
  for (int64_t v : s) d.push_back(v);
  return d;
}
Tensor randn(Shape s, uint32_t seed, double center = 0, double scale = 1) {
  Tensor t = Tensor::allocate(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::normal_distribution<double> n;
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(center + scale * n(rng));
  return t;
}
std::vector<kernels::Isa> isas() { return available_isas(); }
double max_diff(const Tensor& a, const std::vector<double>& ref) {
  double w = 0;
  for (int64_t i = 0; i < a.numel(); ++i) w = std::max(w, std::fabs(a.double_at(i) - ref[i]));
  return w;
}
// Group normalization in float64: units of `len` values, channel scale/bias by index.
std::vector<double> group_norm_ref(const Tensor& x, int64_t groups, const std::vector<float>& scale_c,
                                   const std::vector<float>& bias_c, double eps) {
  const int64_t n = x.shape()[0], c = x.shape()[1], hw = x.numel() / (n * c), cpg = c / groups, len = cpg * hw;
  std::vector<double> y(x.numel());
  for (int64_t u = 0; u < n * groups; ++u) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < len; ++i) m += x.data<float>()[u * len + i];
    m /= len;
    for (int64_t i = 0; i < len; ++i) v += std::pow(x.data<float>()[u * len + i] - m, 2);
    v /= len;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t ch = (u % groups) * cpg + i / hw;
      y[u * len + i] = (x.data<float>()[u * len + i] - m) / std::sqrt(v + eps) * scale_c[ch] + bias_c[ch];
    }
  }
  return y;
}
std::vector<float> values(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }
}  // namespace

TEST_CASE("GroupNormalization: opset 18 per-group and opset 21 per-channel scale/bias") {
  const Shape xs{2, 6, 5, 7};
  Tensor x = randn(xs, 1, 3, 2);
  for (int64_t opset : {18, 21}) {
    const int64_t groups = 3, pn = opset == 18 ? groups : 6;
    onnx::ModelSpec m = one_node("GroupNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {pn}}, {"B", 1, {pn}}}, {{"Y", 1, dims_of(xs)}},
                                 {{"num_groups", attr_int(groups)}, {"epsilon", attr_float(1e-4f)}}, opset);
    Tensor s = randn({pn}, 2, 1, 0.3), b = randn({pn}, 3);
    std::vector<float> sc(6), bc(6);
    for (int64_t ch = 0; ch < 6; ++ch) sc[ch] = s.data<float>()[opset == 18 ? ch / 2 : ch], bc[ch] = b.data<float>()[opset == 18 ? ch / 2 : ch];
    const std::vector<double> ref = group_norm_ref(x, groups, sc, bc, 1e-4);
    for (auto isa : isas()) {
      Tensor y = open(m, {1, isa})->run({"X", "S", "B"}, {x, s, b})[0];
      INFO("opset " << opset << " isa " << std::string(kernels::isa_name(isa)));
      CHECK(max_diff(y, ref) < 1e-5);
    }
  }
  onnx::ModelSpec bad = one_node("GroupNormalization", {{"X", 1, {int64_t(1), int64_t(6), int64_t(4)}}, {"S", 1, {int64_t(6)}}, {"B", 1, {int64_t(6)}}},
                                 {{"Y", 1, {}, false}}, {{"num_groups", attr_int(4)}}, 21);
  auto [code, msg] = error_of([&] { open(bad); });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("not divisible by num_groups") != std::string::npos);
  bad.nodes[0].attributes["num_groups"] = attr_int(-2);
  auto [code2, msg2] = error_of([&] { open(bad); });
  CHECK(msg2.find("num_groups must be a positive integer") != std::string::npos);
}

TEST_CASE("GroupNormalization on 1-D audio-shaped input equals InstanceNormalization at groups = C") {
  const Shape xs{2, 8, 3000};
  Tensor x = randn(xs, 4, -2, 5), s = randn({8}, 5, 1, 0.2), b = randn({8}, 6);
  onnx::ModelSpec gn = one_node("GroupNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {int64_t(8)}}, {"B", 1, {int64_t(8)}}}, {{"Y", 1, {}, false}},
                                {{"num_groups", attr_int(8)}}, 21);
  onnx::ModelSpec in = one_node("InstanceNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {int64_t(8)}}, {"B", 1, {int64_t(8)}}}, {{"Y", 1, {}, false}});
  Tensor a = open(gn)->run({"X", "S", "B"}, {x, s, b})[0];
  Tensor c = open(in)->run({"X", "S", "B"}, {x, s, b})[0];
  CHECK(std::memcmp(a.raw(), c.raw(), a.byte_size()) == 0);
  CHECK(max_diff(a, group_norm_ref(x, 8, values(s), values(b), 1e-5)) < 1e-5);
}

TEST_CASE("splitting one row or group across threads gives the same bits as one thread") {
  SUBCASE("LayerNormalization of a single long row") {
    const Shape xs{1, 200000};
    onnx::ModelSpec m = one_node("LayerNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {int64_t(200000)}}}, {{"Y", 1, {}, false}});
    Tensor x = randn(xs, 7, 1e4, 1), s = randn({200000}, 8, 1, 0.1);
    x.data<float>()[0] = 1e7f;  // outlier pivot: the repivot must agree too
    for (auto isa : isas()) {
      Tensor one = open(m, {1, isa})->run({"X", "S"}, {x, s})[0];
      Tensor two = open(m, {2, isa})->run({"X", "S"}, {x, s})[0];
      CHECK(std::memcmp(one.raw(), two.raw(), one.byte_size()) == 0);
    }
  }
  SUBCASE("GroupNormalization with one sample, 2 large groups") {
    const Shape xs{1, 4, 128, 128};
    onnx::ModelSpec m = one_node("GroupNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {int64_t(4)}}, {"B", 1, {int64_t(4)}}}, {{"Y", 1, {}, false}},
                                 {{"num_groups", attr_int(2)}}, 21);
    Tensor x = randn(xs, 9, 5, 3), s = randn({4}, 10, 1, 0.1), b = randn({4}, 11);
    for (auto isa : isas()) {
      Tensor one = open(m, {1, isa})->run({"X", "S", "B"}, {x, s, b})[0];
      Tensor two = open(m, {2, isa})->run({"X", "S", "B"}, {x, s, b})[0];
      CHECK(std::memcmp(one.raw(), two.raw(), one.byte_size()) == 0);
      CHECK(max_diff(one, group_norm_ref(x, 2, values(s), values(b), 1e-5)) < 1e-5);
    }
  }
}

TEST_CASE("tensors from 16 MiB moved (non-temporal stores): one and two threads agree bit for bit and match float64") {
  // Each tensor here moves more than kernels::kStreamBytes, so y goes out with non-temporal stores:
  // LayerNorm's row pipeline, GroupNorm's unit pipeline, one unit split by channels or by element
  // ranges across threads, and BatchNorm's per-channel sweep.
  auto check = [](const onnx::ModelSpec& m, const std::vector<std::string>& names, const std::vector<Tensor>& in,
                  const std::vector<double>& ref) {
    for (auto isa : isas()) {
      INFO("isa " << std::string(kernels::isa_name(isa)));
      Tensor one = open(m, {1, isa})->run(names, in)[0];
      Tensor two = open(m, {2, isa})->run(names, in)[0];
      CHECK(std::memcmp(one.raw(), two.raw(), one.byte_size()) == 0);
      CHECK(max_diff(one, ref) < 2e-5);
    }
  };
  SUBCASE("LayerNormalization [4,1024,544]") {
    const Shape xs{4, 1024, 544};
    REQUIRE(kernels::prefers_stream_stores(2 * 4 * 1024 * 544 * int64_t(sizeof(float))));
    onnx::ModelSpec m = one_node("LayerNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {int64_t(544)}}, {"B", 1, {int64_t(544)}}},
                                 {{"Y", 1, {}, false}});
    Tensor x = randn(xs, 51, 3, 2), s = randn({544}, 52, 1, 0.1), b = randn({544}, 53);
    std::vector<double> ref(x.numel());
    for (int64_t r = 0; r < 4 * 1024; ++r) {
      const float* row = x.data<float>() + r * 544;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < 544; ++i) mean += row[i];
      mean /= 544;
      for (int64_t i = 0; i < 544; ++i) var += (row[i] - mean) * (row[i] - mean);
      const double inv = 1.0 / std::sqrt(var / 544 + 1e-5);
      for (int64_t i = 0; i < 544; ++i) ref[r * 544 + i] = (row[i] - mean) * inv * s.data<float>()[i] + b.data<float>()[i];
    }
    check(m, {"X", "S", "B"}, {x, s, b}, ref);
  }
  struct GroupCase {
    Shape xs;
    int64_t groups;
  };
  SUBCASE("GroupNormalization: the unit pipeline, one unit split by channels, one channel split by ranges")
  for (const GroupCase& gc : {GroupCase{{2, 32, 256, 288}, 8}, GroupCase{{1, 4, 768, 768}, 1}, GroupCase{{1, 1, 1536, 1536}, 1}}) {
    INFO("GroupNormalization " << shape_to_string(gc.xs) << " in " << gc.groups << " groups");
    const int64_t c = gc.xs[1];
    onnx::ModelSpec m = one_node("GroupNormalization", {{"X", 1, dims_of(gc.xs)}, {"S", 1, {c}}, {"B", 1, {c}}}, {{"Y", 1, {}, false}},
                                 {{"num_groups", attr_int(gc.groups)}}, 21);
    Tensor x = randn(gc.xs, 54, -2, 3), s = randn({c}, 55, 1, 0.1), b = randn({c}, 56);
    check(m, {"X", "S", "B"}, {x, s, b}, group_norm_ref(x, gc.groups, values(s), values(b), 1e-5));
  }
  SUBCASE("BatchNormalization [1,8,512,576]") {
    const Shape xs{1, 8, 512, 576};
    onnx::ModelSpec m = one_node("BatchNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {int64_t(8)}}, {"B", 1, {int64_t(8)}}, {"M", 1, {int64_t(8)}}, {"V", 1, {int64_t(8)}}},
                                 {{"Y", 1, {}, false}}, {}, 15);
    Tensor x = randn(xs, 57, 1, 2), s = randn({8}, 58, 1, 0.2), b = randn({8}, 59), mean = randn({8}, 60), var = randn({8}, 61, 2, 0.1);
    std::vector<double> ref(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t ch = i / (512 * 576);
      ref[i] = (x.data<float>()[i] - mean.data<float>()[ch]) / std::sqrt(var.data<float>()[ch] + 1e-5) * s.data<float>()[ch] + b.data<float>()[ch];
    }
    check(m, {"X", "S", "B", "M", "V"}, {x, s, b, mean, var}, ref);
  }
}

TEST_CASE("RMSNormalization, SimplifiedLayerNormalization and SkipSimplifiedLayerNormalization") {
  const Shape xs{3, 4, 64};
  Tensor x = randn(xs, 12, 1, 2), g = randn({64}, 13, 1, 0.1), skip = randn(xs, 14), bias = randn({64}, 15);
  auto rms_ref = [&](const Tensor& in, bool add) {
    std::vector<double> y(in.numel());
    for (int64_t r = 0; r < 12; ++r) {
      std::vector<double> v(64);
      double ss = 0;
      for (int64_t i = 0; i < 64; ++i) {
        v[i] = in.data<float>()[r * 64 + i];
        if (add) v[i] = double(float(in.data<float>()[r * 64 + i] + skip.data<float>()[r * 64 + i]) + bias.data<float>()[i]);
        ss += v[i] * v[i];
      }
      for (int64_t i = 0; i < 64; ++i) y[r * 64 + i] = v[i] / std::sqrt(ss / 64 + 1e-6) * g.data<float>()[i];
    }
    return y;
  };
  onnx::ModelSpec rms = one_node("RMSNormalization", {{"X", 1, dims_of(xs)}, {"G", 1, {int64_t(64)}}}, {{"Y", 1, {}, false}},
                                 {{"epsilon", attr_float(1e-6f)}}, 23);
  onnx::ModelSpec simp = one_node("SimplifiedLayerNormalization", {{"X", 1, dims_of(xs)}, {"G", 1, {int64_t(64)}}},
                                  {{"Y", 1, {}, false}, {"inv", 1, {}, false}}, {{"epsilon", attr_float(1e-6f)}}, 17);
  onnx::ModelSpec skipm = one_node("SkipSimplifiedLayerNormalization",
                                   {{"X", 1, dims_of(xs)}, {"K", 1, dims_of(xs)}, {"G", 1, {int64_t(64)}}, {"Bi", 1, {int64_t(64)}}},
                                   {{"Y", 1, {}, false}, {"mean", 1, {}, false}, {"inv", 1, {}, false}, {"sum", 1, {}, false}},
                                   {{"epsilon", attr_float(1e-6f)}}, 17);
  skipm.nodes[0].domain = "com.microsoft";
  skipm.opsets["com.microsoft"] = 1;
  for (auto isa : isas()) {
    INFO("isa " << std::string(kernels::isa_name(isa)));
    CHECK(max_diff(open(rms, {1, isa})->run({"X", "G"}, {x, g})[0], rms_ref(x, false)) < 1e-5);
    auto out = open(simp, {1, isa})->run({"X", "G"}, {x, g});
    CHECK(max_diff(out[0], rms_ref(x, false)) < 1e-5);
    CHECK(out[1].shape() == Shape{3, 4, 1});
    auto sk = open(skipm, {1, isa})->run({"X", "K", "G", "Bi"}, {x, skip, g, bias});
    CHECK(max_diff(sk[0], rms_ref(x, true)) < 1e-5);
    CHECK(sk[3].shape() == xs);
    CHECK(sk[3].data<float>()[70] == (x.data<float>()[70] + skip.data<float>()[70]) + bias.data<float>()[6]);
  }
}

TEST_CASE("SkipLayerNormalization: outputs, broadcast skip, against float64") {
  const Shape xs{2, 5, 48};
  Tensor x = randn(xs, 20, 4, 3), skip = randn({5, 48}, 21), g = randn({48}, 22, 1, 0.2), b = randn({48}, 23), bias = randn({48}, 24);
  onnx::ModelSpec m = one_node("SkipLayerNormalization",
                               {{"X", 1, dims_of(xs)}, {"K", 1, {int64_t(5), int64_t(48)}}, {"G", 1, {int64_t(48)}}, {"B", 1, {int64_t(48)}}, {"Bi", 1, {int64_t(48)}}},
                               {{"Y", 1, {}, false}, {"mean", 1, {}, false}, {"inv", 1, {}, false}, {"sum", 1, {}, false}}, {}, 17);
  m.nodes[0].domain = "com.microsoft";
  m.opsets["com.microsoft"] = 1;
  for (auto isa : isas()) {
    auto out = open(m, {1, isa})->run({"X", "K", "G", "B", "Bi"}, {x, skip, g, b, bias});
    std::vector<double> ref(x.numel());
    for (int64_t r = 0; r < 10; ++r) {
      std::vector<double> v(48);
      double mean = 0, var = 0;
      for (int64_t i = 0; i < 48; ++i) {
        v[i] = double(float(x.data<float>()[r * 48 + i] + skip.data<float>()[(r % 5) * 48 + i]) + bias.data<float>()[i]);
        mean += v[i];
      }
      mean /= 48;
      for (double e : v) var += (e - mean) * (e - mean);
      var /= 48;
      CHECK(out[1].data<float>()[r] == doctest::Approx(mean).epsilon(1e-6));
      CHECK(out[2].data<float>()[r] == doctest::Approx(1 / std::sqrt(var + 1e-12)).epsilon(1e-5));
      for (int64_t i = 0; i < 48; ++i) ref[r * 48 + i] = (v[i] - mean) / std::sqrt(var + 1e-12) * g.data<float>()[i] + b.data<float>()[i];
    }
    INFO("isa " << std::string(kernels::isa_name(isa)));
    CHECK(max_diff(out[0], ref) < 1e-5);
    CHECK(out[1].shape() == Shape{2, 5, 1});
  }
}

TEST_CASE("BatchNormalization in inference mode") {
  const Shape xs{2, 3, 4, 5};
  Tensor x = randn(xs, 30, 1, 2), s = randn({3}, 31, 1, 0.2), b = randn({3}, 32), mean = randn({3}, 33), var = randn({3}, 34, 2, 0.1);
  onnx::ModelSpec m = one_node("BatchNormalization", {{"X", 1, dims_of(xs)}, {"S", 1, {int64_t(3)}}, {"B", 1, {int64_t(3)}}, {"M", 1, {int64_t(3)}}, {"V", 1, {int64_t(3)}}},
                               {{"Y", 1, {}, false}}, {{"epsilon", attr_float(1e-3f)}}, 15);
  for (auto isa : isas()) {
    Tensor y = open(m, {1, isa})->run({"X", "S", "B", "M", "V"}, {x, s, b, mean, var})[0];
    std::vector<double> ref(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = (i / 20) % 3;
      ref[i] = (x.data<float>()[i] - mean.data<float>()[c]) / std::sqrt(var.data<float>()[c] + 1e-3) * s.data<float>()[c] + b.data<float>()[c];
    }
    CHECK(max_diff(y, ref) < 1e-5);
  }
  m.nodes[0].attributes["training_mode"] = attr_int(1);
  auto [code, msg] = error_of([&] { open(m); });
  CHECK(code == ErrorCode::NotImplemented);
}

TEST_CASE("float16 and bfloat16 inputs with float32 statistics") {
  const Shape xs{4, 96};
  Tensor x32 = randn(xs, 40, 100, 3), g32 = randn({96}, 41, 1, 0.1), b32 = randn({96}, 42);
  for (int type : {10, 16}) {
    const DType dt = static_cast<DType>(type);
    auto narrow = [&](const Tensor& t) {
      Tensor r = Tensor::allocate(dt, t.shape());
      for (int64_t i = 0; i < t.numel(); ++i)
        r.data<uint16_t>()[i] = dt == DType::Float16 ? kernels::float_to_half(t.data<float>()[i]) : kernels::float_to_bfloat16(t.data<float>()[i]);
      return r;
    };
    Tensor x = narrow(x32), g = narrow(g32), b = narrow(b32);
    onnx::ModelSpec m = one_node("LayerNormalization", {{"X", type, dims_of(xs)}, {"G", type, {int64_t(96)}}, {"B", type, {int64_t(96)}}},
                                 {{"Y", type, {}, false}, {"Mean", 1, {}, false}, {"Inv", 1, {}, false}});
    auto out = open(m)->run({"X", "G", "B"}, {x, g, b});
    CHECK(out[0].dtype() == dt);
    CHECK(out[1].dtype() == DType::Float32);
    // Reference from the rounded inputs, compared after rounding to the output type.
    double worst = 0;
    for (int64_t r = 0; r < 4; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < 96; ++i) mean += x.double_at(r * 96 + i);
      mean /= 96;
      for (int64_t i = 0; i < 96; ++i) var += std::pow(x.double_at(r * 96 + i) - mean, 2);
      var /= 96;
      CHECK(out[1].data<float>()[r] == doctest::Approx(mean).epsilon(1e-6));
      for (int64_t i = 0; i < 96; ++i) {
        const double want = (x.double_at(r * 96 + i) - mean) / std::sqrt(var + 1e-5) * g.double_at(i) + b.double_at(i);
        worst = std::max(worst, std::fabs(out[0].double_at(r * 96 + i) - want) / (1 + std::fabs(want)));
      }
    }
    INFO("type " << dtype_name(dt));
    CHECK(worst < (dt == DType::Float16 ? 2e-3 : 1.6e-2));  // half an ulp of the output type
  }
}
