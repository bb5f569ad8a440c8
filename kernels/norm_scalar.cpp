// The scalar normalization primitives: the same algorithm as norm_simd.h, one value at a time.
// They are the portable fallback and the easiest place to read what the primitives compute.
#include <cmath>

#include "kernels/norm.h"

namespace normrt::kernels {

namespace {

void shifted_sums(const float* x, int64_t n, float pivot, double* s_out, double* ss_out) {
  double s = 0, ss = 0;
  // Short float chains (16 values) flushed into double, as the SIMD lanes do.
  for (int64_t i = 0; i < n; i += 16) {
    float bs = 0, bq = 0;
    for (int64_t j = i, end = std::min(n, i + 16); j < end; ++j) {
      const float a = x[j] - pivot;
      bs += a;
      bq += a * a;
    }
    s += bs;
    ss += bq;
  }
  *s_out += s;
  *ss_out += ss;
}

void normalize_vec(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g,
                   const float* b, bool /*stream: no non-temporal stores in portable code*/) {
  for (int64_t i = 0; i < n; ++i) {
    // Plain multiply-adds: without FMA hardware (this file's flags) std::fma is a slow library call.
    const float z = (x[i] - pivot) * scale + offset;
    y[i] = b ? z * (g ? g[i] : 1.0f) + b[i] : (g ? z * g[i] : z);
  }
}

void normalize_channel(const float* x, float* y, int64_t n, float pivot, float a, float c, bool /*stream*/) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - pivot) * a + c;
}

void normalize_rows(const float* const* x, float* const* y, int64_t n, const float* pivot, const float* scale,
                    const float* offset, const float* g, const float* b) {
  for (int k = 0; k < kRowBlock; ++k) normalize_vec(x[k], y[k], n, pivot[k], scale[k], offset[k], g, b, false);
}

void add_rows(const float* x, const float* skip, const float* bias, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = bias ? (x[i] + skip[i]) + bias[i] : x[i] + skip[i];
}

void no_fence() {}

void normalize_and_sum(const float* x, float* y, int64_t n, float pivot, float scale, float offset, const float* g, const float* b,
                       bool stream, const float* next, float next_pivot, double* s, double* ss) {
  normalize_vec(x, y, n, pivot, scale, offset, g, b, stream);
  shifted_sums(next, n, next_pivot, s, ss);
}

void normalize_channels_and_sum(const float* x, float* y, int64_t lo, int64_t n, int64_t spatial, float pivot, const float* a,
                                const float* c, bool stream, const float* next, float next_pivot, double* s, double* ss) {
  for (int64_t pos = lo, end = lo + n; pos < end;) {
    const int64_t ch = pos / spatial, stop = std::min(end, (ch + 1) * spatial);
    normalize_channel(x + pos, y + pos, stop - pos, pivot, a[ch], c[ch], stream);
    pos = stop;
  }
  shifted_sums(next + lo, n, next_pivot, s, ss);
}

}  // namespace

const NormPrimitives& norm_primitives_scalar() {
  static const NormPrimitives t{Isa::Scalar,    shifted_sums, normalize_vec, normalize_channel,         normalize_rows,
                                add_rows,       no_fence,     normalize_and_sum, normalize_channels_and_sum};
  return t;
}

}  // namespace normrt::kernels
