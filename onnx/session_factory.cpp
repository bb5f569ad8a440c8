#include "onnx/session_factory.h"

#include "onnx/op_registry.h"

namespace normrt::onnx {

namespace {
LoadOptions load_options(const SessionOptions& o) {
  LoadOptions l;
  l.max_tensor_bytes = o.max_tensor_bytes;
  return l;
}
}  // namespace

std::unique_ptr<Session> open_session(const std::string& path, const SessionOptions& options) {
  return std::make_unique<Session>(load_model_file(path, load_options(options)), create_kernel, options);
}

std::unique_ptr<Session> open_session(const void* data, size_t size, const SessionOptions& options) {
  return std::make_unique<Session>(load_model_buffer(data, size, load_options(options)), create_kernel, options);
}

}  // namespace normrt::onnx
