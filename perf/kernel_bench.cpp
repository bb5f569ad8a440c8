// Kernel benchmarks. Speed is read as a ratio against a peer measured in the same run: here
// memcpy of the same bytes (read X once, write Y once), the floor for a normalization or an
// element-wise op. Run: build/perf/normrt_kernel_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
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

// The destination sits half a page after the source modulo 4 KiB: glibc's memcpy of these sizes
// (rep movsb) ran at 3.4 GB/s instead of 49-60 on this Zen 3 when the destination was 16 bytes
// past the source modulo 4 KiB (0, 32, 64 ... 2048 bytes measured normal), as two vectors of the
// same size allocated back to back had been for [128, 768]. Tensors are 64-byte aligned.
void BM_memcpy_same_bytes(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0) * state.range(1));
  std::vector<float> x = random_vector(n, 1), y_store(n + 1024);
  const uintptr_t gap = (reinterpret_cast<uintptr_t>(y_store.data()) - reinterpret_cast<uintptr_t>(x.data())) % 4096;
  float* y = y_store.data() + ((2048 + 4096 - gap) % 4096) / sizeof(float);
  for (auto _ : state) {
    std::memcpy(y, x.data(), n * 4);
    benchmark::DoNotOptimize(y);
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

// The GEMM's packing copies on the best ISA, against BM_memcpy_same_bytes of the same shape (the
// same floats read once and written once): a [lines, k] row-major matrix into panels `width` lines
// wide. pack_a_panel: A into mr-row panels, as the MatMul op packs activations;
// pack_b_panel_transposed: attention's keys [keys, 64] into nr-wide panels of Kᵀ.
void pack_panels(benchmark::State& state, void (*copy)(const float*, int64_t, int64_t, int64_t, float*), int64_t width) {
  const int64_t lines = state.range(0), k = state.range(1);
  std::vector<float> a = random_vector(lines * k, 1), out(((lines + width - 1) / width) * width * k);
  for (auto _ : state) {
    for (int64_t i = 0; i < lines; i += width) copy(a.data() + i * k, k, std::min(width, lines - i), k, out.data() + i * k);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * lines * k * 8);
}
void BM_pack_a_panels_f32(benchmark::State& state) {
  const GemmPrimitives& g = gemm_primitives(Isa::Auto);
  pack_panels(state, g.pack_a_panel, g.mr);
}
void BM_pack_b_panels_transposed_f32(benchmark::State& state) {
  const GemmPrimitives& g = gemm_primitives(Isa::Auto);
  pack_panels(state, g.pack_b_panel_transposed, g.nr);
}
// Shapes of the packing benchmarks beyond `shapes`' [128, 768]: FC2's A, and attention's keys.
void more_packing_shapes(benchmark::internal::Benchmark* b) { b->Args({128, 3072})->Args({128, 64})->Args({2048, 64}); }
}  // namespace

BENCHMARK(BM_memcpy_same_bytes)->Apply(shapes)->Apply(more_packing_shapes);
BENCHMARK(BM_pack_a_panels_f32)->Args({128, 768})->Apply(more_packing_shapes);
BENCHMARK(BM_pack_b_panels_transposed_f32)->Args({128, 768})->Apply(more_packing_shapes);
BENCHMARK(BM_layer_norm_rows_f32)->Apply(shapes);
BENCHMARK(BM_layer_norm_rows_offset_f32)->Apply(shapes);
BENCHMARK(BM_add_broadcast_row_f32)->Apply(shapes);
BENCHMARK_MAIN();
