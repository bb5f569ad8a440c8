// Concurrency and load (issue 7):
//   normrt_stress [--seconds S]        8 threads call run on one session for S seconds (default
//                                      30); every result must equal the sequential one bit for bit.
//                                      Then sessions are created, run and destroyed in a loop and
//                                      the resident memory must stay flat.
//   normrt_stress --soak MINUTES       one session in a loop for MINUTES, a line per 30 s with the
//                                      median latency and resident memory; fails on drift or growth
//                                      (scripts/soak.sh, not part of the test suite).
// The model is the bundled tiny BERT at batch 2, sequence 64.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "onnx/session_factory.h"
#include "runtime/error.h"

using namespace normrt;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string kModel = NORMRT_SOURCE_DIR "/models/tiny_bert/model.onnx";

// Under AddressSanitizer freed blocks sit in its quarantine (up to 256 MB) and resident memory
// moves by tens of MB either way between runs, so the flat-memory check means nothing there;
// LeakSanitizer checks for leaks at exit instead (scripts/sanitize_test.sh sets detect_leaks=1).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

double rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

std::vector<Tensor> feeds() {
  Tensor ids = Tensor::allocate(DType::Int64, {2, 64}), mask = Tensor::allocate(DType::Int64, {2, 64});
  for (int64_t i = 0; i < 128; ++i) ids.data<int64_t>()[i] = (i * 37) % 100, mask.data<int64_t>()[i] = i % 64 < 50;
  return {ids, mask};
}
const std::vector<std::string> kNames{"input_ids", "attention_mask"};

bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].shape() != b[i].shape() || std::memcmp(a[i].raw(), b[i].raw(), a[i].byte_size()) != 0) return false;
  return true;
}

int concurrent(double seconds) {
  SessionOptions o;
  // Intra-op threads per run (2 by default; scripts/tsan_test.sh sets 1, see there).
  const char* env = std::getenv("NORMRT_STRESS_THREADS");
  o.threads = env ? std::atoi(env) : 2;
  auto s = onnx::open_session(kModel, o);
  const std::vector<Tensor> in = feeds();
  const std::vector<Tensor> want = s->run(kNames, in);
  std::atomic<int64_t> runs{0}, mismatches{0};
  std::vector<std::thread> pool;
  const auto end = clock_type::now() + std::chrono::duration<double>(seconds);
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([&] {
      while (clock_type::now() < end) {
        if (!same_bits(s->run(kNames, in), want)) ++mismatches;
        ++runs;
      }
    });
  for (auto& t : pool) t.join();
  std::printf("stress: 8 threads on one session for %.0f s: %lld runs, %lld differ from the sequential result\n", seconds,
              static_cast<long long>(runs), static_cast<long long>(mismatches));
  return mismatches == 0 && runs > 8 ? 0 : 1;
}

int create_destroy() {
  const std::vector<Tensor> in = feeds();
  auto cycle = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto s = onnx::open_session(kModel, SessionOptions{1});
      s->run(kNames, in);
    }
  };
  cycle(30);  // warm-up: allocator pools, block cache, TBB
  const double after_warmup = rss_mb();
  cycle(300);
  const double after = rss_mb();
  std::printf("stress: 300 sessions created, run and destroyed: resident memory %.1f MB after warm-up, %.1f MB after\n",
              after_warmup, after);
  if (kAddressSanitizer) {
    std::printf("stress: 1 check skipped: flat resident memory, under AddressSanitizer (LeakSanitizer checks leaks at exit)\n");
    return 0;
  }
  return after - after_warmup < 8.0 ? 0 : 1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int soak(double minutes) {
  auto s = onnx::open_session(kModel, SessionOptions{1});
  const std::vector<Tensor> in = feeds();
  const auto start = clock_type::now();
  double first_median = 0, first_rss = 0, last_median = 0, last_rss = 0;
  for (int window = 0; std::chrono::duration<double>(clock_type::now() - start).count() < minutes * 60; ++window) {
    std::vector<double> ms;
    const auto w0 = clock_type::now();
    while (std::chrono::duration<double>(clock_type::now() - w0).count() < 30) {
      const auto t0 = clock_type::now();
      s->run(kNames, in);
      ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    last_median = median(ms), last_rss = rss_mb();
    if (window == 0) first_median = last_median, first_rss = last_rss;
    std::printf("soak: %5.1f min  runs %zu  median %.3f ms  resident %.1f MB\n",
                std::chrono::duration<double>(clock_type::now() - start).count() / 60, ms.size(), last_median, last_rss);
    std::fflush(stdout);
  }
  const bool drift = last_median > 1.3 * first_median, growth = last_rss > first_rss + 8.0;
  std::printf("soak: median %.3f -> %.3f ms (%s), resident %.1f -> %.1f MB (%s)\n", first_median, last_median,
              drift ? "DRIFT" : "no drift", first_rss, last_rss, growth ? "GROWTH" : "flat");
  return drift || growth ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::string(argv[1]) == "--soak") return soak(std::stod(argv[2]));
    double seconds = 30;
    if (argc == 3 && std::string(argv[1]) == "--seconds") seconds = std::stod(argv[2]);
    else if (argc != 1) {
      std::fprintf(stderr, "usage: normrt_stress [--seconds S] | --soak MINUTES\n");
      return 2;
    }
    const int a = concurrent(seconds), b = create_destroy();
    return a || b;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stress: %s\n", e.what());
    return 1;
  }
}
