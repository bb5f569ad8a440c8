// Writing ONNX models from plain structs, without exposing protobuf: used by tests (well-formed
// and deliberately malformed models), fuzz seeds and tools. Fields mirror ModelProto's.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "runtime/graph.h"
#include "runtime/tensor.h"

namespace normrt::onnx {

struct TensorSpec {
  std::string name;
  int data_type = 1;            // TensorProto.DataType code (may be invalid on purpose)
  std::vector<int64_t> dims;
  std::string raw_data;         // used when typed is empty and external is empty
  std::vector<float> float_data;    // typed fields, used instead of raw_data when non-empty
  std::vector<int64_t> int64_data;
  std::vector<int32_t> int32_data;
  std::vector<double> double_data;
  std::vector<std::pair<std::string, std::string>> external;  // external_data key/values
};
// A TensorSpec holding `t` as raw_data.
TensorSpec tensor_spec(const std::string& name, const Tensor& t);

struct ValueSpec {
  std::string name;
  int elem_type = 1;
  std::vector<std::variant<int64_t, std::string>> dims;  // number or symbolic name
  bool has_shape = true;
};

struct NodeSpec {
  std::string op_type;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;
  std::string name;
  std::string domain;
};

struct ModelSpec {
  std::map<std::string, int64_t> opsets{{"", 17}};
  int64_t ir_version = 8;
  std::string graph_name = "graph";
  std::string producer = "normrt-test";
  std::string producer_version, doc_string;
  int64_t model_version = 0;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  std::vector<ValueSpec> inputs, outputs;
  std::vector<TensorSpec> initializers;
  std::vector<NodeSpec> nodes;
};

// The serialized ModelProto.
std::string serialize_model(const ModelSpec& spec);
// serialize_model written to `path`; IoError if the file cannot be written.
void save_model(const ModelSpec& spec, const std::string& path);

}  // namespace normrt::onnx
