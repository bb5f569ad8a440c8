#include "kernels/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace normrt::kernels {

#if defined(__x86_64__)
const GemmPrimitives& gemm_primitives_avx2();
const GemmPrimitives& gemm_primitives_avx512();
#elif defined(__aarch64__)
const GemmPrimitives& gemm_primitives_neon();
#endif

namespace {

constexpr int kScalarMR = 4, kScalarNR = 8, kScalarKC = 256;

// The portable microkernel: the same tile contract, one multiply-add at a time.
void scalar_microkernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate, int64_t rows,
                        int64_t cols, const float*) {
  float acc[kScalarMR][kScalarNR] = {};
  for (int64_t p = 0; p < kc; ++p)
    for (int i = 0; i < kScalarMR; ++i)
      for (int j = 0; j < kScalarNR; ++j) acc[i][j] += a[p * kScalarMR + i] * b[p * kScalarNR + j];
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

void scalar_microkernel_rows(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, bool accumulate,
                             int64_t rows, int64_t cols, const float*) {
  float acc[kScalarMR][kScalarNR] = {};
  for (int64_t p = 0; p < kc; ++p)
    for (int64_t i = 0; i < rows; ++i)
      for (int j = 0; j < kScalarNR; ++j) acc[i][j] += a[i * lda + p] * b[p * kScalarNR + j];
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

void scalar_row_times_panels(int64_t kc, const float* a, const float* panels, int64_t n_panels, float* c, int64_t cols, bool accumulate) {
  for (int64_t jr = 0; jr < n_panels; ++jr) {
    float acc[kScalarNR] = {};
    const float* bp = panels + jr * kc * kScalarNR;
    for (int64_t p = 0; p < kc; ++p)
      for (int j = 0; j < kScalarNR; ++j) acc[j] += a[p] * bp[p * kScalarNR + j];
    for (int64_t j = 0; j < std::min<int64_t>(kScalarNR, cols - jr * kScalarNR); ++j)
      c[jr * kScalarNR + j] = accumulate ? c[jr * kScalarNR + j] + acc[j] : acc[j];
  }
}

void scalar_pack_a_panel(const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  for (int64_t p = 0; p < kc; ++p)
    for (int i = 0; i < kScalarMR; ++i) out[p * kScalarMR + i] = i < rows ? a[i * lda + p] : 0.0f;
}

void scalar_row_times_matrix(const float* a, int64_t k, const float* b, int64_t ldb, float* c, int64_t n) {
  for (int64_t j = 0; j < n; ++j) c[j] = 0.0f;
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) c[j] += a[p] * b[p * ldb + j];
}

void scalar_pack_b_panel_transposed(const float* b, int64_t ldb, int64_t cols, int64_t kc, float* out) {
  pack_b_panel_transposed_from<kScalarNR>(b, ldb, cols, kc, out, 0);
}

const GemmPrimitives& gemm_primitives_scalar() {
  static const GemmPrimitives t{Isa::Scalar,           kScalarMR,          kScalarNR,              kScalarMR,
                                kScalarKC,             kGemmInPlaceMaxColumns, scalar_microkernel,
                                scalar_microkernel_rows, scalar_row_times_matrix, scalar_row_times_panels,
                                scalar_pack_a_panel,   scalar_pack_b_panel_transposed};
  return t;
}

// Cache blocking: a KC x NR panel of B is reused across a tile row, an MC x KC block of A stays in L2.
constexpr int64_t kNC = kGemmNC;

// 64-byte aligned scratch that grows as needed, one per thread.
struct Scratch {
  std::unique_ptr<float, void (*)(void*)> data{nullptr, std::free};
  size_t size = 0;
  float* get(size_t n) {
    if (n > size) {
      size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
      data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!data) throw std::bad_alloc();
      size = n;
    }
    return data.get();
  }
};

// Row-major B[kc, nc] (unit column stride) into panels: each row of B is read once, in order, and
// its whole panels' worth copied in fixed-size pieces. Going panel by panel instead (a row's 16
// values, then the next row's) made the copy a loop of 16 with run-time bounds and alias checks
// per row: 25 TSC cycles per 64 bytes on Zen 3, and packing V 13.6% of attention at sequence 197.
template <int NR>
void pack_b_rows(const float* b, int64_t ldb, int64_t kc, int64_t nc, float* out) {
  const int64_t full = nc / NR, rest = nc - full * NR;
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = b + p * ldb;
    float* dst = out + p * NR;
    for (int64_t jr = 0; jr < full; ++jr) std::memcpy(dst + jr * kc * NR, src + jr * NR, NR * sizeof(float));
    if (rest > 0) {
      float* last = dst + full * kc * NR;
      std::memcpy(last, src + full * NR, rest * sizeof(float));
      std::memset(last + rest, 0, (NR - rest) * sizeof(float));
    }
  }
}

// B[kc, nc] into ceil(nc / nr) panels of kc x nr, zero-padded: row-major B row by row, a
// transposed B (unit row stride) by the ISA's panel transpose, any other strides value by value.
// Every ISA's nr is 8, 16 or 32 (scalar and NEON 8, AVX2 16, AVX-512 32).
void pack_b(const GemmPrimitives& k, MatrixView b, int64_t kc, int64_t nc, float* out) {
  const int nr = k.nr;
  if (b.col_stride == 1) {
    switch (nr) {
      case 8: return pack_b_rows<8>(b.data, b.row_stride, kc, nc, out);
      case 16: return pack_b_rows<16>(b.data, b.row_stride, kc, nc, out);
      case 32: return pack_b_rows<32>(b.data, b.row_stride, kc, nc, out);
      default: break;  // the strided loop below handles it too
    }
  }
  for (int64_t j0 = 0; j0 < nc; j0 += nr) {
    const int64_t w = std::min<int64_t>(nr, nc - j0);
    float* panel = out + (j0 / nr) * kc * nr;
    if (b.row_stride == 1) {  // a transposed operand: each of its rows read once, in order
      k.pack_b_panel_transposed(b.data + j0 * b.col_stride, b.col_stride, w, kc, panel);
      continue;
    }
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b.data + p * b.row_stride + j0 * b.col_stride;
      for (int64_t j = 0; j < nr; ++j) panel[p * nr + j] = j < w ? src[j * b.col_stride] : 0.0f;
    }
  }
}

// A[mc, kc] into ceil(mc / mr) panels of kc x mr (k-major), zero-padded.
void pack_a(const GemmPrimitives& k, MatrixView a, int64_t mc, int64_t kc, float* out) {
  const int mr = k.mr;
  for (int64_t i0 = 0; i0 < mc; i0 += mr) {
    const int64_t h = std::min<int64_t>(mr, mc - i0);
    float* dst = out + (i0 / mr) * kc * mr;
    if (a.col_stride == 1) {  // row-major: the per-ISA panel copy
      k.pack_a_panel(a.data + i0 * a.row_stride, a.row_stride, h, kc, dst);
      continue;
    }
    for (int64_t p = 0; p < kc; ++p) {
      int64_t i = 0;
      for (; i < h; ++i) dst[p * mr + i] = a.data[(i0 + i) * a.row_stride + p * a.col_stride];
      for (; i < mr; ++i) dst[p * mr + i] = 0.0f;
    }
  }
}

}  // namespace

const GemmPrimitives& gemm_primitives(Isa isa) {
  switch (checked_isa(isa)) {
#if defined(__x86_64__)
    case Isa::Avx512: return gemm_primitives_avx512();
    case Isa::Avx2: return gemm_primitives_avx2();
#elif defined(__aarch64__)
    case Isa::Neon: return gemm_primitives_neon();
#endif
    default: return gemm_primitives_scalar();
  }
}

// 22 tiles: 132 rows at MR = 6, so a 128-row product (BERT at sequence 128) is one block and
// streams B once, not twice for a last block of 8 rows.
int64_t sgemm_row_block(const GemmPrimitives& k) { return k.mr * 22; }

std::pair<int64_t, int64_t> sgemm_row_block_rows(const GemmPrimitives& k, int64_t m, int64_t blocks, int64_t rb) {
  const int64_t tiles = (m + k.mr - 1) / k.mr;
  return {std::min(m, rb * tiles / blocks * k.mr), std::min(m, (rb + 1) * tiles / blocks * k.mr)};
}

namespace {
// An empty sum (K = 0): `rows` rows of `cols` values of C (row stride ldc) become 0, then the
// epilogue runs on them; bias is already offset to C's first column.
void empty_product(const GemmPrimitives& k, float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias, Activation act) {
  for (int64_t i = 0; i < rows; ++i) std::fill(c + i * ldc, c + i * ldc + cols, 0.0f);
  if (bias || act != Activation::None) activation_primitives(k.isa).bias_act(c, ldc, rows, bias, cols, act);
}

// The rows of the next microkernel call when `left` rows remain: all of them when one tile takes
// them (GemmPrimitives::mr_max), else mr.
int64_t tile_rows(const GemmPrimitives& k, int64_t left) { return left <= k.mr_max ? left : k.mr; }

// The microkernel sweep over one packed A block and the B panels [jr0, jr1) of one (column, depth)
// block; c is where column col0 of the block goes (col0 = 0 unless the caller's C starts later).
// ep (when given) runs on each finished tile, so only pass it with the last depth block; its bias is
// indexed like c.
// lda > 0: ap is not packed but row-major A read in place (row i at ap + i * lda).
void sweep(const GemmPrimitives& k, const float* ap, const float* bp, int64_t mcc, int64_t kc, int64_t jr0, int64_t jr1, int64_t nc,
           float* c, int64_t ldc, bool accumulate, int64_t col0 = 0, const GemmEpilogue* ep = nullptr, int64_t lda = 0) {
  const int mr = k.mr, nr = k.nr;
  const ActivationPrimitives* act = ep ? &activation_primitives(k.isa) : nullptr;
  for (int64_t jr = jr0; jr < jr1; ++jr) {
    const int64_t cols = std::min<int64_t>(nr, nc - jr * nr);
    // The next panel is fetched into cache while this one is computed: the first tiles each prefetch a
    // slice of it (one line per 4 steps of k, spread over their k loop). Constant weights come from
    // DRAM, and the hardware prefetcher alone left each panel's first tile waiting on them (BERT-base
    // at sequence 128, 1 thread: 3.5-4.5% faster end to end, measured run by run in one process).
    const float* next = jr + 1 < jr1 ? bp + (jr + 1) * kc * nr : nullptr;
    const int64_t slice = kc * 4;  // floats: 16 per 4 steps of k
    for (int64_t ir = 0, t = 0, rows = 0; ir < mcc; ir += rows, ++t) {
      rows = tile_rows(k, mcc - ir);
      const float* pf = next && (t + 1) * slice <= kc * nr ? next + t * slice : nullptr;
      float* tile = c + ir * ldc + (jr * nr - col0);
      if (lda > 0) k.microkernel_rows(kc, ap + ir * lda, lda, bp + jr * kc * nr, tile, ldc, accumulate, rows, cols, pf);
      else k.microkernel(kc, ap + (ir / mr) * kc * mr, bp + jr * kc * nr, tile, ldc, accumulate, rows, cols, pf);
      if (act) act->bias_act(tile, ldc, rows, ep->bias ? ep->bias + (jr * nr - col0) : nullptr, cols, ep->act);
    }
  }
}
}  // namespace

size_t PackedB::plan(int64_t nr, int64_t kc, int64_t kdim, int64_t n, std::vector<size_t>* offsets) {
  const int64_t depth_blocks = std::max<int64_t>(1, (kdim + kc - 1) / kc);
  size_t total = 0;
  for (int64_t jc = 0; jc < n; jc += kNC) {
    const int64_t panels_n = (std::min(kNC, n - jc) + nr - 1) / nr;
    for (int64_t pc = 0; pc < depth_blocks * kc; pc += kc) {
      if (offsets) offsets->push_back(total);
      total += static_cast<size_t>(panels_n * std::max<int64_t>(0, std::min(kc, kdim - pc)) * nr);
    }
  }
  return total;
}

int64_t PackedB::resolve_depth(const GemmPrimitives& k, int64_t depth_block) { return depth_block > 0 ? depth_block : k.kc; }

size_t PackedB::floats_needed(const GemmPrimitives& k, int64_t kdim, int64_t n, int64_t depth_block) {
  return plan(k.nr, resolve_depth(k, depth_block), kdim, n, nullptr);
}

PackedB::PackedB(const GemmPrimitives& k, int64_t kdim, int64_t n, MatrixView b) : PackedB(k, kdim, n, b, nullptr) {}

PackedB::PackedB(const GemmPrimitives& k, int64_t kdim, int64_t n, MatrixView b, float* storage, int64_t depth_block)
    : k_(kdim), n_(n), nr_(k.nr), kc_(resolve_depth(k, depth_block)) {
  depth_blocks_ = std::max<int64_t>(1, (kdim + kc_ - 1) / kc_);
  const size_t total = plan(nr_, kc_, kdim, n, &offsets_);
  if (storage) {
    data_ = std::unique_ptr<float, void (*)(void*)>(storage, [](void*) {});
  } else {
    data_.reset(static_cast<float*>(std::aligned_alloc(64, (std::max<size_t>(total, 1) * sizeof(float) + 63) / 64 * 64)));
    if (!data_) throw std::bad_alloc();
  }
  for (int64_t jc = 0, jb = 0; jc < n; jc += kNC, ++jb)
    for (int64_t pc = 0, pb = 0; pc < kdim; pc += kc_, ++pb)
      pack_b(k, {b.data + pc * b.row_stride + jc * b.col_stride, b.row_stride, b.col_stride}, std::min(kc_, kdim - pc),
             std::min(kNC, n - jc), data_.get() + offsets_[jb * depth_blocks_ + pb]);
}

void sgemm_rows_packed(const GemmPrimitives& k, const PackedB& b, MatrixView a, float* c, int64_t ldc, int64_t m0, int64_t m1,
                       int64_t n0, int64_t n1, const GemmEpilogue& ep, bool accumulate) {
  const int64_t kdim = b.k(), n = b.n(), depth = b.depth_block();
  n1 = std::min(n1, n);
  if (m0 >= m1 || n0 >= n1) return;
  if (kdim <= 0) {
    if (!accumulate) return empty_product(k, c + m0 * ldc + n0, ldc, m1 - m0, n1 - n0, ep.bias ? ep.bias + n0 : nullptr, ep.act);
    if (ep.active()) activation_primitives(k.isa).bias_act(c + m0 * ldc + n0, ldc, m1 - m0, ep.bias ? ep.bias + n0 : nullptr, n1 - n0, ep.act);
    return;
  }
  const int mr = k.mr, nr = k.nr;
  if (m1 - m0 <= 2 && a.col_stride == 1) {
    // One or two rows: stream the packed panels once per row (the weights are the whole cost).
    const ActivationPrimitives& act = activation_primitives(k.isa);
    for (int64_t i = m0; i < m1; ++i) {
      for (int64_t jc = n0 / kNC * kNC, jb = n0 / kNC; jc < n1; jc += kNC, ++jb) {
        const int64_t nc = std::min(kNC, n - jc);
        const int64_t jr0 = std::max<int64_t>(0, n0 - jc) / nr, jr1 = (std::min(n1, jc + nc) - jc + nr - 1) / nr;
        for (int64_t pc = 0, pb = 0; pc < kdim; pc += depth, ++pb) {
          const int64_t kc = std::min(depth, kdim - pc);
          k.row_times_panels(kc, a.data + i * a.row_stride + pc, b.block(jb, pb) + jr0 * kc * nr, jr1 - jr0, c + i * ldc + jc + jr0 * nr,
                             std::min(nc, n1 - jc) - jr0 * nr, accumulate || pc > 0);
        }
      }
      if (ep.active()) act.bias_act(c + i * ldc + n0, ldc, 1, ep.bias ? ep.bias + n0 : nullptr, n1 - n0, ep.act);
    }
    return;
  }
  thread_local Scratch a_buf;
  // One A block per task block: a 128-row product then streams each B block once. (Blocks of 66
  // rows measured 2-3% faster with B hot in L3, but 5-7% slower inside BERT, whose weights come
  // from DRAM: B was streamed twice.)
  const int64_t mc = sgemm_row_block(k);
  for (int64_t jc = n0 / kNC * kNC, jb = n0 / kNC; jc < n1; jc += kNC, ++jb) {
    const int64_t nc = std::min(kNC, n - jc);
    // Panels of this column block that fall in [n0, n1).
    const int64_t jr0 = std::max<int64_t>(0, n0 - jc) / nr, jr1 = (std::min(n1, jc + nc) - jc + nr - 1) / nr;
    for (int64_t pc = 0, pb = 0; pc < kdim; pc += depth, ++pb) {
      const int64_t kc = std::min(depth, kdim - pc);
      for (int64_t ic = m0; ic < m1; ic += mc) {
        const int64_t mcc = std::min(mc, m1 - ic);
        const bool last = pc + depth >= kdim;
        const GemmEpilogue jep{ep.bias ? ep.bias + jc : nullptr, ep.act};
        // Row-major A used against few columns: the microkernel reads it in place (same order, same
        // bits). Against many, packing it once pays for itself (where "few" ends is per ISA).
        if (a.col_stride == 1 && (jr1 - jr0) * nr <= k.in_place_a_max_cols) {
          sweep(k, a.data + ic * a.row_stride + pc, b.block(jb, pb), mcc, kc, jr0, jr1, std::min(nc, n1 - jc), c + ic * ldc + jc, ldc,
                accumulate || pc > 0, 0, last && ep.active() ? &jep : nullptr, a.row_stride);
          continue;
        }
        float* ap = a_buf.get(static_cast<size_t>((mcc + mr - 1) / mr * mr * kc));
        pack_a(k, {a.data + ic * a.row_stride + pc * a.col_stride, a.row_stride, a.col_stride}, mcc, kc, ap);
        sweep(k, ap, b.block(jb, pb), mcc, kc, jr0, jr1, std::min(nc, n1 - jc), c + ic * ldc + jc, ldc, accumulate || pc > 0, 0,
              last && ep.active() ? &jep : nullptr);
      }
    }
  }
}

void sgemm_rows_prepacked_a(const GemmPrimitives& k, const PackedB& b, const float* a_packed, int64_t m, float* c, int64_t ldc,
                            int64_t n0, int64_t n1, const GemmEpilogue& ep) {
  const int64_t kdim = b.k(), n = b.n(), depth = b.depth_block();
  n1 = std::min(n1, n);
  if (m <= 0 || n0 >= n1) return;
  if (kdim <= 0) return empty_product(k, c + n0, ldc, m, n1 - n0, ep.bias ? ep.bias + n0 : nullptr, ep.act);
  const int mr = k.mr, nr = k.nr;
  const int64_t a_stride = packed_a_floats(k, m, depth);
  const int64_t blocks = (m + sgemm_row_block(k) - 1) / sgemm_row_block(k);
  for (int64_t jc = n0 / kNC * kNC, jb = n0 / kNC; jc < n1; jc += kNC, ++jb) {
    const int64_t nc = std::min(kNC, n - jc);
    const int64_t jr0 = std::max<int64_t>(0, n0 - jc) / nr, jr1 = (std::min(n1, jc + nc) - jc + nr - 1) / nr;
    const GemmEpilogue jep{ep.bias ? ep.bias + jc : nullptr, ep.act};
    for (int64_t pc = 0, pb = 0; pc < kdim; pc += depth, ++pb) {
      const int64_t kc = std::min(depth, kdim - pc);
      const bool last = pc + depth >= kdim;
      for (int64_t rb = 0; rb < blocks; ++rb) {
        const auto [i0, i1] = sgemm_row_block_rows(k, m, blocks, rb);
        sweep(k, a_packed + pb * a_stride + (i0 / mr) * kc * mr, b.block(jb, pb), i1 - i0, kc, jr0, jr1, std::min(nc, n1 - jc),
              c + i0 * ldc + jc, ldc, pc > 0, 0, last && ep.active() ? &jep : nullptr);
      }
    }
  }
}

int64_t prepacked_a_floats(const GemmPrimitives& k, const PackedB& b, int64_t m) {
  return packed_a_floats(k, m, b.depth_block()) * b.depth_blocks();
}

int64_t prepacked_a_panels(const GemmPrimitives& k, const PackedB& b, int64_t m) { return (m + k.mr - 1) / k.mr * b.depth_blocks(); }

void prepack_a(const GemmPrimitives& k, const PackedB& b, const float* a, int64_t lda, int64_t m, int64_t t0, int64_t t1, float* out) {
  const int mr = k.mr;
  const int64_t depth = b.depth_block(), panels = (m + mr - 1) / mr, a_stride = packed_a_floats(k, m, depth);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t pb = t / panels, panel = t % panels, i0 = panel * mr, kc = std::min(depth, b.k() - pb * depth);
    k.pack_a_panel(a + i0 * lda + pb * depth, lda, std::min<int64_t>(mr, m - i0), kc, out + pb * a_stride + panel * kc * mr);
  }
}

int64_t packed_a_floats(const GemmPrimitives& k, int64_t m, int64_t kc) { return (m + k.mr - 1) / k.mr * k.mr * kc; }

void pack_a_block(const GemmPrimitives& k, MatrixView a, int64_t m, int64_t kc, float* out) { pack_a(k, a, m, kc, out); }

void sgemm_packed_a(const GemmPrimitives& k, const float* a_packed, int64_t m, const PackedB& b, int64_t pb, int64_t n0, int64_t n1,
                    float* c, int64_t ldc, bool accumulate) {
  n1 = std::min(n1, b.n());
  if (m <= 0 || n0 >= n1) return;
  const int nr = k.nr;
  const int64_t jc = n0 / kNC * kNC, jb = n0 / kNC, depth = b.depth_block();
  const int64_t kc = std::min(depth, b.k() - pb * depth), nc = std::min(kNC, b.n() - jc);
  const int64_t jr0 = (n0 - jc) / nr, jr1 = (n1 - jc + nr - 1) / nr;
  sweep(k, a_packed, b.block(jb, pb), m, kc, jr0, jr1, std::min(nc, n1 - jc), c, ldc, accumulate, n0 - jc);
}

int64_t packed_b_floats(const GemmPrimitives& k, int64_t kc, int64_t n) { return (n + k.nr - 1) / k.nr * k.nr * kc; }

void sgemm_packed_ab(const GemmPrimitives& k, const float* a_packed, int64_t m, const float* b_packed, int64_t kc, int64_t n, float* c,
                     int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0 || kc <= 0) return;
  sweep(k, a_packed, b_packed, m, kc, 0, (n + k.nr - 1) / k.nr, n, c, ldc, accumulate);
}

void sgemm_inplace_a(const GemmPrimitives& k, const float* a, int64_t lda, int64_t m, const PackedB& b, int64_t pb, int64_t n0,
                     int64_t n1, float* c, int64_t ldc, bool accumulate) {
  n1 = std::min(n1, b.n());
  if (m <= 0 || n0 >= n1) return;
  const int nr = k.nr;
  const int64_t jc = n0 / kNC * kNC, jb = n0 / kNC, depth = b.depth_block();
  const int64_t kc = std::min(depth, b.k() - pb * depth), nc = std::min(std::min(kNC, b.n() - jc), n1 - jc);
  const float* bp = b.block(jb, pb);
  for (int64_t jr = (n0 - jc) / nr, jr1 = (n1 - jc + nr - 1) / nr; jr < jr1; ++jr) {
    const int64_t cols = std::min<int64_t>(nr, nc - jr * nr);
    for (int64_t ir = 0, rows = 0; ir < m; ir += rows) {
      rows = tile_rows(k, m - ir);
      k.microkernel_rows(kc, a + ir * lda, lda, bp + jr * kc * nr, c + ir * ldc + (jc + jr * nr - n0), ldc, accumulate, rows, cols,
                         nullptr);
    }
  }
}

void sgemm_rows(const GemmPrimitives& k, int64_t n, int64_t kdim, MatrixView a, MatrixView b, float* c, int64_t ldc,
                int64_t m0, int64_t m1, const GemmEpilogue& ep) {
  if (m0 >= m1 || n <= 0) return;
  if (kdim <= 0) return empty_product(k, c + m0 * ldc, ldc, m1 - m0, n, ep.bias, ep.act);
  // One or two rows against a row-major B: packing would cost as much as the product.
  if (m1 - m0 <= 2 && a.col_stride == 1 && b.col_stride == 1) {
    const ActivationPrimitives& act = activation_primitives(k.isa);
    for (int64_t i = m0; i < m1; ++i) {
      k.row_times_matrix(a.data + i * a.row_stride, kdim, b.data, b.row_stride, c + i * ldc, n);
      if (ep.active()) act.bias_act(c + i * ldc, ldc, 1, ep.bias, n, ep.act);
    }
    return;
  }
  thread_local Scratch a_buf, b_buf;
  const int mr = k.mr, nr = k.nr;
  const int64_t mc = sgemm_row_block(k), depth = k.kc;
  for (int64_t jc = 0; jc < n; jc += kNC) {
    const int64_t nc = std::min(kNC, n - jc);
    const int64_t panels_n = (nc + nr - 1) / nr;
    for (int64_t pc = 0; pc < kdim; pc += depth) {
      const int64_t kc = std::min(depth, kdim - pc);
      float* bp = b_buf.get(static_cast<size_t>(panels_n * kc * nr));
      pack_b(k, {b.data + pc * b.row_stride + jc * b.col_stride, b.row_stride, b.col_stride}, kc, nc, bp);
      for (int64_t ic = m0; ic < m1; ic += mc) {
        const int64_t mcc = std::min(mc, m1 - ic);
        const bool last = pc + depth >= kdim;
        const GemmEpilogue jep{ep.bias ? ep.bias + jc : nullptr, ep.act};
        if (a.col_stride == 1 && nc <= k.in_place_a_max_cols) {  // see sgemm_rows_packed
          sweep(k, a.data + ic * a.row_stride + pc, bp, mcc, kc, 0, panels_n, nc, c + ic * ldc + jc, ldc, pc > 0, 0,
                last && ep.active() ? &jep : nullptr, a.row_stride);
          continue;
        }
        float* ap = a_buf.get(static_cast<size_t>((mcc + mr - 1) / mr * mr * kc));
        pack_a(k, {a.data + ic * a.row_stride + pc * a.col_stride, a.row_stride, a.col_stride}, mcc, kc, ap);
        sweep(k, ap, bp, mcc, kc, 0, panels_n, nc, c + ic * ldc + jc, ldc, pc > 0, 0, last && ep.active() ? &jep : nullptr);
      }
    }
  }
}

}  // namespace normrt::kernels
