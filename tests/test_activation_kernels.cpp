// Activations on every ISA path against the C library in float64.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/activation.h"

using namespace normrt::kernels;

TEST_CASE("erf on every ISA: accuracy over [-6, 6], tails, NaN and infinities") {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (!isa_available(isa)) continue;
    const ActivationPrimitives& k = activation_primitives(isa);
    std::vector<float> x;
    for (int i = -60000; i <= 60000; ++i) x.push_back(i * 1e-4f);
    x.push_back(NAN);
    x.push_back(INFINITY);
    x.push_back(-INFINITY);
    x.push_back(1e-30f);
    std::vector<float> y(x.size() + 3, 42.0f);
    k.erf(x.data(), y.data(), static_cast<int64_t>(x.size()));
    double worst = 0;
    for (size_t i = 0; i + 4 < x.size(); ++i) worst = std::max(worst, std::fabs(y[i] - std::erf(double(x[i]))));
    INFO("isa " << std::string(isa_name(isa)) << " max abs error " << worst);
    CHECK(worst < 2e-6);
    CHECK(std::isnan(y[x.size() - 4]));
    CHECK(y[x.size() - 3] == 1.0f);
    CHECK(y[x.size() - 2] == -1.0f);
    CHECK(y[x.size() - 1] == doctest::Approx(1.1283792e-30));
    CHECK(y[x.size()] == 42.0f);  // nothing written past n
  }
}

TEST_CASE("bias_act: a block of rows in one call, as the GEMM epilogue calls it per tile, equals a call per row") {
  const Activation acts[] = {Activation::None, Activation::Relu, Activation::GeluErf, Activation::GeluTanh};
  for (Isa isa : normrt::test::available_isas()) {
    const ActivationPrimitives& k = activation_primitives(isa);
    for (Activation act : acts)
    for (bool with_bias : {false, true})
    for (int64_t n : {1, 7, 8, 17, 33})
    for (int64_t rows : {1, 2, 6, 7}) {
      INFO("isa " << std::string(isa_name(isa)) << " act " << int(act) << " bias " << with_bias << " n " << n << " rows " << rows);
      const int64_t ldy = n + 5;  // gaps between the rows must stay untouched
      std::vector<float> bias(n), block(rows * ldy, 42.0f);
      for (int64_t i = 0; i < n; ++i) bias[i] = 0.25f * float(i % 5) - 0.5f;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i) block[r * ldy + i] = float(r * n + i) * 0.37f - 4.0f;
      std::vector<float> per_row = block;
      k.bias_act(block.data(), ldy, rows, with_bias ? bias.data() : nullptr, n, act);
      for (int64_t r = 0; r < rows; ++r) k.bias_act(per_row.data() + r * ldy, ldy, 1, with_bias ? bias.data() : nullptr, n, act);
      CHECK(std::memcmp(block.data(), per_row.data(), block.size() * sizeof(float)) == 0);
      double worst = 0;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = n; i < ldy; ++i) REQUIRE(block[r * ldy + i] == 42.0f);
        for (int64_t i = 0; i < n; ++i) {
          const double x = double(float(r * n + i) * 0.37f - 4.0f) + (with_bias ? bias[i] : 0.0);
          worst = std::max(worst, std::fabs(double(block[r * ldy + i]) - double(activation_scalar(float(x), act))));
        }
      }
      CHECK(worst < 2e-5);
    }
  }
}
