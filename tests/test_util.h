// Helpers for the doctest suites: tensors from literals, sessions from ModelSpecs.
#pragma once
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "onnx/model_builder.h"
#include "onnx/session_factory.h"
#include "runtime/error.h"

namespace normrt::test {

template <class T>
Tensor typed(DType dt, Shape shape, const std::vector<T>& values) {
  Tensor t = Tensor::allocate(dt, std::move(shape));
  REQUIRE(static_cast<size_t>(t.numel()) == values.size());
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));  // an empty vector's data() may be null
  return t;
}

inline Tensor f32(Shape shape, const std::vector<float>& values) { return typed(DType::Float32, std::move(shape), values); }

inline std::unique_ptr<Session> open(const onnx::ModelSpec& spec, SessionOptions options = {1}) {
  const std::string bytes = onnx::serialize_model(spec);
  return onnx::open_session(bytes.data(), bytes.size(), options);
}

inline Attribute attr_int(int64_t v) { return int_attribute(v); }
inline Attribute attr_float(float v) { return float_attribute(v); }
inline Attribute attr_ints(std::vector<int64_t> v) { return ints_attribute(std::move(v)); }
inline Attribute attr_tensor(const Tensor& t) { return tensor_attribute(t); }

// The ErrorCode and message of what `f` throws; fails the test if it throws nothing.
template <class F>
std::pair<ErrorCode, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  FAIL("expected an error");
  return {};
}

// A one-node model: inputs X... all float with the given shapes, one output.
inline onnx::ModelSpec one_node(const std::string& op, std::vector<onnx::ValueSpec> inputs, std::vector<onnx::ValueSpec> outputs,
                                std::map<std::string, Attribute> attrs = {}, int64_t opset = 17) {
  onnx::ModelSpec m;
  m.opsets = {{"", opset}};
  onnx::NodeSpec n;
  n.op_type = op;
  n.name = "the_" + op;
  for (auto& i : inputs) n.inputs.push_back(i.name);
  for (auto& o : outputs) n.outputs.push_back(o.name);
  n.attributes = std::move(attrs);
  m.inputs = std::move(inputs);
  m.outputs = std::move(outputs);
  m.nodes.push_back(std::move(n));
  return m;
}

}  // namespace normrt::test
