// Loading ONNX files into normrt's IR. This header exposes no protobuf type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/graph.h"
#include "runtime/tensor.h"

namespace normrt::onnx {

struct LoadOptions {
  // Folder that external-data locations are relative to. Set from the model's path when loading
  // a file; a model loaded from memory can only use external data when this is given.
  std::string external_data_dir;
  // Largest single tensor (initializer, Constant, external data) accepted, in bytes.
  size_t max_tensor_bytes = SIZE_MAX;
};

Graph load_model_file(const std::string& path, LoadOptions options = {});
Graph load_model_buffer(const void* data, size_t size, const LoadOptions& options = {},
                        const std::string& label = "<buffer>");

// One serialized TensorProto, as in the input_K.pb / output_K.pb files of ONNX test data.
// `name` (optional) receives the tensor's name.
Tensor load_tensor_file(const std::string& path, std::string* name = nullptr);
Tensor parse_tensor(const void* data, size_t size, const std::string& label, std::string* name = nullptr);
// Writes `t` as a serialized TensorProto named `name`.
void save_tensor_file(const Tensor& t, const std::string& name, const std::string& path);

}  // namespace normrt::onnx
