// Shared by the kernel suites (which depend on kernels/ only, so they also cross-build for NEON).
#pragma once
#include <vector>

#include "kernels/isa.h"

namespace normrt::test {

// Every kernel path this CPU (or qemu) can run, scalar first.
inline std::vector<kernels::Isa> available_isas() {
  std::vector<kernels::Isa> r;
  for (kernels::Isa i : {kernels::Isa::Scalar, kernels::Isa::Avx2, kernels::Isa::Avx512, kernels::Isa::Neon})
    if (kernels::isa_available(i)) r.push_back(i);
  return r;
}

}  // namespace normrt::test
