// Single-core peak FMA rate of the best ISA this CPU has: 12 independent accumulator chains in
// registers. The loop is written once with GCC vector types and inlined into one function per x86
// ISA (target attributes), chosen at run time like the kernels: the file used to be compiled for
// AVX-512 only and crashed the benchmark on AVX2 machines. a * m + c contracts to one FMA where
// the ISA has it (GCC and Clang contract by default).
//
// The chains start from distinct values: from equal ones (all zero, as this file first had) the
// compiler proved the 12 chains identical and kept 2, so the figure counted 6 times the work done
// (330 GFLOP/s reported on a core that peaks near 220).
#include <chrono>

#include "kernels/isa.h"

namespace {

typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));

constexpr int kChains = 12;
constexpr long kIters = 20'000'000;

// Always inlined, so it compiles with its caller's ISA.
template <class V>
__attribute__((always_inline)) inline double run_chains() {
  constexpr int lanes = int(sizeof(V) / sizeof(float));
  V acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = V{} + 1e-3f * float(i + 1);
  const V m = V{} + 0.9999999f, c = V{} + 1e-7f;
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < kIters; ++i)
    for (auto& a : acc) a = a * m + c;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (int i = 1; i < kChains; ++i) acc[0] += acc[i];
  float sum = 0;
  for (int l = 0; l < lanes; ++l) sum += acc[0][l];
  volatile float sink = sum;
  (void)sink;
  return 2.0 * kChains * lanes * double(kIters) / s / 1e9;
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) double peak_avx512() { return run_chains<f32x16>(); }
__attribute__((target("avx2,fma"))) double peak_avx2() { return run_chains<f32x8>(); }
#endif

}  // namespace

double fma_peak_gflops() {
#if defined(__x86_64__)
  switch (normrt::kernels::best_isa()) {
    case normrt::kernels::Isa::Avx512: return peak_avx512();
    case normrt::kernels::Isa::Avx2: return peak_avx2();
    default: break;
  }
#endif
  return run_chains<f32x4>();  // the baseline ISA (NEON on AArch64, SSE2 on x86-64)
}
