// Online softmax rows on every ISA path against float64.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/softmax.h"

using namespace normrt::kernels;

namespace {
std::vector<Isa> isas() { return normrt::test::available_isas(); }
std::vector<double> reference(const float* x, int64_t n, bool log_softmax) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, double(x[i]));
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - mx);
  std::vector<double> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = log_softmax ? double(x[i]) - mx - std::log(s) : std::exp(double(x[i]) - mx) / s;
  return y;
}
}  // namespace

TEST_CASE("softmax rows: lengths with tails, large offsets, partial masks, log form, every ISA") {
  const float kNegInf = -std::numeric_limits<float>::infinity();
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0, 4);
  for (Isa isa : isas()) {
    const SoftmaxPrimitives& k = softmax_primitives(isa);
    for (int64_t n : {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 64, 100, 128, 1000, 4097}) {
      for (float offset : {0.0f, 1e4f, -1e4f}) {
        std::vector<float> x(n), y(n);
        for (auto& v : x) v = nd(rng) + offset;
        if (n > 3) x[n / 2] = kNegInf, x[n - 1] = kNegInf;  // masked positions
        for (bool log_form : {false, true}) {
          k.rows(x.data(), y.data(), n, log_form, 0, 1);
          const std::vector<double> ref = reference(x.data(), n, log_form);
          double worst = 0, total = 0;
          for (int64_t i = 0; i < n; ++i) {
            if (std::isinf(ref[i])) {
              REQUIRE(y[i] == float(ref[i]));
              continue;
            }
            worst = std::max(worst, std::fabs(y[i] - ref[i]) / (log_form ? 1.0 + std::fabs(ref[i]) : 1e-30 + ref[i]));
            total += y[i];
          }
          INFO("isa " << std::string(isa_name(isa)) << " n " << n << " offset " << offset << " log " << log_form);
          CHECK(worst < 2e-5);
          if (!log_form) CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
        }
      }
    }
  }
}

TEST_CASE("softmax rows: a fully masked row gives zeros, NaN stays in its row") {
  const float kNegInf = -std::numeric_limits<float>::infinity();
  for (Isa isa : isas()) {
    const SoftmaxPrimitives& k = softmax_primitives(isa);
    const int64_t n = 37;
    std::vector<float> x(3 * n, 0.5f), y(3 * n), ly(3 * n);
    for (int64_t i = 0; i < n; ++i) x[i] = kNegInf;
    x[n + 20] = NAN;
    k.rows(x.data(), y.data(), n, false, 0, 3);
    k.rows(x.data(), ly.data(), n, true, 0, 3);
    for (int64_t i = 0; i < n; ++i) {
      REQUIRE(y[i] == 0.0f);
      REQUIRE(ly[i] == kNegInf);
      REQUIRE(std::isnan(y[n + i]));
      REQUIRE(y[2 * n + i] == doctest::Approx(1.0 / n));
    }
  }
}
