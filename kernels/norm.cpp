#include "kernels/norm.h"

#include <tuple>
#include <vector>

namespace normrt::kernels {

const NormPrimitives& norm_primitives_scalar();
#if defined(__x86_64__)
const NormPrimitives& norm_primitives_avx2();
const NormPrimitives& norm_primitives_avx512();
#elif defined(__aarch64__)
const NormPrimitives& norm_primitives_neon();
#endif

const NormPrimitives& norm_primitives(Isa isa) {
  switch (checked_isa(isa)) {
#if defined(__x86_64__)
    case Isa::Avx512: return norm_primitives_avx512();
    case Isa::Avx2: return norm_primitives_avx2();
#elif defined(__aarch64__)
    case Isa::Neon: return norm_primitives_neon();
#endif
    default: return norm_primitives_scalar();
  }
}

namespace {
// Rows without a skip input, one segment long, in cache or from DRAM (see kStreamBytes): each row
// is normalized in the same loop that sums the next one (normalize_and_sum), a software pipeline
// over the rows. Statistics and outputs are those of row_stats and normalize_vec, bit for bit.
void row_norm_pipelined(const NormPrimitives& k, const RowNormArgs& a, int64_t r0, int64_t r1) {
  const int64_t d = a.d;
  NormStats st = row_stats(k, a.x + r0 * d, d, a.eps, a.rms);
  for (int64_t r = r0; r < r1; ++r) {
    const float* src = a.x + r * d;
    float* dst = a.y + r * d;
    if (a.mean_out) a.mean_out[r] = static_cast<float>(st.mean);
    if (a.inv_std_out) a.inv_std_out[r] = st.inv_std();
    if (r + 1 == r1) {
      k.normalize_vec(src, dst, d, st.pivot, st.scale, st.offset, a.gamma, a.beta, a.stream_stores);
      break;
    }
    const float* next = src + d;
    const float pivot = first_pivot(next, d, a.rms);
    ShiftedSums t;
    k.normalize_and_sum(src, dst, d, st.pivot, st.scale, st.offset, a.gamma, a.beta, a.stream_stores, next, pivot, &t.s, &t.ss);
    st = stats_from_sums(t, d, pivot, a.eps, a.rms, [&](float p) { return row_sums(k, next, d, p); });
  }
  if (a.stream_stores) k.stream_fence();
}
}  // namespace

void row_norm(const NormPrimitives& k, const RowNormArgs& a, int64_t r0, int64_t r1) {
  if (r0 >= r1) return;
  if (!a.skip && a.d <= kNormSegment) return row_norm_pipelined(k, a, r0, r1);
  // Rows from memory, and rows written with non-temporal stores, go one at a time (see
  // RowNormArgs::from_memory).
  const bool one_at_a_time = a.from_memory || a.stream_stores;
  // Cache-resident rows go kRowBlock at a time: statistics row by row, then one sweep over all of
  // them, so the gamma and beta vectors are loaded once per block instead of once per row.
  const float* src[kRowBlock];
  float* dst[kRowBlock];
  float pivot[kRowBlock], scale[kRowBlock], offset[kRowBlock];
  for (int64_t r = r0; r < r1;) {
    const int rows = static_cast<int>(std::min<int64_t>(one_at_a_time ? 1 : kRowBlock, r1 - r));
    for (int j = 0; j < rows; ++j) {
      const int64_t row = r + j;
      src[j] = a.x + row * a.d;
      if (a.skip) {
        float* sum = a.sum_out + row * a.d;
        k.add_rows(src[j], a.skip + (row % a.skip_rows) * a.d, a.bias, sum, a.d);
        src[j] = sum;  // normalized from cache
      }
      const NormStats st = row_stats(k, src[j], a.d, a.eps, a.rms);
      dst[j] = a.y + row * a.d;
      pivot[j] = st.pivot, scale[j] = st.scale, offset[j] = st.offset;
      if (a.mean_out) a.mean_out[row] = static_cast<float>(st.mean);
      if (a.inv_std_out) a.inv_std_out[row] = st.inv_std();
    }
    if (rows == kRowBlock) {
      k.normalize_rows(src, dst, a.d, pivot, scale, offset, a.gamma, a.beta);
    } else {
      for (int j = 0; j < rows; ++j)
        k.normalize_vec(src[j], dst[j], a.d, pivot[j], scale[j], offset[j], a.gamma, a.beta, a.stream_stores);
    }
    r += rows;
  }
  if (a.stream_stores) k.stream_fence();
}

namespace {
// Channel j of unit u as normalize_channel takes it: y = (x - pivot) * a + c, gamma and beta folded in.
std::pair<float, float> channel_affine(const GroupNormArgs& a, int64_t u, int64_t j, const NormStats& st) {
  const int64_t ch = (u % a.groups) * a.channels_per_group + j;
  const float gamma = a.gamma ? a.gamma[ch] : 1.0f, beta = a.beta ? a.beta[ch] : 0.0f;
  return {st.channel_a(gamma), st.channel_c(gamma, beta)};
}
}  // namespace

void group_norm_apply(const NormPrimitives& k, const GroupNormArgs& a, int64_t u, const NormStats& st, int64_t c0, int64_t c1) {
  const int64_t unit_len = a.channels_per_group * a.spatial;
  for (int64_t j = c0; j < c1; ++j) {
    const auto [ca, cc] = channel_affine(a, u, j, st);
    const int64_t off = u * unit_len + j * a.spatial;
    k.normalize_channel(a.x + off, a.y + off, a.spatial, st.pivot, ca, cc, a.stream_stores);
  }
  if (a.stream_stores) k.stream_fence();
}

void group_norm(const NormPrimitives& k, const GroupNormArgs& a, int64_t u0, int64_t u1) {
  const int64_t cpg = a.channels_per_group, unit_len = cpg * a.spatial;
  if (u1 - u0 < 2 || a.spatial < kGroupPipelineMinSpatial) {
    for (int64_t u = u0; u < u1; ++u) group_norm_apply(k, a, u, row_stats(k, a.x + u * unit_len, unit_len, a.eps, false), 0, cpg);
    return;
  }
  // A software pipeline over the units: each is normalized in the loop that sums the next, segment
  // by segment as row_sums cuts it, so the statistics are row_stats' bit for bit.
  std::vector<float> ch_a(cpg), ch_c(cpg);
  NormStats st = row_stats(k, a.x + u0 * unit_len, unit_len, a.eps, false);
  for (int64_t u = u0;; ++u) {
    if (u + 1 == u1) return group_norm_apply(k, a, u, st, 0, cpg);
    for (int64_t j = 0; j < cpg; ++j) std::tie(ch_a[j], ch_c[j]) = channel_affine(a, u, j, st);
    const float* x = a.x + u * unit_len;
    const float* next = x + unit_len;
    const float pivot = first_pivot(next, unit_len, false);
    ShiftedSums t;
    for (int64_t seg = 0, ns = norm_segments(unit_len); seg < ns; ++seg) {
      const auto [lo, len] = segment_range(unit_len, seg);
      k.normalize_channels_and_sum(x, a.y + u * unit_len, lo, len, a.spatial, st.pivot, ch_a.data(), ch_c.data(), a.stream_stores,
                                   next, pivot, &t.s, &t.ss);
    }
    st = stats_from_sums(t, unit_len, pivot, a.eps, false, [&](float p) { return row_sums(k, next, unit_len, p); });
  }
}

}  // namespace normrt::kernels
