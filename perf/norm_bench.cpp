// Normalization throughput against peers measured in the same run, at 1 and 2 threads:
// memcpy of the same bytes (read X + write Y), and oneDNN 2.6's layer normalization (LayerNorm
// shapes; oneDNN 2.6 has no group normalization). normrt is timed through a session running a
// single-op model; the per-call cost of a session run (LayerNorm on [1,8], same thread count) is
// measured in the same run and subtracted for the kernel column the ratios use, as the peer script
// does for ONNX Runtime. The session column keeps it.
// A third reference is the traffic of normrt's own pipeline with no arithmetic (pipeline_traffic
// below): how near the kernels are to what their memory access allows on this host, where memcpy
// moves fewer bytes through the caches than a statistics-then-normalize design can.
//   build/perf/normrt_norm_bench [--markdown] [--min-seconds S]
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
#include "kernels/norm.h"
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

// The memory traffic of normrt's pipelines (kernels::row_norm's for LayerNorm rows, group_norm's
// for GroupNorm units) with one addition per value in place of the arithmetic: per unit (a row, or
// a sample's group), the next unit is read and summed while this one, read a second time (from
// cache where the unit fits), is copied to y; stored non-temporally where the kernels stream
// (kernels::prefers_stream_stores). Units are split across threads in chunks as the op does.
// Where a unit is larger than L1 (GroupNorm's), its second read comes from L2: one more line in
// per value than memcpy, whatever the kernel computes.
#if defined(__x86_64__)
__attribute__((target("avx2"))) float lane_total(__m256 v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
template <bool Stream>
__attribute__((target("avx2"))) float traffic_step(const float* cur, float* y, const float* next, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(next + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(next + i + 8));
    const __m256 a = _mm256_loadu_ps(cur + i), b = _mm256_loadu_ps(cur + i + 8);
    if constexpr (Stream) {
      _mm256_stream_ps(y + i, a);
      _mm256_stream_ps(y + i + 8, b);
    } else {
      _mm256_storeu_ps(y + i, a);
      _mm256_storeu_ps(y + i + 8, b);
    }
  }
  float s = lane_total(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += next[i], y[i] = cur[i];
  return s;
}
__attribute__((target("avx2"))) float traffic_sum(const float* x, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
  }
  float s = lane_total(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += x[i];
  return s;
}
bool has_pipeline_traffic() { return __builtin_cpu_supports("avx2"); }
#else
bool has_pipeline_traffic() { return false; }
#endif

// units of len floats from x to y; returns the sum so the reads are not optimized away.
float pipeline_traffic(Parallel& par, const float* x, float* y, int64_t units, int64_t len, bool stream) {
#if defined(__x86_64__)
  // Non-temporal stores need 32-byte aligned vectors: y's units must start on one.
  stream = stream && reinterpret_cast<uintptr_t>(y) % 32 == 0 && (len * sizeof(float)) % 32 == 0;
  std::vector<float> partial(units, 0.0f);
  par.run([&] {
    par.for_range(units, 1, [&](int64_t u0, int64_t u1) {
      float s = traffic_sum(x + u0 * len, len);  // the first unit's statistics pass
      for (int64_t u = u0; u < u1; ++u) {
        const float* cur = x + u * len;
        // The last unit has no next one: it sums itself again from cache (the kernel just normalizes it).
        const float* next = u + 1 < u1 ? cur + len : cur;
        s += stream ? traffic_step<true>(cur, y + u * len, next, len) : traffic_step<false>(cur, y + u * len, next, len);
      }
      partial[u0] = s;
      if (stream) _mm_sfence();
    });
  });
  float total = 0;
  for (float v : partial) total += v;
  return total;
#else
  (void)par, (void)x, (void)y, (void)units, (void)len, (void)stream;
  return 0;
#endif
}

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
  std::printf("\n| op, shape | threads | MiB moved | memcpy GB/s | pipeline traffic GB/s | normrt session GB/s | normrt kernel GB/s | "
              "oneDNN GB/s | normrt/memcpy | normrt/traffic | normrt/oneDNN |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.shape, 1);
    const double bytes = 2.0 * x.byte_size();
    const int64_t len = c.groups ? x.numel() / (c.shape[0] * c.groups) : c.shape.back(), units = x.numel() / len;
    const bool stream = kernels::prefers_stream_stores(static_cast<int64_t>(bytes));
    for (int threads : {1, 2}) {
      auto session = normrt_session(c, threads);
      // Session, memcpy of the same bytes and oneDNN in alternation (perf::time_medians_interleaved),
      // so the ratios do not carry the machine's drift.
      Parallel par(threads);
      std::vector<float> copy(x.numel());
      const float* src = x.data<float>();
      Tensor traffic_y = Tensor::allocate(DType::Float32, x.shape());  // 64-byte aligned, as the session's outputs
      volatile float traffic_sink = 0;  // keeps the traffic sums alive
      std::vector<std::function<void()>> fns = {
          [&] { session->run({"X"}, {x}); },
          [&] {
            par.run([&] {
              par.for_range(x.numel(), 1 << 16, [&](int64_t i0, int64_t i1) { std::memcpy(copy.data() + i0, src + i0, (i1 - i0) * 4); });
            });
          }};
      if (has_pipeline_traffic())
        fns.push_back([&] { traffic_sink = pipeline_traffic(par, src, traffic_y.data<float>(), units, len, stream); });
      const size_t traffic_at = has_pipeline_traffic() ? 2 : 0;
      std::unique_ptr<DnnlLayerNorm> dnnl_ln;
      if (c.op == "LayerNormalization") {
        omp_set_num_threads(threads);
        dnnl_ln = std::make_unique<DnnlLayerNorm>(x);
        fns.push_back([&] { dnnl_ln->run(); });
      }
      const std::vector<double> med = perf::time_medians_interleaved(fns, min_seconds);
      const double t_session = med[0], t_copy = med[1], t_dnnl = dnnl_ln ? med.back() : 0;
      const double t_traffic = traffic_at ? med[traffic_at] : 0;
      const double t_norm = std::max(t_session - overhead[threads], 0.5 * t_session);
      auto gbs = [&](double t) { return bytes / t / 1e9; };
      char dnnl_col[32] = "n/a", dnnl_ratio[32] = "n/a", traffic_col[32] = "n/a", traffic_ratio[32] = "n/a";
      if (t_traffic > 0) {
        std::snprintf(traffic_col, sizeof traffic_col, "%.1f", gbs(t_traffic));
        std::snprintf(traffic_ratio, sizeof traffic_ratio, "%.2fx", t_traffic / t_norm);
      }
      if (t_dnnl > 0) {
        std::snprintf(dnnl_col, sizeof dnnl_col, "%.1f", gbs(t_dnnl));
        std::snprintf(dnnl_ratio, sizeof dnnl_ratio, "%.2fx", t_dnnl / t_norm);
      }
      std::printf("| %s | %d | %.1f | %.1f | %s | %.1f | %.1f | %s | %.2fx | %s | %s |\n", c.label().c_str(), threads, bytes / (1 << 20),
                  gbs(t_copy), traffic_col, gbs(t_session), gbs(t_norm), dnnl_col, t_copy / t_norm, traffic_ratio, dnnl_ratio);
      std::fflush(stdout);
    }
  }
  return 0;
}
