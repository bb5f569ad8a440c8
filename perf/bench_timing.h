// Timing shared by the peer benchmarks: median seconds per call after a warm-up.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <vector>

#include <unistd.h>

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

// For benchmarks that time peers in alternation (time_medians_interleaved): restarts the program
// once with OpenMP's and OpenBLAS's idle threads set to sleep at once instead of spinning (both
// read these variables when they load, before main). Spinning, they would take the cores from
// whichever library runs next: measured here, normrt and OpenBLAS at 2 threads ran no faster than
// at 1 right after oneDNN. Returns only if the restart is not needed or fails.
inline void restart_with_sleeping_peer_threads(char** argv) {
  if (std::getenv("NORMRT_BENCH_RESTARTED")) return;
  setenv("NORMRT_BENCH_RESTARTED", "1", 1);
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
  execv("/proc/self/exe", argv);
}

// Several functions timed in alternation, for ratios between them: turns rotate among the
// functions until each has been timed for min_seconds (and had at least min_turns turns). A turn
// first calls its function untimed for settle_seconds (at least once): caches warm for this
// function and not the previous one, and the previous library's idle threads, which spin for a
// while before they sleep (OpenBLAS's, OpenMP's, TBB's), stop competing for the cores. Then it
// times calls for about turn_seconds. Returns each function's median seconds per call.
// This VM's speed drifts by 10-20% over minutes, so medians taken one after the other carry the
// drift into their ratio; alternating every tenth of a second puts every function in the same
// conditions.
inline std::vector<double> time_medians_interleaved(const std::vector<std::function<void()>>& fns, double min_seconds,
                                                    double turn_seconds = 0.1, double settle_seconds = 0.06, int min_turns = 3) {
  using clock = std::chrono::steady_clock;
  std::vector<std::vector<double>> t(fns.size());
  std::vector<double> total(fns.size(), 0.0);
  for (int turn = 0;; ++turn) {
    bool done = turn >= min_turns;
    for (double s : total) done = done && s >= min_seconds;
    if (done) break;
    for (size_t i = 0; i < fns.size(); ++i) {
      if (turn >= min_turns && total[i] >= min_seconds) continue;
      const auto settle = clock::now();
      do fns[i]();
      while (std::chrono::duration<double>(clock::now() - settle).count() < settle_seconds);
      const auto start = clock::now();
      // At most 200000 calls a turn. (The cap once counted every call so far, so a call of a few
      // microseconds, once 200000 were timed, got one call per turn, each behind a 0.06 s settle:
      // --min-seconds 1 on LayerNorm [1,128,768] ran for the best part of an hour.)
      for (int calls = 0; calls < 200000; ++calls) {
        const auto t0 = clock::now();
        fns[i]();
        const double d = std::chrono::duration<double>(clock::now() - t0).count();
        t[i].push_back(d);
        total[i] += d;
        if (std::chrono::duration<double>(clock::now() - start).count() >= turn_seconds) break;
      }
    }
  }
  std::vector<double> medians;
  for (auto& v : t) {
    std::sort(v.begin(), v.end());
    medians.push_back(v[v.size() / 2]);
  }
  return medians;
}

}  // namespace normrt::perf
