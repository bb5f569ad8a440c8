// Data movement: transposition of an N-d tensor of any element size.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace normrt::kernels {

// out = transpose(in, perm) for output rows [row_begin, row_end), a row being the last output dim.
// Works on elements of `esize` bytes (1, 2, 4 or 8).
void transpose_rows(const void* in, void* out, size_t esize, const std::vector<int64_t>& in_shape,
                    const std::vector<int64_t>& perm, int64_t row_begin, int64_t row_end);

}  // namespace normrt::kernels
