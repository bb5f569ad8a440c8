// SGEMM on every ISA path against a float64 reference: odd sizes (1, 7, 17, 255, 1000), leading
// dimensions wider than the matrix, K spanning several cache blocks, rows split as threads do.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/gemm.h"

using namespace normrt::kernels;

namespace {
std::vector<Isa> isas() { return normrt::test::available_isas(); }
std::vector<float> random_matrix(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}
}  // namespace

TEST_CASE("sgemm_rows matches float64 on odd sizes, every ISA") {
  struct Case { int64_t m, n, k; };
  const Case cases[] = {{1, 1, 1}, {1, 7, 17}, {7, 17, 1}, {17, 7, 255}, {7, 255, 17}, {255, 17, 7},
                        {33, 65, 300}, {1, 1000, 17}, {100, 1000, 7}, {13, 40, 1000}, {6, 32, 256}, {12, 64, 513},
                        {20, 112, 1600}, {26, 50, 800},  // parts ending in a tile of 2 rows, several depth blocks
                        {22, 45, 770}, {24, 33, 20}};  // parts of 7 and 8 rows: one tall tile where mr_max allows
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    for (const Case& c : cases) {
      const int64_t lda = c.k + 3, ldb = c.n + 5, ldc = c.n + 2;
      std::vector<float> a = random_matrix(c.m * lda, 1), b = random_matrix(c.k * ldb, 2), out(c.m * ldc, -99.0f);
      // Rows in two uneven parts, as two threads would take them.
      const int64_t split = c.m / 3;
      sgemm_rows(g, c.n, c.k, a.data(), lda, b.data(), ldb, out.data(), ldc, 0, split);
      sgemm_rows(g, c.n, c.k, a.data(), lda, b.data(), ldb, out.data(), ldc, split, c.m);
      double worst = 0;
      for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t j = 0; j < c.n; ++j) {
          double want = 0, scale = 0;
          for (int64_t p = 0; p < c.k; ++p) {
            want += double(a[i * lda + p]) * b[p * ldb + j];
            scale += std::fabs(double(a[i * lda + p]) * b[p * ldb + j]);
          }
          worst = std::max(worst, std::fabs(out[i * ldc + j] - want) / (scale + 1e-30));
        }
        for (int64_t j = c.n; j < ldc; ++j) REQUIRE(out[i * ldc + j] == -99.0f);  // padding untouched
      }
      INFO("isa " << std::string(isa_name(isa)) << " M,N,K = " << c.m << "," << c.n << "," << c.k);
      CHECK(worst < 1e-5);  // relative to sum |a_ip * b_pj|: float rounding, never a wrong element
    }
  }
}

TEST_CASE("sgemm_rows with K = 0 gives zeros; NaN propagates to its row and column only") {
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    std::vector<float> out(4 * 5, 7.0f);
    sgemm_rows(g, 5, 0, nullptr, 0, nullptr, 5, out.data(), 5, 0, 4);
    for (float v : out) CHECK(v == 0.0f);
    std::vector<float> a = random_matrix(4 * 3, 3), b = random_matrix(3 * 5, 4);
    a[1 * 3 + 2] = NAN;
    sgemm_rows(g, 5, 3, a.data(), 3, b.data(), 5, out.data(), 5, 0, 4);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 5; ++j) CHECK(std::isnan(out[i * 5 + j]) == (i == 1));
  }
}

TEST_CASE("sgemm_rows with transposed operands (strided views), every ISA") {
  const int64_t m = 37, n = 29, k = 301;
  std::vector<float> at = random_matrix(k * m, 5), bt = random_matrix(n * k, 6);  // A^T [k, m], B^T [n, k]
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        // The same logical A[m,k] and B[k,n] stored either way.
        std::vector<float> a(m * k), b(k * n), c(m * n);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t p = 0; p < k; ++p) a[i * k + p] = at[p * m + i];
        for (int64_t p = 0; p < k; ++p)
          for (int64_t j = 0; j < n; ++j) b[p * n + j] = bt[j * k + p];
        const MatrixView av = ta ? MatrixView::transposed(at.data(), m) : MatrixView::row_major(a.data(), k);
        const MatrixView bv = tb ? MatrixView::transposed(bt.data(), k) : MatrixView::row_major(b.data(), n);
        sgemm_rows(g, n, k, av, bv, c.data(), n, 0, m);
        double worst = 0;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double want = 0, scale = 0;
            for (int64_t p = 0; p < k; ++p) want += double(a[i * k + p]) * b[p * n + j], scale += std::fabs(double(a[i * k + p]) * b[p * n + j]);
            worst = std::max(worst, std::fabs(c[i * n + j] - want) / scale);
          }
        INFO("isa " << std::string(isa_name(isa)) << " transA " << ta << " transB " << tb);
        CHECK(worst < 1e-5);
      }
  }
}

TEST_CASE("prepacked B gives the same bits as packing per call, for any column split on panel bounds") {
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    // {2, 200, 250}: single rows (row_times_panels) over groups of panels and single panels, the
    // last one partial (K within one depth block: sgemm_rows takes two rows in one FMA chain over
    // all of K, where the packed path sums depth blocks).
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{130, 3100, 300}, {7, 50, 9}, {3, 33, 513}, {20, 7, 0}, {2, 200, 250}}) {
      std::vector<float> a = random_matrix(m * std::max<int64_t>(k, 1), 7), b = random_matrix(std::max<int64_t>(k, 1) * n, 8);
      std::vector<float> ref(m * n), out(m * n, -1.0f);
      sgemm_rows(g, n, k, a.data(), k, b.data(), n, ref.data(), n, 0, m);
      const PackedB packed(g, k, n, MatrixView::row_major(b.data(), n));
      // Three column ranges on panel boundaries, rows in two parts.
      const int64_t c1 = std::min(n, int64_t(g.nr) * 3), c2 = std::min(n, int64_t(g.nr) * 100);
      for (auto [n0, n1] : {std::pair<int64_t, int64_t>{0, c1}, {c1, c2}, {c2, n}}) {
        sgemm_rows_packed(g, packed, MatrixView::row_major(a.data(), k), out.data(), n, 0, m / 2, n0, n1);
        sgemm_rows_packed(g, packed, MatrixView::row_major(a.data(), k), out.data(), n, m / 2, m, n0, n1);
      }
      const std::string shape = std::to_string(m) + "," + std::to_string(n) + "," + std::to_string(k);  // clang: no binding captures
      INFO("isa " << std::string(isa_name(isa)) << " M,N,K = " << shape);
      CHECK(std::memcmp(ref.data(), out.data(), ref.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("sgemm_rows_packed with accumulate adds A * B into C, on every path and ISA") {
  // 1 and 2 rows (row_times_panels), few columns (A read in place), many (A packed), K past one
  // depth block, K = 0 (C unchanged, the epilogue still applied).
  struct Case { int64_t m, n, k; };
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    for (const Case& cs : {Case{1, 37, 17}, Case{2, 200, 250}, Case{7, 50, 9}, Case{40, 3100, 300}, Case{13, 33, 1000}, Case{5, 20, 0}}) {
      const int64_t m = cs.m, n = cs.n, k = cs.k;
      std::vector<float> a = random_matrix(m * std::max<int64_t>(k, 1), 21), b = random_matrix(std::max<int64_t>(k, 1) * n, 22);
      const std::vector<float> c0 = random_matrix(m * n, 23), bias = random_matrix(n, 24);
      std::vector<float> c = c0;
      const PackedB packed(g, k, n, MatrixView::row_major(b.data(), n));
      const int64_t split = std::min(n, int64_t(g.nr) * 2);
      for (bool with_bias : {false, true}) {
        c = c0;
        const GemmEpilogue ep{with_bias ? bias.data() : nullptr};
        sgemm_rows_packed(g, packed, MatrixView::row_major(a.data(), k), c.data(), n, 0, m, 0, split, ep, true);
        sgemm_rows_packed(g, packed, MatrixView::row_major(a.data(), k), c.data(), n, 0, m, split, n, ep, true);
        double worst = 0;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double want = double(c0[i * n + j]) + (with_bias ? bias[j] : 0.0), scale = 1;
            for (int64_t p = 0; p < k; ++p) want += double(a[i * k + p]) * b[p * n + j], scale += std::fabs(double(a[i * k + p]) * b[p * n + j]);
            worst = std::max(worst, std::fabs(c[i * n + j] - want) / scale);
          }
        const std::string shape = std::to_string(m) + "," + std::to_string(n) + "," + std::to_string(k);
        INFO("isa " << std::string(isa_name(isa)) << " M,N,K = " << shape << " bias " << with_bias);
        CHECK(worst < 1e-5);
      }
    }
  }
}

TEST_CASE("GEMM epilogues: bias and ReLU / GELU (erf, tanh) fused into the store, every path and ISA") {
  struct Case { int64_t m, n, k; };
  const Case cases[] = {{1, 37, 17}, {2, 64, 300}, {7, 100, 513}, {130, 70, 64}, {5, 33, 0}};
  const Activation acts[] = {Activation::None, Activation::Relu, Activation::GeluErf, Activation::GeluTanh};
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    for (const Case& c : cases)
      for (Activation act : acts)
        for (bool with_bias : {false, true})
          for (bool packed : {false, true}) {
            INFO("isa " << std::string(isa_name(isa)) << " M,N,K = " << c.m << "," << c.n << "," << c.k << " act " << int(act) << " bias "
                        << with_bias << " packed " << packed);
            std::vector<float> a = random_matrix(c.m * c.k + 1, 3), b = random_matrix(c.k * c.n + 1, 4), bias = random_matrix(c.n, 5);
            for (auto& v : a) v *= 2;  // values over a range where GELU bends
            std::vector<float> out(c.m * c.n, -99.0f);
            const GemmEpilogue ep{with_bias ? bias.data() : nullptr, act};
            if (packed) {
              const PackedB pb(g, c.k, c.n, MatrixView::row_major(b.data(), c.n));
              // Columns in two parts on a panel bound, as the MatMul op splits them.
              const int64_t split = std::min<int64_t>(c.n, g.nr);
              sgemm_rows_packed(g, pb, MatrixView::row_major(a.data(), c.k), out.data(), c.n, 0, c.m, 0, split, ep);
              sgemm_rows_packed(g, pb, MatrixView::row_major(a.data(), c.k), out.data(), c.n, 0, c.m, split, c.n, ep);
            } else {
              sgemm_rows(g, c.n, c.k, a.data(), c.k, b.data(), c.n, out.data(), c.n, 0, c.m, ep);
            }
            double worst = 0;
            for (int64_t i = 0; i < c.m; ++i)
              for (int64_t j = 0; j < c.n; ++j) {
                double v = with_bias ? bias[j] : 0.0;
                for (int64_t p = 0; p < c.k; ++p) v += double(a[i * c.k + p]) * b[p * c.n + j];
                if (act == Activation::Relu) v = std::max(v, 0.0);
                if (act == Activation::GeluErf) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
                if (act == Activation::GeluTanh) v = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
                worst = std::max(worst, std::fabs(out[i * c.n + j] - v) / std::max(1.0, std::fabs(v)));
              }
            CHECK(worst < 2e-5);
          }
  }
}

TEST_CASE("sgemm_inplace_a reads A in place and matches the packed-A product bit for bit") {
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    // k = 1000: several depth blocks on every ISA; 7 and 3: depths that are not (or less than) a
    // multiple of the 4 steps AVX2's tile takes at a time. m = 6 and 12: whole tiles of 6 rows.
    for (auto [m, k] : {std::pair<int64_t, int64_t>{1, 1000}, {5, 1000}, {6, 1000}, {13, 1000}, {64, 1000}, {6, 7}, {12, 3}, {13, 7}}) {
      const int64_t n = 70, lda = k + 9;
      std::vector<float> a = random_matrix(m * lda, 6), b = random_matrix(k * n, 7);
      const PackedB pb(g, k, n, MatrixView::row_major(b.data(), n));
      const int64_t depth = pb.depth_block();
      for (int64_t block = 0; block * depth < k; ++block) {
        const int64_t kc = std::min(depth, k - block * depth);
        std::vector<float> in_place(m * n, 1.0f), via_pack(m * n, 1.0f), packed_a(packed_a_floats(g, m, kc));
        sgemm_inplace_a(g, a.data() + block * depth, lda, m, pb, block, 0, n, in_place.data(), n, true);
        pack_a_block(g, MatrixView::row_major(a.data() + block * depth, lda), m, kc, packed_a.data());
        sgemm_packed_a(g, packed_a.data(), m, pb, block, 0, n, via_pack.data(), n, true);
        const std::string shape = std::to_string(m) + "," + std::to_string(k);  // clang: no binding captures
        INFO("isa " << std::string(isa_name(isa)) << " m,k = " << shape << " depth block " << block);
        CHECK(std::memcmp(in_place.data(), via_pack.data(), in_place.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("a value of C has the same bits whichever tile computes it: whole tiles, edge tiles, single rows, every ISA") {
  // Each value is one chain of fused multiply-adds over k in order, however many rows and columns
  // its tile holds (AVX2's 6 x 16 tile runs in assembly; its 4- and 2-row tiles, its 8-column
  // tiles and single rows do not).
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    // m = 1, 2, 8, 13, 14: a last tile of 1 or 2 rows; n = 50 and 112: several panels, the last
    // one partial or not.
    for (int64_t m : {1, 2, 4, 5, 6, 8, 12, 13, 14})
      for (int64_t n : {8, 16, 40, 50, 112})
        for (int64_t k : {1, 3, 7, 40, 301}) {
          const std::vector<float> a = random_matrix(m * k, 31), b = random_matrix(k * n, 32);
          const PackedB packed(g, k, n, MatrixView::row_major(b.data(), n));
          std::vector<float> whole(m * n, -1.0f), by_row(m * n, -2.0f);
          sgemm_rows_packed(g, packed, MatrixView::row_major(a.data(), k), whole.data(), n, 0, m, 0, n);
          for (int64_t i = 0; i < m; ++i) sgemm_rows_packed(g, packed, MatrixView::row_major(a.data(), k), by_row.data(), n, i, i + 1, 0, n);
          INFO("isa " << std::string(isa_name(isa)) << " M,N,K = " << m << "," << n << "," << k);
          CHECK(std::memcmp(whole.data(), by_row.data(), whole.size() * sizeof(float)) == 0);
        }
  }
}

TEST_CASE("sgemm_rows_prepacked_a (A packed whole by prepack_a, in parts) equals sgemm_rows_packed bit for bit, with the epilogue, every ISA") {
  struct Case { int64_t m, k, n, n0, n1; };
  // One and several depth blocks and row blocks (more than 132 rows), edge tiles of 1-5 rows, column
  // ranges that start on a panel and end inside one, a depth of 0.
  const Case cases[] = {{3, 17, 40, 0, 40}, {128, 300, 200, 16, 200}, {140, 1000, 70, 0, 33}, {299, 64, 100, 32, 97}, {7, 0, 20, 0, 20}};
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    for (const Case& c : cases)
      for (Activation act : {Activation::None, Activation::GeluErf}) {
        const std::vector<float> a = random_matrix(c.m * std::max<int64_t>(c.k, 1), 21), b = random_matrix(c.k * c.n, 22),
                                 bias = random_matrix(c.n, 23);
        const PackedB pb(g, c.k, c.n, MatrixView::row_major(b.data(), c.n));
        // Packed in two uneven parts, as two threads would share it.
        std::vector<float> ap(prepacked_a_floats(g, pb, c.m), -7.0f);
        const int64_t panels = prepacked_a_panels(g, pb, c.m);
        prepack_a(g, pb, a.data(), c.k, c.m, 0, panels / 3, ap.data());
        prepack_a(g, pb, a.data(), c.k, c.m, panels / 3, panels, ap.data());
        const int64_t ldc = c.n + 3;
        std::vector<float> want(c.m * ldc, 5.0f), got(c.m * ldc, 5.0f);
        const GemmEpilogue ep{bias.data(), act};
        sgemm_rows_packed(g, pb, MatrixView::row_major(a.data(), c.k), want.data(), ldc, 0, c.m, c.n0, c.n1, ep);
        sgemm_rows_prepacked_a(g, pb, ap.data(), c.m, got.data(), ldc, c.n0, c.n1, ep);
        INFO("isa " << std::string(isa_name(isa)) << " m,k,n = " << c.m << "," << c.k << "," << c.n << " columns " << c.n0 << "-" << c.n1
                    << " act " << int(act));
        CHECK(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) == 0);
      }
  }
}

TEST_CASE("sgemm_packed_ab: A from pack_a_block, B in the documented panel layout, odd sizes, accumulate, every ISA") {
  struct Case { int64_t m, n, kc; };
  const Case cases[] = {{1, 1, 1}, {7, 17, 5}, {13, 40, 33}, {66, 128, 300}, {5, 100, 768}, {132, 33, 17}};
  for (Isa isa : isas()) {
    const GemmPrimitives& g = gemm_primitives(isa);
    for (const Case& c : cases) {
      INFO("isa " << std::string(isa_name(isa)) << " m,n,kc = " << c.m << "," << c.n << "," << c.kc);
      const std::vector<float> a = random_matrix(c.m * c.kc, 3), b = random_matrix(c.kc * c.n, 4);
      std::vector<float> ap(packed_a_floats(g, c.m, c.kc));
      pack_a_block(g, MatrixView::row_major(a.data(), c.kc), c.m, c.kc, ap.data());
      // The layout gemm.h promises: column j of depth row p at (j / nr) * kc * nr + p * nr + j % nr,
      // the last panel zero-padded; 64-byte aligned.
      const int64_t nr = g.nr, panels = (c.n + nr - 1) / nr, b_floats = packed_b_floats(g, c.kc, c.n);
      REQUIRE(b_floats == panels * nr * c.kc);
      std::unique_ptr<float, void (*)(void*)> bp_store(static_cast<float*>(std::aligned_alloc(64, (b_floats * 4 + 63) / 64 * 64)), std::free);
      float* bp = bp_store.get();
      for (int64_t p = 0; p < c.kc; ++p)
        for (int64_t j = 0; j < panels * nr; ++j) bp[(j / nr) * c.kc * nr + p * nr + j % nr] = j < c.n ? b[p * c.n + j] : 0.0f;
      const int64_t ldc = c.n + 3;
      for (bool accumulate : {false, true}) {
        std::vector<float> out(c.m * ldc, 0.5f);
        sgemm_packed_ab(g, ap.data(), c.m, bp, c.kc, c.n, out.data(), ldc, accumulate);
        double worst = 0;
        for (int64_t i = 0; i < c.m; ++i) {
          for (int64_t j = 0; j < c.n; ++j) {
            double want = accumulate ? 0.5 : 0.0, scale = 0.5;
            for (int64_t p = 0; p < c.kc; ++p) {
              want += double(a[i * c.kc + p]) * b[p * c.n + j];
              scale += std::fabs(double(a[i * c.kc + p]) * b[p * c.n + j]);
            }
            worst = std::max(worst, std::fabs(out[i * ldc + j] - want) / scale);
          }
          for (int64_t j = c.n; j < ldc; ++j) REQUIRE(out[i * ldc + j] == 0.5f);  // padding untouched
        }
        CHECK(worst < 1e-5);
      }
    }
  }
}

namespace {
// pack_a_panel and pack_b_panel_transposed share one contract: `lines` source lines of kc values
// (line i at src + i * ld) into out[p * width + i], lines past `lines` zero. Checked value by
// value for every line count up to the panel width, depths around multiples of 8, unaligned
// sources and odd leading dimensions; guards on both sides catch a write outside the panel (the
// AVX2 paths store whole vectors that overlap).
void check_panel_copy(void (*copy)(const float*, int64_t, int64_t, int64_t, float*), int64_t width, const char* what) {
  for (int64_t kc : {0, 1, 7, 8, 9, 15, 16, 17, 24, 63, 64, 100, 768}) {
    for (int64_t lines = 1; lines <= width; ++lines) {
      for (int64_t offset : {0, 1, 3}) {
        INFO(what << " kc " << kc << " lines " << lines << " offset " << offset);
        const int64_t ld = kc + 5;
        std::vector<float> a = random_matrix(offset + lines * ld, static_cast<uint32_t>(kc * 31 + lines));
        const float* src = a.data() + offset;
        const int64_t guard = 16;
        std::vector<float> buf(guard + kc * width + guard, -7.0f);
        copy(src, ld, lines, kc, buf.data() + guard);
        int64_t wrong = 0;
        for (int64_t p = 0; p < kc; ++p)
          for (int64_t i = 0; i < width; ++i) wrong += buf[guard + p * width + i] != (i < lines ? src[i * ld + p] : 0.0f);
        CHECK(wrong == 0);
        for (int64_t j = 0; j < guard; ++j) {
          CHECK(buf[j] == -7.0f);
          CHECK(buf[guard + kc * width + j] == -7.0f);
        }
      }
    }
  }
}
}  // namespace

TEST_CASE("pack_a_panel and pack_b_panel_transposed write the documented panel layout exactly, every ISA") {
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    const GemmPrimitives& g = gemm_primitives(isa);
    check_panel_copy(g.pack_a_panel, g.mr, "pack_a_panel");
    check_panel_copy(g.pack_b_panel_transposed, g.nr, "pack_b_panel_transposed");
  }
}
