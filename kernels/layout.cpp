#include "kernels/layout.h"

namespace normrt::kernels {

namespace {
template <class E>
void transpose_impl(const E* in, E* out, const std::vector<int64_t>& in_shape, const std::vector<int64_t>& perm,
                    int64_t row_begin, int64_t row_end) {
  if (row_begin >= row_end) return;
  const int rank = static_cast<int>(perm.size());
  std::vector<int64_t> in_stride(rank), out_shape(rank), stride(rank);
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_stride[d] = s;
    s *= in_shape[d];
  }
  for (int d = 0; d < rank; ++d) {
    out_shape[d] = in_shape[perm[d]];
    stride[d] = in_stride[perm[d]];  // input stride when walking output dim d
  }
  const int64_t n = rank ? out_shape[rank - 1] : 1;
  const int64_t inner_stride = rank ? stride[rank - 1] : 1;
  std::vector<int64_t> idx(rank > 0 ? rank - 1 : 0, 0);
  int64_t r = row_begin, off = 0;
  for (int d = rank - 2; d >= 0; --d) {
    idx[d] = r % out_shape[d];
    r /= out_shape[d];
    off += idx[d] * stride[d];
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    const E* src = in + off;
    E* dst = out + row * n;
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * inner_stride];
    for (int d = rank - 2; d >= 0; --d) {
      off += stride[d];
      if (++idx[d] < out_shape[d]) break;
      off -= idx[d] * stride[d];
      idx[d] = 0;
    }
  }
}
}  // namespace

void transpose_rows(const void* in, void* out, size_t esize, const std::vector<int64_t>& in_shape,
                    const std::vector<int64_t>& perm, int64_t row_begin, int64_t row_end) {
  switch (esize) {
    case 1: return transpose_impl(static_cast<const uint8_t*>(in), static_cast<uint8_t*>(out), in_shape, perm, row_begin, row_end);
    case 2: return transpose_impl(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), in_shape, perm, row_begin, row_end);
    case 4: return transpose_impl(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), in_shape, perm, row_begin, row_end);
    default: return transpose_impl(static_cast<const uint64_t*>(in), static_cast<uint64_t*>(out), in_shape, perm, row_begin, row_end);
  }
}

}  // namespace normrt::kernels
