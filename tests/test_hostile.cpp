// Reliability against hostile models and inputs (issue 7): one table of malformed models, each with
// the exact error expected, and IEEE behaviour of NaN / Inf through the kernels.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "onnx/loader.h"
#include "onnx/session_factory.h"
#include "test_util.h"

using namespace normrt;
using namespace normrt::test;
namespace fs = std::filesystem;

namespace {

onnx::ModelSpec add_model() {
  return one_node("Add", {{"A", 1, {int64_t(2)}}, {"B", 1, {int64_t(2)}}}, {{"C", 1, {int64_t(2)}}});
}

onnx::ModelSpec with_initializer(onnx::TensorSpec t) {
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {int64_t(2)}}};
  m.outputs = {{"Y", 1, {}, false}};
  m.nodes = {{"Add", {"X", t.name}, {"Y"}, {}, "add_w"}};
  m.initializers = {std::move(t)};
  return m;
}

// A model whose initializer W has `dims` and `bytes` zero bytes of raw_data.
std::string with_raw_initializer(std::vector<int64_t> dims, size_t bytes) {
  onnx::TensorSpec w{"W", 1, std::move(dims)};
  w.raw_data.assign(bytes, '\0');
  return onnx::serialize_model(with_initializer(w));
}

struct BadModel {
  const char* what;
  std::function<std::string()> bytes;  // the model file's bytes
  ErrorCode code;
  std::vector<std::string> says;       // substrings of the error, naming the node or tensor
  size_t max_tensor_bytes = SIZE_MAX;
};

}  // namespace

TEST_CASE("bad-model table: every malformed model gives its error, naming the node or tensor, and nothing crashes") {
  const std::string good = onnx::serialize_model(add_model());
  const std::vector<BadModel> table = {
      {"empty file", [] { return std::string(); }, ErrorCode::InvalidModel, {"<buffer>", "empty"}},
      {"garbage bytes", [] { return std::string(300, '\xfe'); }, ErrorCode::InvalidModel, {"not a valid ONNX model"}},
      {"truncated protobuf", [&] { return good.substr(0, good.size() / 2); }, ErrorCode::InvalidModel, {"<buffer>"}},
      {"a graph with a cycle",
       [] {
         onnx::ModelSpec m;
         m.inputs = {{"X", 1, {int64_t(2)}}};
         m.outputs = {{"Y", 1, {int64_t(2)}}};
         m.nodes = {{"Add", {"X", "b"}, {"a"}, {}, "first"}, {"Relu", {"a"}, {"b"}, {}, "second"}, {"Relu", {"a"}, {"Y"}, {}, "out"}};
         return onnx::serialize_model(m);
       },
       ErrorCode::InvalidModel,
       {"cycle"}},
      {"duplicate tensor names",
       [] {
         onnx::ModelSpec m = add_model();
         m.nodes.push_back({"Relu", {"A"}, {"C"}, {}, "again"});
         return onnx::serialize_model(m);
       },
       ErrorCode::InvalidModel,
       {"'C' is already defined"}},
      {"a node input nothing produces",
       [] {
         onnx::ModelSpec m = add_model();
         m.nodes[0].inputs[1] = "ghost";
         return onnx::serialize_model(m);
       },
       ErrorCode::InvalidModel,
       {"the_Add", "input 'ghost' is not produced"}},
      {"Pad whose pads are float (NaN), not int64",
       [] {
         onnx::ModelSpec m;
         m.inputs = {{"X", 1, {int64_t(2)}}};
         m.outputs = {{"Y", 1, {}}};
         onnx::TensorSpec pads{"P", 1, {2}};
         pads.float_data = {NAN, 1.0f};
         m.initializers = {pads};
         m.nodes = {{"Pad", {"X", "P"}, {"Y"}, {}, "the_pad"}};
         return onnx::serialize_model(m);
       },
       ErrorCode::NotImplemented,
       {"the_pad", "input 1 has element type float"}},
      {"a missing initializer (named by a node, given nowhere)",
       [] {
         onnx::TensorSpec w{"W", 1, {2}};
         w.float_data = {1, 2};
         onnx::ModelSpec m = with_initializer(w);
         m.initializers.clear();
         return onnx::serialize_model(m);
       },
       ErrorCode::InvalidModel,
       {"add_w", "input 'W' is not produced"}},
      {"raw_data shorter than the dims need",
       [] { return with_raw_initializer({2}, 5); },
       ErrorCode::InvalidModel,
       {"initializer 'W'", "raw_data has 5 bytes"}},
      {"raw_data longer than the dims need",
       [] { return with_raw_initializer({2}, 12); },
       ErrorCode::InvalidModel,
       {"initializer 'W'", "raw_data has 12 bytes"}},
      {"negative dims",
       [] { return onnx::serialize_model(with_initializer({"W", 1, {-3}})); },
       ErrorCode::InvalidModel,
       {"initializer 'W'", "negative dimension"}},
      {"dims whose product overflows int64",
       [] { return onnx::serialize_model(with_initializer({"W", 1, {int64_t(1) << 40, int64_t(1) << 40}})); },
       ErrorCode::InvalidModel,
       {"'W'", "overflows"}},
      {"dims above the configured memory cap",
       [] { return with_raw_initializer({1000}, 4000); },
       ErrorCode::OutOfMemory,
       {"'W'", "above the limit of 1024"},
       1024},
      {"an unsupported data type (complex64)",
       [] { return onnx::serialize_model(with_initializer({"W", 14, {2}})); },
       ErrorCode::NotImplemented,
       {"initializer 'W'", "not supported"}},
      {"an unknown op",
       [] { return onnx::serialize_model(one_node("Frobnicate", {{"A", 1, {int64_t(2)}}}, {{"C", 1, {int64_t(2)}}})); },
       ErrorCode::NotImplemented,
       {"node 'the_Frobnicate'", "op Frobnicate in domain ai.onnx at opset 17"}},
      {"an opset outside the supported range",
       [] { return onnx::serialize_model(one_node("Relu", {{"A", 1, {int64_t(2)}}}, {{"C", 1, {int64_t(2)}}}, {}, 99)); },
       ErrorCode::NotImplemented,
       {"the_Relu", "opset 99"}},
      {"an attribute of the wrong type (LayerNormalization axis as a float)",
       [] {
         onnx::ModelSpec m = one_node("LayerNormalization", {{"X", 1, {int64_t(2), int64_t(4)}}, {"S", 1, {int64_t(4)}}},
                                      {{"Y", 1, {int64_t(2), int64_t(4)}}});
         m.nodes[0].attributes["axis"] = attr_float(1.0f);
         return onnx::serialize_model(m);
       },
       ErrorCode::InvalidModel,
       {"the_LayerNormalization", "axis"}},
      {"an axis out of bounds (Softmax axis 5 on rank 2)",
       [] {
         return onnx::serialize_model(one_node("Softmax", {{"X", 1, {int64_t(2), int64_t(4)}}}, {{"Y", 1, {int64_t(2), int64_t(4)}}},
                                               {{"axis", attr_int(5)}}));
       },
       ErrorCode::InvalidModel,
       {"the_Softmax", "axis 5"}},
      {"negative groups (GroupNormalization num_groups -2)",
       [] {
         return onnx::serialize_model(one_node("GroupNormalization",
                                               {{"X", 1, {int64_t(1), int64_t(4), int64_t(3)}}, {"S", 1, {int64_t(2)}}, {"B", 1, {int64_t(2)}}},
                                               {{"Y", 1, {int64_t(1), int64_t(4), int64_t(3)}}}, {{"num_groups", attr_int(-2)}}, 18));
       },
       ErrorCode::InvalidModel,
       {"the_GroupNormalization", "num_groups must be a positive integer, got -2"}},
      {"GroupNormalization whose channels do not divide by num_groups",
       [] {
         return onnx::serialize_model(one_node("GroupNormalization",
                                               {{"X", 1, {int64_t(1), int64_t(6), int64_t(3)}}, {"S", 1, {int64_t(4)}}, {"B", 1, {int64_t(4)}}},
                                               {{"Y", 1, {int64_t(1), int64_t(6), int64_t(3)}}}, {{"num_groups", attr_int(4)}}, 18));
       },
       ErrorCode::InvalidModel,
       {"the_GroupNormalization", "channels (6) are not divisible by num_groups (4)"}},
  };
  for (const BadModel& b : table) {
    INFO(b.what);
    const std::string bytes = b.bytes();
    SessionOptions o{1};
    o.max_tensor_bytes = b.max_tensor_bytes;
    auto [code, msg] = error_of([&] { onnx::open_session(bytes.data(), bytes.size(), o); });
    const std::string msg_text = msg;  // clang: structured bindings cannot be captured
    INFO(msg_text);
    CHECK(code == b.code);
    for (const std::string& s : b.says) CHECK(msg.find(s) != std::string::npos);
  }
}

TEST_CASE("bad-model table: external data that leaves the model's folder or its file") {
  const fs::path dir = fs::temp_directory_path() / ("normrt_hostile_" + std::to_string(::getpid()));
  const fs::path outside = fs::temp_directory_path() / ("normrt_hostile_out_" + std::to_string(::getpid()));
  fs::remove_all(dir), fs::remove_all(outside);
  fs::create_directories(dir), fs::create_directories(outside);
  std::ofstream(dir / "w.bin", std::ios::binary) << std::string(8, '\0');
  std::ofstream(outside / "secret.bin", std::ios::binary) << std::string(8, '\0');
  fs::create_symlink(outside / "secret.bin", dir / "link.bin");
  struct Case {
    const char* what;
    std::vector<std::pair<std::string, std::string>> external;
    std::string says;
  };
  const Case cases[] = {{"an absolute location", {{"location", (dir / "w.bin").string()}}, "is absolute"},
                        {"a location with ..", {{"location", "../w.bin"}}, "escapes the model's folder"},
                        {"a symlink out of the folder", {{"location", "link.bin"}}, "resolves outside"},
                        {"an offset past the end", {{"location", "w.bin"}, {"offset", "4"}}, "past the end"},
                        {"a length past the end", {{"location", "w.bin"}, {"length", "16"}}, "does not match"}};
  for (const Case& c : cases) {
    INFO(c.what);
    onnx::TensorSpec w{"W", 1, {2}};
    w.external = c.external;
    onnx::save_model(with_initializer(w), (dir / "model.onnx").string());
    auto [code, msg] = error_of([&] { onnx::open_session((dir / "model.onnx").string(), SessionOptions{1}); });
    const std::string msg_text = msg;  // clang: structured bindings cannot be captured
    INFO(msg_text);
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(msg.find("initializer 'W'") != std::string::npos);
    CHECK(msg.find(c.says) != std::string::npos);
  }
  fs::remove_all(dir), fs::remove_all(outside);
}

TEST_CASE("the memory cap also bounds what a run computes, naming the node") {
  // Expand a [1] input to a shape given at run time: the output is what the cap must stop.
  onnx::ModelSpec m;
  m.opsets = {{"", 17}};
  m.inputs = {{"X", 1, {int64_t(1)}}, {"S", 7, {int64_t(1)}}};
  m.outputs = {{"Y", 1, {}, false}};
  m.nodes = {{"Expand", {"X", "S"}, {"Y"}, {}, "grow"}};
  SessionOptions o{1};
  o.max_tensor_bytes = 4096;
  auto s = open(m, o);
  const Tensor x = f32({1}, {2.0f});
  CHECK(s->run({"X", "S"}, {x, typed<int64_t>(DType::Int64, {1}, {1024})})[0].numel() == 1024);
  auto [code, msg] = error_of([&] { s->run({"X", "S"}, {x, typed<int64_t>(DType::Int64, {1}, {int64_t(1) << 40})}); });
  CHECK(code == ErrorCode::OutOfMemory);
  CHECK(msg.find("grow") != std::string::npos);
  CHECK(msg.find("above the limit of 4096") != std::string::npos);
}

TEST_CASE("a float read as an integer: in-range values truncate, NaN, infinities and values past int64 are refused") {
  Tensor t = Tensor::allocate(DType::Float32, {5});
  float* v = t.data<float>();
  v[0] = -3.75f, v[1] = NAN, v[2] = INFINITY, v[3] = 1e19f, v[4] = 9.0e18f;
  CHECK(t.int_at(0) == -3);
  CHECK(t.int_at(4) == int64_t(9.0e18f));
  for (int64_t i : {1, 2, 3}) {
    auto [code, msg] = error_of([&] { (void)t.int_at(i); });
    CHECK(code == ErrorCode::InvalidArgument);
    CHECK(msg.find("is not an integer in range") != std::string::npos);
  }
}

TEST_CASE("NaN and Inf flow through the kernels per IEEE, row by row") {
  const float nan = std::nanf(""), inf = INFINITY;
  const int64_t d = 19;  // not a multiple of any vector width
  // LayerNormalization, Softmax, Gelu and MatMul on rows 0 (NaN), 1 (+Inf), 2 (finite).
  std::vector<float> x(3 * d);
  for (int64_t i = 0; i < 3 * d; ++i) x[i] = std::sin(0.3f * float(i));
  x[0 * d + 7] = nan;
  x[1 * d + 3] = inf;
  std::vector<float> w(d * 5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.2f * float(i));
  onnx::ModelSpec m;
  m.opsets = {{"", 20}};
  m.inputs = {{"X", 1, {int64_t(3), d}}};
  m.outputs = {{"LN", 1, {}, false}, {"SM", 1, {}, false}, {"G", 1, {}, false}, {"MM", 1, {}, false}};
  m.initializers = {onnx::tensor_spec("gamma", f32({d}, std::vector<float>(d, 1.0f))), onnx::tensor_spec("W", f32({d, 5}, w))};
  m.nodes = {{"LayerNormalization", {"X", "gamma"}, {"LN"}, {}, "ln"},
             {"Softmax", {"X"}, {"SM"}, {}, "sm"},
             {"Gelu", {"X"}, {"G"}, {}, "gelu"},
             {"MatMul", {"X", "W"}, {"MM"}, {}, "mm"}};
  for (kernels::Isa isa : {kernels::Isa::Scalar, kernels::best_isa()}) {
    INFO("isa " << kernels::isa_name(isa));
    auto s = open(m, SessionOptions{1, isa});
    const auto out = s->run({"X"}, {f32({3, d}, x)});
    auto row_all = [](const Tensor& t, int64_t r, const std::function<bool(float)>& p) {
      const int64_t n = t.shape()[1];
      for (int64_t j = 0; j < n; ++j)
        if (!p(t.data<float>()[r * n + j])) return false;
      return true;
    };
    auto is_nan = [](float v) { return std::isnan(v); };
    auto finite = [](float v) { return std::isfinite(v); };
    for (int o : {0, 1, 3}) {  // row-wise ops: a NaN row is NaN, the finite row stays finite
      INFO("output " << o);
      CHECK(row_all(out[o], 0, is_nan));
      CHECK(row_all(out[o], 2, finite));
    }
    CHECK(row_all(out[0], 1, is_nan));  // LayerNorm of a row holding +Inf: inf - inf
    CHECK(std::isnan(out[2].data<float>()[7]));  // Gelu element-wise: NaN stays, its neighbours do not
    CHECK(std::isfinite(out[2].data<float>()[6]));
    CHECK(out[2].data<float>()[d + 3] == inf);  // Gelu(+Inf) = +Inf
  }
}

TEST_CASE("LayerNormalization with epsilon 0 on a constant row matches the float64 reference") {
  // The reference (x - mean) / sqrt(var + eps) is 0 / 0 = NaN on the constant row; other rows are
  // ordinary numbers.
  const int64_t d = 13;
  std::vector<float> x(2 * d, 3.25f);
  for (int64_t j = 0; j < d; ++j) x[d + j] = float(j) - 4.0f;
  onnx::ModelSpec m = one_node("LayerNormalization", {{"X", 1, {int64_t(2), d}}, {"S", 1, {d}}}, {{"Y", 1, {int64_t(2), d}}},
                               {{"epsilon", attr_float(0.0f)}});
  for (kernels::Isa isa : {kernels::Isa::Scalar, kernels::best_isa()}) {
    INFO("isa " << kernels::isa_name(isa));
    const Tensor y = open(m, SessionOptions{1, isa})->run({"X", "S"}, {f32({2, d}, x), f32({d}, std::vector<float>(d, 1.0f))})[0];
    for (int64_t r = 0; r < 2; ++r) {
      double mean = 0, var = 0;
      for (int64_t j = 0; j < d; ++j) mean += x[r * d + j];
      mean /= d;
      for (int64_t j = 0; j < d; ++j) var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
      var /= d;
      for (int64_t j = 0; j < d; ++j) {
        const double want = (x[r * d + j] - mean) / std::sqrt(var + 0.0);
        const float got = y.data<float>()[r * d + j];
        if (std::isnan(want)) CHECK(std::isnan(got));
        else CHECK(std::fabs(got - want) < 1e-5);
      }
    }
  }
}

TEST_CASE("Attention with no query heads: an empty output and the present key/value, not a division by zero") {
  // Q [1, 0, 16, 8] against K, V [1, 2, 16, 8] (16 queries: the keys and values are packed): 0 is a multiple of the 2 key/value heads, so the
  // model is valid; fuzz_model_load found the group of 0 query heads per key/value head divided by.
  onnx::ModelSpec m;
  m.opsets = {{"", 23}};
  m.inputs = {{"Q", 1, {int64_t(1), int64_t(0), int64_t(16), int64_t(8)}},
              {"K", 1, {int64_t(1), int64_t(2), int64_t(16), int64_t(8)}},
              {"V", 1, {int64_t(1), int64_t(2), int64_t(16), int64_t(8)}}};
  m.outputs = {{"Y", 1, {}, false}, {"present_key", 1, {}, false}, {"present_value", 1, {}, false}};
  m.nodes = {{"Attention", {"Q", "K", "V", "", "", ""}, {"Y", "present_key", "present_value"}, {}, "attend"}};
  auto s = open(m, SessionOptions{1});
  std::vector<float> kv(256);
  for (size_t i = 0; i < kv.size(); ++i) kv[i] = 0.25f * float(i);
  const std::vector<Tensor> out =
      s->run({"Q", "K", "V"}, {f32({1, 0, 16, 8}, {}), f32({1, 2, 16, 8}, kv), f32({1, 2, 16, 8}, kv)});
  REQUIRE(out.size() == 3);
  CHECK(out[0].shape() == Shape{1, 0, 16, 8});
  CHECK(out[1].shape() == Shape{1, 2, 16, 8});
  for (int64_t i = 0; i < 256; ++i) {
    CHECK(out[1].data<float>()[i] == kv[i]);
    CHECK(out[2].data<float>()[i] == kv[i]);
  }
}
