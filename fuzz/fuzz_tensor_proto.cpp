// Fuzz target: bytes as a serialized TensorProto (the input_K.pb / output_K.pb files `normrt run`
// and the conformance runner read). A tensor or an normrt::Error, nothing else.
#include <cstddef>
#include <cstdint>

#include "onnx/loader.h"
#include "runtime/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    normrt::Tensor t = normrt::onnx::parse_tensor(data, size, "fuzz.pb");
    volatile size_t sink = t.byte_size();
    (void)sink;
  } catch (const normrt::Error&) {
  }
  return 0;
}
