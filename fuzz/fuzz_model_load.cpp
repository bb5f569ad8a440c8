// Fuzz target: bytes as an ONNX model. Loading and session creation (shape inference, constant
// folding, graph passes, weight packing) must end in a session or an normrt::Error, never a crash,
// a hang or an allocation above the cap. A session that opens is run once on zeros when its inputs
// have fixed shapes of at most 64 KiB each (so a valid but expensive model is not taken for a hang).
#include <cstddef>
#include <cstdint>

#include "onnx/session_factory.h"
#include "runtime/error.h"
#include "runtime/op_kernel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  normrt::SessionOptions o;
  o.threads = 1;
  o.max_tensor_bytes = size_t(16) << 20;  // far below libFuzzer's RSS limit
  try {
    auto s = normrt::onnx::open_session(data, size, o);
    std::vector<std::string> names;
    std::vector<normrt::Tensor> feeds;
    for (const normrt::IoInfo& io : s->inputs()) {
      const normrt::ValueType type{io.dtype, io.shape};
      if (!type.shape_known()) return 0;
      const normrt::Shape shape = type.concrete_shape();
      names.push_back(io.name);
      normrt::checked_bytes(io.dtype, normrt::checked_numel(shape, "fuzz input"), "fuzz input", size_t(64) << 10);
      feeds.push_back(normrt::Tensor::allocate(io.dtype, shape, "fuzz input"));
    }
    s->run(names, feeds);
  } catch (const normrt::Error&) {
  }
  return 0;
}
