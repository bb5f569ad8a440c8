// Normalization kernels on every ISA path this machine (or qemu) can run, against a float64
// reference computed from the same float32 inputs. Depends on kernels/ only, so it also
// cross-builds for AArch64 (scripts/neon_test.sh) and runs there under qemu.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/norm.h"

using namespace normrt::kernels;

namespace {

std::vector<Isa> isas() { return normrt::test::available_isas(); }

// LayerNorm (or RMSNorm) of one row in float64.
std::vector<double> reference_row(const float* x, int64_t d, double eps, bool rms = false, const float* g = nullptr,
                                  const float* b = nullptr) {
  double mean = 0, var = 0;
  if (!rms) {
    for (int64_t i = 0; i < d; ++i) mean += x[i];
    mean /= double(d);
  }
  for (int64_t i = 0; i < d; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= double(d);
  std::vector<double> y(d);
  for (int64_t i = 0; i < d; ++i) y[i] = (x[i] - mean) / std::sqrt(var + eps) * (g ? g[i] : 1.0) + (b ? b[i] : 0.0);
  return y;
}

double max_abs_error(const float* y, const std::vector<double>& ref) {
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(double(y[i]) - ref[i]));
  return worst;
}

std::vector<float> normal_row(int64_t d, double center, double scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n01;
  std::vector<float> x(d);
  for (auto& v : x) v = static_cast<float>(center + scale * n01(rng));
  return x;
}

void layer_norm(Isa isa, const float* x, float* y, int64_t rows, int64_t d, double eps, const float* g = nullptr,
                const float* b = nullptr, float* mean = nullptr, float* inv = nullptr, bool rms = false, bool from_memory = false,
                bool stream_stores = false) {
  RowNormArgs a{x, y, d, eps, rms, g, b};
  a.from_memory = from_memory;
  a.stream_stores = stream_stores;
  a.mean_out = mean;
  a.inv_std_out = inv;
  row_norm(norm_primitives(isa), a, 0, rows);
}

}  // namespace

TEST_CASE("norm kernels: paths available here") {
  std::string names;
  for (Isa i : isas()) names += std::string(isa_name(i)) + " ";
  MESSAGE("testing ISA paths: " << names);
  CHECK(!isas().empty());
  CHECK(norm_primitives(Isa::Auto).isa == best_isa());
}

TEST_CASE("norm kernels: the seed example x=(5,5,0,0,0,0,0,0)") {
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    const float x[8] = {5, 5, 0, 0, 0, 0, 0, 0};
    float y[8], mean, inv;
    layer_norm(isa, x, y, 1, 8, 1e-12, nullptr, nullptr, &mean, &inv);
    CHECK(mean == doctest::Approx(1.25));
    CHECK(1.0 / inv == doctest::Approx(2.1650635).epsilon(1e-6));
    CHECK(y[0] == doctest::Approx(1.7320508).epsilon(1e-6));
    CHECK(y[1] == doctest::Approx(1.7320508).epsilon(1e-6));
    for (int i = 2; i < 8; ++i) CHECK(y[i] == doctest::Approx(-0.5773503).epsilon(1e-6));
  }
}

TEST_CASE("norm kernels: error below 1e-5 where float32 shortcuts collapse") {
  const int64_t rows = 64, d = 768;
  SUBCASE("x = c + N(0,1), c up to 1e5") {
    for (Isa isa : isas())
      for (double c : {0.0, 1e2, 1e3, 1e4, 3e4, 1e5}) {
        double worst = 0;
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<float> x = normal_row(d, c, 1.0, static_cast<uint32_t>(r + 1)), y(d);
          layer_norm(isa, x.data(), y.data(), 1, d, 1e-5);
          worst = std::max(worst, max_abs_error(y.data(), reference_row(x.data(), d, 1e-5)));
        }
        INFO("isa " << std::string(isa_name(isa)) << " c = " << c << " max abs error " << worst);
        CHECK(worst < 1e-5);
      }
  }
  SUBCASE("first element an outlier of 1e6") {
    for (Isa isa : isas())
      for (int64_t dd : {int64_t(768), int64_t(4096)}) {
        std::vector<float> x = normal_row(dd, 0, 1, 9), y(dd);
        x[0] = 1e6f;
        layer_norm(isa, x.data(), y.data(), 1, dd, 1e-5);
        const double err = max_abs_error(y.data(), reference_row(x.data(), dd, 1e-5));
        INFO("isa " << std::string(isa_name(isa)) << " d " << dd << " max abs error " << err);
        CHECK(err < 1e-5);
      }
  }
  SUBCASE("scale jumping from 1e-4 to 1e4 between neighbouring rows") {
    for (Isa isa : isas()) {
      std::vector<float> x, y(rows * d);
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<float> row = normal_row(d, 3.0 * (r % 2 ? 1e4 : 1e-4), r % 2 ? 1e4 : 1e-4, static_cast<uint32_t>(r + 100));
        x.insert(x.end(), row.begin(), row.end());
      }
      layer_norm(isa, x.data(), y.data(), rows, d, 1e-12);
      double worst = 0;
      for (int64_t r = 0; r < rows; ++r)
        worst = std::max(worst, max_abs_error(y.data() + r * d, reference_row(x.data() + r * d, d, 1e-12)));
      INFO("isa " << std::string(isa_name(isa)) << " max abs error " << worst);
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE("norm kernels: properties of normalized rows") {
  const int64_t d = 1000;
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    std::vector<float> x = normal_row(d, 50, 7, 3), y(d), y2(d);
    layer_norm(isa, x.data(), y.data(), 1, d, 1e-12);
    double mean = 0, sq = 0;
    for (float v : y) mean += v, sq += double(v) * v;
    mean /= d;
    CHECK(std::fabs(mean) < 1e-6);
    CHECK(sq / d - mean * mean == doctest::Approx(1.0).epsilon(1e-5));  // variance 1
    CHECK(std::sqrt(sq) == doctest::Approx(std::sqrt(double(d))).epsilon(1e-5));  // L2 norm sqrt(d)
    // Invariance: adding a constant, scaling by 1e-4 and 1e4.
    for (auto transform : {+[](float v) { return v + 1000.0f; }, +[](float v) { return v * 1e-4f; }, +[](float v) { return v * 1e4f; }}) {
      std::vector<float> xt(d);
      for (int64_t i = 0; i < d; ++i) xt[i] = transform(x[i]);
      layer_norm(isa, xt.data(), y2.data(), 1, d, 1e-12);
      double worst = 0;
      for (int64_t i = 0; i < d; ++i) worst = std::max(worst, std::fabs(double(y2[i]) - y[i]));
      CHECK(worst < 1e-4);  // + 1000 rounds x itself at ulp(1000) = 6e-5
    }
  }
}

TEST_CASE("norm kernels: a row's output does not depend on the batch or the other rows") {
  for (Isa isa : isas())
  // 777: rows at every alignment; 768: every row vector-aligned (or none, one float off); a row
  // longer than a segment takes the one-row-at-a-time path instead of the pipeline.
  for (int64_t d : {int64_t(777), int64_t(768), kNormSegment + 24})
  for (int64_t misalign : {0, 1}) {
    INFO("isa " << std::string(isa_name(isa)) << " d " << d << " y misaligned by " << misalign << " floats");
    std::vector<float> row = normal_row(d, 5, 2, 11), alone(d), g = normal_row(d, 1, 0.5, 12), b = normal_row(d, 0, 1, 13);
    layer_norm(isa, row.data(), alone.data(), 1, d, 1e-5, g.data(), b.data());
    // Rows in cache or streamed from memory, and with non-temporal stores (tensors larger than the
    // caches; they apply where a row of y is vector-aligned).
    for (int mode : {0, 1, 2})
    for (int64_t batch : {2, 5, 9}) {
      const bool from_memory = mode >= 1, stream_stores = mode == 2;
      INFO("from_memory " << from_memory << " stream_stores " << stream_stores << " batch " << batch);
      std::vector<float> x, y_storage(batch * d + 32);
      float* y = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(y_storage.data()) + 63) & ~uintptr_t(63)) + misalign;
      for (int64_t r = 0; r < batch; ++r) {
        std::vector<float> other = r == batch / 2 ? row : normal_row(d, 1e4 * r, 1e3, static_cast<uint32_t>(r + 50));
        if (r == 0 && r != batch / 2) other[3] = NAN;
        x.insert(x.end(), other.begin(), other.end());
      }
      layer_norm(isa, x.data(), y, batch, d, 1e-5, g.data(), b.data(), nullptr, nullptr, false, from_memory, stream_stores);
      CHECK(std::memcmp(y + (batch / 2) * d, alone.data(), d * sizeof(float)) == 0);
      // The last row comes out of the pipeline's drain (normalize_vec), the others out of its loop.
      const std::vector<double> ref = reference_row(x.data() + (batch - 1) * d, d, 1e-5, false, g.data(), b.data());
      CHECK(max_abs_error(y + (batch - 1) * d, ref) < 1e-5);
    }
  }
}

TEST_CASE("norm kernels: NaN and Inf stay in their row; a constant row gives exactly beta") {
  const int64_t d = 37;
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    std::vector<float> x = normal_row(3 * d, 0, 1, 4), y(3 * d), g(d, 2.0f), b(d);
    for (int64_t i = 0; i < d; ++i) b[i] = 0.25f * i;
    x[d + 5] = NAN;
    for (int64_t i = 0; i < d; ++i) x[2 * d + i] = 1234.5f;  // constant row
    layer_norm(isa, x.data(), y.data(), 3, d, 1e-5, g.data(), b.data());
    for (int64_t i = 0; i < d; ++i) {
      REQUIRE(std::isfinite(y[i]));
      REQUIRE(std::isnan(y[d + i]));
      REQUIRE(y[2 * d + i] == b[i]);
    }
    x[d + 5] = INFINITY;
    layer_norm(isa, x.data(), y.data(), 3, d, 1e-5, g.data(), b.data());
    for (int64_t i = 0; i < d; ++i) {
      REQUIRE(std::isfinite(y[i]));
      REQUIRE(std::isnan(y[d + i]));
    }
  }
}

TEST_CASE("norm kernels: tails, unaligned pointers, tiny and huge rows") {
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    for (int64_t d : {1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 257, 1000, 4097, 40000}) {
      for (int offset : {0, 1, 3}) {
        std::vector<float> buf(d + 8), out(d + 8), g(d + 8), b(d + 8);
        std::vector<float> row = normal_row(d, 10, 3, static_cast<uint32_t>(d));
        std::copy(row.begin(), row.end(), buf.begin() + offset);
        std::vector<float> gr = normal_row(d, 1, 0.5, 7), br = normal_row(d, 0, 1, 8);
        std::copy(gr.begin(), gr.end(), g.begin() + offset);
        std::copy(br.begin(), br.end(), b.begin() + offset);
        layer_norm(isa, buf.data() + offset, out.data() + offset, 1, d, 1e-5, g.data() + offset, b.data() + offset);
        const double err = max_abs_error(out.data() + offset, reference_row(row.data(), d, 1e-5, false, gr.data(), br.data()));
        INFO("d = " << d << " offset " << offset);
        CHECK(err < 2e-5);
        CHECK(out[offset + d] == 0.0f);  // nothing written past the end
      }
    }
    // A row larger than L2 (4 MiB).
    const int64_t big = int64_t(1) << 20;
    std::vector<float> x = normal_row(big, 100, 1, 5), y(big);
    layer_norm(isa, x.data(), y.data(), 1, big, 1e-5);
    CHECK(max_abs_error(y.data(), reference_row(x.data(), big, 1e-5)) < 1e-5);
  }
}

TEST_CASE("norm kernels: segment sums merged in order equal the whole-row statistics") {
  const int64_t d = 3 * kNormSegment + 123;
  std::vector<float> x = normal_row(d, 1e3, 5, 21);
  for (Isa isa : isas()) {
    const NormPrimitives& k = norm_primitives(isa);
    const NormStats whole = row_stats(k, x.data(), d, 1e-5, false);
    ShiftedSums total;
    for (int64_t s = 0; s < norm_segments(d); ++s) {
      ShiftedSums p = segment_sums(k, x.data(), d, x[0], s);
      total.s += p.s, total.ss += p.ss;
    }
    const NormStats merged = finish_stats(total, d, x[0], 1e-5, false);
    CHECK(merged.pivot == whole.pivot);
    CHECK(merged.offset == whole.offset);
    CHECK(merged.scale == whole.scale);
  }
}

TEST_CASE("norm kernels: RMS normalization and the skip-add form") {
  const int64_t rows = 3, d = 129;
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    std::vector<float> x = normal_row(rows * d, 2, 1, 1), skip = normal_row(d, 0, 1, 2), bias = normal_row(d, 0, 1, 3);
    std::vector<float> g = normal_row(d, 1, 0.1, 4), y(rows * d), sum(rows * d), inv(rows);
    RowNormArgs a{x.data(), y.data(), d, 1e-6, true, g.data(), nullptr};
    a.skip = skip.data(), a.skip_rows = 1, a.bias = bias.data(), a.sum_out = sum.data(), a.inv_std_out = inv.data();
    row_norm(norm_primitives(isa), a, 0, rows);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> s(d);
      for (int64_t i = 0; i < d; ++i) s[i] = (x[r * d + i] + skip[i]) + bias[i];
      for (int64_t i = 0; i < d; ++i) REQUIRE(sum[r * d + i] == s[i]);
      CHECK(max_abs_error(y.data() + r * d, reference_row(s.data(), d, 1e-6, true, g.data())) < 1e-5);
    }
  }
}

TEST_CASE("norm kernels: GroupNorm with 1 group is LayerNorm over (C,H,W); with C groups, InstanceNorm") {
  const int64_t n = 2, c = 6, hw = 50;
  std::vector<float> x = normal_row(n * c * hw, 3, 2, 31), gamma(c, 1.0f), beta(c, 0.0f), y(n * c * hw), ln(n * c * hw);
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    const NormPrimitives& k = norm_primitives(isa);
    GroupNormArgs one{x.data(), y.data(), 1, c, hw, 1e-5, gamma.data(), beta.data()};
    group_norm(k, one, 0, n);
    layer_norm(isa, x.data(), ln.data(), n, c * hw, 1e-5);
    CHECK(std::memcmp(y.data(), ln.data(), y.size() * sizeof(float)) == 0);
    GroupNormArgs inst{x.data(), y.data(), c, 1, hw, 1e-5, gamma.data(), beta.data()};
    group_norm(k, inst, 0, n * c);
    layer_norm(isa, x.data(), ln.data(), n * c, hw, 1e-5);
    CHECK(std::memcmp(y.data(), ln.data(), y.size() * sizeof(float)) == 0);
    // Per-channel affine with 3 groups of 2 channels.
    std::vector<float> g2 = normal_row(c, 1, 0.5, 5), b2 = normal_row(c, 0, 1, 6);
    GroupNormArgs three{x.data(), y.data(), 3, 2, hw, 1e-5, g2.data(), b2.data()};
    group_norm(k, three, 0, n * 3);
    for (int64_t u = 0; u < n * 3; ++u) {
      std::vector<double> ref = reference_row(x.data() + u * 2 * hw, 2 * hw, 1e-5);
      for (int64_t i = 0; i < 2 * hw; ++i) ref[i] = ref[i] * g2[(u % 3) * 2 + i / hw] + b2[(u % 3) * 2 + i / hw];
      CHECK(max_abs_error(y.data() + u * 2 * hw, ref) < 1e-5);
    }
  }
}

TEST_CASE("norm kernels: GroupNorm's pipeline (each unit normalized while the next is summed)") {
  // Channels of 256+ values take the pipeline when a call has 2+ units; a call of one unit does
  // not, so each unit alone is the reference for the bits. Channel lengths that are no multiple
  // of the vector width put channel boundaries inside the stretches the sums' loop hands over;
  // 3 x 6000 values cross a statistics segment (16384) inside a channel.
  struct Shape {
    int64_t cpg, spatial;
  };
  // Non-temporal stores (stream_stores, tensors from 16 MiB) apply where every vector the sweep
  // stores is aligned: y aligned and channels whole vectors (256, 512, 6144 values); the other
  // shapes, and y one float off, take ordinary stores. Either way the bits are those of each unit
  // alone with ordinary stores.
  for (Shape s : {Shape{1, 256}, Shape{2, 257}, Shape{4, 300}, Shape{3, 1001}, Shape{3, 6000}, Shape{2, 512}, Shape{3, 6144}})
  for (int64_t misalign : {1, 0}) {
    const int64_t groups = 2, n = 3, units = n * groups, unit_len = s.cpg * s.spatial, c = groups * s.cpg;
    std::vector<float> xbuf = normal_row(units * unit_len + 1, 0, 1, 41), ybuf(units * unit_len + 32), alone(units * unit_len);
    float* x = xbuf.data() + misalign;
    float* y = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(ybuf.data()) + 63) & ~uintptr_t(63)) + misalign;
    for (int64_t i = 0; i < unit_len; ++i) x[unit_len + i] = x[unit_len + i] * 1e-3f + 1e4f;  // unit 1: mean far from 0 (pivot kept)
    x[2 * unit_len] = 1e6f;                                                                  // unit 2: an outlier first (repivot)
    std::fill(x + 3 * unit_len, x + 4 * unit_len, 7.5f);                                     // unit 3: constant, gives beta
    x[4 * unit_len + unit_len / 2] = NAN;                                                    // unit 4: NaN stays in its unit
    std::vector<float> gamma = normal_row(c, 1, 0.5, 42), beta = normal_row(c, 0, 1, 43);
    for (Isa isa : isas()) {
      INFO("isa " << std::string(isa_name(isa)) << ", " << s.cpg << " channels of " << s.spatial << ", y misaligned by "
                  << misalign << " floats");
      const NormPrimitives& k = norm_primitives(isa);
      GroupNormArgs a{x, y, groups, s.cpg, s.spatial, 1e-5, gamma.data(), beta.data()};
      for (int64_t u = 0; u < units; ++u) group_norm(k, a, u, u + 1);
      std::copy(y, y + units * unit_len, alone.begin());
      GroupNormArgs streamed = a;
      streamed.stream_stores = true;
      for (int64_t u = 0; u < units; ++u) group_norm(k, streamed, u, u + 1);  // a unit alone, streamed
      CHECK(std::memcmp(y, alone.data(), alone.size() * sizeof(float)) == 0);
      std::fill(y, y + units * unit_len, -1.0f);
      group_norm(k, streamed, 0, units);  // the pipeline, streamed
      CHECK(std::memcmp(y, alone.data(), alone.size() * sizeof(float)) == 0);
      std::fill(y, y + units * unit_len, -1.0f);
      group_norm(k, a, 0, units);
      CHECK(std::memcmp(y, alone.data(), alone.size() * sizeof(float)) == 0);
      for (int64_t u = 0; u < units; ++u) {
        INFO("unit " << u);
        const float* yu = y + u * unit_len;
        if (u == 4) {
          CHECK(std::all_of(yu, yu + unit_len, [](float v) { return std::isnan(v); }));
          continue;
        }
        std::vector<double> ref = reference_row(x + u * unit_len, unit_len, 1e-5);
        for (int64_t i = 0; i < unit_len; ++i) {
          const int64_t ch = (u % groups) * s.cpg + i / s.spatial;
          ref[i] = ref[i] * gamma[ch] + beta[ch];
        }
        if (u == 3) {
          for (int64_t i = 0; i < unit_len; ++i) REQUIRE(yu[i] == beta[(u % groups) * s.cpg + i / s.spatial]);
        } else {
          CHECK(max_abs_error(yu, ref) < 1e-5 * 4);  // |gamma| up to ~2.5 and |z| up to ~5
        }
      }
    }
  }
}
