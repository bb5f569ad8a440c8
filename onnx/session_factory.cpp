#include "onnx/session_factory.h"

#include "onnx/op_registry.h"

namespace normrt::onnx {

std::unique_ptr<Session> open_session(const std::string& path, const SessionOptions& options) {
  return std::make_unique<Session>(load_model_file(path), create_kernel, options);
}

std::unique_ptr<Session> open_session(const void* data, size_t size, const SessionOptions& options) {
  return std::make_unique<Session>(load_model_buffer(data, size), create_kernel, options);
}

}  // namespace normrt::onnx
