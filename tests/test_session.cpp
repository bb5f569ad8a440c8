// Ops and sessions end to end: broadcasting, shape ops, LayerNormalization, run-time checks,
// threads and concurrent runs.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <atomic>
#include <thread>

#include "kernel_test_util.h"
#include "kernels/elementwise.h"
#include "kernels/half.h"
#include "test_util.h"

using namespace normrt;
using namespace normrt::test;

namespace {
Tensor random_f32(Shape s, uint32_t seed, float scale = 1.0f) {
  Tensor t = Tensor::allocate(DType::Float32, std::move(s));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
  return t;
}

// A Conv of X (shape xs) by a constant W: an initializer, packed at session creation.
onnx::ModelSpec conv_with_weight(const Shape& xs, const Tensor& w, std::map<std::string, Attribute> attrs) {
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, std::vector<std::variant<int64_t, std::string>>(xs.begin(), xs.end())}};
  m.initializers = {onnx::tensor_spec("W", w)};
  m.outputs = {{"Y", 1, {}, false}};
  m.nodes = {{"Conv", {"X", "W"}, {"Y"}, std::move(attrs), "conv"}};
  return m;
}

// Y of a one-input model on x with its fast convolution path, then with that path turned off by
// the environment variable `off` set to 0 (the direct sum).
std::pair<Tensor, Tensor> fast_and_direct(const onnx::ModelSpec& m, kernels::Isa isa, const Tensor& x, const char* off) {
  Tensor fast = open(m, SessionOptions{1, isa})->run({"X"}, {x})[0];
  setenv(off, "0", 1);
  Tensor direct = open(m, SessionOptions{1, isa})->run({"X"}, {x})[0];
  unsetenv(off);
  return {std::move(fast), std::move(direct)};
}

onnx::ModelSpec layer_norm_model(Shape x_shape, Shape scale_shape, int64_t axis, bool with_bias, int outputs, float eps = 1e-5f) {
  auto dims = [](const Shape& s) {
    std::vector<std::variant<int64_t, std::string>> d;
    for (int64_t v : s) d.push_back(v);
    return d;
  };
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, dims(x_shape)}, {"S", 1, dims(scale_shape)}};
  if (with_bias) m.inputs.push_back({"B", 1, dims(scale_shape)});
  m.outputs = {{"Y", 1, {}, false}};
  if (outputs > 1) m.outputs.push_back({"Mean", 1, {}, false});
  if (outputs > 2) m.outputs.push_back({"InvStd", 1, {}, false});
  onnx::NodeSpec n{"LayerNormalization", {"X", "S"}, {"Y"}, {{"axis", attr_int(axis)}, {"epsilon", attr_float(eps)}}, "ln"};
  n.inputs.push_back(with_bias ? "B" : "");
  if (outputs > 1) n.outputs.push_back("Mean");
  if (outputs > 2) n.outputs.push_back("InvStd");
  m.nodes = {n};
  return m;
}
}  // namespace

TEST_CASE("the seed example through a LayerNormalization model") {
  auto s = open(layer_norm_model({1, 8}, {8}, -1, true, 3, 1e-12f));
  std::vector<Tensor> out = s->run({"X", "S", "B"}, {f32({1, 8}, {5, 5, 0, 0, 0, 0, 0, 0}), f32({8}, std::vector<float>(8, 1)),
                                                     f32({8}, std::vector<float>(8, 0))});
  REQUIRE(out.size() == 3);
  CHECK(out[1].shape() == Shape{1, 1});
  CHECK(out[1].data<float>()[0] == doctest::Approx(1.25));
  CHECK(1.0 / out[2].data<float>()[0] == doctest::Approx(2.1650635).epsilon(1e-6));
  CHECK(out[0].data<float>()[0] == doctest::Approx(1.7320508).epsilon(1e-6));
  CHECK(out[0].data<float>()[7] == doctest::Approx(-0.5773503).epsilon(1e-6));
}

TEST_CASE("LayerNormalization: axes, scale broadcast, no bias, against float64") {
  struct Case { Shape x, scale; int64_t axis; };
  for (const Case& c : {Case{{2, 3, 4, 5}, {4, 5}, 2}, Case{{2, 3, 4, 5}, {5}, -2}, Case{{6, 7}, {6, 7}, 0},
                        Case{{3, 1}, {1}, -1}, Case{{2, 3, 17}, {1, 17}, -2}}) {
    auto s = open(layer_norm_model(c.x, c.scale, c.axis, false, 1));
    Tensor x = random_f32(c.x, 3, 4.0f), sc = random_f32(c.scale, 4);
    Tensor y = s->run({"X", "S"}, {x, sc})[0];
    const int64_t rank = static_cast<int64_t>(c.x.size()), axis = c.axis < 0 ? c.axis + rank : c.axis;
    int64_t rows = 1, d = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? rows : d) *= c.x[i];
    const int64_t sn = sc.numel();
    double worst = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double m = 0, v = 0;
      for (int64_t i = 0; i < d; ++i) m += x.data<float>()[r * d + i];
      m /= d;
      for (int64_t i = 0; i < d; ++i) v += std::pow(x.data<float>()[r * d + i] - m, 2);
      v /= d;
      for (int64_t i = 0; i < d; ++i) {
        const double want = (x.data<float>()[r * d + i] - m) / std::sqrt(v + 1e-5) * sc.data<float>()[i % sn];
        worst = std::max(worst, std::fabs(y.data<float>()[r * d + i] - want));
      }
    }
    INFO("x " << shape_to_string(c.x) << " axis " << c.axis);
    CHECK(worst < 2e-6);
  }
}

TEST_CASE("LayerNormalization rejects a scale that does not match the normalized shape") {
  auto [code, msg] = error_of([&] { open(layer_norm_model({2, 8}, {7}, -1, false, 1)); });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("node 'ln'") != std::string::npos);
  auto [code2, msg2] = error_of([&] { open(layer_norm_model({2, 8}, {8}, 2, false, 1)); });
  CHECK(msg2.find("axis 2 is out of range") != std::string::npos);
}

TEST_CASE("Add/Sub/Mul/Div broadcast through a session, every numeric type") {
  for (int type : {1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 16}) {
    onnx::ModelSpec m;
    m.inputs = {{"A", type, {int64_t(2), int64_t(3)}}, {"B", type, {int64_t(3)}}};
    m.outputs = {{"Y", type, {int64_t(2), int64_t(3)}}};
    m.nodes = {{"Mul", {"A", "B"}, {"p"}, {}, "mul"}, {"Add", {"p", "A"}, {"q"}, {}, "add"},
               {"Sub", {"q", "B"}, {"r"}, {}, "sub"}, {"Div", {"r", "B"}, {"Y"}, {}, "div"}};
    auto s = open(m);
    const DType dt = static_cast<DType>(type);
    // Values chosen so every step is exact in every type: A = 6, B = 2 -> ((12 + 6) - 2) / 2 = 8.
    Tensor a = Tensor::allocate(dt, {2, 3}), b = Tensor::allocate(dt, {3});
    auto fill = [&](Tensor& t, double v) {
      for (int64_t i = 0; i < t.numel(); ++i) {
        switch (dt) {
          case DType::Float32: t.data<float>()[i] = float(v); break;
          case DType::Float64: t.data<double>()[i] = v; break;
          case DType::Float16: t.data<uint16_t>()[i] = kernels::float_to_half(float(v)); break;
          case DType::BFloat16: t.data<uint16_t>()[i] = kernels::float_to_bfloat16(float(v)); break;
          default: std::memset(static_cast<char*>(t.raw()) + i * dtype_size(dt), 0, dtype_size(dt));
                   *(static_cast<uint8_t*>(t.raw()) + i * dtype_size(dt)) = static_cast<uint8_t>(v);
        }
      }
    };
    fill(a, 6);
    fill(b, 2);
    Tensor y = s->run({"A", "B"}, {a, b})[0];
    INFO("type " << dtype_name(dt));
    CHECK(y.dtype() == dt);
    for (int64_t i = 0; i < 6; ++i) CHECK(y.double_at(i) == 8.0);
  }
}

TEST_CASE("Reshape: 0, -1, allowzero, and errors") {
  auto reshape = [](std::vector<int64_t> target, int64_t allowzero, Shape in, int64_t opset = 14) {
    onnx::ModelSpec m;
    std::vector<std::variant<int64_t, std::string>> d;
    for (int64_t v : in) d.push_back(v);
    m.opsets = {{"", opset}};
    m.inputs = {{"X", 1, d}};
    m.outputs = {{"Y", 1, {}, false}};
    m.initializers = {onnx::tensor_spec("shape", typed<int64_t>(DType::Int64, {int64_t(target.size())}, target))};
    m.nodes = {{"Reshape", {"X", "shape"}, {"Y"}, {{"allowzero", attr_int(allowzero)}}, "reshape"}};
    if (opset < 14) m.nodes[0].attributes.clear();
    return m;
  };
  auto s = open(reshape({0, -1}, 0, {2, 3, 4}));
  CHECK(sym_shape_to_string(*s->outputs()[0].shape) == "[2,12]");
  Tensor y = s->run({"X"}, {random_f32({2, 3, 4}, 1)})[0];
  CHECK(y.shape() == Shape{2, 12});
  auto s0 = open(reshape({0, 4}, 1, {0, 4}));
  CHECK(s0->run({"X"}, {Tensor::allocate(DType::Float32, {0, 4})})[0].shape() == Shape{0, 4});
  auto s13 = open(reshape({-1, 0}, 0, {3, 2}, 13));
  CHECK(s13->run({"X"}, {random_f32({3, 2}, 1)})[0].shape() == Shape{3, 2});
  auto [code, msg] = error_of([&] { open(reshape({5, -1}, 0, {2, 3})); });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("cannot reshape") != std::string::npos);
  auto [code2, msg2] = error_of([&] { open(reshape({-1, -1}, 0, {2, 3})); });
  CHECK(msg2.find("more than one -1") != std::string::npos);
}

TEST_CASE("Transpose, Gather and Cast") {
  onnx::ModelSpec t = one_node("Transpose", {{"X", 1, {int64_t(2), int64_t(3)}}}, {{"Y", 1, {}, false}}, {{"perm", attr_ints({1, 0})}});
  Tensor y = open(t)->run({"X"}, {f32({2, 3}, {0, 1, 2, 3, 4, 5})})[0];
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.data<float>()[1] == 3.0f);
  auto [code, msg] = error_of([&] { open(one_node("Transpose", {{"X", 1, {int64_t(2), int64_t(3)}}}, {{"Y", 1, {}, false}}, {{"perm", attr_ints({0, 0})}})); });
  CHECK(msg.find("not a permutation") != std::string::npos);

  onnx::ModelSpec g = one_node("Gather", {{"D", 1, {int64_t(3), int64_t(2)}}, {"I", 7, {int64_t(2)}}}, {{"Y", 1, {}, false}});
  auto gs = open(g);
  Tensor gy = gs->run({"D", "I"}, {f32({3, 2}, {0, 1, 10, 11, 20, 21}), typed<int64_t>(DType::Int64, {2}, {2, -3})})[0];
  CHECK(gy.shape() == Shape{2, 2});
  CHECK(gy.data<float>()[0] == 20.0f);
  CHECK(gy.data<float>()[3] == 1.0f);
  auto [gc, gm] = error_of([&] { gs->run({"D", "I"}, {f32({3, 2}, {0, 1, 10, 11, 20, 21}), typed<int64_t>(DType::Int64, {2}, {3, 0})}); });
  CHECK(gc == ErrorCode::RuntimeError);
  CHECK(gm.find("index 3 is out of range") != std::string::npos);

  onnx::ModelSpec c = one_node("Cast", {{"X", 1, {int64_t(4)}}}, {{"Y", 6, {int64_t(4)}}}, {{"to", attr_int(6)}});
  Tensor cy = open(c)->run({"X"}, {f32({4}, {1.9f, -1.9f, NAN, 1e20f})})[0];
  CHECK(cy.dtype() == DType::Int32);
  CHECK(cy.data<int32_t>()[0] == 1);
  CHECK(cy.data<int32_t>()[1] == -1);
  CHECK(cy.data<int32_t>()[2] == 0);             // NaN -> 0, not undefined behaviour
  CHECK(cy.data<int32_t>()[3] == INT32_MAX);     // saturates
}

TEST_CASE("MatMul with batch broadcasting and 1-D operands, against float64") {
  struct Case { Shape a, b; };
  for (const Case& c : {Case{{7, 17}, {17, 5}}, Case{{2, 1, 3, 4}, {3, 4, 6}}, Case{{4}, {2, 4, 3}}, Case{{2, 5, 4}, {4}}, Case{{1, 1}, {1, 1}}}) {
    onnx::ModelSpec m = one_node("MatMul", {{"A", 1, {}, false}, {"B", 1, {}, false}}, {{"C", 1, {}, false}});
    m.inputs[0].has_shape = m.inputs[1].has_shape = false;
    Tensor a = random_f32(c.a, 5), b = random_f32(c.b, 6);
    Tensor y = open(m, {2})->run({"A", "B"}, {a, b})[0];
    // Reference through numpy rules spelled out for these cases.
    Shape sa = c.a, sb = c.b;
    if (sa.size() == 1) sa.insert(sa.begin(), 1);
    if (sb.size() == 1) sb.push_back(1);
    const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
    const int64_t batches = y.numel() / (M * N);
    const int64_t a_mats = a.numel() / (M * K), b_mats = b.numel() / (K * N);
    for (int64_t bi = 0; bi < batches; ++bi)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          // In these cases the broadcast batch index maps to (bi % mats) for the operand that repeats.
          const int64_t am = a_mats == batches ? bi : (a_mats == 1 ? 0 : bi / (batches / a_mats));
          const int64_t bm = b_mats == batches ? bi : (b_mats == 1 ? 0 : bi % b_mats);
          double want = 0;
          for (int64_t k = 0; k < K; ++k) want += double(a.data<float>()[am * M * K + i * K + k]) * b.data<float>()[bm * K * N + k * N + j];
          REQUIRE(std::fabs(y.data<float>()[(bi * M + i) * N + j] - want) < 1e-5);
        }
  }
}

TEST_CASE("MatMul by a constant weight: rows cut into blocks per thread count give the same bits, against float64") {
  // Row counts around the GEMM's 132-row block (one tile of 6 past it, 799 = 6 x 132 + 7, a
  // product of 3 matrices of 100 rows), and at 2 and 3 threads the row blocks are spread over
  // threads (or columns, for a short product against a wide weight); a row's bits must not depend
  // on the block it lands in.
  struct Case { Shape a; int64_t n; };
  for (const Case& c : {Case{{138, 40}, 24}, Case{{799, 33}, 40}, Case{{3, 100, 20}, 48}, Case{{197, 16}, 200}, Case{{5, 16}, 130}}) {
    const int64_t k = c.a.back();
    Tensor w = random_f32({k, c.n}, 7);
    onnx::ModelSpec m = one_node("MatMul", {{"A", 1, {}, false}}, {{"C", 1, {}, false}});
    m.inputs[0].has_shape = false;
    m.nodes[0].inputs = {"A", "W"};
    m.initializers = {onnx::tensor_spec("W", w)};
    Tensor a = random_f32(c.a, 8);
    Tensor ref = open(m, {1})->run({"A"}, {a})[0];
    const int64_t rows = a.numel() / k;
    double worst = 0;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double want = 0;
        for (int64_t p = 0; p < k; ++p) want += double(a.data<float>()[i * k + p]) * w.data<float>()[p * c.n + j];
        const double err = std::fabs(ref.data<float>()[i * c.n + j] - want);
        if (!(err <= worst)) worst = err;  // a NaN (say, a row never written) sticks and fails below
      }
    INFO("A " << shape_to_string(c.a) << " N " << c.n);
    CHECK(worst < 1e-4);
    for (int threads : {2, 3}) {
      Tensor y = open(m, {threads})->run({"A"}, {a})[0];
      INFO("threads " << threads);
      CHECK(std::memcmp(ref.raw(), y.raw(), ref.byte_size()) == 0);
    }
  }
}

TEST_CASE("MatMul + bias split by columns over threads (A packed once, shared): same bits as one thread, against float64") {
  // Products wide enough that 2 and 3 threads split them by columns: one depth block and one row
  // block, two depth blocks (K = 1000 > 768 on AVX2), two row blocks (150 rows), a last tile of 2
  // rows, a column count that is not a multiple of the tile width.
  struct Case { int64_t m, k, n; };
  for (const Case& c : {Case{100, 300, 520}, Case{40, 1000, 300}, Case{150, 64, 700}, Case{128, 200, 333}}) {
    Tensor w = random_f32({c.k, c.n}, 11), bias = random_f32({c.n}, 12), a = random_f32({c.m, c.k}, 13);
    onnx::ModelSpec m = one_node("MatMul", {{"A", 1, {}, false}}, {{"C", 1, {}, false}});
    m.inputs[0].has_shape = false;
    m.nodes = {{"MatMul", {"A", "W"}, {"T"}, {}, "product"}, {"Add", {"T", "bias"}, {"C"}, {}, "add_bias"}};
    m.initializers = {onnx::tensor_spec("W", w), onnx::tensor_spec("bias", bias)};
    auto one = open(m, {1});
    CHECK(one->optimization().fired.at("matmul_bias") == 1);
    Tensor ref = one->run({"A"}, {a})[0];
    double worst = 0;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double want = bias.data<float>()[j];
        for (int64_t p = 0; p < c.k; ++p) want += double(a.data<float>()[i * c.k + p]) * w.data<float>()[p * c.n + j];
        const double err = std::fabs(ref.data<float>()[i * c.n + j] - want);
        if (!(err <= worst)) worst = err;  // NaN sticks
      }
    INFO("m " << c.m << " k " << c.k << " n " << c.n << " max abs error " << worst);
    CHECK(worst < 2e-7 * double(c.k));  // float32 sums of k products of N(0,1)-sized values
    for (int threads : {2, 3}) {
      Tensor y = open(m, {threads})->run({"A"}, {a})[0];
      INFO("threads " << threads);
      CHECK(std::memcmp(ref.raw(), y.raw(), ref.byte_size()) == 0);
    }
  }
}

TEST_CASE("run-time input checks give clear errors") {
  onnx::ModelSpec m = one_node("Add", {{"A", 1, {std::string("batch"), int64_t(3)}}, {"B", 1, {std::string("batch"), int64_t(3)}}},
                               {{"C", 1, {std::string("batch"), int64_t(3)}}});
  auto s = open(m);
  Tensor ok = random_f32({2, 3}, 1);
  auto expect = [&](std::vector<std::string> names, std::vector<Tensor> ts, const std::string& text, std::vector<std::string> outs = {}) {
    auto [code, msg] = error_of([&] { s->run(names, ts, outs); });
    CHECK(code == ErrorCode::InvalidArgument);
    const std::string msg_text = msg;  // clang: structured bindings cannot be captured
    INFO(msg_text);
    CHECK(msg.find(text) != std::string::npos);
  };
  expect({"A", "Z"}, {ok, ok}, "'Z' is not an input of the model");
  expect({"A"}, {ok}, "input 'B' is missing");
  expect({"A", "A"}, {ok, ok}, "given twice");
  expect({"A", "B"}, {ok, typed<int64_t>(DType::Int64, {2, 3}, {1, 2, 3, 4, 5, 6})}, "element type int64, the model expects float");
  expect({"A", "B"}, {ok, random_f32({6}, 1)}, "expects rank 2");
  expect({"A", "B"}, {ok, random_f32({2, 4}, 1)}, "expects [batch,3]");
  expect({"A", "B"}, {ok, random_f32({5, 3}, 1)}, "gives dim 'batch' the value 5");
  expect({"A", "B"}, {ok, ok}, "'nope' is not an output", {"nope"});
  Tensor null_data = Tensor::borrow(DType::Float32, {2, 3}, nullptr);
  expect({"A", "B"}, {ok, null_data}, "has no data");
  // Dynamic dims: the same session runs any batch.
  for (int64_t batch : {1, 5, 0}) CHECK(s->run({"A", "B"}, {random_f32({batch, 3}, 2), random_f32({batch, 3}, 3)})[0].shape() == Shape{batch, 3});
}

TEST_CASE("threads: results do not depend on the thread count, and concurrent runs agree") {
  onnx::ModelSpec m = layer_norm_model({64, 96}, {96}, -1, true, 1);
  Tensor x = random_f32({64, 96}, 11, 100.0f), sc = random_f32({96}, 12), b = random_f32({96}, 13);
  Tensor ref = open(m, {1})->run({"X", "S", "B"}, {x, sc, b})[0];
  auto s2 = open(m, {2});
  CHECK(s2->threads() == 2);
  Tensor two = s2->run({"X", "S", "B"}, {x, sc, b})[0];
  CHECK(std::memcmp(ref.raw(), two.raw(), ref.byte_size()) == 0);
  // Several threads call run on one session at once.
  std::vector<std::thread> pool;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        Tensor y = s2->run({"X", "S", "B"}, {x, sc, b})[0];
        if (std::memcmp(ref.raw(), y.raw(), ref.byte_size()) != 0) ++mismatches;
      }
    });
  for (auto& th : pool) th.join();
  CHECK(mismatches == 0);
}

TEST_CASE("ISA selection: forced paths and the environment variable") {
  onnx::ModelSpec m = layer_norm_model({2, 8}, {8}, -1, false, 1);
  CHECK(open(m, {1, kernels::Isa::Scalar})->isa() == kernels::Isa::Scalar);
  CHECK(open(m, {1})->isa() == kernels::best_isa());
  for (kernels::Isa isa : {kernels::Isa::Avx2, kernels::Isa::Avx512, kernels::Isa::Neon}) {
    if (kernels::isa_available(isa)) {
      CHECK(open(m, {1, isa})->isa() == isa);
    } else {
      auto [code, msg] = error_of([&] { open(m, {1, isa}); });
      CHECK(code == ErrorCode::InvalidArgument);
      CHECK(msg.find("not available on this CPU") != std::string::npos);
    }
  }
  setenv("NORMRT_ISA", "scalar", 1);
  CHECK(open(m, {1})->isa() == kernels::Isa::Scalar);
  setenv("NORMRT_ISA", "sse9", 1);
  auto [code, msg] = error_of([&] { open(m, {1}); });
  CHECK(msg.find("NORMRT_ISA='sse9'") != std::string::npos);
  unsetenv("NORMRT_ISA");
}

TEST_CASE("the bundled tiny BERT model matches its float64 reference data") {
  const std::string dir = NORMRT_SOURCE_DIR "/models/tiny_bert";
  for (int set : {0, 1}) {
    for (int threads : {1, 2}) {
      auto s = onnx::open_session(dir + "/model.onnx", {threads});
      const std::string d = dir + "/data_" + std::to_string(set);
      std::vector<Tensor> out = s->run({"input_ids", "attention_mask"},
                                       {onnx::load_tensor_file(d + "/input_0.pb"), onnx::load_tensor_file(d + "/input_1.pb")});
      Tensor want = onnx::load_tensor_file(d + "/output_0.pb");
      REQUIRE(out[0].shape() == want.shape());
      double worst = 0;
      for (int64_t i = 0; i < want.numel(); ++i) worst = std::max(worst, std::fabs(out[0].double_at(i) - want.double_at(i)));
      INFO("set " << set << " threads " << threads);
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE("tensors normrt allocates are 64-byte aligned") {
  for (int64_t n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::allocate(DType::Float32, {n});
    CHECK(reinterpret_cast<uintptr_t>(t.raw()) % kTensorAlignment == 0);
  }
  onnx::ModelSpec m = one_node("Add", {{"A", 1, {int64_t(3), int64_t(5)}}, {"B", 1, {int64_t(5)}}}, {{"C", 1, {int64_t(3), int64_t(5)}}});
  m.nodes[0].outputs = {"t"};
  m.nodes.push_back({"Mul", {"t", "B"}, {"C"}, {}, "mul"});
  Tensor y = open(m)->run({"A", "B"}, {random_f32({3, 5}, 1), random_f32({5}, 2)})[0];
  CHECK(reinterpret_cast<uintptr_t>(y.raw()) % kTensorAlignment == 0);
}

TEST_CASE("Conv 1-D and 2-D: groups, strides, dilations, pads, auto_pad, bias, threads, every ISA, W input or constant (packed or Winograd), against float64") {
  struct Case {
    Shape x, w;
    int64_t group;
    std::vector<int64_t> strides, dilations, pads;
    std::string auto_pad;
    bool bias;
  };
  const Case cases[] = {
      {{2, 4, 9, 11}, {6, 2, 3, 3}, 2, {2, 1}, {1, 2}, {1, 0, 2, 1}, "NOTSET", true},
      {{1, 3, 8, 8}, {5, 3, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, "NOTSET", true},  // 1x1: no im2col
      {{1, 6, 7, 5}, {6, 1, 3, 3}, 6, {1, 1}, {1, 1}, {}, "SAME_UPPER", false},       // depthwise
      {{2, 4, 33}, {8, 4, 5}, 1, {2}, {3}, {}, "SAME_LOWER", true},                   // 1-D, audio-style
      {{1, 2, 40}, {4, 1, 10}, 2, {5}, {1}, {}, "VALID", true},                       // patch-embedding-like
      // Several blocks of output positions (and a partial one), channels not a multiple of the tile.
      {{1, 8, 20, 23}, {130, 8, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, "NOTSET", true},
      // One block of positions, many channels: two threads split the channels.
      {{1, 16, 6, 6}, {160, 16, 3, 3}, 1, {1, 1}, {1, 1}, {0, 2, 1, 0}, "NOTSET", true},
      {{2, 6, 150}, {70, 3, 1}, 2, {1}, {1}, {0, 0}, "NOTSET", false},  // 1x1 1-D, groups: X read in place
      // 1-D with unit stride, constant W: rows read from a zero-padded window of the input.
      // wav2vec2's positional convolution in small (kernel 128 over 49 frames, pads past both
      // ends, 1024 deep: two AVX-512 depth blocks); dilation 2 with uneven pads over three blocks of
      // positions and batch 2; pads beyond the input on one side only; no padding at all.
      {{1, 16, 49}, {16, 8, 128}, 2, {1}, {1}, {64, 64}, "NOTSET", true},
      {{2, 6, 300}, {8, 3, 5}, 2, {1}, {2}, {3, 1}, "NOTSET", true},
      {{1, 4, 20}, {5, 4, 9}, 1, {1}, {1}, {0, 12}, "NOTSET", false},
      {{1, 3, 140}, {7, 3, 4}, 1, {1}, {3}, {}, "VALID", true},
      // Strided 1-D (im2col): stride 3 with dilation 2 over three blocks of positions, and a
      // wav2vec2-like first convolution (one channel, kernel 10, stride 5).
      {{1, 5, 800}, {6, 5, 4}, 1, {3}, {2}, {2, 5}, "NOTSET", true},
      {{2, 1, 1603}, {12, 1, 10}, 1, {5}, {1}, {0, 0}, "NOTSET", false},
      {{1, 100, 12, 13}, {40, 100, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, "NOTSET", true},  // 900 deep: several GEMM depth blocks
      // Constant 3x3 weights with unit strides, 32+ channels and 16+ tiles of 4x4 run on Winograd
      // F(4x4, 3x3): outputs not a multiple of 4, asymmetric pads, batch 2; tile rows longer than a
      // vector and cut by B panels; input channels over two depth blocks. Then an image of 4 tiles,
      // which stays on im2col.
      {{2, 33, 13, 18}, {40, 33, 3, 3}, 1, {1, 1}, {1, 1}, {1, 0, 2, 1}, "NOTSET", true},
      {{1, 32, 9, 70}, {48, 32, 3, 3}, 1, {1, 1}, {1, 1}, {}, "SAME_UPPER", true},
      {{1, 40, 17, 17}, {32, 40, 3, 3}, 1, {1, 1}, {1, 1}, {}, "VALID", false},
      {{1, 800, 16, 15}, {32, 800, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, "NOTSET", true},
      {{1, 40, 5, 5}, {32, 40, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, "NOTSET", true},
      // Constant 1-D weights of 3 taps, stride 2, 64+ channels: the polyphase path (odd phase as a
      // 1x1 product, even phase on Winograd F(2, 2)). Two blocks of 128 outputs and batch 2, output
      // channels not a multiple of the tile; pads on both sides with an odd output count (the last
      // pair has one output); 900 input channels over two depth blocks with SAME_UPPER; 63 input
      // channels, which stays on im2col.
      {{2, 64, 301}, {70, 64, 3}, 1, {2}, {1}, {0, 0}, "NOTSET", true},
      {{1, 64, 260}, {64, 64, 3}, 1, {2}, {1}, {1, 2}, "NOTSET", false},
      {{1, 900, 40}, {64, 900, 3}, 1, {2}, {1}, {}, "SAME_UPPER", true},
      {{1, 63, 50}, {64, 63, 3}, 1, {2}, {1}, {}, "VALID", true},
  };
  for (const Case& c : cases)
  for (bool w_constant : {false, true}) {
    Tensor x = random_f32(c.x, 1), w = random_f32(c.w, 2), b = random_f32({c.w[0]}, 3);
    auto dims = [](const Shape& s) {
      std::vector<std::variant<int64_t, std::string>> d(s.begin(), s.end());
      return d;
    };
    onnx::ModelSpec m;
    m.inputs = {{"X", 1, dims(c.x)}};
    if (w_constant) m.initializers = {onnx::tensor_spec("W", w)};  // a weight: packed at session creation
    else m.inputs.push_back({"W", 1, dims(c.w)});
    if (c.bias) m.inputs.push_back({"B", 1, dims({c.w[0]})});
    m.outputs = {{"Y", 1, {}, false}};
    onnx::NodeSpec n{"Conv", {"X", "W"}, {"Y"}, {{"group", attr_int(c.group)}, {"strides", attr_ints(c.strides)}, {"dilations", attr_ints(c.dilations)}}, "conv"};
    if (c.bias) n.inputs.push_back("B");
    if (!c.pads.empty()) n.attributes["pads"] = attr_ints(c.pads);
    Attribute ap;
    ap.kind = Attribute::Kind::String;
    ap.s = c.auto_pad;
    n.attributes["auto_pad"] = ap;
    m.nodes = {n};
    // float64 reference, written independently of the kernel's im2col.
    const size_t k = c.x.size() - 2;
    std::vector<int64_t> in(c.x.begin() + 2, c.x.end()), ks(c.w.begin() + 2, c.w.end()), pb(k, 0), out(k);
    for (size_t d = 0; d < k; ++d) {
      const int64_t extent = c.dilations[d] * (ks[d] - 1) + 1;
      int64_t pe = 0;
      if (c.auto_pad == "NOTSET") pb[d] = c.pads[d], pe = c.pads[k + d];
      if (c.auto_pad.rfind("SAME", 0) == 0) {
        const int64_t o = (in[d] + c.strides[d] - 1) / c.strides[d], total = std::max<int64_t>(0, (o - 1) * c.strides[d] + extent - in[d]);
        pb[d] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2, pe = total - pb[d];
      }
      out[d] = (in[d] + pb[d] + pe - extent) / c.strides[d] + 1;
    }
    const int64_t oh = k == 2 ? out[0] : 1, ow = out[k - 1], ih = k == 2 ? in[0] : 1, iw = in[k - 1];
    const int64_t kh = k == 2 ? ks[0] : 1, kw = ks[k - 1], cg = c.x[1] / c.group, mg = c.w[0] / c.group;
    const int64_t sh = k == 2 ? c.strides[0] : 1, sw = c.strides[k - 1], dh = k == 2 ? c.dilations[0] : 1, dw = c.dilations[k - 1];
    const int64_t ph = k == 2 ? pb[0] : 0, pw = pb[k - 1];
    for (kernels::Isa isa : available_isas())
    for (int threads : {1, 2}) {
      INFO("X " << shape_to_string(c.x) << " W " << shape_to_string(c.w) << std::string(w_constant ? " constant" : " input") << " threads " << threads
                << " isa " << std::string(kernels::isa_name(isa)));
      auto s = open(m, SessionOptions{threads, isa});
      std::vector<Tensor> ins{x};
      std::vector<std::string> names{"X"};
      if (!w_constant) ins.push_back(w), names.push_back("W");
      if (c.bias) ins.push_back(b), names.push_back("B");
      Tensor y = s->run(names, ins)[0];
      double worst = 0;
      for (int64_t nb = 0; nb < c.x[0]; ++nb)
        for (int64_t oc = 0; oc < c.w[0]; ++oc)
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
              double acc = c.bias ? b.data<float>()[oc] : 0.0, magnitude = std::fabs(acc);
              const int64_t grp = oc / mg;
              for (int64_t ci = 0; ci < cg; ++ci)
                for (int64_t a = 0; a < kh; ++a)
                  for (int64_t e = 0; e < kw; ++e) {
                    const int64_t yy = i * sh - ph + a * dh, xx = j * sw - pw + e * dw;
                    if (yy < 0 || yy >= ih || xx < 0 || xx >= iw) continue;
                    const double term = double(x.data<float>()[((nb * c.x[1] + grp * cg + ci) * ih + yy) * iw + xx]) *
                                        w.data<float>()[((oc * cg + ci) * kh + a) * kw + e];
                    acc += term, magnitude += std::fabs(term);
                  }
              // float32 sums: error relative to the sum of the terms' magnitudes
              const double err = std::fabs(y.data<float>()[((nb * c.w[0] + oc) * oh + i) * ow + j] - acc) / std::max(1.0, magnitude);
              worst = std::max(worst, err);
            }
      CHECK(y.numel() == c.x[0] * c.w[0] * oh * ow);
      // Winograd's transforms scale terms by up to 8 and 1/24 before the sums: a few times the
      // direct sum's error (up to 2.3e-6 of the magnitude measured here, against 2e-7).
      const bool winograd = w_constant && c.group == 1 && c.w.size() == 4 && c.w[2] == 3 && c.w[3] == 3 && c.strides == std::vector<int64_t>{1, 1} &&
                            c.dilations == std::vector<int64_t>{1, 1} && c.w[0] >= 32 && c.w[1] >= 32 &&
                            (c.x[2] + 3) / 4 * ((c.x[3] + 3) / 4) >= 16;
      CHECK(worst < (winograd ? 1e-5 : 2e-6));
    }
  }
}

TEST_CASE("Einsum: the attention forms (batched SGEMM path) and a reduction against float64") {
  struct Case {
    std::string eq;
    Shape a, b;
  };
  const Case cases[] = {{"bhid,bhjd->bhij", {2, 3, 5, 8}, {2, 3, 7, 8}},
                        {"bhij,bhjd->bhid", {2, 3, 5, 7}, {2, 3, 7, 8}},
                        {"bhij,bhjd->bihd", {2, 3, 5, 7}, {2, 3, 7, 8}},  // output letters reordered
                        {"ij,jk", {4, 6}, {6, 3}},                        // implicit output
                        {"bij,bjk->bk", {2, 4, 6}, {2, 6, 3}}};           // i summed in one operand: generic path
  for (const Case& c : cases) {
    INFO(c.eq);
    Tensor a = random_f32(c.a, 4), b = random_f32(c.b, 5);
    auto dims = [](const Shape& s) { return std::vector<std::variant<int64_t, std::string>>(s.begin(), s.end()); };
    onnx::ModelSpec m;
    m.opsets = {{"", 17}};
    m.inputs = {{"A", 1, dims(c.a)}, {"B", 1, dims(c.b)}};
    m.outputs = {{"Y", 1, {}, false}};
    Attribute eq;
    eq.kind = Attribute::Kind::String;
    eq.s = c.eq;
    m.nodes = {{"Einsum", {"A", "B"}, {"Y"}, {{"equation", eq}}, "einsum"}};
    Tensor y = open(m)->run({"A", "B"}, {a, b})[0];
    // Reference: letters of A and B, the output as given (or implicit: sorted letters seen once).
    const std::string lhs = c.eq.substr(0, c.eq.find("->") == std::string::npos ? c.eq.size() : c.eq.find("->"));
    const std::string ta = lhs.substr(0, lhs.find(',')), tb = lhs.substr(lhs.find(',') + 1);
    std::string out = c.eq.find("->") == std::string::npos ? "" : c.eq.substr(c.eq.find("->") + 2);
    if (c.eq.find("->") == std::string::npos)
      for (char ch = 'a'; ch <= 'z'; ++ch)
        if ((ta.find(ch) == std::string::npos) != (tb.find(ch) == std::string::npos)) out += ch;
    std::map<char, int64_t> size;
    for (size_t d = 0; d < ta.size(); ++d) size[ta[d]] = c.a[d];
    for (size_t d = 0; d < tb.size(); ++d) size[tb[d]] = c.b[d];
    std::string letters;
    for (auto& [ch, s] : size) letters += ch;
    std::map<char, int64_t> at;
    std::vector<double> ref(static_cast<size_t>(y.numel()), 0.0);
    std::function<void(size_t)> walk = [&](size_t li) {
      if (li == letters.size()) {
        auto offset = [&](const std::string& t, const Shape& s) {
          int64_t o = 0;
          for (size_t d = 0; d < t.size(); ++d) o = o * s[d] + at[t[d]];
          return o;
        };
        Shape os;
        for (char ch : out) os.push_back(size[ch]);
        ref[offset(out, os)] += double(a.data<float>()[offset(ta, c.a)]) * b.data<float>()[offset(tb, c.b)];
        return;
      }
      for (int64_t v = 0; v < size[letters[li]]; ++v) at[letters[li]] = v, walk(li + 1);
    };
    walk(0);
    double worst = 0;
    for (int64_t i = 0; i < y.numel(); ++i) worst = std::max(worst, std::fabs(y.data<float>()[i] - ref[i]));
    CHECK(worst < 1e-4);
  }
}

namespace {
// One of models/families opened with and without the graph passes, run on its data_0 inputs.
struct FusedAndPlain {
  std::unique_ptr<Session> fused, plain;
  double max_diff = 0;  // between the two runs' first outputs
  explicit FusedAndPlain(const std::string& name) {
    const std::string dir = NORMRT_SOURCE_DIR "/models/families/" + name;
    SessionOptions off{1};
    off.optimize = false;
    fused = onnx::open_session(dir + "/model.onnx", SessionOptions{1});
    plain = onnx::open_session(dir + "/model.onnx", off);
    std::vector<std::string> names;
    std::vector<Tensor> in;
    for (const IoInfo& io : fused->inputs()) {
      names.push_back(io.name);
      in.push_back(onnx::load_tensor_file(dir + "/data_0/input_" + std::to_string(in.size()) + ".pb"));
    }
    const Tensor a = fused->run(names, in)[0], b = plain->run(names, in)[0];
    REQUIRE(a.shape() == b.shape());
    for (int64_t i = 0; i < a.numel(); ++i) max_diff = std::max(max_diff, std::fabs(a.double_at(i) - b.double_at(i)));
  }
  int count(const std::function<bool(const Node&)>& pred) const {
    int c = 0;
    for (const Node& n : fused->graph().nodes) c += pred(n);
    return c;
  }
};
}  // namespace

TEST_CASE("graph passes on an exported BERT: attention, GELU and MatMul + bias fuse; outputs equal the unfused run") {
  const FusedAndPlain m("bert_tiny");
  const OptimizationReport& r = m.fused->optimization();
  CHECK(r.fired.at("attention") == 2);  // one per layer
  CHECK(r.fired.at("gelu") == 2);
  CHECK(r.fired.at("matmul_bias") == 8);
  CHECK(m.count([](const Node& n) { return n.op_type == "Attention" && n.domain == kInternalDomain; }) == 2);
  CHECK(r.fired.at("split_product") == 2);  // the QKV product, once shapes are inferred through the embeddings
  CHECK(m.count([](const Node& n) { return n.op_type == "Split"; }) == 0);
  CHECK(m.max_diff < 1e-5);
}

TEST_CASE("graph passes on an exported GPT-2: the tanh GELU fuses into the FFN's GEMM epilogue, the causal masked_fill attention into the attention kernel; outputs equal the unfused run") {
  const FusedAndPlain m("gpt2_tiny");
  CHECK(m.fused->optimization().fired.at("gelu_tanh") == 2);
  CHECK(m.fused->optimization().fired.at("attention") == 2);  // one per layer
  CHECK(m.count([](const Node& n) { return n.op_type == "Where" || n.op_type == "Softmax"; }) == 0);
  CHECK(m.count([](const Node& n) { return n.op_type == "FusedMatMul" && n.attr_string("activation", "") == "gelu_tanh"; }) == 2);
  CHECK(m.max_diff < 1e-4);
}

TEST_CASE("graph passes on an exported UNet block: GroupNorm (InstanceNorm form) fuses, with deduplicated weights; outputs equal the unfused run") {
  const FusedAndPlain m("unet_block");
  CHECK(m.fused->optimization().fired.at("group_norm") == 3);
  CHECK(m.count([](const Node& n) { return n.op_type == "InstanceNormalization"; }) == 0);
  CHECK(m.max_diff < 1e-5);
}

TEST_CASE("Where broadcasts condition, X and Y row by row, against an element-by-element reference") {
  using D = std::variant<int64_t, std::string>;
  // condition [1, 1, 3, 5], X [2, 4, 1, 5], Y [4, 3, 1] -> [2, 4, 3, 5]; and every input a scalar.
  std::vector<bool> cond(15);
  for (size_t i = 0; i < cond.size(); ++i) cond[i] = (i * 7) % 3 == 0;
  std::vector<float> x(40), y(12);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) + 0.5f;
  for (size_t i = 0; i < y.size(); ++i) y[i] = -float(i) - 0.25f;
  x[3] = -0.0f;
  onnx::ModelSpec m = one_node("Where", {{"C", 9, {D(int64_t(1)), D(int64_t(1)), D(int64_t(3)), D(int64_t(5))}}, {"X", 1, {D(int64_t(2)), D(int64_t(4)), D(int64_t(1)), D(int64_t(5))}}, {"Y", 1, {D(int64_t(4)), D(int64_t(3)), D(int64_t(1))}}},
                               {{"Z", 1, {}, false}});
  Tensor ct = Tensor::allocate(DType::Bool, {1, 1, 3, 5});
  for (size_t i = 0; i < cond.size(); ++i) ct.data<bool>()[i] = cond[i];
  Tensor z = open(m)->run({"C", "X", "Y"}, {ct, f32({2, 4, 1, 5}, x), f32({4, 3, 1}, y)})[0];
  REQUIRE(z.shape() == Shape{2, 4, 3, 5});
  int bad = 0;
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t d = 0; d < 5; ++d) {
          const float want = cond[c * 5 + d] ? x[(a * 4 + b) * 5 + d] : y[b * 3 + c];
          const float got = z.data<float>()[((a * 4 + b) * 3 + c) * 5 + d];
          bad += std::memcmp(&want, &got, sizeof(float)) != 0;  // bit for bit (the -0 included)
        }
  CHECK(bad == 0);

  onnx::ModelSpec s = one_node("Where", {{"C", 9, {}}, {"X", 7, {}}, {"Y", 7, {}}}, {{"Z", 7, {}, false}});
  Tensor c0 = Tensor::allocate(DType::Bool, {});
  c0.data<bool>()[0] = false;
  Tensor z0 = open(s)->run({"C", "X", "Y"}, {c0, typed<int64_t>(DType::Int64, {}, {1LL << 40}), typed<int64_t>(DType::Int64, {}, {-(1LL << 41)})})[0];
  CHECK(z0.shape() == Shape{});
  CHECK(z0.data<int64_t>()[0] == -(1LL << 41));
}

TEST_CASE("Slice rows: consecutive (one copy per row) and strided or reversed last dims, against index arithmetic") {
  using D = std::variant<int64_t, std::string>;
  std::vector<float> x(4 * 6 * 7);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  struct Case { std::vector<int64_t> starts, ends, axes, steps; };
  for (const Case& c : {Case{{1, 2}, {3, 6}, {1, 2}, {1, 1}}, Case{{0, 6}, {4, -8}, {0, 2}, {2, -2}}, Case{{5, 1}, {0, 7}, {1, 2}, {-1, 3}}}) {
    onnx::ModelSpec m = one_node("Slice", {{"X", 1, {D(int64_t(4)), D(int64_t(6)), D(int64_t(7))}}, {"S", 7, {D(int64_t(2))}}, {"E", 7, {D(int64_t(2))}}, {"A", 7, {D(int64_t(2))}}, {"P", 7, {D(int64_t(2))}}},
                                 {{"Y", 1, {}, false}});
    const int64_t k = 2;
    Tensor y = open(m)->run({"X", "S", "E", "A", "P"}, {f32({4, 6, 7}, x), typed<int64_t>(DType::Int64, {k}, c.starts), typed<int64_t>(DType::Int64, {k}, c.ends),
                                                          typed<int64_t>(DType::Int64, {k}, c.axes), typed<int64_t>(DType::Int64, {k}, c.steps)})[0];
    // The reference: per dim, the list of source indices (ONNX clamping rules for these cases).
    std::vector<std::vector<int64_t>> src(3);
    const int64_t dims[3] = {4, 6, 7};
    for (int d = 0; d < 3; ++d) {
      int64_t start = 0, end = dims[d], step = 1;
      for (int64_t j = 0; j < k; ++j)
        if (c.axes[j] == d) {
          step = c.steps[j];
          start = c.starts[j] < 0 ? c.starts[j] + dims[d] : c.starts[j];
          end = c.ends[j] < 0 ? c.ends[j] + dims[d] : c.ends[j];
          start = step > 0 ? std::clamp<int64_t>(start, 0, dims[d]) : std::clamp<int64_t>(start, 0, dims[d] - 1);
          end = step > 0 ? std::clamp<int64_t>(end, 0, dims[d]) : std::clamp<int64_t>(end, -1, dims[d] - 1);
        }
      for (int64_t i = start; step > 0 ? i < end : i > end; i += step) src[d].push_back(i);
    }
    REQUIRE(y.shape() == Shape{int64_t(src[0].size()), int64_t(src[1].size()), int64_t(src[2].size())});
    int bad = 0, o = 0;
    for (int64_t a : src[0])
      for (int64_t b : src[1])
        for (int64_t e : src[2]) bad += y.data<float>()[o++] != x[(a * 6 + b) * 7 + e];
    CHECK(bad == 0);
  }
}

TEST_CASE("ConvTranspose with a constant (packed) W equals W given as an input: strides, pads, dilations, groups, 1-D to 3-D, every ISA") {
  // The input-W path is the one ONNX's conformance cases check; the packed path must agree with it.
  struct Case {
    Shape x, w;
    int64_t group;
    std::vector<int64_t> strides, dilations, pads, output_padding;
  };
  const Case cases[] = {
      {{1, 8, 7, 9}, {8, 5, 4, 4}, 1, {2, 2}, {1, 1}, {1, 1, 1, 1}, {0, 0}},               // the UNet upsampler's form
      {{2, 6, 20, 13}, {6, 3, 3, 3}, 2, {2, 1}, {1, 2}, {1, 0, 0, 2}, {1, 0}},             // several position blocks
      {{1, 4, 300}, {4, 7, 5}, 1, {3}, {1}, {2, 1}, {0}},                                   // 1-D
      {{1, 3, 4, 5, 6}, {3, 2, 2, 3, 2}, 1, {1, 2, 1}, {1, 1, 2}, {0, 1, 0, 0, 0, 1}, {0, 0, 0}},  // 3-D
      {{1, 800, 5, 5}, {800, 4, 3, 3}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, {0, 0}},           // 800 deep: two depth blocks
      {{1, 16, 9, 9}, {16, 40, 4, 4}, 1, {2, 2}, {1, 1}, {1, 1, 1, 1}, {0, 0}},            // 640 rows: row blocks, channel chunks
  };
  for (const Case& c : cases) {
    auto dims = [](const Shape& s) { return std::vector<std::variant<int64_t, std::string>>(s.begin(), s.end()); };
    const Tensor x = random_f32(c.x, 4), w = random_f32(c.w, 5), b = random_f32({c.w[1] * c.group}, 6);
    auto model = [&](bool w_constant) {
      onnx::ModelSpec m;
      m.inputs = {{"X", 1, dims(c.x)}, {"B", 1, dims({c.w[1] * c.group})}};
      if (w_constant) m.initializers = {onnx::tensor_spec("W", w)};
      else m.inputs.push_back({"W", 1, dims(c.w)});
      m.outputs = {{"Y", 1, {}, false}};
      m.nodes = {{"ConvTranspose", {"X", "W", "B"}, {"Y"},
                  {{"group", attr_int(c.group)}, {"strides", attr_ints(c.strides)}, {"dilations", attr_ints(c.dilations)},
                   {"pads", attr_ints(c.pads)}, {"output_padding", attr_ints(c.output_padding)}}, "convt"}};
      return m;
    };
    const Tensor want = open(model(false))->run({"X", "B", "W"}, {x, b, w})[0];
    double scale = 1;
    for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::fabs(want.double_at(i)));
    for (kernels::Isa isa : available_isas())
      for (int threads : {1, 2}) {
        INFO("X " << shape_to_string(c.x) << " W " << shape_to_string(c.w) << " isa " << std::string(kernels::isa_name(isa)) << " threads " << threads);
        const Tensor got = open(model(true), SessionOptions{threads, isa})->run({"X", "B"}, {x, b})[0];
        REQUIRE(got.shape() == want.shape());
        double worst = 0;
        for (int64_t i = 0; i < got.numel(); ++i) worst = std::max(worst, std::fabs(got.double_at(i) - want.double_at(i)));
        CHECK(worst < 1e-5 * scale);
      }
  }
}

TEST_CASE("Winograd Conv with an inf in X: non-finite outputs stay inside the 4x4 tiles whose windows read it") {
  // X [2, 32, 16, 16] with X[0, 3, 5, 6] = inf, a constant 3x3 W, pads 1: Winograd. Tile (1, 1)
  // (output rows and columns 4-7) is the only one whose 6x6 window (rows and columns 3-8) holds
  // (5, 6). The direct path (NORMRT_CONV_WINOGRAD=0) makes outputs non-finite only where a tap
  // reads it (rows 4-6, columns 5-7), Winograd on the whole tile; both agree everywhere else, and
  // image 1 is untouched.
  Tensor x = random_f32({2, 32, 16, 16}, 12);
  const Tensor w = random_f32({32, 32, 3, 3}, 13);
  x.data<float>()[((0 * 32 + 3) * 16 + 5) * 16 + 6] = std::numeric_limits<float>::infinity();
  const onnx::ModelSpec m = conv_with_weight(x.shape(), w, {{"pads", attr_ints({1, 1, 1, 1})}});
  for (kernels::Isa isa : available_isas()) {
    INFO("isa " << std::string(kernels::isa_name(isa)));
    const auto [wino, direct] = fast_and_direct(m, isa, x, "NORMRT_CONV_WINOGRAD");
    int64_t outside_bad = 0, wino_nonfinite = 0, direct_nonfinite = 0, direct_outside_taps = 0;
    double worst = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t oc = 0; oc < 32; ++oc)
        for (int64_t i = 0; i < 16; ++i)
          for (int64_t j = 0; j < 16; ++j) {
            const size_t k = ((n * 32 + oc) * 16 + i) * 16 + j;
            const float a = wino.data<float>()[k], b = direct.data<float>()[k];
            const bool in_tile = n == 0 && i >= 4 && i < 8 && j >= 4 && j < 8;
            const bool in_taps = n == 0 && i >= 4 && i <= 6 && j >= 5 && j <= 7;
            wino_nonfinite += !std::isfinite(a), direct_nonfinite += !std::isfinite(b);
            direct_outside_taps += !std::isfinite(b) && !in_taps;
            if (in_taps) CHECK_FALSE(std::isfinite(a));
            if (in_tile) continue;
            if (!std::isfinite(a)) ++outside_bad;
            else worst = std::max(worst, double(std::fabs(a - b)) / std::max(1.0f, std::fabs(b)));
          }
    CHECK(outside_bad == 0);
    CHECK(direct_outside_taps == 0);
    CHECK(direct_nonfinite == 32 * 9);
    CHECK(wino_nonfinite == 32 * 16);  // the whole tile, every channel
    CHECK(worst < 1e-3);  // Winograd's float32 error over 288 unit-sized terms: 2.5e-4 measured
  }
}

TEST_CASE("Polyphase Conv (1-D, 3 taps, stride 2) with an inf and a NaN in X: non-finite outputs exactly where a tap reads them") {
  // X [2, 64, 41], W [64, 64, 3] constant, stride 2: 20 outputs per channel, the polyphase path.
  // X[0, 5, 20] = inf is read by outputs 9 (taps 18-20) and 10 (taps 20-22): the even phase's
  // pairs (8, 9) and (10, 11) each hold it in one transformed value, which only output 9, resp. 10,
  // adds. X[0, 7, 31] = NaN (odd phase) is read by output 15 only. The direct path
  // (NORMRT_CONV_POLYPHASE=0) marks the same outputs; both agree everywhere else.
  Tensor x = random_f32({2, 64, 41}, 14);
  const Tensor w = random_f32({64, 64, 3}, 15);
  x.data<float>()[5 * 41 + 20] = std::numeric_limits<float>::infinity();
  x.data<float>()[7 * 41 + 31] = std::numeric_limits<float>::quiet_NaN();
  const onnx::ModelSpec m = conv_with_weight(x.shape(), w, {{"strides", attr_ints({2})}});
  for (kernels::Isa isa : available_isas()) {
    INFO("isa " << std::string(kernels::isa_name(isa)));
    const auto [poly, direct] = fast_and_direct(m, isa, x, "NORMRT_CONV_POLYPHASE");
    REQUIRE(poly.numel() == 2 * 64 * 20);
    int64_t poly_nonfinite = 0, mismatched = 0;
    double worst = 0;
    for (int64_t k = 0; k < poly.numel(); ++k) {
      const int64_t n = k / (64 * 20), j = k % 20;
      const float a = poly.data<float>()[k], b = direct.data<float>()[k];
      const bool read = n == 0 && (j == 9 || j == 10 || j == 15);
      poly_nonfinite += !std::isfinite(a);
      mismatched += std::isfinite(a) != !read || std::isfinite(b) != !read;
      if (!read) worst = std::max(worst, double(std::fabs(a - b)) / std::max(1.0f, std::fabs(b)));
    }
    CHECK(poly_nonfinite == 64 * 3);
    CHECK(mismatched == 0);
    CHECK(worst < 1e-4);  // two float32 sums of 192 unit-sized terms each: 1.6e-5 apart measured
  }
}

TEST_CASE("ConvTranspose kernel 4, stride 2, pads 1 (the upsampler) on Winograd: against float64, every ISA, 1 and 2 threads") {
  // 32+ input channels, 8+ output channels (32+ in the 3x3 form) and 16+ tiles of X take the
  // Winograd path: batch 2 with ragged tiles; 800 input channels (two depth blocks); a tile row of
  // 18 tiles (longer than a vector, cut by B panels). NORMRT_CONV_WINOGRAD=0 gives the col2im
  // path, which must round differently somewhere (so the first really ran on Winograd).
  struct Case {
    Shape x, w;
  };
  const Case cases[] = {{{2, 40, 17, 13}, {40, 12, 4, 4}}, {{1, 800, 16, 15}, {800, 8, 4, 4}}, {{1, 33, 4, 70}, {33, 9, 4, 4}}};
  for (const Case& c : cases) {
    auto dims = [](const Shape& s) { return std::vector<std::variant<int64_t, std::string>>(s.begin(), s.end()); };
    const Tensor x = random_f32(c.x, 7), w = random_f32(c.w, 8), b = random_f32({c.w[1]}, 9);
    onnx::ModelSpec m;
    m.inputs = {{"X", 1, dims(c.x)}, {"B", 1, dims({c.w[1]})}};
    m.initializers = {onnx::tensor_spec("W", w)};
    m.outputs = {{"Y", 1, {}, false}};
    m.nodes = {{"ConvTranspose", {"X", "W", "B"}, {"Y"}, {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}}, "up"}};
    const int64_t nb = c.x[0], ci = c.x[1], h = c.x[2], wd = c.x[3], mo = c.w[1], oh = 2 * h, ow = 2 * wd;
    std::vector<double> ref(nb * mo * oh * ow), mag(ref.size());
    for (int64_t n = 0; n < nb; ++n)
      for (int64_t co = 0; co < mo; ++co) {
        const size_t base = (n * mo + co) * oh * ow;
        for (int64_t p = 0; p < oh * ow; ++p) ref[base + p] = b.data<float>()[co], mag[base + p] = std::fabs(ref[base + p]);
        for (int64_t c0 = 0; c0 < ci; ++c0)
          for (int64_t i = 0; i < h; ++i)
            for (int64_t j = 0; j < wd; ++j)
              for (int64_t kh = 0; kh < 4; ++kh)
                for (int64_t kw = 0; kw < 4; ++kw) {
                  const int64_t yy = 2 * i - 1 + kh, xx = 2 * j - 1 + kw;  // output = input * stride - pad + tap
                  if (yy < 0 || yy >= oh || xx < 0 || xx >= ow) continue;
                  const double t = double(x.data<float>()[((n * ci + c0) * h + i) * wd + j]) * w.data<float>()[((c0 * mo + co) * 4 + kh) * 4 + kw];
                  ref[base + yy * ow + xx] += t, mag[base + yy * ow + xx] += std::fabs(t);
                }
      }
    for (kernels::Isa isa : available_isas())
      for (int threads : {1, 2}) {
        INFO("X " << shape_to_string(c.x) << " W " << shape_to_string(c.w) << " isa " << std::string(kernels::isa_name(isa)) << " threads " << threads);
        const Tensor got = open(m, SessionOptions{threads, isa})->run({"X", "B"}, {x, b})[0];
        setenv("NORMRT_CONV_WINOGRAD", "0", 1);
        const Tensor col2im = open(m, SessionOptions{threads, isa})->run({"X", "B"}, {x, b})[0];
        unsetenv("NORMRT_CONV_WINOGRAD");
        REQUIRE(got.shape() == Shape{nb, mo, oh, ow});
        REQUIRE(col2im.shape() == got.shape());
        double worst = 0, worst_col2im = 0;
        bool differ = false;
        for (size_t i = 0; i < ref.size(); ++i) {
          const double e = std::fabs(got.data<float>()[i] - ref[i]) / std::max(1.0, mag[i]);
          worst = std::isnan(e) ? 1.0 : std::max(worst, e);
          const double e_col2im = std::fabs(col2im.data<float>()[i] - ref[i]) / std::max(1.0, mag[i]);
          worst_col2im = std::isnan(e_col2im) ? 1.0 : std::max(worst_col2im, e_col2im);
          differ |= got.data<float>()[i] != col2im.data<float>()[i];
        }
        CHECK(worst < 1e-5);
        CHECK(worst_col2im < 2e-6);
        CHECK(differ);
      }
  }
}

TEST_CASE("ConvTranspose on an input with an empty spatial dim gives the bias; Conv says the kernel does not fit") {
  // The fuzzer's ConvTranspose on X [1,1,3,0] divided by the empty last dim when laying out runs.
  auto model = [](const std::string& op, const Shape& ws, const Tensor* w) {
    onnx::ModelSpec m;
    m.inputs = {{"X", 1, {int64_t(1), int64_t(2), int64_t(3), int64_t(0)}}, {"B", 1, {int64_t(3)}}};
    if (w) m.initializers = {onnx::tensor_spec("W", *w)};
    else m.inputs.push_back({"W", 1, std::vector<std::variant<int64_t, std::string>>(ws.begin(), ws.end())});
    m.outputs = {{"Y", 1, {}, false}};
    m.nodes = {{op, {"X", "W", "B"}, {"Y"}, {}, "conv"}};
    return m;
  };
  const Tensor x = random_f32({1, 2, 3, 0}, 1), b = random_f32({3}, 3);
  const Shape ws{2, 3, 3, 3};
  const Tensor w = random_f32(ws, 2);
  for (bool w_constant : {false, true}) {
    INFO("constant W " << w_constant);
    const Tensor y = w_constant ? open(model("ConvTranspose", ws, &w))->run({"X", "B"}, {x, b})[0]
                                : open(model("ConvTranspose", ws, nullptr))->run({"X", "B", "W"}, {x, b, w})[0];
    // (0 - 1) + 3 = 2 columns, each the bias alone.
    REQUIRE(y.shape() == Shape{1, 3, 5, 2});
    for (int64_t i = 0; i < y.numel(); ++i) CHECK(y.data<float>()[i] == b.data<float>()[i / 10]);
  }
  const Tensor wc = random_f32({3, 2, 1, 1}, 4);
  auto [code, msg] = error_of([&] { open(model("Conv", {3, 2, 1, 1}, &wc))->run({"X", "B"}, {x, b}); });
  CHECK(msg.find("node 'conv' (Conv): the kernel (with dilation) is larger than the padded input") != std::string::npos);
}

TEST_CASE("Gemm with a C of rank 0, 1 or 2 broadcast over a single output column") {
  // N = 1, so a C of one value may come at rank 0, 1 or 2 (or one value per row); a rank-0 C once
  // had its dim 0 read (an index into an empty shape).
  const std::vector<float> av{1, 2, 3, 4, 5, 6}, bv{0.5f, -1, 2};  // A [2,3], B [3,1]
  const float want[2] = {1 * 0.5f - 2 + 6, 4 * 0.5f - 5 + 12};
  for (const Shape& cs : {Shape{}, Shape{1}, Shape{1, 1}, Shape{2, 1}}) {
    for (float beta : {1.0f, 0.5f}) {
      INFO("C " << shape_to_string(cs) << " beta " << beta);
      onnx::ValueSpec c{"C", 1, {}};
      for (int64_t d : cs) c.dims.push_back(d);
      onnx::ModelSpec m = one_node("Gemm", {{"A", 1, {int64_t(2), int64_t(3)}}, {"B", 1, {int64_t(3), int64_t(1)}}, c},
                                   {{"Y", 1, {}, false}}, {{"beta", attr_float(beta)}}, 13);
      std::vector<float> cvals = cs.size() == 2 && cs[0] == 2 ? std::vector<float>{10, 20} : std::vector<float>{10};
      Tensor y = open(m)->run({"A", "B", "C"}, {f32({2, 3}, av), f32({3, 1}, bv), f32(cs, cvals)})[0];
      REQUIRE(y.numel() == 2);
      for (int i = 0; i < 2; ++i) CHECK(y.data<float>()[i] == doctest::Approx(want[i] + beta * cvals[cvals.size() == 2 ? i : 0]));
    }
  }
}

TEST_CASE("MaxPool and AveragePool match a tap-by-tap reference under large pads, dilations, strides and ceil mode") {
  // The kernel visits only the taps inside the input and counts the rest; the reference walks
  // every tap of every window. Pads far wider than the input (a fuzzer's MaxPool once spent
  // seconds in them) leave windows of padding only: MaxPool gives -inf there and Indices the
  // plane's first element; AveragePool gives 0 without count_include_pad.
  struct Geometry {
    Shape in;
    std::vector<int64_t> kernel, strides, dilations, pads;
    int64_t ceil_mode;
  };
  const Geometry cases[] = {
      {{2, 3, 7}, {3}, {2}, {2}, {3, 5}, 1},
      {{1, 2, 5, 6}, {5, 2}, {1, 3}, {1, 2}, {2, 0, 7, 1}, 0},
      {{1, 1, 5, 5}, {5, 5}, {1, 1}, {1, 1}, {2, 2, 40, 12}, 0},
      {{1, 2, 3, 4, 5}, {2, 3, 2}, {2, 1, 2}, {2, 1, 1}, {1, 2, 0, 1, 0, 3}, 1},
      {{1, 1, 2, 2}, {4, 4}, {1, 1}, {1, 1}, {3, 3, 3, 3}, 0},
      {{2, 1, 10}, {7}, {2}, {3}, {15, 20}, 1},
  };
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (const Geometry& c : cases) {
    const size_t k = c.kernel.size();
    std::vector<int64_t> sp(c.in.begin() + 2, c.in.end());
    int64_t plane = 1;
    for (int64_t d : sp) plane *= d;
    std::vector<float> xv(static_cast<size_t>(c.in[0] * c.in[1] * plane));
    for (float& v : xv) v = nd(rng);
    onnx::ValueSpec x{"X", 1, {}};
    for (int64_t d : c.in) x.dims.push_back(d);
    for (int op = 0; op < 3; ++op) {  // MaxPool with Indices; AveragePool without and with count_include_pad
      INFO("input " << shape_to_string(c.in) << ", op " << op);
      std::map<std::string, Attribute> attrs{{"kernel_shape", attr_ints(c.kernel)}, {"strides", attr_ints(c.strides)},
                                             {"pads", attr_ints(c.pads)},           {"ceil_mode", attr_int(c.ceil_mode)},
                                             {"dilations", attr_ints(c.dilations)}};
      if (op == 2) attrs["count_include_pad"] = attr_int(1);
      std::vector<onnx::ValueSpec> outs{{"Y", 1, {}, false}};
      if (op == 0) outs.push_back({"I", 7, {}, false});
      auto out = open(one_node(op == 0 ? "MaxPool" : "AveragePool", {x}, outs, attrs, 19))->run({"X"}, {f32(c.in, xv)});
      const Tensor& y = out[0];
      REQUIRE(y.rank() == c.in.size());
      std::vector<int64_t> osp(y.shape().begin() + 2, y.shape().end()), o(k, 0);
      int64_t out_plane = 1;
      for (int64_t d : osp) out_plane *= d;
      for (int64_t pl = 0; pl < c.in[0] * c.in[1]; ++pl)
        for (int64_t oi = 0; oi < out_plane; ++oi) {
          int64_t rest = oi;
          for (size_t d = k; d-- > 0;) o[d] = rest % osp[d], rest /= osp[d];
          double best = -INFINITY, sum = 0;
          int64_t arg = -1, inside = 0, in_pads = 0;
          std::vector<int64_t> t(k, 0);
          for (;;) {
            bool in = true, pad = true;
            int64_t off = 0;
            for (size_t d = 0; d < k; ++d) {
              const int64_t pos = o[d] * c.strides[d] - c.pads[d] + t[d] * c.dilations[d];
              in &= pos >= 0 && pos < sp[d];
              pad &= pos >= -c.pads[d] && pos < sp[d] + c.pads[k + d];
              off = off * sp[d] + pos;
            }
            if (in) {
              const double v = xv[pl * plane + off];
              if (v > best || arg < 0) best = v, arg = off;
              sum += v, ++inside;
            }
            in_pads += pad;
            size_t d = k;
            while (d-- > 0 && ++t[d] == c.kernel[d]) t[d] = 0;
            if (d == size_t(-1)) break;
          }
          const float got = y.data<float>()[pl * out_plane + oi];
          if (op == 0) {
            CHECK(got == float(best));
            CHECK(out[1].data<int64_t>()[pl * out_plane + oi] == pl * plane + std::max<int64_t>(arg, 0));
          } else {
            const int64_t n = op == 2 ? in_pads : inside;
            CHECK(got == doctest::Approx(n ? sum / double(n) : 0.0).epsilon(1e-6));
          }
        }
    }
  }
}

TEST_CASE("MaxPool with a kernel of a million taps over pads of a million finishes and takes each window's maximum") {
  // 1000001 windows of 10^6 taps: walking every tap would be 10^12 steps (a hang); counting the
  // taps in the pads leaves at most the 10 inputs per window.
  const std::vector<float> xv{1, -1, 4, 1, -5, 2, 0, -6, 5, 3};
  onnx::ModelSpec m = one_node("MaxPool", {{"X", 1, {int64_t(1), int64_t(1), int64_t(10)}}}, {{"Y", 1, {}, false}},
                               {{"kernel_shape", attr_ints({1000000})}, {"pads", attr_ints({999995, 999995})}}, 12);
  Tensor y = open(m)->run({"X"}, {f32({1, 1, 10}, xv)})[0];
  REQUIRE(y.numel() == 1000001);
  // Output o sees inputs o - 999995 to o + 4.
  CHECK(y.data<float>()[0] == 4.0f);        // inputs 0..4
  CHECK(y.data<float>()[3] == 4.0f);        // inputs 0..7
  CHECK(y.data<float>()[4] == 5.0f);        // inputs 0..8
  CHECK(y.data<float>()[500000] == 5.0f);   // all ten
  CHECK(y.data<float>()[1000000] == 5.0f);  // inputs 5..9
}

TEST_CASE("Range: opset 11 and opset 27's stash_type for float16") {
  using kernels::float16;
  auto range = [](int64_t opset, std::map<std::string, Attribute> attrs, float start, float limit, float delta) {
    onnx::ModelSpec m = one_node("Range", {{"S", 10, {}}, {"L", 10, {}}, {"D", 10, {}}}, {{"Y", 10, {}, false}}, std::move(attrs), opset);
    auto scalar = [](float v) { return typed<float16>(DType::Float16, {}, {float16(v)}); };
    Tensor y = open(m)->run({"S", "L", "D"}, {scalar(start), scalar(limit), scalar(delta)})[0];
    std::vector<float> out;
    for (int64_t i = 0; i < y.numel(); ++i) out.push_back(float(y.data<float16>()[i]));
    return out;
  };
  // float16 holds only even integers from 2048: the float32 accumulation still counts 2049,
  // 2050, 2051 (written rounded to even), while accumulating in float16 adds 1 to 2048 and gets
  // 2048 back every step.
  CHECK(range(11, {}, 2048, 2052, 1) == std::vector<float>{2048, 2048, 2050, 2052});
  CHECK(range(27, {}, 2048, 2052, 1) == std::vector<float>{2048, 2048, 2050, 2052});
  CHECK(range(27, {{"stash_type", attr_int(1)}}, 2048, 2052, 1) == std::vector<float>{2048, 2048, 2050, 2052});
  CHECK(range(27, {{"stash_type", attr_int(11)}}, 2048, 2052, 1) == std::vector<float>{2048, 2048, 2050, 2052});
  CHECK(range(27, {{"stash_type", attr_int(10)}}, 2048, 2052, 1) == std::vector<float>{2048, 2048, 2048, 2048});
  CHECK(range(27, {}, 10, 4, -2) == std::vector<float>{10, 8, 6});
  auto [code, msg] = error_of([&] { range(27, {{"stash_type", attr_int(16)}}, 0, 4, 1); });  // bfloat16 for float16 input
  CHECK(msg.find("stash_type bfloat16") != std::string::npos);
  auto [code2, msg2] = error_of([&] { range(27, {{"stash_type", attr_int(7)}}, 0, 4, 1); });
  CHECK(code2 == ErrorCode::InvalidModel);
  CHECK(msg2.find("stash_type 7 is not a floating-point type") != std::string::npos);
  // Opset 26 is Range-11; an op normrt does not know at 26 is refused by name.
  CHECK(range(26, {}, 0, 3, 1) == std::vector<float>{0, 1, 2});
  auto [code3, msg3] = error_of([&] { open(one_node("Relu", {{"X", 1, {int64_t(2)}}}, {{"Y", 1, {}, false}}, {}, 26)); });
  CHECK(code3 == ErrorCode::NotImplemented);
  CHECK(msg3.find("Relu") != std::string::npos);
}

TEST_CASE("MaxPool's Indices in row-major and column-major (storage_order) order, 2-D and 3-D") {
  // Input values are their own row-major offsets, so each maximum (the window's last value) says
  // where it was; Indices must count it row-major, or with the first spatial dim fastest.
  for (int rank : {2, 3}) {
    const Shape in = rank == 2 ? Shape{2, 1, 4, 6} : Shape{1, 2, 4, 2, 6};
    const std::vector<int64_t> spatial(in.begin() + 2, in.end());
    int64_t plane = 1;
    for (int64_t d : spatial) plane *= d;
    std::vector<float> xv(static_cast<size_t>(in[0] * in[1] * plane));
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = float(i);
    for (int64_t order : {0, 1}) {
      INFO("rank " << rank << ", storage_order " << order);
      std::vector<int64_t> kernel(rank, 2);
      onnx::ValueSpec x{"X", 1, {}};
      for (int64_t d : in) x.dims.push_back(d);
      onnx::ModelSpec m = one_node("MaxPool", {x}, {{"Y", 1, {}, false}, {"I", 7, {}, false}},
                                   {{"kernel_shape", attr_ints(kernel)}, {"strides", attr_ints(kernel)}, {"storage_order", attr_int(order)}}, 12);
      auto out = open(m)->run({"X"}, {f32(in, xv)});
      const Tensor &y = out[0], &idx = out[1];
      REQUIRE(y.numel() == idx.numel());
      for (int64_t o = 0; o < y.numel(); ++o) {
        const auto flat = static_cast<int64_t>(y.data<float>()[o]);  // row-major offset of the maximum
        int64_t within = flat % plane, want = flat - within;
        if (order == 1) {  // recompose with the first spatial dim fastest
          std::vector<int64_t> at(spatial.size());
          for (size_t d = spatial.size(); d-- > 0;) at[d] = within % spatial[d], within /= spatial[d];
          int64_t col = 0;
          for (size_t d = spatial.size(); d-- > 0;) col = col * spatial[d] + at[d];
          want += col;
        } else {
          want += within;
        }
        CHECK(idx.data<int64_t>()[o] == want);
      }
    }
  }
  auto [code, msg] = error_of([&] {
    open(one_node("MaxPool", {{"X", 1, {int64_t(1), int64_t(1), int64_t(4)}}}, {{"Y", 1, {}, false}},
                  {{"kernel_shape", attr_ints({2})}, {"storage_order", attr_int(2)}}, 12));
  });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("storage_order must be 0 (row-major) or 1 (column-major), got 2") != std::string::npos);
  // 8-bit integers (MaxPool-12): the maximum of each window, exactly; AveragePool stays float-only.
  onnx::ModelSpec i8 = one_node("MaxPool", {{"X", 3, {int64_t(1), int64_t(1), int64_t(6)}}}, {{"Y", 3, {}, false}},
                                {{"kernel_shape", attr_ints({2})}, {"strides", attr_ints({2})}}, 12);
  Tensor y8 = open(i8)->run({"X"}, {typed<int8_t>(DType::Int8, {1, 1, 6}, {-128, -127, 5, -3, 127, 126})})[0];
  CHECK(y8.dtype() == DType::Int8);
  CHECK(std::vector<int8_t>(y8.data<int8_t>(), y8.data<int8_t>() + 3) == std::vector<int8_t>{-127, 5, 127});
  auto [avg_code, avg_msg] = error_of([&] {
    open(one_node("AveragePool", {{"X", 2, {int64_t(1), int64_t(1), int64_t(4)}}}, {{"Y", 2, {}, false}}, {{"kernel_shape", attr_ints({2})}}, 12));
  });
  CHECK(avg_msg.find("uint8") != std::string::npos);
}

TEST_CASE("Attention op: query blocks of equal whole vectors (5 to 300 queries, causal or not) against float64, every ISA, 1 and 2 threads") {
  // The op cuts a head's queries into blocks of at most 96, equal in whole 16-query granules (197
  // queries: 64, 64 and 69). Every query's output must be its own softmax(q K^T / sqrt(d)) V
  // whatever block holds it; causal rows see keys up to their own position (kv == q here).
  const int64_t heads = 2, d = 16;
  for (int64_t q : {5, 96, 97, 128, 197, 300})
    for (int64_t causal : {0, 1}) {
      const int64_t kv = causal ? q : q + 3;
      const Shape qs{1, heads, q, d}, ks{1, heads, kv, d};
      const Tensor tq = random_f32(qs, 31, 0.5f), tk = random_f32(ks, 32, 0.5f), tv = random_f32(ks, 33);
      std::vector<double> ref(heads * q * d);
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < q; ++i) {
          const float* qi = tq.data<float>() + (h * q + i) * d;
          const int64_t visible = causal ? i + 1 : kv;
          std::vector<double> s(visible);
          double mx = -INFINITY, sum = 0;
          for (int64_t j = 0; j < visible; ++j) {
            const float* kj = tk.data<float>() + (h * kv + j) * d;
            for (int64_t p = 0; p < d; ++p) s[j] += double(qi[p]) * kj[p];
            s[j] /= std::sqrt(double(d));
            mx = std::max(mx, s[j]);
          }
          for (double& e : s) sum += (e = std::exp(e - mx));
          for (int64_t p = 0; p < d; ++p) {
            double o = 0;
            for (int64_t j = 0; j < visible; ++j) o += s[j] * tv.data<float>()[(h * kv + j) * d + p];
            ref[(h * q + i) * d + p] = o / sum;
          }
        }
      const onnx::ModelSpec m = one_node("Attention", {{"Q", 1, {int64_t(1), heads, q, d}}, {"K", 1, {int64_t(1), heads, kv, d}}, {"V", 1, {int64_t(1), heads, kv, d}}},
                                         {{"Y", 1, {}, false}}, {{"is_causal", attr_int(causal)}}, 23);
      for (auto isa : test::available_isas())
        for (int threads : {1, 2}) {
          INFO("q " << q << " causal " << causal << " isa " << std::string(kernels::isa_name(isa)) << " threads " << threads);
          const Tensor y = open(m, SessionOptions{threads, isa})->run({"Q", "K", "V"}, {tq, tk, tv})[0];
          REQUIRE(y.numel() == static_cast<int64_t>(ref.size()));
          double err = 0;
          for (int64_t i = 0; i < y.numel(); ++i) err = std::max(err, std::fabs(y.data<float>()[i] - ref[i]));
          CHECK(err < 2e-6);
        }
    }
}
