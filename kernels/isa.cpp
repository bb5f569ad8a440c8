#include "kernels/isa.h"

#include <stdexcept>

#include <xsimd/xsimd.hpp>

namespace normrt::kernels {

Isa isa_from_string(const std::string& s, bool* ok) {
  *ok = true;
  if (s == "auto" || s.empty()) return Isa::Auto;
  if (s == "scalar") return Isa::Scalar;
  if (s == "avx2") return Isa::Avx2;
  if (s == "avx512") return Isa::Avx512;
  if (s == "neon") return Isa::Neon;
  *ok = false;
  return Isa::Auto;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Auto: return "auto";
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "?";
}

bool isa_available(Isa isa) {
  auto a = xsimd::available_architectures();
  switch (isa) {
    case Isa::Auto:
    case Isa::Scalar: return true;
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2: return a.avx2 && a.fma3_avx2;
    case Isa::Avx512: return a.avx512bw && a.avx512dq;
    case Isa::Neon: return false;
#else
    case Isa::Avx2:
    case Isa::Avx512: return false;
    case Isa::Neon: return a.neon64;
#endif
  }
  return false;
}

Isa checked_isa(Isa isa) {
  isa = resolve_isa(isa);
  if (!isa_available(isa)) throw std::invalid_argument(std::string("ISA ") + isa_name(isa) + " is not available");
  return isa;
}

Isa best_isa() {
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Neon})
    if (isa_available(isa)) return isa;
  return Isa::Scalar;
}

}  // namespace normrt::kernels
