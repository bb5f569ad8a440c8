// MatMul (numpy semantics) and Softmax / LogSoftmax.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/softmax.h"
#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

class MatMul final : public OpKernel {
 public:
  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32});
    const ValueType &a = ctx.input(0), &b = ctx.input(1);
    if (b.dtype != a.dtype) ctx.error("inputs have different element types");
    ctx.output(0).dtype = a.dtype;
    if (!a.shape || !b.shape) return;
    SymShape sa = *a.shape, sb = *b.shape;
    if (sa.empty() || sb.empty()) ctx.error("MatMul inputs must have rank >= 1");
    const bool a_vec = sa.size() == 1, b_vec = sb.size() == 1;
    if (a_vec) sa.insert(sa.begin(), Dim::of(1));
    if (b_vec) sb.push_back(Dim::of(1));
    const Dim ka = sa.back(), kb = sb[sb.size() - 2];
    if (ka.known() && kb.known() && ka.value != kb.value)
      ctx.error("inner dimensions differ: " + sym_shape_to_string(*a.shape) + " x " + sym_shape_to_string(*b.shape));
    SymShape batch = broadcast_sym(SymShape(sa.begin(), sa.end() - 2), SymShape(sb.begin(), sb.end() - 2), ctx);
    if (!a_vec) batch.push_back(sa[sa.size() - 2]);
    if (!b_vec) batch.push_back(sb.back());
    ctx.output(0).shape = batch;
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &a = *ctx.inputs[0], &b = *ctx.inputs[1];
    Tensor& c = *ctx.outputs[0];
    Shape sa = a.shape(), sb = b.shape();
    if (sa.size() == 1) sa.insert(sa.begin(), 1);
    if (sb.size() == 1) sb.push_back(1);
    const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
    const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
    // Offsets (in matrices) of A and B for every broadcast batch index.
    Shape batch;
    kernels::broadcast_shapes(ba, bb, batch);
    const int64_t nbatch = checked_numel(batch, "MatMul batch");
    // Offset (in whole matrices) of each batch index into an operand; broadcast dims step 0.
    auto batch_offsets = [&](const Shape& s) {
      Shape p(batch.size() - s.size(), 1);
      p.insert(p.end(), s.begin(), s.end());
      std::vector<int64_t> stride(batch.size()), off(nbatch);
      int64_t acc = 1;
      for (size_t d = batch.size(); d-- > 0;) {
        stride[d] = p[d] == 1 ? 0 : acc;
        acc *= p[d];
      }
      for (int64_t i = 0; i < nbatch; ++i) {
        int64_t rem = i, o = 0;
        for (size_t d = batch.size(); d-- > 0;) {
          o += (rem % batch[d]) * stride[d];
          rem /= batch[d];
        }
        off[i] = o;
      }
      return off;
    };
    const std::vector<int64_t> a_off = batch_offsets(ba), b_off = batch_offsets(bb);
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* pc = c.data<float>();
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(ctx.isa);
    // Tasks: (batch, block of rows, block of columns). Columns are split only when rows and
    // batches alone cannot keep the threads busy (M = 1 decoding, say).
    const int64_t mb = kernels::sgemm_row_block(gk);
    const int64_t row_blocks = (m + mb - 1) / mb;
    const int threads = ctx.parallel.threads();
    int64_t col_blocks = 1;
    if (nbatch * row_blocks < threads && n >= 4 * gk.nr)
      col_blocks = std::min<int64_t>((threads + nbatch * row_blocks - 1) / (nbatch * row_blocks), n / (2 * gk.nr));
    const int64_t col_step = (n + col_blocks - 1) / col_blocks / gk.nr * gk.nr + gk.nr;
    const int64_t tasks = nbatch * row_blocks * col_blocks;
    // Small products stay on one thread: splitting costs more than it saves.
    const int64_t grain = m * n * k < (int64_t(1) << 18) ? tasks : 1;
    ctx.parallel.for_range(tasks, grain, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t bi = t / (row_blocks * col_blocks), rb = (t / col_blocks) % row_blocks, cb = t % col_blocks;
        const int64_t n0 = std::min(n, cb * col_step), n1 = std::min(n, n0 + col_step);
        if (n0 >= n1) continue;
        kernels::sgemm_rows(gk, n1 - n0, k, pa + a_off[bi] * m * k, k, pb + b_off[bi] * k * n + n0, n, pc + bi * m * n + n0, n,
                            rb * mb, std::min(m, (rb + 1) * mb));
      }
    });
  }
};

// Softmax/LogSoftmax. Opset 13 normalizes along one axis (default -1); opsets 1-12 flatten the
// input to 2-D at `axis` (default 1) and normalize each row of the flattened matrix.
class Softmax final : public OpKernel {
 public:
  Softmax(int64_t axis, bool flatten, bool log) : axis_(axis), flatten_(flatten), log_(log) {}

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
  r.add("", "MatMul", 1, kMaxDefaultOpset, [](const Node&, int64_t) -> std::unique_ptr<OpKernel> {
    return std::make_unique<MatMul>();
  });
  register_softmax<false>(r, "Softmax");
  register_softmax<true>(r, "LogSoftmax");
}

}  // namespace normrt::onnx
