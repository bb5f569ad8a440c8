// Errors inside normrt are exceptions carrying a code; the C API turns them into status objects so
// that no exception ever crosses it. The codes mirror normrt_code in include/normrt/normrt.h.
#pragma once
#include <stdexcept>
#include <string>

namespace normrt {

enum class ErrorCode : int {
  InvalidArgument = 1,  // the caller passed something wrong (bad name, dims, null pointer)
  InvalidModel = 2,     // the model file is malformed or inconsistent
  NotImplemented = 3,   // valid ONNX that normrt does not support (op, opset, type)
  RuntimeError = 4,     // failure while running (e.g. data-dependent shape mismatch)
  OutOfMemory = 5,      // an allocation failed or exceeded the configured cap
  IoError = 6,          // a file could not be read
  Cancelled = 7,        // a run stopped because its cancel flag was set
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] inline void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace normrt
