// Instruction-set paths a kernel family can take. The best available one is chosen at run time;
// NORMRT_ISA (or the C API's session option) forces one so every path can be tested on one machine.
#pragma once
#include <string>

namespace normrt::kernels {

enum class Isa { Auto, Scalar, Avx2, Avx512, Neon };

// "auto", "scalar", "avx2", "avx512", "neon"; Auto with ok=false if unknown.
Isa isa_from_string(const std::string& s, bool* ok);
const char* isa_name(Isa isa);
// Whether this CPU (and this build) can run `isa`. Scalar always can.
bool isa_available(Isa isa);
// The fastest path this CPU supports.
Isa best_isa();
// Auto -> best_isa(); anything else returned as is.
inline Isa resolve_isa(Isa isa) { return isa == Isa::Auto ? best_isa() : isa; }
// resolve_isa, then std::invalid_argument if this CPU or build lacks the result. Each kernel
// family's dispatch starts here.
Isa checked_isa(Isa isa);

}  // namespace normrt::kernels
