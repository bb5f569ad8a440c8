// MatMul (numpy semantics), MatMulInteger, Gemm, and Softmax / LogSoftmax.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/softmax.h"
#include "onnx/op_registry.h"
#include "runtime/passes.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

// How many blocks of rows each product is cut into: as few as the kernel's cache block allows
// (sgemm_row_block rows at most), and, when rows are what the threads share among few products, a
// number that gives every thread as many blocks (128 rows on 2 threads: 2 blocks). The blocks are
// then evened out in whole tiles (kernels::sgemm_row_block_rows): 799 rows go as 7 blocks of 114-115 rows, not 6
// of 132 and one of 7 that streams the whole B for a single tile (wav2vec2-base at 1 thread 1.02-1.08x
// in paired runs; on 2 threads 8 blocks, 4 per thread, not 4 and 3: 1.04x; ViT-B/16 1.01-1.02x).
int64_t row_block_count(const kernels::GemmPrimitives& gk, int64_t m, int64_t batches, int threads, bool by_columns) {
  const int64_t mb = kernels::sgemm_row_block(gk), tiles = (m + gk.mr - 1) / gk.mr;
  int64_t blocks = (m + mb - 1) / mb;
  if (!by_columns && threads > 1 && batches > 0 && batches < 2 * threads) {  // batches 0: an empty product
    const int64_t total = (blocks * batches + threads - 1) / threads * threads;
    blocks = std::min((total + batches - 1) / batches, tiles);
  }
  return std::max<int64_t>(blocks, 1);
}

// Products below kParallelMacs multiply-adds stay on one thread.
bool is_small_product(int64_t batches, int64_t m, int64_t n, int64_t k) { return batches * m * n * k < kParallelMacs; }

// Whether for_each_gemm_task splits the product by columns, one column block per thread.
bool splits_by_columns(int threads, const kernels::GemmPrimitives& gk, int64_t batches, int64_t m, int64_t n, int64_t k) {
  return batches == 1 && threads > 1 && !is_small_product(batches, m, n, k) && n > m && m > 2 && n >= threads * 4 * gk.nr;
}

// The width of each thread's column block when a product is split by columns (whole tiles).
int64_t column_step(const kernels::GemmPrimitives& gk, int64_t n, int64_t col_blocks) {
  return ((n + col_blocks - 1) / col_blocks + gk.nr - 1) / gk.nr * gk.nr;
}

// Spreads `batches` products C[m, n] = A * B over threads in tasks of (batch, block of rows, block
// of columns) and calls task(batch, m0, m1, n0, n1) for each; n0 is a multiple of the tile width.
// A thread given a block of rows reads all of B; one given a block of columns reads all of A. So a
// single product wider than it is tall (a weight against a short sequence: [128, 768] x [768, 3072])
// is split by columns, one column block per thread, each reading its share of the weight once;
// otherwise rows are split, and columns too when row blocks alone cannot keep the threads busy
// (M = 1 decoding, say). Small products stay on one thread, where splitting costs more than it saves.
template <class Task>
void for_each_gemm_task(const ComputeContext& ctx, const kernels::GemmPrimitives& gk, int64_t batches, int64_t m, int64_t n,
                        int64_t k, const Task& task) {
  const int threads = ctx.parallel.threads();
  const bool small = is_small_product(batches, m, n, k);
  const bool by_columns = splits_by_columns(threads, gk, batches, m, n, k);
  const int64_t row_blocks = row_block_count(gk, m, batches, threads, by_columns);
  int64_t col_blocks = 1;
  if (by_columns)
    col_blocks = threads;
  else if (batches * row_blocks < threads && n >= 4 * gk.nr)
    col_blocks = std::min<int64_t>((threads + batches * row_blocks - 1) / (batches * row_blocks), n / (2 * gk.nr));
  const int64_t col_step = column_step(gk, n, col_blocks);
  const int64_t per_batch = row_blocks * col_blocks, tasks = batches * per_batch;
  ctx.parallel.for_range(tasks, small ? tasks : 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      // Split by columns, tasks go column-major, so the halves the scheduler hands out are column blocks.
      const int64_t bi = t / per_batch, r = t % per_batch;
      const int64_t rb = by_columns ? r % row_blocks : r / col_blocks, cb = by_columns ? r / row_blocks : r % col_blocks;
      const int64_t n0 = std::min(n, cb * col_step), n1 = std::min(n, n0 + col_step);
      const auto [m0, m1] = kernels::sgemm_row_block_rows(gk, m, row_blocks, rb);
      if (n0 < n1 && m0 < m1) task(bi, m0, m1, n0, n1);
    }
  });
}

// numpy matmul's output shape for A and B (1-D operands promoted, batch dims broadcast); `a` and
// `b` are the shapes as the node has them, for the error message.
SymShape matmul_shape(SymShape sa, SymShape sb, const SymShape& a, const SymShape& b, const InferContext& ctx) {
  if (sa.empty() || sb.empty()) ctx.error(ctx.node().op_type + " inputs must have rank >= 1");
  const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
  if (a_vec) sa.insert(sa.begin(), Dim::of(1));
  if (b_vec) sb.push_back(Dim::of(1));
  const Dim ka = sa.back(), kb = sb[sb.size() - 2];
  if (ka.known() && kb.known() && ka.value != kb.value) ctx.error("inner dimensions differ: " + sym_shape_to_string(a) + " x " + sym_shape_to_string(b));
  SymShape batch = broadcast_sym(SymShape(sa.begin(), sa.end() - 2), SymShape(sb.begin(), sb.end() - 2), ctx);
  if (!a_vec) batch.push_back(sa[sa.size() - 2]);
  if (!b_vec) batch.push_back(sb.back());
  return batch;
}

// The products of a numpy matmul of concrete shapes: M, K, N, how many products the broadcast
// batch holds, and for each the offset (in whole matrices) of its A and B.
struct MatMulBatches {
  int64_t m = 0, k = 0, n = 0, count = 0;
  std::vector<int64_t> a_offset, b_offset;
  MatMulBatches(Shape sa, Shape sb) {
    if (sa.size() == 1) sa.insert(sa.begin(), 1);
    if (sb.size() == 1) sb.push_back(1);
    m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
    const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
    Shape batch;
    kernels::broadcast_shapes(ba, bb, batch);
    count = checked_numel(batch, "MatMul batch");
    a_offset = offsets(batch, ba), b_offset = offsets(batch, bb);
  }
  // Offset of each batch index into an operand with batch dims s; broadcast dims step 0.
  std::vector<int64_t> offsets(const Shape& batch, const Shape& s) const {
    Shape p(batch.size() - s.size(), 1);
    p.insert(p.end(), s.begin(), s.end());
    std::vector<int64_t> stride(batch.size()), off(count);
    int64_t acc = 1;
    for (size_t d = batch.size(); d-- > 0;) {
      stride[d] = p[d] == 1 ? 0 : acc;
      acc *= p[d];
    }
    for (int64_t i = 0; i < count; ++i) {
      int64_t rem = i, o = 0;
      for (size_t d = batch.size(); d-- > 0;) {
        o += (rem % batch[d]) * stride[d];
        rem /= batch[d];
      }
      off[i] = o;
    }
    return off;
  }
};

// MatMul; as the internal FusedMatMul (from the matmul_bias pass), also a bias row (input 2) and
// an activation applied in the GEMM's epilogue.
class MatMul final : public OpKernel {
 public:
  MatMul() = default;
  // transpose_b: input 1 holds Bᵀ [N, K] (a weight the matmul_bias pass took from before its
  // Transpose); it is read transposed while packing, never materialized.
  MatMul(kernels::Activation act, bool transpose_b) : fused_(true), act_(act), transpose_b_(transpose_b) {}
  // A constant 2-D B (a weight) is packed here once, for the session's ISA.
  void prepare(const std::vector<const Tensor*>& constants, const std::vector<std::optional<SymShape>>&, kernels::Isa isa) override {
    const Tensor* b = constants.size() > 1 ? constants[1] : nullptr;
    if (!b || b->dtype() != DType::Float32 || b->rank() != 2) return;
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(isa);
    const int64_t rows = b->shape()[0], cols = b->shape()[1];
    packed_ = transpose_b_ ? std::make_shared<const kernels::PackedB>(gk, cols, rows, kernels::MatrixView::transposed(b->data<float>(), cols))
                           : std::make_shared<const kernels::PackedB>(gk, rows, cols, kernels::MatrixView::row_major(b->data<float>(), cols));
  }
  // A packed B is all compute reads of it (a 2-D constant always takes the packed path).
  bool consumes_constant_input(size_t i) const override { return i == 1 && packed_ != nullptr; }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32});
    const ValueType &a = ctx.input(0), &b = ctx.input(1);
    if (b.dtype != a.dtype) ctx.error("inputs have different element types");
    ctx.output(0).dtype = a.dtype;
    if (!a.shape || !b.shape) return;
    SymShape sa = *a.shape, sb = *b.shape;
    if (transpose_b_) {
      if (sb.size() != 2 || !b.value) ctx.error("a transposed B must be a constant 2-D weight");
      std::swap(sb[0], sb[1]);
    }
    ctx.output(0).shape = matmul_shape(sa, sb, *a.shape, *b.shape, ctx);
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    Tensor& c = *ctx.outputs[0];
    Shape sa = a.shape(), sb = b.shape();
    if (transpose_b_) {
      if (!packed_) ctx.error("internal: a transposed B was not packed");
      std::swap(sb[0], sb[1]);
    }
    const MatMulBatches mb(sa, sb);
    const int64_t m = mb.m, k = mb.k, n = mb.n, nbatch = mb.count;
    const std::vector<int64_t> &a_off = mb.a_offset, &b_off = mb.b_offset;
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* pc = c.data<float>();
    const Tensor* bias_t = fused_ && ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    const float* bias = bias_t ? bias_t->data<float>() : nullptr;
    if (bias_t && bias_t->numel() != n) ctx.error("the bias must hold one value per output column (" + std::to_string(n) + ")");
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(ctx.isa);
    if (packed_ && b.rank() == 2) {
      // B is shared by every batch, so A's batch dims fold into M.
      const kernels::MatrixView av = kernels::MatrixView::row_major(pa, k);
      const int64_t rows = m * nbatch;
      const int threads = ctx.parallel.threads();
      if (k > 0 && splits_by_columns(threads, gk, 1, rows, n, k) && column_step(gk, n, threads) > gk.in_place_a_max_cols) {
        compute_shared_a(ctx, gk, pa, rows, k, n, pc, bias);
        return;
      }
      for_each_gemm_task(ctx, gk, 1, rows, n, k, [&](int64_t, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
        kernels::sgemm_rows_packed(gk, *packed_, av, pc, n, m0, m1, n0, n1, kernels::GemmEpilogue{bias, act_});
      });
      return;
    }
    for_each_gemm_task(ctx, gk, nbatch, m, n, k, [&](int64_t bi, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
      kernels::sgemm_rows(gk, n1 - n0, k, kernels::MatrixView::row_major(pa + a_off[bi] * m * k, k),
                          kernels::MatrixView::row_major(pb + b_off[bi] * k * n + n0, n), pc + bi * m * n + n0, n, m0, m1,
                          kernels::GemmEpilogue{bias ? bias + n0 : nullptr, act_});
    });
  }

 private:
  // A split by columns: every thread would read all of A, and pack all of it (the microkernel reads A
  // packed on AVX2 at every width; packing was 2.4% of BERT-base's time at 1 thread). Instead the
  // threads pack it once between them, then each computes its column block from the shared panels.
  // Paired runs at 2 threads on Zen 3: BERT-base s128 1.029x, GPT-2 s128 1.022x, ViT-B/16 1.014x
  // (p10-p90 about 0.90-1.20: the second core is the noisiest). Same bits as sgemm_rows_packed.
  void compute_shared_a(ComputeContext& ctx, const kernels::GemmPrimitives& gk, const float* pa, int64_t rows, int64_t k, int64_t n,
                        float* pc, const float* bias) const {
    const int threads = ctx.parallel.threads();
    const std::shared_ptr<void> a_buf =
        allocate_aligned(checked_bytes(DType::Float32, kernels::prepacked_a_floats(gk, *packed_, rows), "MatMul packed A"));
    float* ap = static_cast<float*>(a_buf.get());
    ctx.parallel.for_range(kernels::prepacked_a_panels(gk, *packed_, rows), 1,
                           [&](int64_t t0, int64_t t1) { kernels::prepack_a(gk, *packed_, pa, k, rows, t0, t1, ap); });
    const int64_t col_step = column_step(gk, n, threads);
    ctx.parallel.for_range(threads, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t cb = c0; cb < c1; ++cb) {
        const int64_t n0 = std::min(n, cb * col_step), n1 = std::min(n, n0 + col_step);
        if (n0 < n1) kernels::sgemm_rows_prepacked_a(gk, *packed_, ap, rows, pc, n, n0, n1, kernels::GemmEpilogue{bias, act_});
      }
    });
  }

  std::shared_ptr<const kernels::PackedB> packed_;  // set by prepare() when B is a constant matrix
  bool fused_ = false;
  kernels::Activation act_ = kernels::Activation::None;
  bool transpose_b_ = false;
};

// MatMulInteger (10): int32 C = (A - a_zero_point) x (B - b_zero_point) for int8/uint8 A and B,
// with MatMul's broadcasting. a_zero_point is a scalar or one value per row of A (shape [M] for a
// 2-D A, [..., M, 1] otherwise); b_zero_point a scalar or one per column of B ([N], [..., 1, N]).
//
// The products run on the float GEMM, and exactly: |a - zp| and |b - zp| are at most 255, so a
// product is at most 65025 in magnitude and a sum of kExactDepth = 256 of them stays within 2^24,
// up to which float32 holds every integer. So each depth slice of 256 is one float product whose
// every partial sum is exact, in whatever order the microkernel adds; the slices' results are
// added as int32, wrapping past 2^31 as ONNX Runtime's sums do (as unsigned, where wrapping is
// defined). Usually the factors are smaller (a weight quantized to [-127, 127], an activation's
// zero point near 128), and then several slices are summed in float before the int32 addition,
// as many as keep |A| * |B| * depth within 2^24. B, less its zero points, is widened to float and
// packed per slice, once at session creation when it is a constant.
class MatMulInteger final : public OpKernel {
 public:
  static constexpr int64_t kExactDepth = 256;

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Int8, DType::UInt8});
    ctx.expect_type(1, {DType::Int8, DType::UInt8});
    for (size_t z : {2, 3})
      if (ctx.has_input(z) && ctx.input(z).dtype != ctx.input(z - 2).dtype)
        ctx.error(std::string(z == 2 ? "a" : "b") + "_zero_point has element type " + dtype_name(ctx.input(z).dtype) + " but " + (z == 2 ? "A" : "B") +
                  " has " + dtype_name(ctx.input(z - 2).dtype));
    ctx.output(0).dtype = DType::Int32;
    const ValueType &a = ctx.input(0), &b = ctx.input(1);
    if (!a.shape || !b.shape) return;
    ctx.output(0).shape = matmul_shape(*a.shape, *b.shape, *a.shape, *b.shape, ctx);
  }

  // A constant B (a weight) with a constant or absent b_zero_point is widened and packed here once,
  // not at every run.
  void prepare(const std::vector<const Tensor*>& constants, const std::vector<std::optional<SymShape>>&, kernels::Isa isa) override {
    const Tensor* b = constants.size() > 1 ? constants[1] : nullptr;
    const Tensor* bzp = constants.size() > 3 ? constants[3] : nullptr;
    if (!b || (constants.size() > 3 && !bzp) || b->rank() == 0) return;
    if (bzp && bzp->numel() != 1 && bzp->numel() != matrices(b->shape()) * columns(b->shape())) return;  // compute() reports it
    packed_b_ = std::make_shared<const WideB>(kernels::gemm_primitives(isa), *b, bzp);
  }
  bool consumes_constant_input(size_t i) const override { return i == 1 && packed_b_ != nullptr; }

  // Matrices an operand holds: the product of its batch dims (not numel / (m k), which K = 0
  // leaves undefined); columns of B (1 for a 1-D B).
  static int64_t matrices(const Shape& s) {
    int64_t p = 1;
    for (size_t d = 0; d + 2 < s.size(); ++d) p *= s[d];
    return p;
  }
  static int64_t columns(const Shape& b) { return b.size() == 1 ? 1 : b.back(); }

  // Element `at` of an int8 or uint8 tensor.
  static int32_t element(const Tensor& t, int64_t at) { return t.dtype() == DType::Int8 ? t.data<int8_t>()[at] : t.data<uint8_t>()[at]; }
  // The zero point of row (or column) i of matrix `mat`: per tensor, or one per row of each matrix.
  static int32_t zero_point(const Tensor* zp, int64_t mat, int64_t per_mat, int64_t i) {
    return zp ? element(*zp, zp->numel() == 1 ? 0 : mat * per_mat + i) : 0;
  }

  // B less its zero points as float, packed for the GEMM per (matrix of B, depth slice of
  // kExactDepth): slice s of matrix mat is slices[mat * slice_count + s].
  struct WideB {
    int64_t slice_count;
    int64_t max_abs = 0;  // the largest |b - zp|
    std::vector<kernels::PackedB> slices;
    WideB(const kernels::GemmPrimitives& gk, const Tensor& b, const Tensor* bzp) {
      const int64_t n = columns(b.shape()), k = b.rank() == 1 ? b.numel() : b.shape()[b.rank() - 2], mats = matrices(b.shape());
      slice_count = (k + kExactDepth - 1) / kExactDepth;
      std::vector<float> wide(static_cast<size_t>(b.numel()));
      for (int64_t mat = 0; mat < mats; ++mat)
        for (int64_t kk = 0; kk < k; ++kk)
          for (int64_t j = 0; j < n; ++j) {
            const int64_t at = (mat * k + kk) * n + j;
            const int32_t v = element(b, at) - zero_point(bzp, mat, n, j);
            wide[at] = static_cast<float>(v);
            max_abs = std::max<int64_t>(max_abs, std::abs(v));
          }
      slices.reserve(static_cast<size_t>(mats * slice_count));
      for (int64_t mat = 0; mat < mats; ++mat)
        for (int64_t s = 0; s < slice_count; ++s) {
          const int64_t depth = std::min(kExactDepth, k - s * kExactDepth);
          slices.emplace_back(gk, depth, n, kernels::MatrixView::row_major(wide.data() + (mat * k + s * kExactDepth) * n, n));
        }
    }
  };

  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    const Tensor* azp = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    const Tensor* bzp = ctx.inputs.size() > 3 ? ctx.inputs[3] : nullptr;
    Tensor& c = *ctx.outputs[0];
    const MatMulBatches mb(a.shape(), b.shape());
    const int64_t m = mb.m, k = mb.k, n = mb.n;
    const int64_t a_mats = matrices(a.shape()), b_mats = matrices(b.shape());
    if (azp && azp->numel() != 1 && azp->numel() != a_mats * m)
      ctx.error("a_zero_point must hold 1 value or one per row of A (" + std::to_string(a_mats * m) + "), it holds " + std::to_string(azp->numel()));
    if (bzp && bzp->numel() != 1 && bzp->numel() != b_mats * n)
      ctx.error("b_zero_point must hold 1 value or one per column of B (" + std::to_string(b_mats * n) + "), it holds " +
                std::to_string(bzp->numel()));
    int32_t* out = c.data<int32_t>();
    if (c.numel() == 0) return;
    if (k == 0) {
      std::fill(out, out + c.numel(), 0);
      return;
    }
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(ctx.isa);
    const std::shared_ptr<const WideB> wb = packed_b_ ? packed_b_ : std::make_shared<const WideB>(gk, b, bzp);
    // A less its zero points, as float.
    std::vector<float> wide_a(static_cast<size_t>(a.numel()));
    ctx.parallel.for_range(a_mats * m, rows_grain(k), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int32_t zp = zero_point(azp, r / m, m, r % m);
        for (int64_t kk = 0; kk < k; ++kk) wide_a[r * k + kk] = static_cast<float>(element(a, r * k + kk) - zp);
      }
    });
    // The largest |a - zp| A's type and zero points allow, and how many slices one float sum holds.
    int64_t max_abs_a = 0;
    const int32_t type_lo = a.dtype() == DType::Int8 ? -128 : 0, type_hi = a.dtype() == DType::Int8 ? 127 : 255;
    for (int64_t z = 0; z < (azp ? azp->numel() : 1); ++z) {
      const int32_t zp = azp ? element(*azp, z) : 0;
      max_abs_a = std::max<int64_t>(max_abs_a, std::max(type_hi - zp, zp - type_lo));
    }
    const int64_t bound = max_abs_a * wb->max_abs * kExactDepth;
    const int64_t group = bound == 0 ? wb->slice_count : std::max<int64_t>(1, (int64_t(1) << 24) / bound);
    for_each_gemm_task(ctx, gk, mb.count, m, n, k, [&](int64_t bi, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
      // One slice's float product for a chunk of rows, whole rows of N (sgemm_rows_packed writes
      // columns [n0, n1) of a C that starts at column 0), at most about 1 MiB.
      thread_local std::vector<float> slice_c;
      const int64_t chunk = std::max<int64_t>(gk.mr, std::min(m1 - m0, (int64_t(1) << 18) / n / gk.mr * gk.mr));
      slice_c.resize(static_cast<size_t>(std::min(chunk, m1 - m0) * n));
      const float* am = wide_a.data() + mb.a_offset[bi] * m * k;
      for (int64_t i0 = m0; i0 < m1; i0 += chunk) {
        const int64_t i1 = std::min(m1, i0 + chunk);
        for (int64_t s0 = 0; s0 < wb->slice_count; s0 += group) {
          for (int64_t s = s0; s < std::min(wb->slice_count, s0 + group); ++s) {
            const kernels::PackedB& slice = wb->slices[static_cast<size_t>(mb.b_offset[bi] * wb->slice_count + s)];
            kernels::sgemm_rows_packed(gk, slice, kernels::MatrixView::row_major(am + i0 * k + s * kExactDepth, k), slice_c.data(), n, 0,
                                       i1 - i0, n0, n1, {}, s > s0);
          }
          for (int64_t i = i0; i < i1; ++i) {
            // Exact integers below 2^24 in magnitude: the conversion is exact.
            const float* sc = slice_c.data() + (i - i0) * n;
            uint32_t* crow = reinterpret_cast<uint32_t*>(out + (bi * m + i) * n);
            for (int64_t j = n0; j < n1; ++j) {
              const uint32_t v = static_cast<uint32_t>(static_cast<int32_t>(sc[j]));
              crow[j] = s0 == 0 ? v : crow[j] + v;
            }
          }
        }
      }
    });
  }

 private:
  std::shared_ptr<const WideB> packed_b_;  // set by prepare() for a constant B
};

// Gemm: Y = alpha * A' * B' + beta * C, A' = transA ? A^T : A (2-D), C broadcast to [M, N].
// Transposes are strided views into the packing, never copies.
class Gemm final : public OpKernel {
 public:
  Gemm(float alpha, float beta, bool ta, bool tb) : alpha_(alpha), beta_(beta), ta_(ta), tb_(tb) {}

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32});
    const ValueType &a = ctx.input(0), &b = ctx.input(1);
    if (b.dtype != a.dtype || (ctx.has_input(2) && ctx.input(2).dtype != a.dtype)) ctx.error("inputs have different element types");
    ctx.output(0).dtype = a.dtype;
    if (!a.shape || !b.shape) return;
    if (a.shape->size() != 2 || b.shape->size() != 2)
      ctx.error("A and B must be 2-D, got " + sym_shape_to_string(*a.shape) + " and " + sym_shape_to_string(*b.shape));
    const Dim m = (*a.shape)[ta_ ? 1 : 0], ka = (*a.shape)[ta_ ? 0 : 1];
    const Dim kb = (*b.shape)[tb_ ? 1 : 0], n = (*b.shape)[tb_ ? 0 : 1];
    if (ka.known() && kb.known() && ka.value != kb.value)
      ctx.error("inner dimensions differ: A' is [" + sym_shape_to_string({m, ka}) + "], B' is [" + sym_shape_to_string({kb, n}) + "]");
    const SymShape out{m, n};
    if (ctx.has_input(2) && ctx.input(2).shape) {
      const SymShape& cs = *ctx.input(2).shape;
      if (cs.size() > 2) ctx.error("C must have rank <= 2, got " + sym_shape_to_string(cs));
      const SymShape bc = broadcast_sym(out, cs, ctx);
      for (size_t d = 0; d < 2; ++d)
        if (bc[d].known() && out[d].known() && bc[d].value != out[d].value) ctx.error("C " + sym_shape_to_string(cs) + " does not broadcast to [M, N]");
    }
    ctx.output(0).shape = out;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    const Tensor* c = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    Tensor& y = *ctx.outputs[0];
    const int64_t m = y.shape()[0], n = y.shape()[1], k = a.shape()[ta_ ? 0 : 1];
    const kernels::MatrixView av = ta_ ? kernels::MatrixView::transposed(a.data<float>(), m) : kernels::MatrixView::row_major(a.data<float>(), k);
    const kernels::MatrixView bv = tb_ ? kernels::MatrixView::transposed(b.data<float>(), k) : kernels::MatrixView::row_major(b.data<float>(), n);
    float* py = y.data<float>();
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(ctx.isa);
    const bool add_c = c && beta_ != 0.0f && c->numel() > 0;
    // The common Linear layer (C a bias row, alpha = beta = 1): the bias is added as each tile is
    // stored, in the GEMM's epilogue, instead of in a second pass over Y.
    const bool bias_row =
        add_c && alpha_ == 1.0f && beta_ == 1.0f && c->numel() == n && (c->rank() == 1 || (c->rank() == 2 && c->shape()[0] == 1));
    for_each_gemm_task(ctx, gk, 1, m, n, k, [&](int64_t, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
      const kernels::GemmEpilogue ep{bias_row ? c->data<float>() + n0 : nullptr};
      kernels::sgemm_rows(gk, n1 - n0, k, av, {bv.data + n0 * bv.col_stride, bv.row_stride, bv.col_stride}, py + n0, n, m0, m1, ep);
    });
    if (bias_row || (alpha_ == 1.0f && !add_c)) return;
    // Epilogue: alpha scaling and beta * C, C indexed with stride 0 on its broadcast dims.
    Shape cs = add_c ? c->shape() : Shape{};
    while (cs.size() < 2) cs.insert(cs.begin(), 1);
    const int64_t c_row = cs[0] == 1 ? 0 : cs[1], c_col = cs[1] == 1 ? 0 : 1;
    const float* pc = add_c ? c->data<float>() : nullptr;
    ctx.parallel.for_range(m, rows_grain(n), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = 0; j < n; ++j) {
          float v = alpha_ * py[i * n + j];
          if (add_c) v += beta_ * pc[i * c_row + j * c_col];
          py[i * n + j] = v;
        }
    });
  }

 private:
  float alpha_, beta_;
  bool ta_, tb_;
};

// Softmax/LogSoftmax. Opset 13 normalizes along one axis (default -1); opsets 1-12 flatten the
// input to 2-D at `axis` (default 1) and normalize each row of the flattened matrix.
class Softmax final : public OpKernel {
 public:
  Softmax(int64_t axis, bool flatten, bool log) : axis_(axis), flatten_(flatten), log_(log) {}

  // Both kernels read a row (or strided lane) whole for its max and sum before writing any of it,
  // and never read it after: the scores of unfused attention need no second buffer.
  std::vector<int> in_place_inputs() const override { return {0}; }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32});
    const ValueType& x = ctx.input(0);
    if (x.shape) normalize_axis(axis_, std::max<int64_t>(1, x.shape->size()), ctx);
    ctx.output(0).dtype = x.dtype;
    ctx.output(0).shape = x.shape;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const int64_t rank = static_cast<int64_t>(x.rank());
    if (x.numel() == 0) return;
    const int64_t axis = rank == 0 ? 0 : (axis_ < 0 ? axis_ + rank : axis_);
    int64_t outer = 1, len = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) {
      const int64_t d = x.shape()[i];
      if (i < axis)
        outer *= d;
      else if (i == axis || flatten_)
        len *= d;
      else
        inner *= d;
    }
    if (inner == 1) {  // contiguous rows: the per-ISA online kernel
      const kernels::SoftmaxPrimitives& k = kernels::softmax_primitives(ctx.isa);
      ctx.parallel.for_range(outer, rows_grain(len), [&](int64_t r0, int64_t r1) {
        k.rows(x.data<float>(), ctx.outputs[0]->data<float>(), len, log_, r0, r1);
      });
      return;
    }
    ctx.parallel.for_range(outer * inner, rows_grain(len), [&](int64_t l0, int64_t l1) {
      kernels::softmax_lanes_f32(x.data<float>(), ctx.outputs[0]->data<float>(), len, inner, log_, l0, l1);
    });
  }

 private:
  int64_t axis_;
  bool flatten_, log_;
};

template <bool LOG>
void register_softmax(OpRegistry& r, const char* name) {
  r.add("", name, 1, 12, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Softmax>(n.attr_int("axis", 1), true, LOG);
  });
  r.add("", name, 13, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Softmax>(n.attr_int("axis", -1), false, LOG);
  });
}

}  // namespace

void register_math_ops(OpRegistry& r) {
  r.add(kInternalDomain, "FusedMatMul", 1, 1, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    const std::string act = n.attr_string("activation", "none");
    const bool tb = n.attr_int("transpose_b", 0) != 0;
    if (act == "none") return std::make_unique<MatMul>(kernels::Activation::None, tb);
    if (act == "relu") return std::make_unique<MatMul>(kernels::Activation::Relu, tb);
    if (act == "gelu_erf") return std::make_unique<MatMul>(kernels::Activation::GeluErf, tb);
    if (act == "gelu_tanh") return std::make_unique<MatMul>(kernels::Activation::GeluTanh, tb);
    fail(ErrorCode::InvalidModel, n.label() + ": unknown activation '" + act + "'");
  });
  r.add("", "MatMul", 1, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<MatMul>();
  });
  r.add("", "MatMulInteger", 10, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<MatMulInteger>();
  });
  // Opset 7 brought multidirectional broadcasting of C (before: a 'broadcast' attribute); 11 made
  // C optional, which the kernel accepts throughout.
  r.add("", "Gemm", 7, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<Gemm>(n.attr_float("alpha", 1.0f), n.attr_float("beta", 1.0f), n.attr_int("transA", 0) != 0,
                                  n.attr_int("transB", 0) != 0);
  });
  register_softmax<false>(r, "Softmax");
  register_softmax<true>(r, "LogSoftmax");
}

}  // namespace normrt::onnx
