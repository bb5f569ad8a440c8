// A fused multiply-add for every SIMD path. xsimd 8.1 has an FMA instruction behind xsimd::fma for
// AVX2 (fma3) and NEON, but for AVX-512 it falls back to x * y + z, which the compiler fuses or not
// depending on the optimization level: results then differ between builds (a GroupNorm and a
// LayerNorm of the same data disagreed by one ulp at -O1). fmadd always fuses.
#pragma once
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace normrt::kernels::simd {

template <class Arch>
inline xsimd::batch<float, Arch> fmadd(const xsimd::batch<float, Arch>& x, const xsimd::batch<float, Arch>& y,
                                       const xsimd::batch<float, Arch>& z) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) return _mm512_fmadd_ps(x, y, z);
  else
#endif
    return xsimd::fma(x, y, z);
}

}  // namespace normrt::kernels::simd
