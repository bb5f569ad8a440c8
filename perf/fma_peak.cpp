// Single-core peak FMA rate of the best ISA: 12 independent accumulator chains in registers.
// Compiled with AVX-512 flags on x86-64 (perf/CMakeLists.txt); called only where the CPU has it.
#include <chrono>
#include <xsimd/xsimd.hpp>

double fma_peak_gflops() {
  using B = xsimd::batch<float>;  // the widest batch this file is compiled for
  // Distinct starting values: from equal ones (all zero, as this file first had) the compiler
  // proved the 12 chains identical and kept 2, so the figure counted 6 times the work done
  // (330 GFLOP/s reported on a core that peaks near 220).
  B acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = B(1e-3f * float(i + 1));
  const B m(0.9999999f), c(1e-7f);
  const long iters = 20'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iters; ++i)
    for (auto& a : acc) a = xsimd::fma(a, m, c);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  B all = acc[0];
  for (int i = 1; i < 12; ++i) all += acc[i];
  volatile float sink = xsimd::hadd(all);
  (void)sink;
  return 2.0 * 12 * B::size * double(iters) / s / 1e9;
}
