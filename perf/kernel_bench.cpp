// Kernel benchmarks. Speed is read as a ratio against a peer measured in the same run: here
// memcpy of the same bytes (read X once, write Y once), the floor for a normalization or an
// element-wise op. Run: build/perf/normrt_kernel_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/norm.h"

using namespace normrt::kernels;

namespace {
std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  for (auto& x : v) x = d(rng);
  return v;
}

// Shapes: (rows, d) of the LayerNorm shapes in perf/README.md ([1,128,768], [8,512,768],
// [32,128,1024], [1,2048,4096]) and a GroupNorm-like long row.
void shapes(benchmark::internal::Benchmark* b) {
  b->Args({128, 768})->Args({4096, 768})->Args({4096, 1024})->Args({2048, 4096})->Args({32, 16384});
}

void BM_memcpy_same_bytes(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0) * state.range(1));
  std::vector<float> x = random_vector(n, 1), y(n);
  for (auto _ : state) {
    std::memcpy(y.data(), x.data(), n * 4);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 8);
}

// Rows of N(0, 1) + offset: with offset 0 the mean is near 0 and the normalize sweep drops the
// pivot; with offset 1000 the pivot stays (the subtraction that keeps a large mean exact), which is
// a different instantiation of the sweep and once compiled 2.6x slower (see shifted_sums_with).
void layer_norm_rows(benchmark::State& state, float offset) {
  const int64_t rows = state.range(0), d = state.range(1);
  std::vector<float> x = random_vector(rows * d, 1), y(rows * d), g(d, 1.0f), b(d, 0.0f), mean(rows), inv(rows);
  for (float& v : x) v += offset;
  const NormPrimitives& k = norm_primitives(Isa::Auto);
  for (auto _ : state) {
    RowNormArgs a{x.data(), y.data(), d, 1e-5, false, g.data(), b.data()};
    a.mean_out = mean.data();
    a.inv_std_out = inv.data();
    row_norm(k, a, 0, rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * rows * d * 8);
}
void BM_layer_norm_rows_f32(benchmark::State& state) { layer_norm_rows(state, 0.0f); }
void BM_layer_norm_rows_offset_f32(benchmark::State& state) { layer_norm_rows(state, 1000.0f); }

void BM_add_broadcast_row_f32(benchmark::State& state) {
  const int64_t rows = state.range(0), d = state.range(1);
  std::vector<float> x = random_vector(rows * d, 1), bias = random_vector(d, 2), y(rows * d);
  const BroadcastPlan plan = make_broadcast_plan({rows, d}, {d});
  for (auto _ : state) {
    binary_rows<float>(BinaryOp::Add, x.data(), bias.data(), y.data(), plan, 0, plan.outer);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * rows * d * 8);
}
}  // namespace

BENCHMARK(BM_memcpy_same_bytes)->Apply(shapes);
BENCHMARK(BM_layer_norm_rows_f32)->Apply(shapes);
BENCHMARK(BM_layer_norm_rows_offset_f32)->Apply(shapes);
BENCHMARK(BM_add_broadcast_row_f32)->Apply(shapes);
BENCHMARK_MAIN();
