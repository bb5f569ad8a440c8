// Winograd F(4x4, 3x3) transforms on every ISA path: a whole convolution assembled from them (the
// per-point products summed in double) against a direct float64 convolution, with partial tiles,
// padding on every side, tile rows longer than a vector and handed over in two runs, and an
// unaligned point stride.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/winograd.h"

using namespace normrt::kernels;

TEST_CASE("Winograd F(4x4, 3x3): weight, input and output transforms compose to the convolution, every ISA") {
  struct Case {
    int64_t h, w, pad_top, pad_left, pad_bottom, pad_right;
  };
  const Case cases[] = {{1, 1, 1, 1, 1, 1}, {3, 3, 0, 0, 0, 0}, {7, 9, 1, 0, 2, 1}, {6, 70, 1, 1, 1, 1}, {13, 35, 0, 2, 0, 0}, {4, 130, 1, 1, 1, 1}};
  const int64_t c = 3, m = 2;
  constexpr int64_t P = kWinogradPoints, S = kWinogradTile;
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1);
  for (const Case& cs : cases) {
    const int64_t oh = cs.h + cs.pad_top + cs.pad_bottom - 2, ow = cs.w + cs.pad_left + cs.pad_right - 2;
    const int64_t tiles_x = (ow + S - 1) / S, tiles_y = (oh + S - 1) / S;
    std::vector<float> x(c * cs.h * cs.w), wt(m * c * 9), bias(m), u(P * m * c);
    for (auto& v : x) v = nd(rng);
    for (auto& v : wt) v = nd(rng);
    for (auto& v : bias) v = nd(rng);
    winograd_weights(wt.data(), m, c, u.data());
    // Direct float64 reference and each output's term magnitude.
    std::vector<double> ref(m * oh * ow), mag(m * oh * ow);
    for (int64_t oc = 0; oc < m; ++oc)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = bias[oc], ma = std::fabs(acc);
          for (int64_t ic = 0; ic < c; ++ic)
            for (int a = 0; a < 3; ++a)
              for (int e = 0; e < 3; ++e) {
                const int64_t yy = i - cs.pad_top + a, xx = j - cs.pad_left + e;
                if (yy < 0 || yy >= cs.h || xx < 0 || xx >= cs.w) continue;
                const double t = double(x[(ic * cs.h + yy) * cs.w + xx]) * wt[((oc * c + ic) * 3 + a) * 3 + e];
                acc += t, ma += std::fabs(t);
              }
          ref[(oc * oh + i) * ow + j] = acc, mag[(oc * oh + i) * ow + j] = ma;
        }
    // step 1: plain output planes; step 2: each plane's elements every other column of every
    // other row of a wider buffer, one element in (ConvTranspose's interleaved phases).
    for (Isa isa : normrt::test::available_isas())
    for (int64_t step : {1, 2}) {
      INFO("isa " << isa_name(isa) << " h " << cs.h << " w " << cs.w << " step " << step);
      const WinogradPrimitives& k = winograd_primitives(isa);
      const int64_t ld = tiles_x + 3;  // an odd point stride: rows of points are unaligned
      const int64_t pitch = step == 1 ? ow : 2 * step * ow, plane_floats = step == 1 ? oh * ow : oh * pitch, first = step == 1 ? 0 : 1;
      std::vector<float> v(c * P * ld + 1), z(m * P * ld + 1);
      std::vector<float> y(m * plane_floats, std::numeric_limits<float>::quiet_NaN());
      for (int64_t ty = 0; ty < tiles_y; ++ty) {
        // Each tile row's tiles in two runs, the second starting mid-row.
        const int64_t split = tiles_x / 2;
        for (int64_t ic = 0; ic < c; ++ic) {
          float* out = v.data() + 1 + ic * P * ld;
          const float* plane = x.data() + ic * cs.h * cs.w;
          const int64_t y0 = ty * S - cs.pad_top;
          k.input_tiles(plane, cs.h, cs.w, y0, -cs.pad_left, split, out, ld);
          k.input_tiles(plane, cs.h, cs.w, y0, split * S - cs.pad_left, tiles_x - split, out + split, ld);
        }
        for (int64_t oc = 0; oc < m; ++oc)
          for (int64_t p = 0; p < P; ++p)
            for (int64_t t = 0; t < tiles_x; ++t) {
              double acc = 0;
              for (int64_t ic = 0; ic < c; ++ic) acc += double(u[(p * m + oc) * c + ic]) * v[1 + ic * P * ld + p * ld + t];
              z[1 + oc * P * ld + p * ld + t] = float(acc);
            }
        for (int64_t oc = 0; oc < m; ++oc) {
          const float* in = z.data() + 1 + oc * P * ld;
          float* plane = y.data() + oc * plane_floats + first;
          k.output_tiles(in, ld, split, bias[oc], plane, oh, ow, ty * S, 0, pitch, step);
          k.output_tiles(in + split, ld, tiles_x - split, bias[oc], plane, oh, ow, ty * S, split * S, pitch, step);
        }
      }
      double worst = 0;
      for (int64_t oc = 0; oc < m; ++oc)
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j) {
            const size_t r = (oc * oh + i) * ow + j;
            const float got = y[oc * plane_floats + first + i * pitch + j * step];
            worst = std::isnan(got) ? 1.0 : std::max(worst, std::fabs(got - ref[r]) / std::max(1.0, mag[r]));  // NaN: never written
          }
      CHECK(worst < 1e-5);
      // Every plane element written, nothing else.
      int64_t written = 0;
      for (float e : y) written += !std::isnan(e);
      CHECK(written == m * oh * ow);
    }
  }
}

TEST_CASE("Winograd weight transform: G g Gt in double") {
  const double g[6][3] = {{1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                          {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  std::vector<float> w(2 * 3 * 9), u(kWinogradPoints * 6);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) - 3.0f + 0.25f * float(i);
  winograd_weights(w.data(), 2, 3, u.data());
  for (int64_t oc = 0; oc < 2; ++oc)
    for (int64_t ic = 0; ic < 3; ++ic)
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
          double want = 0;
          for (int p = 0; p < 3; ++p)
            for (int q = 0; q < 3; ++q) want += g[a][p] * w[(oc * 3 + ic) * 9 + p * 3 + q] * g[b][q];
          CHECK(u[((a * 6 + b) * 2 + oc) * 3 + ic] == doctest::Approx(want).epsilon(1e-6));
        }
}
