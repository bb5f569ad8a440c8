#include "kernels/winograd.h"

#include "kernels/winograd_simd.h"

namespace normrt::kernels {

#if defined(__x86_64__)
const WinogradPrimitives& winograd_primitives_avx2();
const WinogradPrimitives& winograd_primitives_avx512();
#elif defined(__aarch64__)
const WinogradPrimitives& winograd_primitives_neon();
#endif

namespace {

// A one-lane stand-in for an xsimd batch: the portable path runs the same transform code.
struct ScalarLane {
  static constexpr size_t size = 1;
  float v = 0.0f;
  ScalarLane() = default;
  explicit ScalarLane(float x) : v(x) {}
  static ScalarLane load_unaligned(const float* p) { return ScalarLane(*p); }
  static ScalarLane load_aligned(const float* p) { return ScalarLane(*p); }
  void store_unaligned(float* p) const { *p = v; }
  void store_aligned(float* p) const { *p = v; }
  friend ScalarLane operator+(ScalarLane a, ScalarLane b) { return ScalarLane(a.v + b.v); }
  friend ScalarLane operator-(ScalarLane a, ScalarLane b) { return ScalarLane(a.v - b.v); }
  friend ScalarLane operator*(ScalarLane a, ScalarLane b) { return ScalarLane(a.v * b.v); }
};

// G: [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1].
constexpr double kG[kWinogradWindow][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                           {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

}  // namespace

void winograd_weights(const float* w, int64_t m, int64_t c, float* u) {
  const int64_t plane = m * c;
  for (int64_t oc = 0; oc < m; ++oc)
    for (int64_t ic = 0; ic < c; ++ic) {
      const float* g = w + (oc * c + ic) * 9;
      double gg[kWinogradWindow][3];  // G g
      for (int a = 0; a < kWinogradWindow; ++a)
        for (int q = 0; q < 3; ++q) gg[a][q] = kG[a][0] * g[q] + kG[a][1] * g[3 + q] + kG[a][2] * g[6 + q];
      for (int a = 0; a < kWinogradWindow; ++a)
        for (int k = 0; k < kWinogradWindow; ++k)
          u[(a * kWinogradWindow + k) * plane + oc * c + ic] = static_cast<float>(gg[a][0] * kG[k][0] + gg[a][1] * kG[k][1] + gg[a][2] * kG[k][2]);
    }
}

const WinogradPrimitives& winograd_primitives(Isa isa) {
  switch (checked_isa(isa)) {
#if defined(__x86_64__)
    case Isa::Avx512: return winograd_primitives_avx512();
    case Isa::Avx2: return winograd_primitives_avx2();
#elif defined(__aarch64__)
    case Isa::Neon: return winograd_primitives_neon();
#endif
    default: return simd::Winograd<ScalarLane>::table(Isa::Scalar);
  }
}

}  // namespace normrt::kernels
