// Activations on every ISA path against the C library in float64.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

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
