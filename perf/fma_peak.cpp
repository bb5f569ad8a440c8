// Single-core peak FMA rate of the best ISA this CPU has: 12 independent accumulator chains in
// registers. One copy per x86-64 ISA (GCC target attributes), chosen at run time like the kernels:
// the file used to be compiled for AVX-512 only and crashed the benchmark on AVX2 machines.
//
// The chains start from distinct values: from equal ones (all zero, as this file first had) the
// compiler proved the 12 chains identical and kept 2, so the figure counted 6 times the work done
// (330 GFLOP/s reported on a core that peaks near 220).
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <xsimd/xsimd.hpp>

#include "kernels/isa.h"

namespace {

constexpr int kChains = 12;
constexpr long kIters = 20'000'000;

double gflops(int lanes, std::chrono::steady_clock::time_point t0) {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * kChains * lanes * double(kIters) / s / 1e9;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) double peak_avx512() {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1e-3f * float(i + 1));
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm512_fmadd_ps(a, m, c);
  const double r = gflops(16, t0);
  for (int i = 1; i < kChains; ++i) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  volatile float sink = _mm512_reduce_add_ps(acc[0]);
  (void)sink;
  return r;
}

__attribute__((target("avx2,fma"))) double peak_avx2() {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1e-3f * float(i + 1));
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < kIters; ++i)
    for (auto& a : acc) a = _mm256_fmadd_ps(a, m, c);
  const double r = gflops(8, t0);
  for (int i = 1; i < kChains; ++i) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  alignas(32) float v[8];
  _mm256_store_ps(v, acc[0]);
  volatile float sink = v[0] + v[7];
  (void)sink;
  return r;
}
#endif

// The baseline ISA this file is compiled for (NEON on AArch64, SSE2 on x86-64).
double peak_baseline() {
  using B = xsimd::batch<float>;
  B acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = B(1e-3f * float(i + 1));
  const B m(0.9999999f), c(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < kIters; ++i)
    for (auto& a : acc) a = xsimd::fma(a, m, c);
  const double r = gflops(int(B::size), t0);
  for (int i = 1; i < kChains; ++i) acc[0] += acc[i];
  volatile float sink = xsimd::hadd(acc[0]);
  (void)sink;
  return r;
}

}  // namespace

double fma_peak_gflops() {
#if defined(__x86_64__)
  switch (normrt::kernels::best_isa()) {
    case normrt::kernels::Isa::Avx512: return peak_avx512();
    case normrt::kernels::Isa::Avx2: return peak_avx2();
    default: break;
  }
#endif
  return peak_baseline();
}
