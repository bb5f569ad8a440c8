// Conv (1-D, 2-D, 3-D; groups, strides, dilations, pads and auto_pad) on the SGEMM kernel: per
// (batch, group), Y[M/g, positions] = W[M/g, C/g * kernel] x columns, the columns being the input
// patches (im2col; the input itself for 1x1 kernels with unit strides and no padding).
// With a constant W (a model's weights), W is packed once at session creation into the GEMM's
// A panels, and each task takes a block of output positions: it writes those positions' patches
// straight into B panels one depth block at a time (cache-resident, never a whole column matrix),
// and the microkernel accumulates into Y in place, pre-filled with the bias. Nothing is repacked
// or transposed per run beyond the patches themselves.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <type_traits>
#include <utility>
#include <new>
#include <functional>

#include "kernels/gemm.h"
#include "kernels/winograd.h"
#include "onnx/op_registry.h"
#include "onnx/ops/op_util.h"

namespace normrt::onnx {

namespace {

// Float scratch from the tensor block cache (allocate_aligned): not zero-filled, and blocks of
// 1 MiB and more are reused across runs instead of being mapped afresh.
struct Scratch {
  std::shared_ptr<void> block;
  explicit Scratch(int64_t floats)
      : block(floats > 0 ? allocate_aligned(checked_bytes(DType::Float32, floats, "convolution scratch")) : nullptr) {}
  float* data() { return static_cast<float*>(block.get()); }
};

// Conv and ConvTranspose take 1 to 3 spatial dims (X of rank 3 to 5).
constexpr size_t kMaxSpatial = 3;

// A convolution weight packed once as the GEMM's A panels, per group and depth block: group g's
// depth block pb (kc deep, the last one shorter) starts at data + g * group_floats +
// block_offset[pb]; its row i0 (a multiple of mr) (i0 / mr) * mr * depth further.
struct PackedWeight {
  std::shared_ptr<void> data;
  int64_t rows = 0, kdim = 0, kc = 0, mr = 0, group_floats = 0;
  std::vector<int64_t> block_offset;

  const float* block(int64_t group, size_t pb) const {
    return static_cast<const float*>(data.get()) + group * group_floats + block_offset[pb];
  }
  // C = (accumulate ? C : 0) + rows [r0, r1) (r0 a multiple of mr) of group g's depth block pb
  // times B (panels of that block's depth, n columns); C's row r0 at c, rows ldc apart. One
  // sgemm_packed_ab call per row block (sgemm_row_block).
  void multiply(const kernels::GemmPrimitives& gk, int64_t g, size_t pb, int64_t r0, int64_t r1, const float* b, int64_t n, float* c,
                int64_t ldc, bool accumulate) const {
    const int64_t kcc = std::min(kc, kdim - static_cast<int64_t>(pb) * kc), row_block = kernels::sgemm_row_block(gk);
    for (int64_t i0 = r0; i0 < r1; i0 += row_block)
      kernels::sgemm_packed_ab(gk, block(g, pb) + (i0 / mr) * mr * kcc, std::min(row_block, r1 - i0), b, kcc, n, c + (i0 - r0) * ldc, ldc,
                               accumulate);
  }
  // `view(g)`: group g's A matrix, rows x kdim. Null when there is nothing to pack.
  template <class View>
  static std::shared_ptr<const PackedWeight> pack(const kernels::GemmPrimitives& gk, int64_t groups, int64_t rows, int64_t kdim,
                                                  const View& view) {
    if (rows <= 0 || kdim <= 0 || groups <= 0) return nullptr;
    auto pw = std::make_shared<PackedWeight>();
    pw->rows = rows, pw->kdim = kdim, pw->kc = gk.kc, pw->mr = gk.mr;
    int64_t total = 0;
    for (int64_t pc = 0; pc < kdim; pc += pw->kc) {
      pw->block_offset.push_back(total);
      total += kernels::packed_a_floats(gk, rows, std::min(pw->kc, kdim - pc));
    }
    pw->group_floats = total;
    pw->data = allocate_aligned(checked_bytes(DType::Float32, checked_numel({groups, total}, "packed convolution weight"), "packed convolution weight"));
    for (int64_t g = 0; g < groups; ++g)
      for (size_t pb = 0; pb < pw->block_offset.size(); ++pb) {
        const int64_t pc = static_cast<int64_t>(pb) * pw->kc;
        const kernels::MatrixView a = view(g);
        kernels::pack_a_block(gk, {a.data + pc * a.col_stride, a.row_stride, a.col_stride}, rows, std::min(pw->kc, kdim - pc),
                              const_cast<float*>(pw->block(g, pb)));
      }
    return pw;
  }
};

// The constant weight a convolution can pack: float32, rank 3 to 5, its first dim a multiple of
// the group count; null otherwise (the op then reads W at run time).
const Tensor* packable_weight(const std::vector<const Tensor*>& constants, int64_t groups) {
  const Tensor* w = constants.size() > 1 ? constants[1] : nullptr;
  if (!w || w->dtype() != DType::Float32 || w->rank() < 3 || w->rank() > 2 + kMaxSpatial || w->shape()[0] % groups != 0) return nullptr;
  return w;
}

// Depth rows [pc, pc + kcc) of B for n columns, into the panels sgemm_packed_ab reads; row(r)
// gives depth row r's n values (contiguous).
// NR > 0: the panel width known at compile time, so each whole panel row is a copy of fixed size
// the compiler inlines (a call to memcpy per 32 floats had taken 13% of wav2vec2's positional
// convolution, 16 groups of 6144 rows x 50 positions; paired runs of that Conv alone at 1 thread
// 1.035x, the whole model 1.009x); 0: nr known at run time only.
template <int64_t NR, class Row>
void pack_b_rows_of(int64_t nr_run, int64_t pc, int64_t kcc, int64_t n, float* panels, const Row& row) {
  const int64_t nr = NR > 0 ? NR : nr_run, whole = n / nr, rest = n % nr;
  for (int64_t r = pc; r < pc + kcc; ++r) {
    const float* src = row(r);
    float* dst = panels + (r - pc) * nr;
    for (int64_t q = 0; q < whole; ++q, dst += kcc * nr) std::memcpy(dst, src + q * nr, nr * sizeof(float));
    if (rest) {
      std::memcpy(dst, src + whole * nr, rest * sizeof(float));
      std::fill(dst + rest, dst + nr, 0.0f);
    }
  }
}
// f(std::integral_constant<int64_t, NR>) with NR = nr for the B panel widths of the GEMM's tiles
// (32 on AVX-512, 16 on AVX2, 8 on NEON), NR = 0 for any other.
template <class F>
void with_panel_width(int64_t nr, F&& f) {
  switch (nr) {
    case 32: return f(std::integral_constant<int64_t, 32>{});
    case 16: return f(std::integral_constant<int64_t, 16>{});
    case 8: return f(std::integral_constant<int64_t, 8>{});
    default: return f(std::integral_constant<int64_t, 0>{});
  }
}
template <class Row>
void pack_b_rows(int64_t nr, int64_t pc, int64_t kcc, int64_t n, float* panels, const Row& row) {
  with_panel_width(nr, [&](auto width) { pack_b_rows_of<decltype(width)::value>(nr, pc, kcc, n, panels, row); });
}

// A thread's growing 64-byte-aligned float buffer (the microkernel loads B panels aligned).
class AlignedFloats {
 public:
  float* get(size_t n) {
    if (n > size_) {
      data_.reset(static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64)));
      if (!data_) throw std::bad_alloc();
      size_ = n;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<float, void (*)(void*)> data_{nullptr, std::free};
  size_t size_ = 0;
};

// Output channels split into chunks of whole tiles when there are fewer tasks than threads (a
// small image): {how many chunks, rows per chunk, a multiple of mr}.
std::pair<int64_t, int64_t> channel_chunks(int64_t tasks, int64_t threads, int64_t channels, int64_t mr) {
  int64_t count = 1;
  if (tasks < threads && channels >= 2 * mr) count = std::min<int64_t>((threads + tasks - 1) / tasks, channels / mr);
  return {count, ((channels + count - 1) / count + mr - 1) / mr * mr};
}

struct ConvGeometry {
  std::vector<int64_t> in, kernel, out, stride, dilation, pad_begin, pad_end;
  int64_t in_size = 1, kernel_size = 1, out_size = 1;
};

// The spatial dims of an [N, C, spatial...] shape (X), or of W's [M, C/g, kernel...].
std::vector<int64_t> spatial(const Shape& s) { return s.size() > 2 ? std::vector<int64_t>(s.begin() + 2, s.end()) : std::vector<int64_t>(); }

// The attributes both convolutions share, checked against the spatial rank: strides, dilations
// (default 1) and explicit pads (begin values, then end values); `use_pads` false leaves pads at 0.
ConvGeometry base_geometry(const std::vector<int64_t>& in, const std::vector<int64_t>& kernel, const std::vector<int64_t>& kernel_shape,
                           const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations, const std::vector<int64_t>& pads,
                           bool use_pads, const std::function<void(const std::string&)>& error) {
  const size_t k = in.size();
  if (k < 1 || k > kMaxSpatial) error("X must be [N, C, spatial...] with 1 to 3 spatial dims");
  ConvGeometry g;
  g.in = in, g.kernel = kernel;
  if (!kernel_shape.empty() && kernel_shape != kernel) error("kernel_shape disagrees with W's shape");
  g.stride = strides.empty() ? std::vector<int64_t>(k, 1) : strides;
  g.dilation = dilations.empty() ? std::vector<int64_t>(k, 1) : dilations;
  if (g.stride.size() != k || g.dilation.size() != k) error("strides and dilations need one value per spatial dim");
  g.pad_begin.assign(k, 0), g.pad_end.assign(k, 0);
  if (use_pads && !pads.empty()) {
    if (pads.size() != 2 * k) error("pads needs two values per spatial dim");
    for (size_t d = 0; d < k; ++d) g.pad_begin[d] = pads[d], g.pad_end[d] = pads[k + d];
  }
  return g;
}

// Kernel offset kk (row-major over the kernel dims) as one offset per spatial dim.
void kernel_offsets(const ConvGeometry& g, int64_t kk, int64_t* koff) {
  for (size_t e = g.kernel.size(); e-- > 0;) koff[e] = kk % g.kernel[e], kk /= g.kernel[e];
}

// The last-dim coordinates j whose image j * stride + first lies in [0, len): [lo, hi).
std::pair<int64_t, int64_t> inside_range(int64_t first, int64_t stride, int64_t len) {
  const int64_t lo = first >= 0 ? 0 : (-first + stride - 1) / stride;
  return {lo, std::max(lo, len - first <= 0 ? 0 : (len - first + stride - 1) / stride)};
}

// Positions [p0, p1) of the grid `from` (row-major) in runs along its last dim. A position maps,
// dim by dim, to coordinate pos * stride - pad_begin + koff * dilation of the grid `to` (im2col
// maps output positions to the input, col2im input positions to the output). For each run,
// f(p, j0, len, base, inside): positions [p, p + len) are last-dim coordinates [j0, j0 + len) of
// `from`; base is the flat offset in `to` of the run's outer coordinates, inside whether they all
// lie in `to`.
template <class F>
void for_each_run(const ConvGeometry& g, const std::vector<int64_t>& from, const std::vector<int64_t>& to, const int64_t* koff, int64_t p0,
                  int64_t p1, F&& f) {
  if (p0 >= p1) return;  // also an empty grid, whose dims (0) must not divide below
  const size_t d = from.size() - 1;
  const int64_t last = from[d];
  int64_t pos[kMaxSpatial];
  int64_t rest = p0 / last;  // the outer coordinates of p0
  for (size_t e = d; e-- > 0;) pos[e] = rest % from[e], rest /= from[e];
  for (int64_t p = p0; p < p1;) {
    const int64_t j0 = p % last, len = std::min(last - j0, p1 - p);
    int64_t base = 0;
    bool inside = true;
    for (size_t e = 0; e < d; ++e) {
      const int64_t i = pos[e] * g.stride[e] - g.pad_begin[e] + koff[e] * g.dilation[e];
      inside &= i >= 0 && i < to[e];
      base = base * to[e] + i;
    }
    f(p, j0, len, base, inside);
    p += len;
    if (j0 + len == last)
      for (size_t e = d; e-- > 0;) {  // next outer position
        if (++pos[e] < from[e]) break;
        pos[e] = 0;
      }
  }
}

// False when the environment variable `name` is "0": a convolution path turned off for comparison.
bool env_allows(const char* name) {
  const char* env = std::getenv(name);
  return !(env && std::string(env) == "0");
}

// Winograd runs when both channel counts of the 3x3 convolution reach kWinogradMinChannels and
// its output has kWinogradMinTiles tiles of 4x4 (Conv::winograd_applies says why).
constexpr int64_t kWinogradMinChannels = 32, kWinogradMinTiles = 16;

// Not turned off by NORMRT_CONV_WINOGRAD=0 (the im2col path's float32 sums are a few times
// closer), and X [N, C, h, w], where inference knows h and w, has kWinogradMinTiles tiles of 4x4
// (the size of the output of both convolutions that use it).
bool winograd_allowed(const std::optional<SymShape>& x) {
  if (!env_allows("NORMRT_CONV_WINOGRAD")) return false;
  return !(x && x->size() == 4 && (*x)[2].known() && (*x)[3].known() &&
           ((*x)[2].value + 3) / 4 * (((*x)[3].value + 3) / 4) < kWinogradMinTiles);
}

// A weight transformed into `points` matrices [M, C] (fill(u) writes point p's at u + p * M * C),
// packed as A panels like one group per point: the Winograd and polyphase paths' weights.
template <class Fill>
std::shared_ptr<const PackedWeight> pack_per_point(kernels::Isa isa, int64_t points, int64_t m, int64_t c, const char* what, Fill&& fill) {
  Scratch u(checked_numel({points, m, c}, what));
  fill(u.data());
  return PackedWeight::pack(kernels::gemm_primitives(isa), points, m, c, [&](int64_t point) {
    return kernels::MatrixView::row_major(u.data() + point * m * c, c);
  });
}

// W [M, C, 3, 3] (row-major) as the Winograd path's packed weight: the 36 transformed weights
// U[point] = G g Gt, each [M, C].
std::shared_ptr<const PackedWeight> pack_winograd_weight(kernels::Isa isa, const float* w, int64_t m, int64_t c) {
  return pack_per_point(isa, kernels::kWinogradPoints, m, c, "Winograd weight", [&](float* u) { kernels::winograd_weights(w, m, c, u); });
}

// The polyphase path (Conv::compute_polyphase) takes a 1-D convolution of 3 taps and stride 2 when
// both channel counts reach kPolyphaseMinChannels (wav2vec2's feature extractor: 512 and 512), and
// NORMRT_CONV_POLYPHASE is not 0 (for comparison, as NORMRT_CONV_WINOGRAD).
constexpr int64_t kPolyphasePoints = 4, kPolyphaseMinChannels = 64;
// Outputs per task of the polyphase path (an even count: whole pairs but the image's last).
constexpr int64_t kPolyphaseTile = 128;
bool polyphase_allowed() { return env_allows("NORMRT_CONV_POLYPHASE"); }

// W [M, C, 3] (row-major) as the polyphase path's packed weight, one group per point: w0, w0 + w2
// and w2 (the even phase's Winograd F(2, 2) points), then w1 (the odd phase's 1x1 product).
std::shared_ptr<const PackedWeight> pack_polyphase_weight(kernels::Isa isa, const float* w, int64_t m, int64_t c) {
  return pack_per_point(isa, kPolyphasePoints, m, c, "polyphase weight", [&](float* u) {
    for (int64_t i = 0; i < m * c; ++i) {
      const float* taps = w + i * 3;
      u[i] = taps[0], u[m * c + i] = taps[0] + taps[2], u[2 * m * c + i] = taps[2], u[3 * m * c + i] = taps[1];
    }
  });
}

// The polyphase path's B panels for input channels [pc, pc + kcc) of one image (x: its channels,
// `len` values each, with `pad` zeros before them), for outputs [p0, p0 + np): the even phase's
// three transformed rows over the `pairs` pairs of outputs into `even` (one set of panels per point,
// `even_stride` floats apart) and the odd phase's np values into `odd`. Output n reads padded
// positions 2n, 2n + 1 and 2n + 2; the pair (n, n + 1) takes d0 = xp[2n], d1 = xp[2n + 2] and
// d2 = xp[2n + 4] as d0 - d1, d1 and d2 - d1. Columns past the last pair or output are 0.
template <int64_t NR>
void pack_polyphase_b_of(const float* x, int64_t len, int64_t pad, int64_t pc, int64_t kcc, int64_t p0, int64_t np, int64_t pairs,
                         int64_t nr_run, float* even, int64_t even_stride, float* odd) {
  const int64_t nr = NR > 0 ? NR : nr_run;
  const int64_t first = 2 * p0 - pad;  // the input index of output p0's first tap
  // Inside: every index read, first to first + 4 * pairs, lies in the row; otherwise the row's
  // window is copied into `edge` with its zeros first (pairs <= kPolyphaseTile / 2).
  const bool inside = first >= 0 && first + 4 * pairs < len;
  float edge[2 * kPolyphaseTile + 1];
  for (int64_t r = 0; r < kcc; ++r) {
    const float* row = x + (pc + r) * len;
    // Each channel's window is a few lines, too short for the hardware prefetcher (as in im2col):
    // two channels on are asked for now. Integers, not pointers: past the last channel they are
    // hints to nowhere.
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(row + std::max<int64_t>(first, 0)) + 2 * len * sizeof(float);
    for (int64_t off = 0; off <= 4 * pairs * int64_t(sizeof(float)); off += 64) __builtin_prefetch(reinterpret_cast<const void*>(ahead + off));
    const float* xr = row + first;
    if (!inside) {
      for (int64_t j = 0; j <= 4 * pairs; ++j) edge[j] = first + j >= 0 && first + j < len ? row[first + j] : 0.0f;
      xr = edge;
    }
    for (int64_t q = 0; q * nr < pairs; ++q) {
      float* e0 = even + q * kcc * nr + r * nr;
      float* e1 = e0 + even_stride;
      float* e2 = e1 + even_stride;
      const float* xq = xr + 4 * q * nr;
      const int64_t cnt = std::min(nr, pairs - q * nr);
      for (int64_t l = 0; l < cnt; ++l) {
        const float d0 = xq[4 * l], d1 = xq[4 * l + 2], d2 = xq[4 * l + 4];
        e0[l] = d0 - d1, e1[l] = d1, e2[l] = d2 - d1;
      }
      for (int64_t l = cnt; l < nr; ++l) e0[l] = e1[l] = e2[l] = 0.0f;
    }
    for (int64_t q = 0; q * nr < np; ++q) {
      float* o = odd + q * kcc * nr + r * nr;
      const float* xq = xr + 2 * q * nr + 1;
      const int64_t cnt = std::min(nr, np - q * nr);
      for (int64_t l = 0; l < cnt; ++l) o[l] = xq[2 * l];
      for (int64_t l = cnt; l < nr; ++l) o[l] = 0.0f;
    }
  }
}
void pack_polyphase_b(const float* x, int64_t len, int64_t pad, int64_t pc, int64_t kcc, int64_t p0, int64_t np, int64_t pairs,
                      int64_t nr, float* even, int64_t even_stride, float* odd) {
  with_panel_width(nr, [&](auto width) {
    pack_polyphase_b_of<decltype(width)::value>(x, len, pad, pc, kcc, p0, np, pairs, nr, even, even_stride, odd);
  });
}

// Where a Winograd convolution puts output channel oc of image n: element (row, column) of its
// oh x ow plane at plane[row * pitch + column * step], plus bias.
struct WinogradPlane {
  float* plane;
  int64_t pitch, step;
  float bias;
};

// Winograd F(4x4, 3x3) (kernels/winograd.h) of X [N, C, h, w], stride 1, pads pad_top and pad_left
// (the bottom and right ones follow from oh x ow), with U packed as one group per transformed
// point ([36] x [M, C]); out(n, oc) gives each output plane (WinogradPlane).
// Tasks of (batch, block of output tiles taken row-major over the tile grid, chunk of output
// channels): each transforms its tiles' input windows into B panels per transformed point (depth
// block by depth block of input channels), multiplies every point's packed U rows of its channels
// with them into Z[point][M][tiles], and transforms Z back into the output tiles with the bias.
template <class Out>
void winograd_conv(ComputeContext& ctx, const kernels::GemmPrimitives& gk, const PackedWeight& pw, const Tensor& x, int64_t pad_top,
                   int64_t pad_left, int64_t oh, int64_t ow, const Out& out) {
  constexpr int64_t P = kernels::kWinogradPoints, S = kernels::kWinogradTile;
  const kernels::WinogradPrimitives& wk = kernels::winograd_primitives(ctx.isa);
  const int64_t batch = x.shape()[0], c_in = x.shape()[1], m = pw.rows, kc = pw.kc, nr = gk.nr, mr = gk.mr;
  if (x.rank() != 4 || pw.kdim != c_in || pw.mr != mr) ctx.error("internal: the Winograd weight does not match X");
  const int64_t h = x.shape()[2], w = x.shape()[3];
  const int64_t tiles_x = (ow + S - 1) / S, tiles = (oh + S - 1) / S * tiles_x;
  // 128 tiles per block (B panels of 128 columns, as im2col's positions), fewer when the products
  // Z[36][M][block] would pass 8 MiB (many output channels) or a thread would be left idle.
  int64_t block = std::max<int64_t>(nr, std::min<int64_t>(128, (int64_t(2) << 20) / (P * m)) / nr * nr);
  // Fewer than two blocks per thread only when they split evenly (whole blocks, the same count per
  // thread): a wider block keeps each point's product wide. UNet's 320-channel 3x3 convs on 64x64 at
  // 2 threads take two blocks of 128 tiles instead of four of 64: paired runs of the UNet block
  // 1.024x and 1.032x (the two convs had scaled 1.52-1.56x from 1 to 2 threads).
  const int64_t threads = ctx.parallel.threads();
  auto blocks_of = [&](int64_t blk) { return batch * ((tiles + blk - 1) / blk); };  // over the whole batch
  auto splits_evenly = [&](int64_t blk) { return tiles % blk == 0 && blocks_of(blk) % threads == 0; };
  while (block > nr && blocks_of(block) < 2 * threads && !splits_evenly(block)) block -= nr;
  const int64_t blocks = (tiles + block - 1) / block, depth = std::min(kc, c_in);
  // Still fewer blocks than threads: each block's output channels are split into chunks, each task
  // transforming the block's input itself (cheap next to its products).
  const std::pair<int64_t, int64_t> chunks = channel_chunks(batch * blocks, threads, m, mr);
  const int64_t row_chunks = chunks.first, chunk = chunks.second;
  const int64_t v_stride = (kernels::packed_b_floats(gk, depth, block) + 15) / 16 * 16;  // 64-byte aligned points
  ctx.parallel.for_range(batch * blocks * row_chunks, 1, [&](int64_t t0, int64_t t1) {
    thread_local AlignedFloats v_buf, z_buf;  // one block: bounded, reused across runs
    float* v = v_buf.get(static_cast<size_t>(P * v_stride));
    float* z = z_buf.get(static_cast<size_t>(P * m * block));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t img = t / row_chunks, r0 = t % row_chunks * chunk, r1 = std::min(m, r0 + chunk);
      if (r0 >= r1) continue;
      const int64_t n = img / blocks, first = img % blocks * block, nt = std::min(block, tiles - first);
      const float* xin = x.data<float>() + n * c_in * h * w;
      // f(tile, column, run): runs of tiles [tile, tile + run) of this block in one tile row,
      // cut at B panel boundaries; column is the first one's index in the block.
      auto for_each_tile_run = [&](bool panel_cuts, auto&& f) {
        for (int64_t j = 0; j < nt;) {
          const int64_t tile = first + j;
          int64_t run = std::min(tiles_x - tile % tiles_x, nt - j);
          if (panel_cuts) run = std::min(run, nr - j % nr);
          f(tile, j, run);
          j += run;
        }
      };
      for (size_t pb = 0; pb < pw.block_offset.size(); ++pb) {
        const int64_t pc = static_cast<int64_t>(pb) * kc, kcc = std::min(kc, c_in - pc);
        for (int64_t ch = pc; ch < pc + kcc; ++ch)
          for_each_tile_run(true, [&](int64_t tile, int64_t j, int64_t run) {
            wk.input_tiles(xin + ch * h * w, h, w, tile / tiles_x * S - pad_top, tile % tiles_x * S - pad_left, run,
                           v + (j / nr) * kcc * nr + (ch - pc) * nr + j % nr, v_stride);
          });
        for (int64_t p = 0; p < P; ++p) pw.multiply(gk, p, pb, r0, r1, v + p * v_stride, nt, z + p * m * block + r0 * block, block, pb > 0);
      }
      for (int64_t oc = r0; oc < r1; ++oc) {
        const WinogradPlane o = out(n, oc);
        for_each_tile_run(false, [&](int64_t tile, int64_t j, int64_t run) {
          wk.output_tiles(z + oc * block + j, m * block, run, o.bias, o.plane, oh, ow, tile / tiles_x * S, tile % tiles_x * S, o.pitch,
                          o.step);
        });
      }
    }
  });
}

class Conv final : public OpKernel {
 public:
  explicit Conv(const Node& n)
      : auto_pad_(n.attr_string("auto_pad", "NOTSET")),
        dilations_(n.attr_ints("dilations")),
        group_(n.attr_int("group", 1)),
        kernel_shape_(n.attr_ints("kernel_shape")),
        pads_(n.attr_ints("pads")),
        strides_(n.attr_ints("strides")) {
    if (group_ <= 0) fail(ErrorCode::InvalidModel, n.label() + ": group must be positive, got " + std::to_string(group_));
    if (auto_pad_ != "NOTSET" && auto_pad_ != "SAME_UPPER" && auto_pad_ != "SAME_LOWER" && auto_pad_ != "VALID")
      fail(ErrorCode::InvalidModel, n.label() + ": unknown auto_pad '" + auto_pad_ + "'");
  }

  // Output geometry from the input's spatial dims and W's kernel dims; errors through `error`.
  ConvGeometry geometry(const std::vector<int64_t>& in, const std::vector<int64_t>& kernel,
                        const std::function<void(const std::string&)>& error) const {
    const size_t k = in.size();
    ConvGeometry g = base_geometry(in, kernel, kernel_shape_, strides_, dilations_, pads_, true, error);
    for (size_t d = 0; d < k; ++d) {
      if (g.stride[d] <= 0 || g.dilation[d] <= 0) error("strides and dilations must be positive");
      if (g.pad_begin[d] < 0 || g.pad_end[d] < 0) error("pads must be >= 0");
      const int64_t extent = g.dilation[d] * (kernel[d] - 1) + 1;
      if (auto_pad_ == "SAME_UPPER" || auto_pad_ == "SAME_LOWER") {
        const int64_t out = (in[d] + g.stride[d] - 1) / g.stride[d];
        const int64_t total = std::max<int64_t>(0, (out - 1) * g.stride[d] + extent - in[d]);
        g.pad_begin[d] = auto_pad_ == "SAME_UPPER" ? total / 2 : total - total / 2;
        g.pad_end[d] = total - g.pad_begin[d];
      } else if (auto_pad_ == "VALID") {
        g.pad_begin[d] = g.pad_end[d] = 0;
      }
      const int64_t span = in[d] + g.pad_begin[d] + g.pad_end[d] - extent;
      if (span < 0) error("the kernel (with dilation) is larger than the padded input");
      g.out.push_back(span / g.stride[d] + 1);
      g.in_size *= in[d], g.kernel_size *= kernel[d], g.out_size *= g.out.back();
    }
    return g;
  }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32});
    const ValueType &x = ctx.input(0), &w = ctx.input(1);
    if (w.dtype != x.dtype || (ctx.has_input(2) && ctx.input(2).dtype != x.dtype)) ctx.error("X, W and B must have the same element type");
    ctx.output(0).dtype = x.dtype;
    if (!x.shape || !w.shape) return;
    if (x.shape->size() < 3 || x.shape->size() > 5) ctx.error("X must be [N, C, spatial...] with 1 to 3 spatial dims");
    if (w.shape->size() != x.shape->size()) ctx.error("W must have the rank of X");
    const std::optional<Shape> xb = shape_but_batch(x);
    if (!xb || !w.shape_known()) {
      SymShape out(x.shape->size());
      out[0] = (*x.shape)[0], out[1] = (*w.shape)[0];
      ctx.output(0).shape = out;
      return;
    }
    const Shape &xs = *xb, ws = w.concrete_shape();
    if (xs[1] != ws[1] * group_) ctx.error("X has " + std::to_string(xs[1]) + " channels, W expects " + std::to_string(ws[1] * group_));
    if (ws[0] % group_) ctx.error("W's output channels (" + std::to_string(ws[0]) + ") do not divide by group " + std::to_string(group_));
    if (ctx.has_input(2) && ctx.input(2).shape_known() && checked_numel(ctx.input(2).concrete_shape(), "B") != ws[0])
      ctx.error("B must hold one value per output channel");
    const ConvGeometry g = geometry(spatial(xs), spatial(ws), [&](const std::string& e) { ctx.error(e); });
    Shape out{xs[0], ws[0]};
    out.insert(out.end(), g.out.begin(), g.out.end());
    ctx.output(0).shape = with_batch(out, x);
  }

  // A constant float W is packed here once, for the session's ISA: per group and depth block of
  // the GEMM, W[group rows, that depth] as A panels (compute checks it against X).
  void prepare(const std::vector<const Tensor*>& constants, const std::vector<std::optional<SymShape>>& shapes,
               kernels::Isa isa) override {
    const Tensor* w = packable_weight(constants, group_);
    if (!w) return;
    if (winograd_applies(*w, shapes.empty() ? std::nullopt : shapes[0])) {
      winograd_ = pack_winograd_weight(isa, w->data<float>(), w->shape()[0], w->shape()[1]);
      return;
    }
    if (polyphase_applies(*w)) {
      polyphase_ = pack_polyphase_weight(isa, w->data<float>(), w->shape()[0], w->shape()[1]);
      return;
    }
    const int64_t mg = w->shape()[0] / group_, kdim = w->numel() / std::max<int64_t>(1, w->shape()[0]);
    // Group g's rows: W[g * mg + i, :], row-major.
    packed_ = PackedWeight::pack(kernels::gemm_primitives(isa), group_, mg, kdim, [&](int64_t g) {
      return kernels::MatrixView::row_major(w->data<float>() + g * mg * kdim, kdim);
    });
  }
  bool consumes_constant_input(size_t i) const override { return i == 1 && (packed_ || winograd_ || polyphase_); }

  void compute(ComputeContext& ctx) const override {
    const Tensor &x = *ctx.inputs[0], &w = *ctx.inputs[1];
    const Tensor* b = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    Tensor& y = *ctx.outputs[0];
    const Shape &xs = x.shape(), &ws = w.shape();
    const ConvGeometry g = geometry(spatial(xs), spatial(ws), [&](const std::string& e) { ctx.error(e); });
    const int64_t batch = xs[0], c_in = xs[1], m = ws[0], cg = c_in / group_, mg = m / group_;
    const int64_t kdim = cg * g.kernel_size, positions = g.out_size;
    if (y.numel() == 0) return;
    bool direct = true;  // a 1x1 kernel with unit strides and no padding: X is already the column matrix
    for (size_t d = 0; d < g.in.size(); ++d)
      direct &= g.kernel[d] == 1 && g.stride[d] == 1 && g.pad_begin[d] == 0 && g.pad_end[d] == 0;
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(ctx.isa);
    if (winograd_ || polyphase_ || packed_) {
      if (b && b->numel() != m) ctx.error("B must hold one value per output channel (" + std::to_string(m) + ")");
      if (winograd_) compute_winograd(ctx, gk, g, x, b, y);
      else if (polyphase_) compute_polyphase(ctx, gk, g, x, b, y);
      else compute_packed(ctx, gk, g, x, b, y, direct);
      return;
    }
    // The column matrix comes from the tensor block cache: reused across runs, never zero-filled
    // (im2col writes every element), so large convolutions do not fault in fresh pages each run.
    Scratch cols(direct ? 0 : kdim * positions);
    const float* px = x.data<float>();
    const float* pw = w.data<float>();
    float* py = y.data<float>();
    const int64_t row_block = kernels::sgemm_row_block(gk);
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t grp = 0; grp < group_; ++grp) {
        const float* xin = px + (n * c_in + grp * cg) * g.in_size;
        const float* colp = xin;
        if (!direct) {
          ctx.parallel.for_range(kdim, rows_grain(positions), [&](int64_t r0, int64_t r1) {
            im2col(g, xin, cols.data() + r0 * positions, positions, r0, r1, 0, positions);
          });
          colp = cols.data();
        }
        float* yout = py + (n * m + grp * mg) * positions;
        const float* wg = pw + grp * mg * kdim;
        // Output channels in row blocks, or positions in column blocks when there are few channels.
        const int64_t m_tasks = (mg + row_block - 1) / row_block;
        if (m_tasks >= ctx.parallel.threads() || positions < 4 * gk.nr) {
          ctx.parallel.for_range(m_tasks, 1, [&](int64_t t0, int64_t t1) {
            kernels::sgemm_rows(gk, positions, kdim, wg, kdim, colp, positions, yout, positions, t0 * row_block, std::min(mg, t1 * row_block));
          });
        } else {
          const int64_t step = std::max<int64_t>(gk.nr, (positions / ctx.parallel.threads() + gk.nr - 1) / gk.nr * gk.nr);
          ctx.parallel.for_range((positions + step - 1) / step, 1, [&](int64_t t0, int64_t t1) {
            const int64_t j0 = t0 * step, j1 = std::min(positions, t1 * step);
            kernels::sgemm_rows(gk, j1 - j0, kdim, kernels::MatrixView::row_major(wg, kdim), kernels::MatrixView::row_major(colp + j0, positions),
                                yout + j0, positions, 0, mg);
          });
        }
        if (b)
          for (int64_t oc = 0; oc < mg; ++oc) {
            const float bias = b->data<float>()[grp * mg + oc];
            float* row = yout + oc * positions;
            for (int64_t p = 0; p < positions; ++p) row[p] += bias;
          }
      }
  }

 private:
  // Winograd F(4x4, 3x3) (kernels/winograd.h) for a constant 3x3 kernel with unit strides and
  // dilations and one group, when both channel counts reach kWinogradMinChannels (below that the
  // transforms, which do not shrink with the channel counts, outweigh the 4x saving in the
  // products) and the image, when inference knows its size, has kWinogradMinTiles 4x4 tiles (each
  // point's product is as wide as the tile count: a 7x7 image's 4 tiles fill an eighth of a B panel,
  // and 512 channels at 7x7 measured 2.3x slower than im2col, 256 at 14x14 1.5x faster).
  // NORMRT_CONV_WINOGRAD=0 turns it off (winograd_allowed).
  bool winograd_applies(const Tensor& w, const std::optional<SymShape>& x) const {
    auto ones = [](const std::vector<int64_t>& v) { return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 1; }); };
    if (!winograd_allowed(x)) return false;
    return w.rank() == 4 && w.shape()[2] == 3 && w.shape()[3] == 3 && group_ == 1 && ones(strides_) && ones(dilations_) &&
           w.shape()[0] >= kWinogradMinChannels && w.shape()[1] >= kWinogradMinChannels;
  }

  // A constant 1-D kernel of 3 taps with stride 2, dilation 1 and one group, both channel counts
  // at least kPolyphaseMinChannels (compute_polyphase).
  bool polyphase_applies(const Tensor& w) const {
    const bool unit_dilation = dilations_.empty() || dilations_ == std::vector<int64_t>{1};
    return polyphase_allowed() && w.rank() == 3 && w.shape()[2] == 3 && group_ == 1 && strides_ == std::vector<int64_t>{2} && unit_dilation &&
           w.shape()[0] >= kPolyphaseMinChannels && w.shape()[1] >= kPolyphaseMinChannels;
  }

  // Stride 2, 3 taps, 1-D: y[n] = w0 xp[2n] + w1 xp[2n + 1] + w2 xp[2n + 2] (xp: X with its pads,
  // summed over input channels) is the odd phase o[n] = xp[2n + 1] times w1, a 1x1 product, plus the
  // even phase e[j] = xp[2j] under the 2-tap filter (w0, w2), which Winograd F(2, 2) takes a pair
  // of outputs at a time with 3 products where direct takes 4:
  //   m0 = w0 (e[n] - e[n+1]), m1 = (w0 + w2) e[n+1], m2 = w2 (e[n+2] - e[n+1]);
  //   y[n] = m0 + m1 + odd, y[n+1] = m1 + m2 + odd.
  // Per pair of outputs and input channel, 5 multiply-adds where im2col's product takes 6. Tasks as
  // compute_packed's (batch, block of 128 outputs, chunk of output channels): the odd product
  // goes straight to Y, the three even products to a scratch of [3][chunk][64], added in pairs
  // at the end with the bias (no pass of its own to pre-fill Y with it).
  void compute_polyphase(ComputeContext& ctx, const kernels::GemmPrimitives& gk, const ConvGeometry& g, const Tensor& x, const Tensor* b,
                         Tensor& y) const {
    const PackedWeight& pw = *polyphase_;
    const int64_t batch = x.shape()[0], c_in = x.shape()[1], m = pw.rows, kc = pw.kc, nr = gk.nr, mr = gk.mr;
    if (pw.kdim != c_in || pw.mr != mr || g.kernel != std::vector<int64_t>{3} || g.stride[0] != 2 || g.dilation[0] != 1)
      ctx.error("internal: the polyphase weight does not match X");
    const int64_t len = g.in[0], positions = g.out[0], pad = g.pad_begin[0];
    constexpr int64_t kTile = kPolyphaseTile, kPairs = kTile / 2;
    const int64_t tiles = (positions + kTile - 1) / kTile, images = batch * tiles;
    const std::pair<int64_t, int64_t> chunks = channel_chunks(images, ctx.parallel.threads(), m, mr);
    const int64_t row_chunks = chunks.first, chunk = chunks.second;
    const int64_t even_floats = kernels::packed_b_floats(gk, kc, kPairs), odd_floats = kernels::packed_b_floats(gk, kc, kTile);
    const float* bias = b ? b->data<float>() : nullptr;
    ctx.parallel.for_range(images * row_chunks, 1, [&](int64_t t0, int64_t t1) {
      thread_local AlignedFloats panel_buf, product_buf;  // one task's: bounded, reused across runs
      float* even = panel_buf.get(static_cast<size_t>(3 * even_floats + odd_floats));
      float* odd = even + 3 * even_floats;
      float* products = product_buf.get(static_cast<size_t>(3 * chunk * kPairs));
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t img = t / row_chunks, rc = t % row_chunks, n = img / tiles;
        const int64_t p0 = img % tiles * kTile, np = std::min(positions, p0 + kTile) - p0, pairs = (np + 1) / 2;
        const int64_t r0 = rc * chunk, r1 = std::min(m, r0 + chunk);
        if (r0 >= r1) continue;
        const float* xin = x.data<float>() + n * c_in * len;
        float* yout = y.data<float>() + n * m * positions + p0;
        for (int64_t pc = 0; pc < c_in; pc += kc) {
          const int64_t kcc = std::min(kc, c_in - pc);
          const size_t pb = static_cast<size_t>(pc / kc);
          pack_polyphase_b(xin, len, pad, pc, kcc, p0, np, pairs, nr, even, even_floats, odd);
          for (int64_t point = 0; point < 3; ++point)
            pw.multiply(gk, point, pb, r0, r1, even + point * even_floats, pairs, products + point * chunk * kPairs, kPairs, pc > 0);
          pw.multiply(gk, 3, pb, r0, r1, odd, np, yout + r0 * positions, positions, pc > 0);
        }
        for (int64_t oc = r0; oc < r1; ++oc) {
          const float* m0 = products + (oc - r0) * kPairs;
          const float* m1 = m0 + chunk * kPairs;
          const float* m2 = m1 + chunk * kPairs;
          float* row = yout + oc * positions;
          const float bo = bias ? bias[oc] : 0.0f;
          const int64_t whole = np / 2;  // pairs with both outputs; an odd np leaves one more
          for (int64_t q = 0; q < whole; ++q) {
            const float first = (m0[q] + m1[q]) + bo, second = (m1[q] + m2[q]) + bo;
            row[2 * q] += first;
            row[2 * q + 1] += second;
          }
          if (np % 2) row[np - 1] += (m0[whole] + m1[whole]) + bo;
        }
      }
    });
  }

  void compute_winograd(ComputeContext& ctx, const kernels::GemmPrimitives& gk, const ConvGeometry& g, const Tensor& x, const Tensor* b,
                        Tensor& y) const {
    if (g.kernel != std::vector<int64_t>{3, 3}) ctx.error("internal: the Winograd weight does not match X");
    const int64_t m = winograd_->rows, oh = g.out[0], ow = g.out[1];
    const float* bias = b ? b->data<float>() : nullptr;
    float* py = y.data<float>();
    winograd_conv(ctx, gk, *winograd_, x, g.pad_begin[0], g.pad_begin[1], oh, ow, [&](int64_t n, int64_t oc) {
      return WinogradPlane{py + (n * m + oc) * oh * ow, ow, 1, bias ? bias[oc] : 0.0f};
    });
  }

  // The constant-weight path (see the top of the file): tasks of (batch, group, block of output
  // positions, block of output channels); a block of channels is the whole group unless there are
  // too few position blocks to keep the threads busy.
  void compute_packed(ComputeContext& ctx, const kernels::GemmPrimitives& gk, const ConvGeometry& g, const Tensor& x, const Tensor* b,
                      Tensor& y, bool direct) const {
    const PackedWeight& pw = *packed_;
    const int64_t batch = x.shape()[0], c_in = x.shape()[1], cg = c_in / group_;
    const int64_t mg = pw.rows, kdim = pw.kdim, kc = pw.kc, m = mg * group_, positions = g.out_size;
    if (kdim != cg * g.kernel_size || pw.mr != gk.mr) ctx.error("internal: the packed weight does not match X");
    const int64_t nr = gk.nr, mr = gk.mr;
    // 128 positions: the B block (kc x 128) and an A row block stay in L2 together.
    const int64_t tile = std::max<int64_t>(nr, 128 / nr * nr);
    const int64_t tiles = (positions + tile - 1) / tile, threads = ctx.parallel.threads();
    const int64_t images = batch * group_ * tiles;
    const std::pair<int64_t, int64_t> chunks = channel_chunks(images, threads, mg, mr);
    const int64_t row_chunks = chunks.first, chunk = chunks.second;
    const bool small = batch * positions * m * kdim < kParallelMacs;
    const float* bias = b ? b->data<float>() : nullptr;
    // A 1-D convolution with unit stride reads row (channel c, tap kk) of the column matrix at
    // positions [p0, p1) as channel c's input from p0 - pad + kk * dilation on: one zero-padded
    // copy of the group's channels over the tile's window (np + (kernel - 1) * dilation values
    // each) gives every row as a pointer into it, where im2col copied each row apart (wav2vec2's
    // positional convolution: 6144 rows of 50 positions per group, im2col a third of its time).
    const int64_t halo = g.in.size() == 1 ? (g.kernel_size - 1) * g.dilation[0] : 0;
    const bool windowed = !direct && g.in.size() == 1 && g.stride[0] == 1 && cg * (tile + halo) <= kMaxWindowFloats;
    ctx.parallel.for_range(images * row_chunks, small ? images * row_chunks : 1, [&](int64_t t0, int64_t t1) {
      thread_local AlignedFloats panel_buf, row_buf, window_buf;  // one block: bounded, reused across runs
      float* panels = panel_buf.get(static_cast<size_t>(kernels::packed_b_floats(gk, kc, tile)));
      float* row = row_buf.get(static_cast<size_t>(tile));
      float* window = windowed ? window_buf.get(static_cast<size_t>(cg * (tile + halo))) : nullptr;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t img = t / row_chunks, rc = t % row_chunks;
        const int64_t n = img / (group_ * tiles), grp = img / tiles % group_, tb = img % tiles;
        const int64_t p0 = tb * tile, p1 = std::min(positions, p0 + tile), np = p1 - p0;
        const int64_t r0 = rc * chunk, r1 = std::min(mg, r0 + chunk);
        if (r0 >= r1) continue;
        const float* xin = x.data<float>() + (n * c_in + grp * cg) * g.in_size;
        const int64_t wlen = np + halo;
        if (windowed) fill_window(xin, cg, g.in_size, p0 - g.pad_begin[0], wlen, window);
        float* yout = y.data<float>() + (n * m + grp * mg) * positions + p0;
        for (int64_t oc = r0; oc < r1; ++oc) std::fill(yout + oc * positions, yout + oc * positions + np, bias ? bias[grp * mg + oc] : 0.0f);
        for (size_t pb = 0; pb < pw.block_offset.size(); ++pb) {
          const int64_t pc = static_cast<int64_t>(pb) * kc, kcc = std::min(kc, kdim - pc);
          // B = rows [pc, pc + kcc) of the column matrix at these positions, straight into panels.
          pack_b_rows(nr, pc, kcc, np, panels, [&](int64_t r) {
            if (direct) return xin + r * g.in_size + p0;  // X's own row
            if (windowed) return static_cast<const float*>(window + (r / g.kernel_size) * wlen + (r % g.kernel_size) * g.dilation[0]);
            im2col(g, xin, row, np, r, r + 1, p0, p1);
            return static_cast<const float*>(row);
          });
          pw.multiply(gk, grp, pb, r0, r1, panels, np, yout + r0 * positions, positions, true);
        }
      }
    });
  }

  static constexpr int64_t kPrefetchChannels = 2;
  // The largest window (channels of a group times the tile's positions and halo) taken per task:
  // 4 MiB, far above the convolutions it is for; a larger one goes through im2col.
  static constexpr int64_t kMaxWindowFloats = int64_t(1) << 20;

  // window[c * wlen + j] = channel c's input at start + j (channels `in_len` apart), 0 outside it.
  static void fill_window(const float* x, int64_t channels, int64_t in_len, int64_t start, int64_t wlen, float* window) {
    const int64_t a = std::clamp<int64_t>(-start, 0, wlen), z = std::clamp<int64_t>(in_len - start, a, wlen);
    for (int64_t c = 0; c < channels; ++c) {
      float* w = window + c * wlen;
      std::fill(w, w + a, 0.0f);
      std::copy(x + c * in_len + start + a, x + c * in_len + start + z, w + a);
      std::fill(w + z, w + wlen, 0.0f);
    }
  }

  // Rows [r0, r1) of the column matrix, positions [p0, p1): row r = (channel, kernel offset) at
  // cols + (r - r0) * ld, one column per output position; positions in the padding are 0.
  static void im2col(const ConvGeometry& g, const float* x, float* cols, int64_t ld, int64_t r0, int64_t r1, int64_t p0, int64_t p1) {
    const size_t d = g.in.size() - 1;
    const int64_t s = g.stride[d], in_last = g.in[d];
    int64_t koff[kMaxSpatial];
    for (int64_t r = r0; r < r1; ++r) {
      kernel_offsets(g, r % g.kernel_size, koff);
      const float* xc = x + (r / g.kernel_size) * g.in_size;
      float* row = cols + (r - r0) * ld;
      // Output o along the last dim reads input o * s + first, inside for o in [lo, hi).
      const int64_t first = koff[d] * g.dilation[d] - g.pad_begin[d];
      const std::pair<int64_t, int64_t> range = inside_range(first, s, in_last);  // no structured binding: clang 14 cannot capture one
      const int64_t lo = range.first, hi = range.second;
      for_each_run(g, g.out, g.in, koff, p0, p1, [&](int64_t p, int64_t o0, int64_t len, int64_t base, bool inside) {
        float* dst = row + (p - p0);
        if (!inside) {
          std::fill(dst, dst + len, 0.0f);
          return;
        }
        const float* xr = xc + base * in_last;
        const int64_t a = std::clamp(lo, o0, o0 + len), z = std::clamp(hi, a, o0 + len);
        // The same input run kPrefetchChannels channels on, asked for now: a row's reads jump
        // between channels every kernel_size rows (a few lines each), too short for the hardware
        // prefetcher, and waiting on them was 88% of im2col's time for a [512, 3199] input
        // (stride 2, kernel 3). Addresses are computed as integers: past the last channel they are
        // hints to nowhere, not pointers.
        if (koff[d] == 0 && z > a) {
          const uintptr_t from = reinterpret_cast<uintptr_t>(xr + a * s + first) + kPrefetchChannels * g.in_size * sizeof(float);
          const uintptr_t to = from + static_cast<uintptr_t>((z - a - 1) * s) * sizeof(float);
          for (uintptr_t line = from; line <= to + 63; line += 64) __builtin_prefetch(reinterpret_cast<const void*>(line));
        }
        std::fill(dst, dst + (a - o0), 0.0f);
        if (s == 1) std::memcpy(dst + (a - o0), xr + a + first, (z - a) * sizeof(float));
        else
          for (int64_t o = a; o < z; ++o) dst[o - o0] = xr[o * s + first];
        std::fill(dst + (z - o0), dst + len, 0.0f);
      });
    }
  }

  std::shared_ptr<const PackedWeight> packed_;  // set by prepare() when W is constant
  std::shared_ptr<const PackedWeight> winograd_;  // instead, when the Winograd path applies
  std::shared_ptr<const PackedWeight> polyphase_;  // instead, when the polyphase path applies
  std::string auto_pad_;
  std::vector<int64_t> dilations_;
  int64_t group_;
  std::vector<int64_t> kernel_shape_, pads_, strides_;
};


// ConvTranspose: per (batch, group), columns = Wᵀ X on the SGEMM ([M/g * kernel, C/g] x [C/g, in
// positions]), then each column is added into the output positions its kernel taps reach
// (col2im); output_padding, output_shape (with the padding it implies), auto_pad, bias. With a
// constant W of the upsampling form (kernel 4, stride 2, pads 1) it is a 3x3 convolution on
// Winograd instead (winograd_applies).
class ConvTranspose final : public OpKernel {
 public:
  explicit ConvTranspose(const Node& n)
      : auto_pad_(n.attr_string("auto_pad", "NOTSET")),
        dilations_(n.attr_ints("dilations")),
        group_(n.attr_int("group", 1)),
        kernel_shape_(n.attr_ints("kernel_shape")),
        output_padding_(n.attr_ints("output_padding")),
        output_shape_(n.attr_ints("output_shape")),
        pads_(n.attr_ints("pads")),
        strides_(n.attr_ints("strides")) {
    if (group_ <= 0) fail(ErrorCode::InvalidModel, n.label() + ": group must be positive");
    if (auto_pad_ != "NOTSET" && auto_pad_ != "SAME_UPPER" && auto_pad_ != "SAME_LOWER" && auto_pad_ != "VALID")
      fail(ErrorCode::InvalidModel, n.label() + ": unknown auto_pad '" + auto_pad_ + "'");
  }

  // in: the input's spatial dims; kernel: W's; out, pad_begin filled.
  ConvGeometry geometry(const std::vector<int64_t>& in, const std::vector<int64_t>& kernel,
                        const std::function<void(const std::string&)>& error) const {
    const size_t k = in.size();
    std::vector<int64_t> target;
    if (!output_shape_.empty()) {
      target = output_shape_;
      if (target.size() == k + 2) target.erase(target.begin(), target.begin() + 2);
      if (target.size() != k) error("output_shape needs one value per spatial dim");
    }
    // Explicit pads count only when neither output_shape nor auto_pad decides them.
    ConvGeometry g = base_geometry(in, kernel, kernel_shape_, strides_, dilations_, pads_, target.empty() && auto_pad_ == "NOTSET", error);
    const std::vector<int64_t> out_pad = output_padding_.empty() ? std::vector<int64_t>(k, 0) : output_padding_;
    if (out_pad.size() != k) error("output_padding needs one value per spatial dim");
    for (size_t d = 0; d < k; ++d) {
      if (g.stride[d] <= 0 || g.dilation[d] <= 0) error("strides and dilations must be positive");
      const int64_t full = g.stride[d] * (in[d] - 1) + out_pad[d] + g.dilation[d] * (kernel[d] - 1) + 1;
      int64_t want = -1;
      if (!target.empty()) want = target[d];
      else if (auto_pad_ == "SAME_UPPER" || auto_pad_ == "SAME_LOWER") want = in[d] * g.stride[d];
      if (want >= 0) {
        // A negative total (output_shape beyond the natural size) acts as extra output padding; the
        // split rounds down, as ONNX's reference does.
        const int64_t total = full - want;
        const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
        const bool upper = auto_pad_ == "SAME_UPPER";  // NOTSET with output_shape splits like SAME_LOWER
        g.pad_begin[d] = upper ? half : total - half;
        g.pad_end[d] = total - g.pad_begin[d];
      }
      const int64_t out = full - g.pad_begin[d] - g.pad_end[d];
      if (out <= 0) error("the output would be empty");
      g.out.push_back(out);
      g.in_size *= in[d], g.kernel_size *= kernel[d], g.out_size *= out;
    }
    return g;
  }

  // A constant float W [C, M/g, kernel...] is packed here once: per group, Wᵀ's rows (output
  // channel, kernel offset) over that group's input channels, as A panels. The upsampling form
  // (kernel 4, stride 2, pads 1) goes to Winograd instead (winograd_applies).
  void prepare(const std::vector<const Tensor*>& constants, const std::vector<std::optional<SymShape>>& shapes,
               kernels::Isa isa) override {
    const Tensor* w = packable_weight(constants, group_);
    if (!w) return;
    if (winograd_applies(*w, shapes.empty() ? std::nullopt : shapes[0])) {
      // Output phase (ph, pw) of channel co is 3x3 convolution channel 4 co + 2 ph + pw, with
      // taps (a, b) = W[c, co, ph + 3 - 2a, pw + 3 - 2b] where that lies in the kernel, else 0.
      const int64_t c = w->shape()[0], mo = w->shape()[1], m = 4 * mo;
      std::vector<float> w3(checked_numel({m, c, 9}, "Winograd ConvTranspose weight"), 0.0f);
      const float* pw = w->data<float>();
      for (int64_t z = 0; z < m; ++z)
        for (int64_t ic = 0; ic < c; ++ic)
          for (int64_t a = 0; a < 3; ++a)
            for (int64_t e = 0; e < 3; ++e) {
              const int64_t kh = z / 2 % 2 + 3 - 2 * a, kw = z % 2 + 3 - 2 * e;
              if (kh >= 0 && kh < 4 && kw >= 0 && kw < 4) w3[((z * c + ic) * 3 + a) * 3 + e] = pw[((ic * mo + z / 4) * 4 + kh) * 4 + kw];
            }
      winograd_ = pack_winograd_weight(isa, w3.data(), m, c);
      return;
    }
    const int64_t cg = w->shape()[0] / group_, rows = w->numel() / std::max<int64_t>(1, w->shape()[0]);
    packed_ = PackedWeight::pack(kernels::gemm_primitives(isa), group_, rows, cg, [&](int64_t g) {
      return kernels::MatrixView::transposed(w->data<float>() + g * cg * rows, rows);
    });
  }
  bool consumes_constant_input(size_t i) const override { return i == 1 && (packed_ != nullptr || winograd_ != nullptr); }

  void infer(InferContext& ctx) const override {
    ctx.expect_type(0, {DType::Float32});
    const ValueType &x = ctx.input(0), &w = ctx.input(1);
    if (w.dtype != x.dtype || (ctx.has_input(2) && ctx.input(2).dtype != x.dtype)) ctx.error("X, W and B must have the same element type");
    ctx.output(0).dtype = x.dtype;
    const std::optional<Shape> xb = shape_but_batch(x);
    if (!xb || !w.shape_known()) return;
    const Shape &xs = *xb, ws = w.concrete_shape();
    if (xs.size() < 3 || ws.size() != xs.size()) ctx.error("X and W must be [N, C, spatial...] of the same rank");
    if (xs[1] != ws[0]) ctx.error("X has " + std::to_string(xs[1]) + " channels, W expects " + std::to_string(ws[0]));
    if (xs[1] % group_) ctx.error("input channels do not divide by group");
    const ConvGeometry g = geometry(spatial(xs), spatial(ws), [&](const std::string& e) { ctx.error(e); });
    Shape out{xs[0], ws[1] * group_};
    out.insert(out.end(), g.out.begin(), g.out.end());
    ctx.output(0).shape = with_batch(out, x);
  }

  void compute(ComputeContext& ctx) const override {
    const Tensor &x = *ctx.inputs[0], &w = *ctx.inputs[1];
    const Tensor* b = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    Tensor& y = *ctx.outputs[0];
    const Shape &xs = x.shape(), &ws = w.shape();
    const ConvGeometry g = geometry(spatial(xs), spatial(ws), [&](const std::string& e) { ctx.error(e); });
    const int64_t batch = xs[0], c_in = xs[1], cg = c_in / group_, mg = ws[1], m = mg * group_;
    const int64_t rows = mg * g.kernel_size, positions = g.in_size;
    const kernels::GemmPrimitives& gk = kernels::gemm_primitives(ctx.isa);
    if ((winograd_ || packed_) && b && b->numel() != m) ctx.error("B must hold one value per output channel (" + std::to_string(m) + ")");
    if (winograd_) {
      if (g.in.size() != 2 || winograd_->rows != 4 * m || g.pad_begin != std::vector<int64_t>{1, 1} || g.out[0] != 2 * g.in[0] ||
          g.out[1] != 2 * g.in[1])
        ctx.error("internal: the Winograd weight does not match X");
      const int64_t h = g.in[0], w2 = g.in[1];
      const float* bias = b ? b->data<float>() : nullptr;
      float* py = y.data<float>();
      // Phase (ph, pw) of channel co: every other column of every other row of its plane.
      winograd_conv(ctx, gk, *winograd_, x, 1, 1, h, w2, [&](int64_t n, int64_t z) {
        const int64_t co = z / 4, ph = z / 2 % 2, pw = z % 2;
        return WinogradPlane{py + (n * m + co) * g.out_size + ph * 2 * w2 + pw, 4 * w2, 2, bias ? bias[co] : 0.0f};
      });
      return;
    }
    if (packed_) {
      if (packed_->rows != rows || packed_->kdim != cg || packed_->mr != gk.mr) ctx.error("internal: the packed weight does not match X");
      compute_packed(ctx, gk, g, x, b, y);
      return;
    }
    Scratch cols(rows * positions);  // every element written by the GEMM
    float* py = y.data<float>();
    std::fill(py, py + y.numel(), 0.0f);
    const int64_t row_block = kernels::sgemm_row_block(gk);
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t grp = 0; grp < group_; ++grp) {
        const float* xg = x.data<float>() + (n * c_in + grp * cg) * positions;
        const float* wg = w.data<float>() + grp * cg * rows;  // [cg, mg * kernel] row-major
        ctx.parallel.for_range((rows + row_block - 1) / row_block, 1, [&](int64_t t0, int64_t t1) {
          kernels::sgemm_rows(gk, positions, cg, kernels::MatrixView::transposed(wg, rows), kernels::MatrixView::row_major(xg, positions),
                              cols.data(), positions, t0 * row_block, std::min(rows, t1 * row_block));
        });
        float* yg = py + (n * m + grp * mg) * g.out_size;
        // col2im, one output channel per task (channels write disjoint planes).
        ctx.parallel.for_range(mg, rows_grain(g.kernel_size * positions), [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t kk = 0; kk < g.kernel_size; ++kk)
              col2im_row(g, kk, cols.data() + (c * g.kernel_size + kk) * positions, 0, positions, yg + c * g.out_size);
        });
        if (b)
          for (int64_t c = 0; c < mg; ++c) {
            const float bias = b->data<float>()[grp * mg + c];
            for (int64_t p = 0; p < g.out_size; ++p) yg[c * g.out_size + p] += bias;
          }
      }
  }

 private:
  // The constant-weight path: tasks of (batch, group, block of output channels), each writing only
  // its channels' planes. Per block of 128 input positions: X's rows at those positions go into B
  // panels once, then per block of rows (output channel, kernel offset) the product lands in a
  // small cache-resident buffer and is added into the planes at once.
  void compute_packed(ComputeContext& ctx, const kernels::GemmPrimitives& gk, const ConvGeometry& g, const Tensor& x, const Tensor* b,
                      Tensor& y) const {
    const PackedWeight& pw = *packed_;
    const int64_t batch = x.shape()[0], c_in = x.shape()[1], cg = c_in / group_, ks = g.kernel_size, mg = pw.rows / ks;
    const int64_t m = mg * group_, positions = g.in_size, kc = pw.kc, nr = gk.nr, mr = gk.mr;
    const int64_t tile = std::max<int64_t>(nr, 128 / nr * nr), tile_floats = kernels::packed_b_floats(gk, 1, tile);
    const int64_t row_block = kernels::sgemm_row_block(gk);
    // Channel blocks start on rows that are multiples of mr (where packed A panels start).
    const int64_t step = mr / std::gcd(ks, mr), threads = ctx.parallel.threads();
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>((threads + batch * group_ - 1) / (batch * group_) * 2, mg / step));
    const int64_t cc = ((mg + chunks - 1) / chunks + step - 1) / step * step;
    const int64_t tasks = batch * group_ * chunks;
    const bool small = batch * positions * m * ks * cg < kParallelMacs;
    ctx.parallel.for_range(tasks, small ? tasks : 1, [&](int64_t t0, int64_t t1) {
      thread_local AlignedFloats panel_buf, cols_buf;
      float* panels = panel_buf.get(static_cast<size_t>(tile_floats * pw.kdim));
      float* cols = cols_buf.get(static_cast<size_t>(row_block * tile));
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / (group_ * chunks), grp = t / chunks % group_, ch = t % chunks;
        const int64_t c0 = ch * cc, c1 = std::min(mg, c0 + cc);
        if (c0 >= c1) continue;
        const float* xin = x.data<float>() + (n * c_in + grp * cg) * positions;
        float* yg = y.data<float>() + (n * m + grp * mg) * g.out_size;
        for (int64_t c = c0; c < c1; ++c)
          std::fill(yg + c * g.out_size, yg + (c + 1) * g.out_size, b ? b->data<float>()[grp * mg + c] : 0.0f);
        for (int64_t p0 = 0; p0 < positions; p0 += tile) {
          const int64_t np = std::min(tile, positions - p0);
          for (int64_t pc = 0; pc < cg; pc += kc)
            pack_b_rows(nr, pc, std::min(kc, cg - pc), np, panels + pc * tile_floats, [&](int64_t r) { return xin + r * positions + p0; });
          for (int64_t r0 = c0 * ks; r0 < c1 * ks; r0 += row_block) {
            const int64_t nrows = std::min(row_block, c1 * ks - r0);
            for (size_t pb = 0; pb < pw.block_offset.size(); ++pb) {
              const int64_t pc = static_cast<int64_t>(pb) * kc, kcc = std::min(kc, cg - pc);
              pw.multiply(gk, grp, pb, r0, r0 + nrows, panels + pc * tile_floats, np, cols, np, pb > 0);
            }
            for (int64_t r = r0; r < r0 + nrows; ++r) col2im_row(g, r % ks, cols + (r - r0) * np, p0, p0 + np, yg + (r / ks) * g.out_size);
          }
        }
      }
    });
  }

  // Winograd for the upsampling form, kernel 4, stride 2, pads 1 (each side), one group: output
  // phase (ph, pw) (row parity, column parity) of channel co at (i, j) is the sum over input
  // channels of the 2x2 taps that reach it from X's rows i - 1 .. i + 1 and columns j - 1 .. j + 1,
  // so the op is a 3x3, stride-1, pad-1 convolution of X to 4 M channels (one per channel and
  // phase, 5 of its 9 taps zero), written interleaved. Winograd's 36 products per 4x4 tile
  // against the 64 multiply-adds of the four taps reaching each of the 16 outputs of those channels:
  // 0.56x the GEMM work of col2im's path, and no col2im. The same thresholds as Conv's (channels
  // of X and of the 3x3 form, tiles of X's size) and NORMRT_CONV_WINOGRAD=0.
  bool winograd_applies(const Tensor& w, const std::optional<SymShape>& x) const {
    const std::vector<int64_t> ones{1, 1};
    if (!winograd_allowed(x)) return false;
    return w.rank() == 4 && w.shape()[2] == 4 && w.shape()[3] == 4 && group_ == 1 && strides_ == std::vector<int64_t>{2, 2} &&
           (dilations_.empty() || dilations_ == ones) && auto_pad_ == "NOTSET" && output_shape_.empty() &&
           pads_ == std::vector<int64_t>{1, 1, 1, 1} && (output_padding_.empty() || output_padding_ == std::vector<int64_t>{0, 0}) &&
           w.shape()[0] >= kWinogradMinChannels && 4 * w.shape()[1] >= kWinogradMinChannels;
  }

  // Adds row (kernel offset kk) of one output channel's columns, input positions [p0, p1), into
  // its output plane: input i reaches output i * stride - pad + offset * dilation per dim.
  static void col2im_row(const ConvGeometry& g, int64_t kk, const float* src, int64_t p0, int64_t p1, float* out) {
    const size_t d = g.in.size() - 1;
    const int64_t s = g.stride[d], out_last = g.out[d];
    int64_t koff[kMaxSpatial];
    kernel_offsets(g, kk, koff);
    const int64_t first = koff[d] * g.dilation[d] - g.pad_begin[d];  // output of input 0 along the last dim
    const std::pair<int64_t, int64_t> range = inside_range(first, s, out_last);  // no structured binding: clang 14 cannot capture one
    const int64_t lo = range.first, hi = range.second;
    for_each_run(g, g.in, g.out, koff, p0, p1, [&](int64_t p, int64_t i0, int64_t len, int64_t base, bool inside) {
      if (!inside) return;
      float* orow = out + base * out_last;
      const int64_t a = std::clamp(lo, i0, i0 + len), z = std::clamp(hi, a, i0 + len);
      const float* sp = src + (p - p0) - i0;
      for (int64_t i = a; i < z; ++i) orow[i * s + first] += sp[i];
    });
  }

  std::string auto_pad_;
  std::vector<int64_t> dilations_;
  int64_t group_;
  std::vector<int64_t> kernel_shape_, output_padding_, output_shape_, pads_, strides_;
  std::shared_ptr<const PackedWeight> packed_;  // set by prepare() when W is constant
  std::shared_ptr<const PackedWeight> winograd_;  // instead, when the Winograd path applies
};

}  // namespace

void register_conv_ops(OpRegistry& r) {
  r.add("", "Conv", 1, kMaxDefaultOpset, [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<Conv>(n); });
  r.add("", "ConvTranspose", 1, kMaxDefaultOpset,
        [](const Node& n, int64_t) -> std::unique_ptr<OpKernel> { return std::make_unique<ConvTranspose>(n); });
}

}  // namespace normrt::onnx
