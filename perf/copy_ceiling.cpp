// The fastest this core moves a tensor's bytes, against oneDNN's layer normalization on the same
// buffers: what bounds a normalization kernel that reads X once and writes Y once when neither
// fits in cache. At 1 thread, in alternation (perf::time_medians_interleaved), on the same X and Y
// every call as normrt_norm_bench does:
//   normrt    kernels::row_norm, as the LayerNormalization op calls it at 1 thread (gamma 1, beta 0)
//   oneDNN    layer_normalization_forward (forward_inference, no scale or shift)
//   memcpy    glibc's copy X -> Y
//   nt copy   X -> Y with non-temporal stores of whole aligned vectors (no read of Y's lines)
//   nt copy + prefetch   the same with a prefetcht1 4 KiB ahead in X
//   read      a sum over X alone; its GB/s counts X's bytes once
// GB/s counts X read + Y written, as the other benchmarks do. A ratio to oneDNN above the
// "nt copy" row's is more than a plain copy of the same bytes reaches on this core.
//   build/perf/normrt_copy_ceiling [ROWS D] [--min-seconds S]     (default 4096 768: LN [8,512,768])
#include <immintrin.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "dnnl.hpp"
#include "kernels/norm.h"
#include "perf/bench_timing.h"

namespace {

// Vector width chosen at run time, the loops compiled per ISA (target attributes).
__attribute__((target("avx512f"))) void nt_copy_avx512(const float* x, float* y, size_t n, bool prefetch) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if (prefetch) _mm_prefetch(reinterpret_cast<const char*>(x + i + 1024), _MM_HINT_T1);
    _mm512_stream_ps(y + i, _mm512_load_ps(x + i));
  }
  for (; i < n; ++i) y[i] = x[i];
  _mm_sfence();
}
__attribute__((target("avx2"))) void nt_copy_avx2(const float* x, float* y, size_t n, bool prefetch) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (prefetch && i % 16 == 0) _mm_prefetch(reinterpret_cast<const char*>(x + i + 1024), _MM_HINT_T1);
    _mm256_stream_ps(y + i, _mm256_load_ps(x + i));
  }
  for (; i < n; ++i) y[i] = x[i];
  _mm_sfence();
}
__attribute__((target("avx2"))) float read_sum(const float* x, size_t n) {
  __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 4; ++j) s[j] = _mm256_add_ps(s[j], _mm256_load_ps(x + i + 8 * j));
  alignas(32) float t[8];
  _mm256_store_ps(t, _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
  float total = 0;
  for (float v : t) total += v;
  for (; i < n; ++i) total += x[i];
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  normrt::perf::restart_with_sleeping_peer_threads(argv);
  if (!__builtin_cpu_supports("avx2")) {
    std::printf("normrt_copy_ceiling needs AVX2; skipped\n");
    return 0;
  }
  long rows = 4096, d = 768;
  double min_seconds = 1.0;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--min-seconds" && i + 1 < argc) min_seconds = std::stod(argv[++i]);
    else pos.push_back(argv[i]);
  }
  if (pos.size() == 2) rows = std::stol(pos[0]), d = std::stol(pos[1]);
  if (rows <= 0 || d <= 0 || rows * d > (long(1) << 30)) {
    std::fprintf(stderr, "normrt_copy_ceiling: ROWS and D must be positive, ROWS * D at most 2^30\n");
    return 2;
  }
  const size_t n = size_t(rows) * size_t(d), bytes = n * sizeof(float);
  auto alloc = [&] {
    float* p = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!p) std::abort();
    return p;
  };
  float *x = alloc(), *y = alloc();
  for (size_t i = 0; i < n; ++i) x[i] = float(i % 97) * 0.01f;
  std::memset(y, 0, bytes);
  omp_set_num_threads(1);

  using namespace dnnl;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::desc md({rows, d}, memory::data_type::f32, memory::format_tag::ab);
  const auto pd = layer_normalization_forward::primitive_desc(
      layer_normalization_forward::desc(prop_kind::forward_inference, md, 1e-5f, normalization_flags::none), eng);
  memory src(md, eng, x), dst(md, eng, y);
  layer_normalization_forward ln(pd);

  const normrt::kernels::NormPrimitives& k = normrt::kernels::norm_primitives(normrt::kernels::Isa::Auto);
  std::vector<float> gamma(d, 1.0f), beta(d, 0.0f);
  normrt::kernels::RowNormArgs args{x, y, d, 1e-5};
  args.gamma = gamma.data(), args.beta = beta.data();
  args.from_memory = normrt::kernels::streams_from_memory(int64_t(2 * bytes));
  args.stream_stores = normrt::kernels::prefers_stream_stores(int64_t(2 * bytes));

  const bool avx512 = __builtin_cpu_supports("avx512f");
  auto nt_copy = [&](bool prefetch) { avx512 ? nt_copy_avx512(x, y, n, prefetch) : nt_copy_avx2(x, y, n, prefetch); };
  volatile float sink = 0;
  const std::vector<std::string> names = {"oneDNN layer norm", "normrt layer norm", "memcpy", "nt copy", "nt copy + prefetch", "read"};
  const std::vector<std::function<void()>> fns = {
      [&] {
        ln.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
        strm.wait();
      },
      [&] { normrt::kernels::row_norm(k, args, 0, rows); },
      [&] { std::memcpy(y, x, bytes); },
      [&] { nt_copy(false); },
      [&] { nt_copy(true); },
      [&] { sink = read_sum(x, n); }};
  const std::vector<double> med = normrt::perf::time_medians_interleaved(fns, min_seconds);
  std::printf("[%ld, %ld] float32, %.1f MiB each way, 1 thread, copies with %s stores, normrt on %s%s\n\n", rows, d, bytes / 1048576.0,
              avx512 ? "AVX-512" : "AVX2", normrt::kernels::isa_name(k.isa), args.stream_stores ? " (non-temporal stores)" : "");
  std::printf("| pass | GB/s | / oneDNN |\n| --- | ---: | ---: |\n");
  for (size_t i = 0; i < fns.size(); ++i) {
    if (i + 1 == fns.size()) {  // X alone: a rate of reads, not comparable with the passes that also write
      std::printf("| %s | %.1f | n/a |\n", names[i].c_str(), double(bytes) / med[i] / 1e9);
      continue;
    }
    std::printf("| %s | %.1f | %.2fx |\n", names[i].c_str(), 2.0 * bytes / med[i] / 1e9, med[0] / med[i]);
  }
  std::free(x);
  std::free(y);
  return 0;
}
