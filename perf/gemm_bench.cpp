// SGEMM throughput against OpenBLAS and oneDNN measured in the same run, on BERT/GPT shapes,
// at 1 and 2 threads, with the fraction of this machine's peak FMA rate (measured here by a
// register-only FMA loop). Peers are benchmark-only and never linked into libnormrt.
// normrt is measured twice: the kernel called directly (B packed on every call, rows split over
// threads in blocks), and a session running a MatMul whose B is an initializer, as a model's
// weights are (packed once at session creation, rows and columns split by the op).
//   build/perf/normrt_gemm_bench [--min-seconds S] [--shape MxNxK]...   (--shape: only those rows)
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "dnnl.hpp"
#include "kernels/gemm.h"
#include "onnx/model_builder.h"
#include "onnx/session_factory.h"
#include "perf/bench_timing.h"
#include "runtime/parallel.h"

extern "C" void openblas_set_num_threads(int);
double fma_peak_gflops();  // perf/fma_peak.cpp

using namespace normrt;

namespace {
double min_seconds = 0.3;
std::vector<std::array<int64_t, 3>> only_shapes;  // empty: the whole table

// A session computing Y = A W with W [k, n] as an initializer.
std::unique_ptr<Session> matmul_session(const std::vector<float>& w, int64_t m, int64_t k, int64_t n, int threads) {
  onnx::ModelSpec spec;
  spec.inputs = {{"A", 1, {m, k}}};
  spec.outputs = {{"Y", 1, {m, n}}};
  Tensor wt = Tensor::allocate(DType::Float32, {k, n});
  std::copy(w.begin(), w.end(), wt.data<float>());
  spec.initializers = {onnx::tensor_spec("W", wt)};
  spec.nodes = {{"MatMul", {"A", "W"}, {"Y"}, {}, "matmul"}};
  const std::string bytes = onnx::serialize_model(spec);
  return onnx::open_session(bytes.data(), bytes.size(), SessionOptions{threads});
}

}  // namespace

int main(int argc, char** argv) {
  perf::restart_with_sleeping_peer_threads(argv);
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--min-seconds" && i + 1 < argc) {
      min_seconds = std::stod(argv[++i]);
    } else if (std::string(argv[i]) == "--shape" && i + 1 < argc) {
      long m = 0, n = 0, k = 0;
      if (std::sscanf(argv[++i], "%ldx%ldx%ld", &m, &n, &k) != 3 || m <= 0 || n <= 0 || k <= 0) {
        std::fprintf(stderr, "--shape wants MxNxK with positive sizes, got '%s'\n", argv[i]);
        return 2;
      }
      only_shapes.push_back({m, n, k});
    } else {
      std::fprintf(stderr, "usage: %s [--min-seconds S] [--shape MxNxK]...\n", argv[0]);
      return 2;
    }
  const kernels::GemmPrimitives& g = kernels::gemm_primitives(kernels::Isa::Auto);
  std::printf("normrt sgemm path: %s (tile %dx%d)\n", kernels::isa_name(g.isa), g.mr, g.nr);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const double peak = fma_peak_gflops();
  std::printf("single-core FMA peak measured here: %.1f GFLOP/s\n", peak);
  std::printf("| M | N | K | threads | normrt kernel GFLOP/s | normrt MatMul op | OpenBLAS | oneDNN | op/OpenBLAS | op/oneDNN | op / (threads x peak) |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  std::vector<std::array<int64_t, 3>> shapes = only_shapes;
  if (shapes.empty())
    for (int64_t m : {1, 128, 512, 4096})
      for (auto nk : {std::array<int64_t, 2>{768, 768}, {3072, 768}, {768, 3072}}) shapes.push_back({m, nk[0], nk[1]});
  for (const auto& shape : shapes) {
    const int64_t m = shape[0], n = shape[1], k = shape[2];
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> a(m * k), b(k * n), c(m * n);
    for (auto& v : a) v = u(rng);
    for (auto& v : b) v = u(rng);
    const double flops = 2.0 * m * n * k;
    for (int threads : {1, 2}) {
      Parallel par(threads);
      const int64_t mb = kernels::sgemm_row_block(g), blocks = (m + mb - 1) / mb;
      auto session = matmul_session(b, m, k, n, threads);
      Tensor at = Tensor::allocate(DType::Float32, {m, k});
      std::copy(a.begin(), a.end(), at.data<float>());
      openblas_set_num_threads(threads);
      omp_set_num_threads(threads);
      // The four in alternation (perf::time_medians_interleaved), so their ratios do not carry the
      // machine's drift.
      const std::vector<double> med = perf::time_medians_interleaved(
          {[&] {
             par.run([&] {
               par.for_range(blocks, 1, [&](int64_t b0, int64_t b1) {
                 kernels::sgemm_rows(g, n, k, a.data(), k, b.data(), n, c.data(), n, b0 * mb, std::min(m, b1 * mb));
               });
             });
           },
           [&] { session->run({"A"}, {at}); },
           [&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n); },
           [&] { dnnl_sgemm('N', 'N', m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n); }},
          min_seconds);
      const double t_n = med[0], t_op = med[1], t_o = med[2], t_d = med[3];
      std::printf("| %ld | %ld | %ld | %d | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2fx | %.0f%% |\n", m, n, k, threads, flops / t_n / 1e9,
                  flops / t_op / 1e9, flops / t_o / 1e9, flops / t_d / 1e9, t_o / t_op, t_d / t_op,
                  100.0 * flops / t_op / 1e9 / (threads * peak));
      std::fflush(stdout);
    }
  }
  return 0;
}
