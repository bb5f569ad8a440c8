// The only door to oneTBB. Kernels never see TBB: ops hand them row ranges through for_range.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

namespace normrt {

class Parallel {
 public:
  // threads <= 0 means the machine's hardware concurrency; 1 means no worker threads at all.
  explicit Parallel(int threads);
  ~Parallel();
  Parallel(const Parallel&) = delete;
  Parallel& operator=(const Parallel&) = delete;

  int threads() const { return threads_; }
  // Runs `f` inside this object's task_arena, so that nested for_range calls use its threads.
  void run(const std::function<void()>& f);
  // Calls f(begin, end) over [0, n) in chunks of at least `grain` items, in parallel when it pays.
  void for_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f) const;

 private:
  int threads_;
  struct Arena;
  std::unique_ptr<Arena> arena_;
};

}  // namespace normrt
