// Writes the models perf/attention_peers.sh runs under normrt and ONNX Runtime, for each shape
// H x S x D of kShapes (batch 1, H heads, sequence S, head size D): BERT-base's 12 x 64 at
// S = 128, 512 and 2048, and the UNet block's (Stable Diffusion's 64 x 64 latent) 8 x 4096 x 40:
//   attn_fused_HxSxD    one ONNX Attention node (opset 23) on Q, K, V [1, H, S, D];
//   attn_unfused_HxSxD  the same product written out: MatMul(Q, Transpose(K)) * 1/sqrt(D) -> Softmax
//                       -> MatMul(., V), which materializes the [1, H, S, S] score tensor.
//   make_attention_models OUT_DIR
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "onnx/model_builder.h"

using namespace normrt;

namespace {
struct AttentionShape {
  int64_t heads, seq, head_size;
  std::string name() const { return std::to_string(heads) + "x" + std::to_string(seq) + "x" + std::to_string(head_size); }
};
constexpr AttentionShape kShapes[] = {{12, 128, 64}, {12, 512, 64}, {12, 2048, 64}, {8, 4096, 40}};

onnx::ModelSpec base(const AttentionShape& s, int64_t opset) {
  onnx::ModelSpec m;
  m.opsets = {{"", opset}};
  const std::vector<std::variant<int64_t, std::string>> dims{int64_t(1), s.heads, s.seq, s.head_size};
  m.inputs = {{"Q", 1, dims}, {"K", 1, dims}, {"V", 1, dims}};
  m.outputs = {{"Y", 1, dims}};
  return m;
}

onnx::ModelSpec fused(const AttentionShape& s) {
  onnx::ModelSpec m = base(s, 23);
  m.nodes = {{"Attention", {"Q", "K", "V"}, {"Y"}, {}, "attention"}};
  return m;
}

onnx::ModelSpec unfused(const AttentionShape& s) {
  onnx::ModelSpec m = base(s, 17);
  onnx::TensorSpec scale;
  scale.name = "scale";
  scale.float_data = {1.0f / std::sqrt(static_cast<float>(s.head_size))};
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
  for (const AttentionShape& s : kShapes) {
    onnx::save_model(fused(s), (out / ("attn_fused_" + s.name() + ".onnx")).string());
    onnx::save_model(unfused(s), (out / ("attn_unfused_" + s.name() + ".onnx")).string());
  }
  std::printf("attention benchmark models written to %s\n", out.c_str());
  return 0;
}
