// Writes the models perf/attention_peers.sh runs under normrt and ONNX Runtime, for each sequence
// length S in {128, 512, 2048} (batch 1, 12 heads, head size 64):
//   attn_fused_S    one ONNX Attention node (opset 23) on Q, K, V [1, 12, S, 64];
//   attn_unfused_S  the same product written out: MatMul(Q, Transpose(K)) * 1/8 -> Softmax -> MatMul(., V),
//                   which materializes the [1, 12, S, S] score tensor.
//   make_attention_models OUT_DIR
#include <cstdio>
#include <filesystem>

#include "onnx/model_builder.h"

using namespace normrt;

namespace {
constexpr int64_t kHeads = 12, kHeadSize = 64;

onnx::ModelSpec base(int64_t seq, int64_t opset) {
  onnx::ModelSpec m;
  m.opsets = {{"", opset}};
  const std::vector<std::variant<int64_t, std::string>> dims{int64_t(1), kHeads, seq, kHeadSize};
  m.inputs = {{"Q", 1, dims}, {"K", 1, dims}, {"V", 1, dims}};
  m.outputs = {{"Y", 1, dims}};
  return m;
}

onnx::ModelSpec fused(int64_t seq) {
  onnx::ModelSpec m = base(seq, 23);
  m.nodes = {{"Attention", {"Q", "K", "V"}, {"Y"}, {}, "attention"}};
  return m;
}

onnx::ModelSpec unfused(int64_t seq) {
  onnx::ModelSpec m = base(seq, 17);
  onnx::TensorSpec scale;
  scale.name = "scale";
  scale.float_data = {1.0f / 8.0f};  // 1/sqrt(64)
  m.initializers = {scale};
  m.nodes = {{"Transpose", {"K"}, {"Kt"}, {{"perm", ints_attribute({0, 1, 3, 2})}}, "transpose_k"},
             {"MatMul", {"Q", "Kt"}, {"S"}, {}, "qk"},
             {"Mul", {"S", "scale"}, {"S_scaled"}, {}, "scale"},
             {"Softmax", {"S_scaled"}, {"P"}, {{"axis", int_attribute(-1)}}, "softmax"},
             {"MatMul", {"P", "V"}, {"Y"}, {}, "pv"}};
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_attention_models OUT_DIR\n");
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  for (int64_t seq : {128, 512, 2048}) {
    onnx::save_model(fused(seq), (out / ("attn_fused_" + std::to_string(seq) + ".onnx")).string());
    onnx::save_model(unfused(seq), (out / ("attn_unfused_" + std::to_string(seq) + ".onnx")).string());
  }
  std::printf("attention benchmark models written to %s\n", out.c_str());
  return 0;
}
