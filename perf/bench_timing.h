// Timing shared by the peer benchmarks: median seconds per call after a warm-up.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace normrt::perf {

// Calls f `warmup` times, then at least `min_runs` times and for at least `min_seconds`
// (at most 20000 runs); returns the median duration of one call in seconds.
template <class F>
double time_median(const F& f, double min_seconds, int warmup = 3, size_t min_runs = 15) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  const auto start = clock::now();
  while (t.size() < min_runs || std::chrono::duration<double>(clock::now() - start).count() < min_seconds) {
    const auto t0 = clock::now();
    f();
    t.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    if (t.size() >= 20000) break;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace normrt::perf
