// Matrix products: a packed, cache-blocked SGEMM with register-tile microkernels per ISA
// (gemm_simd.h instantiated in gemm_<isa>.cpp), in the layout of BLIS/GotoBLAS:
//   for each KC-deep slice of K: pack B[kc, N] into NR-wide panels (zero-padded);
//     for each MC-row block of the rows asked for: pack A[mc, kc] into MR-tall panels;
//       for each (MR x NR) tile: microkernel over kc, accumulating into C.
// Callers split rows across threads (sgemm_rows takes a row range); each call packs what it uses
// into thread-local buffers.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/activation.h"
#include "kernels/isa.h"

namespace normrt::kernels {

struct GemmPrimitives {
  Isa isa;
  int mr, nr;  // register tile
  // The most rows one microkernel call takes: mr, or more where the registers hold a taller tile
  // (AVX-512: 8 rows, 16 of its 32 registers). A block's last 1 or 2 rows then go with the tile
  // before them (their A rows in the next panel) instead of in an edge tile of their own, whose
  // few FMA chains wait on the FMA latency: 49 rows (wav2vec2-base's frames) are 7 tiles of 6 and
  // one of 7, not 8 tiles and a 1-row tile that costs two thirds of a full one. Same bits (each
  // value is the same chain of multiply-adds). Paired runs (Xeon, AVX-512): wav2vec2-base 1.03-1.05x
  // at 1 thread and 1.025x at 2, BERT-base s128 1.016x (a 128-row product ends in 2 rows).
  int mr_max;
  // Depth block (KC): how many steps of k one pass of the microkernel runs before C is written back.
  // Measured per ISA: on the Zen 5 this was tuned on, 768 beats the classic L1-sized 256 by 5-15%
  // (B panels stream from L2 well; C is reloaded 3x less often for K = 3072).
  int kc;
  // Products against at most this many columns read a row-major A in place (microkernel_rows)
  // instead of packing it. Measured per ISA: on Zen 5 (AVX-512) in place is faster up to N = 768
  // and packing pays from N = 3072; on Zen 3 (AVX2, 16 vector registers, 32 KiB L1) packing was
  // faster at every width (paired runs at 1 thread: BERT-base s128 1.04-1.05x, GPT-2 1.04x,
  // ViT-B/16 1.02x; BERT at 2 threads 1.07x).
  int64_t in_place_a_max_cols;
  // C[mr, nr] (leading dimension ldc) = (accumulate ? C : 0) + A_panel * B_panel over kc, where
  // A_panel is kc steps of mr values and B_panel kc steps of nr values. Only the top-left
  // rows x cols of the tile are written (edge tiles). rows may exceed mr up to mr_max: rows past
  // mr come from the next panel (a_panel + kc * mr), as packed. prefetch (may be null): kc * 4
  // floats the kernel prefetches as it goes, one line per 4 steps of k (the caller's next B panel).
  void (*microkernel)(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc, bool accumulate,
                      int64_t rows, int64_t cols, const float* prefetch);
  // The same with A read in place: `rows` rows of kc values, row i at a + i * lda (no packing, for
  // an A block used once and already in cache).
  void (*microkernel_rows)(int64_t kc, const float* a, int64_t lda, const float* b_panel, float* c, int64_t ldc, bool accumulate,
                           int64_t rows, int64_t cols, const float* prefetch);
  // c[n] = a[k] * B[k, n] for one row a, reading B in place (no packing): the M = 1 case, where
  // the product is bound by reading B once.
  void (*row_times_matrix)(const float* a, int64_t k, const float* b, int64_t ldb, float* c, int64_t n);
  // c[0, cols) (+)= a[kc] * n_panels packed B panels (kc x nr each, contiguous): one row against a
  // prepacked weight, streaming it in the order it is stored.
  void (*row_times_panels)(int64_t kc, const float* a, const float* panels, int64_t n_panels, float* c, int64_t cols,
                           bool accumulate);
  // One mr-row panel of a row-major A block (rows <= mr rows at a + i * lda, kc values each),
  // k-major and zero-padded, as the microkernel reads it.
  void (*pack_a_panel)(const float* a, int64_t lda, int64_t rows, int64_t kc, float* out);
  // One nr-wide panel of a transposed B (attention's keys, a MatMul against a Transpose): cols <=
  // nr source rows at b + j * ldb, kc values each, into out[p * nr + j], columns past cols zero.
  void (*pack_b_panel_transposed)(const float* b, int64_t ldb, int64_t cols, int64_t kc, float* out);
};

// The portable pack_b_panel_transposed for a tile width NR, from source row j0 on (earlier rows
// done by the caller): four source rows at a time, so each step of p stores four adjacent floats at
// once (attention's keys are packed this way on every run: one store per float had made it 9% of
// the attention time at sequence 197).
template <int NR>
inline void pack_b_panel_transposed_from(const float* b, int64_t ldb, int64_t cols, int64_t kc, float* out, int64_t j0) {
  int64_t j = j0;
  for (; j + 4 <= cols; j += 4) {
    const float* s0 = b + j * ldb;
    const float *s1 = s0 + ldb, *s2 = s1 + ldb, *s3 = s2 + ldb;
    for (int64_t p = 0; p < kc; ++p) {
      const float t[4] = {s0[p], s1[p], s2[p], s3[p]};
      std::memcpy(out + p * NR + j, t, sizeof t);
    }
  }
  for (; j < cols; ++j)
    for (int64_t p = 0; p < kc; ++p) out[p * NR + j] = b[j * ldb + p];
  for (int64_t p = 0; p < kc; ++p)
    for (int64_t jj = cols; jj < NR; ++jj) out[p * NR + jj] = 0.0f;
}

const GemmPrimitives& gemm_primitives(Isa isa);

// A matrix operand given by strides: element (i, j) is at data[i * row_stride + j * col_stride], so a
// transposed operand is the same memory with the strides swapped.
struct MatrixView {
  const float* data;
  int64_t row_stride, col_stride;
  static MatrixView row_major(const float* d, int64_t ld) { return {d, ld, 1}; }
  static MatrixView transposed(const float* d, int64_t ld) { return {d, 1, ld}; }
};

// What happens to C as each tile is finished, while it is in cache: C[i, j] = act(C[i, j] + bias[j]).
// bias (null for none) is indexed like C's columns: bias[j] for the C column c[j] points at.
struct GemmEpilogue {
  const float* bias = nullptr;
  Activation act = Activation::None;
  bool active() const { return bias || act != Activation::None; }
};

// Rows [m0, m1) of C[M, N] = A[M, K] * B[K, N]; C row-major with leading dimension ldc.
void sgemm_rows(const GemmPrimitives& k, int64_t n, int64_t kdim, MatrixView a, MatrixView b, float* c, int64_t ldc,
                int64_t m0, int64_t m1, const GemmEpilogue& ep = {});
// Row-major A and B (the MatMul case).
inline void sgemm_rows(const GemmPrimitives& k, int64_t n, int64_t kdim, const float* a, int64_t lda, const float* b,
                       int64_t ldb, float* c, int64_t ldc, int64_t m0, int64_t m1, const GemmEpilogue& ep = {}) {
  sgemm_rows(k, n, kdim, MatrixView::row_major(a, lda), MatrixView::row_major(b, ldb), c, ldc, m0, m1, ep);
}

// B packed once (constant weights): the panels sgemm_rows would pack on every call, for every
// (column block, depth block), in the order it visits them. Tied to the primitives' nr.
class PackedB {
 public:
  PackedB(const GemmPrimitives& k, int64_t kdim, int64_t n, MatrixView b);
  // Packed into caller-owned storage of floats_needed() floats, 64-byte aligned, which must outlive
  // this object (so a per-run workspace can be reused instead of allocated). depth_block 0 means the
  // primitives' kc; attention asks for its key block so a block of keys is one depth block.
  PackedB(const GemmPrimitives& k, int64_t kdim, int64_t n, MatrixView b, float* storage, int64_t depth_block = 0);
  static size_t floats_needed(const GemmPrimitives& k, int64_t kdim, int64_t n, int64_t depth_block = 0);
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  int nr() const { return nr_; }
  int64_t depth_block() const { return kc_; }
  int64_t depth_blocks() const { return depth_blocks_; }  // at least 1, also when k() is 0
  // Panels of column block jb and depth block pb.
  const float* block(int64_t jb, int64_t pb) const { return data_.get() + offsets_[jb * depth_blocks_ + pb]; }

 private:
  static int64_t resolve_depth(const GemmPrimitives& k, int64_t depth_block);  // 0: the primitives' kc
  static size_t plan(int64_t nr, int64_t kc, int64_t kdim, int64_t n, std::vector<size_t>* offsets);
  int64_t k_, n_;
  int nr_;
  int64_t kc_;
  int64_t depth_blocks_;
  std::vector<size_t> offsets_;
  std::unique_ptr<float, void (*)(void*)> data_{nullptr, std::free};
};

// Rows [m0, m1), columns [n0, n1) of C = A * B with B prepacked; n0 must be a multiple of nr.
// c points at C's first column. accumulate: C += A * B instead (the epilogue still runs last).
void sgemm_rows_packed(const GemmPrimitives& k, const PackedB& b, MatrixView a, float* c, int64_t ldc, int64_t m0, int64_t m1,
                       int64_t n0, int64_t n1, const GemmEpilogue& ep = {}, bool accumulate = false);

// All of a row-major A [m, b.k()] packed once, for threads that share it across column ranges of
// one product (each would otherwise pack all of it): prepacked_a_floats floats (64-byte aligned),
// filled by prepack_a over the panels [0, prepacked_a_panels) in any split (one panel is mr rows
// of one depth block of b), then read by sgemm_rows_prepacked_a.
int64_t prepacked_a_floats(const GemmPrimitives& k, const PackedB& b, int64_t m);
int64_t prepacked_a_panels(const GemmPrimitives& k, const PackedB& b, int64_t m);
void prepack_a(const GemmPrimitives& k, const PackedB& b, const float* a, int64_t lda, int64_t m, int64_t t0, int64_t t1, float* out);
// The product sgemm_rows_packed computes, rows [0, m) and columns [n0, n1) (n0 a multiple of nr),
// from the prepacked A. Same bits as sgemm_rows_packed.
void sgemm_rows_prepacked_a(const GemmPrimitives& k, const PackedB& b, const float* a_packed, int64_t m, float* c, int64_t ldc,
                            int64_t n0, int64_t n1, const GemmEpilogue& ep = {});

// Rows per task that keep the A block and the C tiles in cache (a multiple of the tile height).
int64_t sgemm_row_block(const GemmPrimitives& k);
// Rows [m0, m1) of block rb when m rows are cut into `blocks` blocks of whole tiles, spread as
// evenly as they go (799 rows in 7 blocks: 114-115 rows each, not 6 of 132 and one of 7).
std::pair<int64_t, int64_t> sgemm_row_block_rows(const GemmPrimitives& k, int64_t m, int64_t blocks, int64_t rb);

// B's column blocks are kGemmNC wide (its depth blocks: GemmPrimitives::kc or PackedB::depth_block).
constexpr int64_t kGemmNC = 3072;
// GemmPrimitives::in_place_a_max_cols where an ISA was not measured otherwise.
constexpr int64_t kGemmInPlaceMaxColumns = 1024;

// The pieces of sgemm for callers that reuse a packed A across several products (attention packs
// a query block once and multiplies it with every key block).
// Floats pack_a_block writes for an m x kc block.
int64_t packed_a_floats(const GemmPrimitives& k, int64_t m, int64_t kc);
// Rows [0, m) and depth [0, kc) of a into panels of mr rows (zero-padded), as the microkernel reads them.
void pack_a_block(const GemmPrimitives& k, MatrixView a, int64_t m, int64_t kc, float* out);
// C[0:m, n0:n1) = (accumulate ? C : 0) + A * B restricted to depth block pb of B (b.depth_block()
// deep), with A packed by pack_a_block over that block's depth. c points at C's column n0; n0 is a multiple of nr and
// [n0, n1) lies in one column block of B.
void sgemm_packed_a(const GemmPrimitives& k, const float* a_packed, int64_t m, const PackedB& b, int64_t pb, int64_t n0, int64_t n1,
                    float* c, int64_t ldc, bool accumulate);
// For callers that also pack B themselves (a convolution writes its input patches straight into
// panels): one depth block of B, kc deep and n wide, as panels of nr columns, the last one
// zero-padded; column j of depth row p is at b_packed[(j / nr) * kc * nr + p * nr + j % nr], and
// b_packed is 64-byte aligned (the microkernel loads B panels aligned).
int64_t packed_b_floats(const GemmPrimitives& k, int64_t kc, int64_t n);
// C[0:m, 0:n) = (accumulate ? C : 0) + A * B, A packed by pack_a_block (m rows, kc deep), B as above.
void sgemm_packed_ab(const GemmPrimitives& k, const float* a_packed, int64_t m, const float* b_packed, int64_t kc, int64_t n, float* c,
                     int64_t ldc, bool accumulate);
// The same with A read in place from row-major memory (row i at a + i * lda, that depth block's
// kc values), for an A used once (attention's probabilities).
void sgemm_inplace_a(const GemmPrimitives& k, const float* a, int64_t lda, int64_t m, const PackedB& b, int64_t pb, int64_t n0,
                     int64_t n1, float* c, int64_t ldc, bool accumulate);

}  // namespace normrt::kernels
