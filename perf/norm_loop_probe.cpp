// Core clock cycles per 8-float vector of the normalization primitives, on rows that sit in L1 or
// L2, against memcpy of the same rows. The kernel-level benchmarks give GB/s; this says how far a
// loop is from what the core's ports allow (a loop that loads 4 vectors and stores 1 per output
// vector cannot beat 2 cycles where 2 vector loads issue per cycle).
//
// Cycles come from wall time and the core clock, measured here as the rate of a chain of dependent
// integer adds (one per cycle on every x86-64 and AArch64 core): the time-stamp counter ticks at a
// fixed rate that is not the core's (2.45 GHz against about 2.85 GHz on the Zen 3 host of the
// eighteenth session), and virtual machines often expose no cycle counter. The cases are timed in
// alternation (perf::time_medians_interleaved, as the peer benchmarks), since the host's speed
// drifts; each timed call runs a case enough times to cover about 32768 floats.
//   build/perf/normrt_norm_loop_probe [ISA (auto, scalar, avx2, avx512, neon)] [d (default 768)]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/norm.h"
#include "perf/bench_timing.h"

using namespace normrt::kernels;

namespace {

using Clock = std::chrono::steady_clock;

// The core clock in GHz: 2e8 dependent adds, the fastest of 5 tries.
double core_ghz() {
  double best = 1e9;
  for (int t = 0; t < 5; ++t) {
    uint64_t v = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < 2'000'000; ++i) {
#if defined(__x86_64__)
      asm volatile(".rept 100\n add $1, %0\n .endr" : "+r"(v));
#elif defined(__aarch64__)
      asm volatile(".rept 100\n add %0, %0, #1\n .endr" : "+r"(v));
#else
#error "norm_loop_probe: no dependent-add chain for this architecture"
#endif
    }
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return 2e8 / best / 1e9;
}

// 64-byte aligned floats, as tensors are.
struct Buffer {
  std::vector<float> store;
  float* p;
  explicit Buffer(int64_t n) : store(n + 16) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(store.data());
    p = store.data() + ((64 - a % 64) % 64) / sizeof(float);
  }
};

struct Case {
  std::string name;
  int64_t floats;  // floats of output (or of input, for the sums) per run
  std::function<void()> run;
};

}  // namespace

int main(int argc, char** argv) {
  bool ok = true;
  const Isa isa = isa_from_string(argc > 1 ? argv[1] : "auto", &ok);
  const int64_t d = argc > 2 ? std::atoll(argv[2]) : 768;
  if (!ok || d < 8 || d > (1 << 20)) {
    std::fprintf(stderr, "usage: normrt_norm_loop_probe [auto|scalar|avx2|avx512|neon] [d in 8..1048576]\n");
    return 2;
  }
  if (!isa_available(resolve_isa(isa))) {
    std::fprintf(stderr, "normrt_norm_loop_probe: ISA %s is not available on this CPU or build\n", isa_name(resolve_isa(isa)));
    return 2;
  }
  const NormPrimitives& k = norm_primitives(isa);
  const int64_t rows = 128;
  Buffer x(rows * d + d), y(rows * d), g(d), b(d);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (int64_t i = 0; i < rows * d + d; ++i) x.p[i] = nd(rng);
  for (int64_t i = 0; i < d; ++i) g.p[i] = 1.0f + 0.01f * nd(rng), b.p[i] = 0.01f * nd(rng);
  // Channels of d / 4 values: a GroupNorm unit of 4 channels, as the pipeline sweeps it.
  std::vector<float> ch_a(4, 1.1f), ch_c(4, 0.1f);
  double s = 0, ss = 0;
  auto layer_norm = [&](int64_t r) {
    RowNormArgs a{x.p, y.p, d, 1e-5, false, g.p, b.p};
    row_norm(k, a, 0, r);
  };
  std::vector<Case> cases = {
      {"memcpy of one row", d, [&] { std::memcpy(y.p, x.p, d * sizeof(float)); }},
      {"shifted_sums", d, [&] { k.shifted_sums(x.p + d, d, 0.5f, &s, &ss); }},
      {"normalize_vec, no gamma/beta", d, [&] { k.normalize_vec(x.p, y.p, d, 0.0f, 1.1f, 0.1f, nullptr, nullptr, false); }},
      {"normalize_vec, gamma and beta", d, [&] { k.normalize_vec(x.p, y.p, d, 0.0f, 1.1f, 0.1f, g.p, b.p, false); }},
      {"normalize_and_sum (LayerNorm's pipeline step)", d,
       [&] { k.normalize_and_sum(x.p, y.p, d, 0.0f, 1.1f, 0.1f, g.p, b.p, false, x.p + d, 0.5f, &s, &ss); }},
      {"normalize_channels_and_sum (GroupNorm's)", d,
       [&] { k.normalize_channels_and_sum(x.p, y.p, 0, d, d / 4, 0.0f, ch_a.data(), ch_c.data(), false, x.p + d, 0.5f, &s, &ss); }},
      {"row_norm, 16 rows (in L1/L2)", 16 * d, [&] { layer_norm(16); }},
      {"memcpy of 16 rows", 16 * d, [&] { std::memcpy(y.p, x.p, 16 * d * sizeof(float)); }},
      {"row_norm, 128 rows", rows * d, [&] { layer_norm(rows); }},
      {"memcpy of 128 rows", rows * d, [&] { std::memcpy(y.p, x.p, rows * d * sizeof(float)); }},
  };
  const double ghz = core_ghz();
  std::vector<int64_t> reps;
  std::vector<std::function<void()>> timed;
  for (const Case& c : cases) {
    reps.push_back(std::max<int64_t>(1, 32768 / c.floats));
    timed.push_back([&run = c.run, n = reps.back()] {
      for (int64_t i = 0; i < n; ++i) run();
    });
  }
  const std::vector<double> seconds = normrt::perf::time_medians_interleaved(timed, 0.2);
  std::printf("normrt_norm_loop_probe: ISA %s, d = %lld, core clock %.2f GHz (dependent adds)\n", isa_name(k.isa),
              static_cast<long long>(d), ghz);
  std::printf("| loop | core cycles per 8 floats |\n| --- | ---: |\n");
  for (size_t c = 0; c < cases.size(); ++c)
    std::printf("| %s | %.2f |\n", cases[c].name.c_str(), seconds[c] / double(reps[c] * cases[c].floats) * 8 * ghz * 1e9);
  volatile double sink = s + ss;
  (void)sink;
  return 0;
}
