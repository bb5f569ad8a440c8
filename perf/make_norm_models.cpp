// Writes the models the peer benchmark (perf/norm_peers.sh) runs under normrt and ONNX Runtime:
// one single-op model per shape, the chain models (64 LayerNorms on [8,128,768]; 16 GroupNorms on
// [1,320,64,64]) whose per-op time no call overhead hides, and a tiny model for the per-call cost.
//   make_norm_models OUT_DIR
#include <cstdio>
#include <filesystem>
#include <random>

#include "onnx/model_builder.h"

using namespace normrt;

namespace {
Tensor random_tensor(Shape s, uint32_t seed, float center) {
  Tensor t = Tensor::allocate(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(center, 0.1f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
  return t;
}


// `count` normalizations in a chain, each feeding the next.
onnx::ModelSpec chain(const std::string& op, const Shape& shape, int64_t groups, int count) {
  onnx::ModelSpec m;
  std::vector<std::variant<int64_t, std::string>> dims(shape.begin(), shape.end());
  const int64_t params = op == "LayerNormalization" ? shape.back() : shape[1];
  m.opsets = {{"", op == "LayerNormalization" ? 17 : 21}};
  m.inputs = {{"X", 1, dims}};
  m.outputs = {{"Y", 1, dims}};
  m.initializers = {onnx::tensor_spec("scale", random_tensor({params}, 2, 1.0f)),
                    onnx::tensor_spec("bias", random_tensor({params}, 3, 0.0f))};
  std::string prev = "X";
  for (int i = 0; i < count; ++i) {
    const std::string out = i == count - 1 ? "Y" : "h" + std::to_string(i);
    onnx::NodeSpec n{op, {prev, "scale", "bias"}, {out}, {}, "norm" + std::to_string(i)};
    if (groups) {
      Attribute g;
      g.kind = Attribute::Kind::Int;
      g.i = groups;
      n.attributes["num_groups"] = g;
    }
    m.nodes.push_back(n);
    prev = out;
  }
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_norm_models OUT_DIR\n");
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  struct Case {
    const char* name;
    const char* op;
    Shape shape;
    int64_t groups;
    int count;
  };
  const Case cases[] = {
      {"ln_1x128x768", "LayerNormalization", {1, 128, 768}, 0, 1},
      {"ln_8x512x768", "LayerNormalization", {8, 512, 768}, 0, 1},
      {"ln_32x128x1024", "LayerNormalization", {32, 128, 1024}, 0, 1},
      {"ln_1x2048x4096", "LayerNormalization", {1, 2048, 4096}, 0, 1},
      {"gn_1x320x64x64_g32", "GroupNormalization", {1, 320, 64, 64}, 32, 1},
      {"gn_2x640x32x32_g32", "GroupNormalization", {2, 640, 32, 32}, 32, 1},
      {"gn_1x512x4000_g512", "GroupNormalization", {1, 512, 4000}, 512, 1},
      {"chain_ln64_8x128x768", "LayerNormalization", {8, 128, 768}, 0, 64},
      {"chain_gn16_1x320x64x64_g32", "GroupNormalization", {1, 320, 64, 64}, 32, 16},
      {"overhead_ln_1x8", "LayerNormalization", {1, 8}, 0, 1},
  };
  for (const Case& c : cases) onnx::save_model(chain(c.op, c.shape, c.groups, c.count), (out / (std::string(c.name) + ".onnx")).string());
  std::printf("norm benchmark models written to %s\n", out.c_str());
  return 0;
}
