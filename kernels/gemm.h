// Matrix products. This is the plain reference path (row-major, C = A * B); the packed,
// cache-blocked SIMD GEMM replaces it behind the same call.
#pragma once
#include <cstdint>

namespace normrt::kernels {

// Rows [row_begin, row_end) of C[M,N] = A[M,K] * B[K,N], all row-major and contiguous.
inline void matmul_rows_f32(const float* a, const float* b, float* c, int64_t n, int64_t k, int64_t row_begin,
                            int64_t row_end) {
  for (int64_t i = row_begin; i < row_end; ++i) {
    float* ci = c + i * n;
    for (int64_t j = 0; j < n; ++j) ci[j] = 0.0f;
    const float* ai = a + i * k;
    for (int64_t p = 0; p < k; ++p) {
      const float av = ai[p];
      const float* bp = b + p * n;
      for (int64_t j = 0; j < n; ++j) ci[j] += av * bp[j];
    }
  }
}

}  // namespace normrt::kernels
