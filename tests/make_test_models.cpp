// Writes the small models that the C API test, the C example and the CLI test read:
//   make_test_models OUT_DIR
#include <cstdio>
#include <filesystem>

#include "onnx/model_builder.h"

using namespace normrt;

namespace {

Tensor filled(Shape s, float v) {
  Tensor t = Tensor::allocate(DType::Float32, std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
  return t;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_test_models OUT_DIR\n");
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);

  // LayerNormalization over the last axis of X[batch, 8], gamma = 1, beta = 0.
  onnx::ModelSpec ln;
  ln.graph_name = "layernorm_seed";
  ln.inputs = {{"X", 1, {std::string("batch"), int64_t(8)}}};
  ln.outputs = {{"Y", 1, {std::string("batch"), int64_t(8)}}};
  ln.initializers = {onnx::tensor_spec("gamma", filled({8}, 1.0f)), onnx::tensor_spec("beta", filled({8}, 0.0f))};
  ln.nodes = {{"LayerNormalization", {"X", "gamma", "beta"}, {"Y"}, {{"epsilon", float_attribute(1e-12f)}}, "ln"}};
  onnx::save_model(ln, (out / "layernorm_seed.onnx").string());

  // Z = X + Y with broadcasting, X[batch, 3] and Y[3].
  onnx::ModelSpec add;
  add.graph_name = "add_broadcast";
  add.inputs = {{"X", 1, {std::string("batch"), int64_t(3)}}, {"Y", 1, {int64_t(3)}}};
  add.outputs = {{"Z", 1, {std::string("batch"), int64_t(3)}}};
  add.nodes = {{"Add", {"X", "Y"}, {"Z"}, {}, "add"}};
  add.producer_version = "1.2.3";
  add.doc_string = "Z = X + Y, Y broadcast over the batch";
  add.model_version = 7;
  add.metadata_props = {{"author", "normrt tests"}, {"license", "MIT"}};
  onnx::save_model(add, (out / "add_broadcast.onnx").string());

  // 400 Tanh nodes over X[n]: a run long enough (with n large) to be cancelled part-way.
  onnx::ModelSpec chain;
  chain.graph_name = "tanh_chain";
  chain.inputs = {{"X", 1, {std::string("n")}}};
  chain.outputs = {{"Y", 1, {std::string("n")}}};
  for (int i = 0; i < 400; ++i)
    chain.nodes.push_back({"Tanh", {i ? "t" + std::to_string(i - 1) : "X"}, {i == 399 ? "Y" : "t" + std::to_string(i)}, {},
                           "tanh_" + std::to_string(i)});
  onnx::save_model(chain, (out / "tanh_chain.onnx").string());

  // A model with an op normrt has no kernel for.
  onnx::ModelSpec bad;
  bad.inputs = {{"X", 1, {int64_t(2)}}};
  bad.outputs = {{"Y", 1, {int64_t(2)}}};
  bad.nodes = {{"NoSuchOp", {"X"}, {"Y"}, {}, "mystery"}};
  onnx::save_model(bad, (out / "unsupported_op.onnx").string());
  std::printf("test models written to %s\n", out.c_str());
  return 0;
}
