// Sessions from ONNX files: the loader and the op registry wired into runtime::Session.
#pragma once
#include <memory>
#include <string>

#include "onnx/loader.h"
#include "runtime/session.h"

namespace normrt::onnx {

std::unique_ptr<Session> open_session(const std::string& path, const SessionOptions& options = {});
std::unique_ptr<Session> open_session(const void* data, size_t size, const SessionOptions& options = {});

}  // namespace normrt::onnx
