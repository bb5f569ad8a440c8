// Normalization kernels (LayerNorm, RMSNorm, GroupNorm/InstanceNorm, BatchNorm, Skip variants).
//
// Numerics. A row's statistics come from one read of the data as sums of (x - pivot), the pivot
// being the row's first element: differences of nearby floats are exact, so a large mean does not
// cancel the variance the way E[x^2] - E[x]^2 does. Each SIMD lane accumulates a short chain in
// float and flushes into double every few vectors. The normalized value is
// z = (x - pivot) * scale + offset with scale = 1/std and offset = -(mean - pivot)/std, one fused
// multiply-add after a subtraction; the output is z * g + b. When the mean is within a few standard
// deviations of 0 the pivot becomes 0 and the subtraction goes (the rounding of offset is then at
// most a few 1e-7 of a standard deviation); otherwise the pivot stays a value near the mean, so a
// mean of 1e5 costs no precision. A row of identical values gives exactly b.
//
// Determinism. A row is cut into segments of kNormSegment values whose sums are merged in order,
// whether one thread does them all or several share them, so a row's output never depends on the
// thread count, the batch size or the other rows.
//
// ISA. The hot loops are a small table of primitives per ISA (norm_<isa>.cpp, built with that ISA's
// flags); everything else here is ISA-independent.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "kernels/elementwise.h"
#include "kernels/isa.h"

namespace normrt::kernels {

struct NormPrimitives {
  Isa isa;
  // *s += sum(x[i] - pivot), *ss += sum((x[i] - pivot)^2) over n values.
  void (*shifted_sums)(const float* x, int64_t n, float pivot, double* s, double* ss);
  // z = (x[i] - pivot) * scale + offset (one fused multiply-add), y[i] = z * g[i] + b[i]; g and b
  // may be null (1 and 0). A pivot of 0 skips the subtraction. stream: y is written with
  // non-temporal stores, for outputs larger than the caches (where the ISA has them).
  void (*normalize_vec)(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                        const float* b, bool stream);
  // y[i] = (x[i] - pivot) * a + c (one fused multiply-add). stream: non-temporal stores from y's
  // first vector-aligned value on, as in normalize_vec (the scalar head and tail store normally).
  void (*normalize_channel)(const float* x, float* y, int64_t n, float pivot, float a, float c, bool stream);
  // normalize_vec (no streaming) for kRowBlock rows at once, so gamma and beta are loaded once for
  // all of them. Streamed rows go one at a time instead (see RowNormArgs::from_memory).
  void (*normalize_rows)(const float* const* x, float* const* y, int64_t n, const float* pivot, const float* scale,
                         const float* offset, const float* g, const float* b);
  // out[i] = (x[i] + skip[i]) + bias[i]; bias may be null.
  void (*add_rows)(const float* x, const float* skip, const float* bias, float* out, int64_t n);
  // Call once after streamed (stream = true) normalize calls, before the output is read elsewhere.
  void (*stream_fence)();
  // normalize_vec(x -> y) and shifted_sums(next, n, next_pivot, s, ss) in one loop over the two
  // rows; the same results as the two calls. stream: non-temporal stores, as in normalize_vec, but
  // only where y is vector-aligned (x and y share the loop's index; otherwise ordinary stores).
  void (*normalize_and_sum)(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                            const float* b, bool stream, const float* next, float next_pivot, double* s, double* ss);
  // group_norm's pipeline: values [lo, lo + n) of a unit (x and y point at its start; its channels
  // are `spatial` values long, channel j gets y = (x - pivot) * a[j] + c[j]) normalized as
  // normalize_channel does, in the loop that takes shifted_sums(next + lo, n, next_pivot, s, ss);
  // the same results as those calls. stream: non-temporal stores where every vector of the sweep is
  // aligned (y vector-aligned and channels a whole number of vectors long), ordinary ones otherwise.
  void (*normalize_channels_and_sum)(const float* x, float* y, int64_t lo, int64_t n, int64_t spatial, float pivot,
                                     const float* a, const float* c, bool stream, const float* next, float next_pivot,
                                     double* s, double* ss);
};

constexpr int kRowBlock = 4;

// The primitives for `isa` (Auto means the best available). Throws std::invalid_argument if this
// build or CPU lacks it.
const NormPrimitives& norm_primitives(Isa isa);

constexpr int64_t kNormSegment = 16384;
inline int64_t norm_segments(int64_t n) { return n <= kNormSegment ? 1 : (n + kNormSegment - 1) / kNormSegment; }

struct ShiftedSums {
  double s = 0, ss = 0;
};
// Segment `seg` of a row of n values: its first value and its length.
inline std::pair<int64_t, int64_t> segment_range(int64_t n, int64_t seg) {
  const int64_t lo = seg * kNormSegment;
  return {lo, std::min(n, lo + kNormSegment) - lo};
}
// Sums of segment seg of a row of n values.
inline ShiftedSums segment_sums(const NormPrimitives& k, const float* row, int64_t n, float pivot, int64_t seg) {
  ShiftedSums r;
  const auto [lo, len] = segment_range(n, seg);
  k.shifted_sums(row + lo, len, pivot, &r.s, &r.ss);
  return r;
}

struct NormStats {
  float pivot = 0, scale = 0, offset = 0;  // z = (x - pivot) * scale + offset, what the primitives take
  double mean = 0, inv_std_d = 0;          // for the optional Mean / InvStdDev outputs
  float inv_std() const { return static_cast<float>(inv_std_d); }
  // The GroupNorm / BatchNorm form for one channel: y = (x - pivot) * a + c.
  float channel_a(float gamma) const { return static_cast<float>(double(scale) * gamma); }
  float channel_c(float gamma, float beta) const { return static_cast<float>(double(offset) * gamma + beta); }
};
// A mean within this many standard deviations of 0 is subtracted as float(-mean/std) inside the
// fused multiply-add: the rounding costs at most kCenterBound * 6e-8 standard deviations.
constexpr double kCenterBound = 4.0;

// Statistics from merged sums. rms: no mean subtraction (pivot 0), inv_std = 1/sqrt(mean(x^2) + eps).
inline NormStats finish_stats(const ShiftedSums& t, int64_t n, float pivot, double eps, bool rms) {
  NormStats st;
  const double inv_n = n > 0 ? 1.0 / double(n) : 0.0;
  if (rms) {
    st.inv_std_d = 1.0 / std::sqrt(t.ss * inv_n + eps);
    st.scale = static_cast<float>(st.inv_std_d);
    return st;
  }
  const double m = t.s * inv_n;
  const double var = std::max(t.ss * inv_n - m * m, 0.0);  // NaN stays NaN (max keeps its first argument)
  st.mean = double(pivot) + m;
  st.inv_std_d = 1.0 / std::sqrt((std::isnan(t.ss) ? t.ss : var) + eps);
  st.scale = static_cast<float>(st.inv_std_d);
  // ss == 0: every value equals the pivot, so keeping it gives z = 0 exactly and the output is b.
  if (t.ss != 0.0 && std::fabs(st.mean) * st.inv_std_d <= kCenterBound) {
    st.pivot = 0.0f;
    st.offset = static_cast<float>(-st.mean * st.inv_std_d);
  } else {
    st.pivot = pivot;
    st.offset = static_cast<float>(-m * st.inv_std_d);
  }
  return st;
}

// True when the pivot lies more than 3 standard deviations from the mean (say, the row's first
// value is an outlier): var = ss/n - m^2 then cancels, so the sums are taken again around the mean.
// Ordinary rows never need it; such a row is read a second time, from cache.
inline bool needs_repivot(const ShiftedSums& t, int64_t n) {
  if (n == 0) return false;
  const double m = t.s / double(n), var = t.ss / double(n) - m * m;
  return m * m > 9.0 * var && std::isfinite(m);
}
// The better pivot: the mean found with the first one, as a float.
inline float repivot(const ShiftedSums& t, int64_t n, float pivot) { return static_cast<float>(double(pivot) + t.s / double(n)); }

// Sums of a whole row around `pivot`, segments merged in order.
inline ShiftedSums row_sums(const NormPrimitives& k, const float* row, int64_t n, float pivot) {
  ShiftedSums total;
  for (int64_t seg = 0, ns = norm_segments(n); seg < ns; ++seg) {
    ShiftedSums p = segment_sums(k, row, n, pivot, seg);
    total.s += p.s;
    total.ss += p.ss;
  }
  return total;
}

// The pivot a row's sums start from: its first value (0 for RMS, which takes no mean).
inline float first_pivot(const float* row, int64_t n, bool rms) { return rms || n == 0 ? 0.0f : row[0]; }

// Statistics from a row's sums t around `pivot`; when that pivot proved an outlier, the row is
// summed again around its mean first (resum(pivot) returns the sums around another pivot). Every
// path that takes a row's statistics (whole, pipelined, split across threads) ends here.
template <class Resum>
NormStats stats_from_sums(ShiftedSums t, int64_t n, float pivot, double eps, bool rms, Resum&& resum) {
  if (!rms && needs_repivot(t, n)) {
    pivot = repivot(t, n, pivot);
    t = resum(pivot);
  }
  return finish_stats(t, n, pivot, eps, rms);
}

// Whole-row statistics.
inline NormStats row_stats(const NormPrimitives& k, const float* row, int64_t n, double eps, bool rms) {
  auto sums = [&](float pivot) { return row_sums(k, row, n, pivot); };
  const float pivot = first_pivot(row, n, rms);
  return stats_from_sums(sums(pivot), n, pivot, eps, rms, sums);
}

// LayerNormalization (rms = false) or RMSNormalization (rms = true) of rows [r0, r1) of a
// [rows, d] matrix. gamma, beta have d values (either may be null). When skip is set, each row
// first becomes (x + skip) + bias (skip has skip_rows rows, reused cyclically; bias has d values or
// is null), written to sum_out (which may be y) and normalized from there while it is in cache.
// mean_out / inv_std_out get one value per row (null to skip).
struct RowNormArgs {
  const float* x;
  float* y;
  int64_t d;
  double eps;
  bool rms = false;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const float* skip = nullptr;
  int64_t skip_rows = 0;
  const float* bias = nullptr;
  float* sum_out = nullptr;
  float* mean_out = nullptr;
  float* inv_std_out = nullptr;
  // The tensor comes from DRAM (see streams_from_memory). stream_stores: y is written with
  // non-temporal stores (see prefers_stream_stores). Either way, rows that do not take the pipeline
  // (with a skip input, or longer than a segment) go one at a time instead of kRowBlock at once.
  bool from_memory = false;
  bool stream_stores = false;
};
// A tensor moving more than kStreamBytes (input + output) comes from DRAM. One write stream is
// what it wants: the pipeline (each row normalized in the loop that sums the next) keeps one read
// stream and one write stream going, and so do rows taken one at a time; blocks of kRowBlock rows
// write four interleaved streams (measured 0.9x memcpy on Zen 5 one at a time against 0.55x in
// blocks; with non-temporal stores on Zen 3, where a vector is half a cache line, LN
// [1,2048,4096] took 39 ms in blocks and 7.2 ms one at a time). The pipeline beats one at a time
// from DRAM as in cache: the next row's reads overlap this row's sweep (Zen 3, paired runs of the
// op at 1 and 2 threads: LN [8,512,768] 1.14x / 1.17x, [1,2048,4096] 1.17x / 1.15x).
constexpr int64_t kStreamBytes = int64_t(16) << 20;
inline bool streams_from_memory(int64_t bytes_moved) { return bytes_moved > kStreamBytes; }
// Such a tensor's y also goes out with non-temporal stores: it would not stay in cache anyway, and
// they save reading its lines in before writing them (measured on [1,2048,4096]: 30 -> 40 GB/s at
// 1 thread). Until the pipeline took rows from DRAM this began at 32 MiB, ordinary stores having
// been faster at 2 threads below it; with the pipeline, non-temporal stores from 16 MiB measured
// 1.32x (1 thread) and 1.36x (2 threads) on LN [8,512,768] and 1.28x / 1.20x on a chain of eight
// of them, where each op then reads its input from DRAM (Zen 3, paired runs in one process).
// GroupNorm / InstanceNorm (GroupNormArgs::stream_stores) and BatchNorm use the same threshold:
// GN [2,320,64,64] 1.41x / 1.42x, [1,320,128,128] 1.18x / 1.28x, a chain of four GN 1.23x /
// 1.09x; BN [1,64,256,256] 1.41x / 1.46x, a chain of four 1.48x / 1.31x.
inline bool prefers_stream_stores(int64_t bytes_moved) { return streams_from_memory(bytes_moved); }
void row_norm(const NormPrimitives& k, const RowNormArgs& a, int64_t r0, int64_t r1);

// GroupNormalization / InstanceNormalization on NCHW-like data: `units` = N * groups blocks of
// channels_per_group * spatial contiguous values; channel c of a sample is scaled by gamma[c] and
// shifted by beta[c] (C = groups * channels_per_group values each). Units [u0, u1).
struct GroupNormArgs {
  const float* x;
  float* y;
  int64_t groups, channels_per_group, spatial;
  double eps;
  const float* gamma;
  const float* beta;
  // y is written with non-temporal stores (see prefers_stream_stores); group_norm and
  // group_norm_apply fence them before they return.
  bool stream_stores = false;
};
// Units whose channels hold at least kGroupPipelineMinSpatial values run as a software pipeline
// (normalize_channels_and_sum); shorter channels would cut its sweep into pieces too small.
constexpr int64_t kGroupPipelineMinSpatial = 256;
void group_norm(const NormPrimitives& k, const GroupNormArgs& a, int64_t u0, int64_t u1);
// Normalizes unit u given its statistics, channels [c0, c1) of it only (for splitting one unit).
void group_norm_apply(const NormPrimitives& k, const GroupNormArgs& a, int64_t u, const NormStats& st, int64_t c0, int64_t c1);

// The float64 reference of LayerNormalization used by the tests and for float64 tensors:
// two passes in double over the row.
template <class T, class U>
void layer_norm_rows_reference(const T* x, const T* scale, const T* bias, T* y, U* mean_out, U* inv_std_out, int64_t d,
                               double eps, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const T* xr = x + r * d;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += double(compute_t<T>(xr[i]));
    mean /= double(d);
    for (int64_t i = 0; i < d; ++i) {
      const double v = double(compute_t<T>(xr[i])) - mean;
      var += v * v;
    }
    var /= double(d);
    const double inv_std = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < d; ++i) {
      double v = (double(compute_t<T>(xr[i])) - mean) * inv_std * (scale ? double(compute_t<T>(scale[i])) : 1.0);
      if (bias) v += double(compute_t<T>(bias[i]));
      y[r * d + i] = T(static_cast<compute_t<T>>(v));
    }
    if (mean_out) mean_out[r] = U(static_cast<compute_t<U>>(mean));
    if (inv_std_out) inv_std_out[r] = U(static_cast<compute_t<U>>(inv_std));
  }
}

}  // namespace normrt::kernels
