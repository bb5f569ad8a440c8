#include "runtime/parallel.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>

namespace normrt {

struct Parallel::Arena {
  explicit Arena(int n) : arena(n) {}
  tbb::task_arena arena;
};

Parallel::Parallel(int threads) {
  threads_ = threads > 0 ? threads : std::max(1, tbb::info::default_concurrency());
  if (threads_ > 1) arena_ = std::make_unique<Arena>(threads_);
}

Parallel::~Parallel() = default;

void Parallel::run(const std::function<void()>& f) {
  if (arena_)
    arena_->arena.execute(f);
  else
    f();
}

void Parallel::for_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f) const {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (threads_ == 1 || n <= grain) {
    f(0, n);
    return;
  }
  // Cap the number of chunks near a few per thread: enough for balance, few enough to keep
  // scheduling overhead invisible on small tensors.
  int64_t chunk = std::max(grain, (n + 4 * threads_ - 1) / (4 * threads_));
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, chunk),
                    [&](const tbb::blocked_range<int64_t>& r) { f(r.begin(), r.end()); },
                    tbb::simple_partitioner());
}

}  // namespace normrt
