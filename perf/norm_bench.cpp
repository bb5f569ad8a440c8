// Normalization throughput against peers measured in the same run, at 1 and 2 threads:
// memcpy of the same bytes (read X + write Y), and oneDNN 2.6's layer normalization (LayerNorm
// shapes; oneDNN 2.6 has no group normalization). normrt is timed through a session running a
// single-op model; the per-call cost of a session run (LayerNorm on [1,8], same thread count) is
// measured in the same run and subtracted for the kernel column the ratios use, as the peer script
// does for ONNX Runtime. The session column keeps it.
//   build/perf/normrt_norm_bench [--markdown] [--min-seconds S]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dnnl.hpp"
#include "onnx/model_builder.h"
#include "onnx/session_factory.h"
#include "perf/bench_timing.h"
#include "runtime/parallel.h"

using namespace normrt;

namespace {

double min_seconds = 0.3;


Tensor random_tensor(Shape s, uint32_t seed) {
  Tensor t = Tensor::allocate(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(1.0f, 2.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
  return t;
}

struct Case {
  std::string op;
  Shape shape;
  int64_t groups = 0;  // GroupNormalization only
  std::string label() const {
    std::string s = op == "LayerNormalization" ? "LN " : "GN ";
    s += shape_to_string(shape);
    if (groups) s += " g=" + std::to_string(groups);
    return s;
  }
};

std::unique_ptr<Session> normrt_session(const Case& c, int threads) {
  onnx::ModelSpec m;
  std::vector<std::variant<int64_t, std::string>> dims(c.shape.begin(), c.shape.end());
  const int64_t params = c.op == "LayerNormalization" ? c.shape.back() : c.shape[1];
  m.opsets = {{"", c.op == "LayerNormalization" ? 17 : 21}};
  m.inputs = {{"X", 1, dims}};
  m.outputs = {{"Y", 1, dims}};
  m.initializers = {onnx::tensor_spec("scale", random_tensor({params}, 2)), onnx::tensor_spec("bias", random_tensor({params}, 3))};
  onnx::NodeSpec n{c.op, {"X", "scale", "bias"}, {"Y"}, {}, "norm"};
  if (c.groups) {
    Attribute g;
    g.kind = Attribute::Kind::Int;
    g.i = c.groups;
    n.attributes["num_groups"] = g;
  }
  m.nodes = {n};
  const std::string bytes = onnx::serialize_model(m);
  return onnx::open_session(bytes.data(), bytes.size(), SessionOptions{threads});
}

// oneDNN's layer normalization over the rows of x, set up once; run() is one forward pass.
struct DnnlLayerNorm {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::vector<float> y, scale, shift;
  std::unique_ptr<dnnl::layer_normalization_forward> prim;
  dnnl::memory src, dst, sc, sh;
  explicit DnnlLayerNorm(const Tensor& x) {
    const int64_t d = x.shape().back(), rows = x.numel() / d;
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    const dnnl::memory::desc md({rows, d}, dt::f32, tag::ab), pmd({d}, dt::f32, tag::a);
    auto desc = dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, md, 1e-5f,
                                                        dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift);
    auto pd = dnnl::layer_normalization_forward::primitive_desc(desc, eng);
    prim = std::make_unique<dnnl::layer_normalization_forward>(pd);
    y.resize(x.numel()), scale.assign(d, 1.0f), shift.assign(d, 0.0f);
    src = dnnl::memory(md, eng, const_cast<float*>(x.data<float>())), dst = dnnl::memory(md, eng, y.data());
    sc = dnnl::memory(pmd, eng, scale.data()), sh = dnnl::memory(pmd, eng, shift.data());
  }
  void run() {
    prim->execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, sc}, {DNNL_ARG_SHIFT, sh}});
    strm.wait();
  }
};

}  // namespace

int main(int argc, char** argv) {
  perf::restart_with_sleeping_peer_threads(argv);
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--min-seconds" && i + 1 < argc) min_seconds = std::stod(argv[++i]);
  const std::vector<Case> cases = {
      {"LayerNormalization", {1, 128, 768}},        {"LayerNormalization", {8, 512, 768}},
      {"LayerNormalization", {32, 128, 1024}},      {"LayerNormalization", {1, 2048, 4096}},
      {"GroupNormalization", {1, 320, 64, 64}, 32}, {"GroupNormalization", {2, 640, 32, 32}, 32},
      {"GroupNormalization", {1, 512, 4000}, 512},
  };
  double overhead[3] = {0, 0, 0};
  for (int threads : {1, 2}) {
    const Case tiny{"LayerNormalization", {1, 8}};
    const Tensor x = random_tensor(tiny.shape, 1);
    auto session = normrt_session(tiny, threads);
    overhead[threads] = perf::time_median([&] { session->run({"X"}, {x}); }, min_seconds);
    std::printf("per-call cost of a session run (LN [1,8]), %d thread(s): %.2f us\n", threads, overhead[threads] * 1e6);
  }
  std::printf("\n| op, shape | threads | MiB moved | memcpy GB/s | normrt session GB/s | normrt kernel GB/s | oneDNN GB/s | normrt/memcpy | normrt/oneDNN |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.shape, 1);
    const double bytes = 2.0 * x.byte_size();
    for (int threads : {1, 2}) {
      auto session = normrt_session(c, threads);
      // Session, memcpy of the same bytes and oneDNN in alternation (perf::time_medians_interleaved),
      // so the ratios do not carry the machine's drift.
      Parallel par(threads);
      std::vector<float> copy(x.numel());
      const float* src = x.data<float>();
      std::vector<std::function<void()>> fns = {
          [&] { session->run({"X"}, {x}); },
          [&] {
            par.run([&] {
              par.for_range(x.numel(), 1 << 16, [&](int64_t i0, int64_t i1) { std::memcpy(copy.data() + i0, src + i0, (i1 - i0) * 4); });
            });
          }};
      std::unique_ptr<DnnlLayerNorm> dnnl_ln;
      if (c.op == "LayerNormalization") {
        omp_set_num_threads(threads);
        dnnl_ln = std::make_unique<DnnlLayerNorm>(x);
        fns.push_back([&] { dnnl_ln->run(); });
      }
      const std::vector<double> med = perf::time_medians_interleaved(fns, min_seconds);
      const double t_session = med[0], t_copy = med[1], t_dnnl = dnnl_ln ? med[2] : 0;
      const double t_norm = std::max(t_session - overhead[threads], 0.5 * t_session);
      auto gbs = [&](double t) { return bytes / t / 1e9; };
      char dnnl_col[32] = "n/a", dnnl_ratio[32] = "n/a";
      if (t_dnnl > 0) {
        std::snprintf(dnnl_col, sizeof dnnl_col, "%.1f", gbs(t_dnnl));
        std::snprintf(dnnl_ratio, sizeof dnnl_ratio, "%.2fx", t_dnnl / t_norm);
      }
      std::printf("| %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %.2fx | %s |\n", c.label().c_str(), threads, bytes / (1 << 20),
                  gbs(t_copy), gbs(t_session), gbs(t_norm), dnnl_col, t_copy / t_norm, dnnl_ratio);
      std::fflush(stdout);
    }
  }
  return 0;
}
