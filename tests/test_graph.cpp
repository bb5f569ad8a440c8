// The IR, topological order, kernel resolution and the memory planner.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "onnx/op_registry.h"
#include "runtime/memory_plan.h"
#include "test_util.h"

using namespace normrt;
using namespace normrt::test;

namespace {
// A chain X -> Add -> Add -> ... (n nodes) -> Y, each adding the constant C.
onnx::ModelSpec add_chain(int n) {
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {int64_t(4), int64_t(8)}}};
  m.outputs = {{"Y", 1, {int64_t(4), int64_t(8)}}};
  m.initializers = {onnx::tensor_spec("C", f32({8}, {1, 1, 1, 1, 1, 1, 1, 1}))};
  std::string prev = "X";
  for (int i = 0; i < n; ++i) {
    std::string out = i == n - 1 ? "Y" : "t" + std::to_string(i);
    m.nodes.push_back({"Add", {prev, "C"}, {out}, {}, "add" + std::to_string(i)});
    prev = out;
  }
  return m;
}

Graph graph_of(const onnx::ModelSpec& m) {
  const std::string b = onnx::serialize_model(m);
  return onnx::load_model_buffer(b.data(), b.size(), {}, "g.onnx");
}
}  // namespace

TEST_CASE("topological order puts producers first, whatever the file order") {
  onnx::ModelSpec m = add_chain(4);
  std::reverse(m.nodes.begin(), m.nodes.end());
  Graph g = graph_of(m);
  std::vector<int> order = topological_order(g);
  REQUIRE(order.size() == 4);
  for (size_t i = 0; i < order.size(); ++i) CHECK(g.nodes[order[i]].name == "add" + std::to_string(i));
  // And the session runs it correctly.
  auto s = open(m);
  Tensor x = f32({4, 8}, std::vector<float>(32, 0.5f));
  CHECK(s->run({"X"}, {x})[0].data<float>()[31] == 4.5f);
}

TEST_CASE("a cycle is reported with a node on it") {
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {int64_t(2)}}};
  m.outputs = {{"Y", 1, {int64_t(2)}}};
  m.nodes = {{"Add", {"X", "b"}, {"a"}, {}, "first"}, {"Identity", {"a"}, {"b"}, {}, "second"}, {"Identity", {"a"}, {"Y"}, {}, "third"}};
  auto [code, msg] = error_of([&] { open(m); });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("cycle") != std::string::npos);
  CHECK((msg.find("'first'") != std::string::npos || msg.find("'second'") != std::string::npos));
}

TEST_CASE("an unsupported op fails session creation naming node, op, domain and opset") {
  onnx::ModelSpec m = one_node("FancyOp", {{"X", 1, {int64_t(2)}}}, {{"Y", 1, {int64_t(2)}}}, {}, 15);
  auto [code, msg] = error_of([&] { open(m); });
  CHECK(code == ErrorCode::NotImplemented);
  CHECK(msg.find("node 'the_FancyOp'") != std::string::npos);
  CHECK(msg.find("op FancyOp in domain ai.onnx at opset 15") != std::string::npos);

  onnx::ModelSpec ms = one_node("FusedThing", {{"X", 1, {int64_t(2)}}}, {{"Y", 1, {int64_t(2)}}});
  ms.nodes[0].domain = "com.microsoft";
  ms.opsets["com.microsoft"] = 1;
  auto [code2, msg2] = error_of([&] { open(ms); });
  CHECK(msg2.find("domain com.microsoft at opset 1") != std::string::npos);

  SUBCASE("a known op outside its opset range") {
    onnx::ModelSpec ln = one_node("LayerNormalization", {{"X", 1, {int64_t(2)}}, {"S", 1, {int64_t(2)}}}, {{"Y", 1, {int64_t(2)}}}, {}, 16);
    auto [c, m3] = error_of([&] { open(ln); });
    CHECK(c == ErrorCode::NotImplemented);
    CHECK(m3.find("at opset 16: normrt does not support this op at that opset") != std::string::npos);
  }
  SUBCASE("an opset newer than normrt knows") {
    onnx::ModelSpec add = one_node("Add", {{"A", 1, {int64_t(2)}}, {"B", 1, {int64_t(2)}}}, {{"C", 1, {int64_t(2)}}},
                                   {}, onnx::kMaxDefaultOpset + 1);
    auto [c, m4] = error_of([&] { open(add); });
    CHECK(c == ErrorCode::NotImplemented);
  }
}

TEST_CASE("the registry keeps opset-dependent semantics apart") {
  const auto& reg = onnx::OpRegistry::builtin();
  const onnx::OpEntry* r13 = reg.find("", "Reshape", 13);
  const onnx::OpEntry* r14 = reg.find("", "Reshape", 14);
  REQUIRE(r13);
  REQUIRE(r14);
  CHECK(r13 != r14);  // allowzero arrived in opset 14
  CHECK(reg.find("", "Softmax", 12) != reg.find("", "Softmax", 13));
  CHECK(reg.find("", "LayerNormalization", 16) == nullptr);
  CHECK(reg.find("ai.onnx", "Add", 14) == reg.find("", "Add", 14));
}

TEST_CASE("memory plan reuses buffers after their last use") {
  const int n = 10;
  auto s = open(add_chain(n));
  const MemoryPlan& p = s->memory_plan();
  CHECK(p.planned_values == n - 1);  // every intermediate, not the output
  // Each Add's input dies there, so every Add after the first computes in place: one buffer.
  CHECK(p.num_slots == 1);
  CHECK(p.in_place_nodes == n - 2);
  CHECK(p.static_bytes[0] == 4 * 8 * 4);
  Tensor x = f32({4, 8}, std::vector<float>(32, 0.0f));
  Tensor y = s->run({"X"}, {x})[0];
  for (float v : y.span<float>()) CHECK(v == float(n));
}

TEST_CASE("in-place computation only over an input of the output's shape and type") {
  // s = X + X (dies at n1, but [3] is smaller than n1's [2,3] output); t = Relu(u) over u; and a
  // Cast's output never shares its input's buffer (the kernel does not offer it).
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {int64_t(3)}}, {"B", 1, {int64_t(2), int64_t(3)}}};
  m.outputs = {{"Y", 7, {int64_t(2), int64_t(3)}}};
  m.nodes = {{"Add", {"X", "X"}, {"s"}, {}, "n0"},      {"Add", {"s", "B"}, {"u"}, {}, "n1"},
             {"Relu", {"u"}, {"t"}, {}, "n2"},          {"Cast", {"t"}, {"Y"}, {{"to", attr_int(7)}}, "n3"}};
  auto s = open(m);
  const Graph& g = s->graph();
  const MemoryPlan& p = s->memory_plan();
  auto node = [&](const char* name) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].name == name) return static_cast<int>(i);
    return -1;
  };
  CHECK(p.in_place_input[node("n0")] == -1);  // X is a graph input, not a buffer of the plan
  CHECK(p.in_place_input[node("n1")] == -1);  // s [3] is smaller than u [2,3]
  CHECK(p.in_place_input[node("n2")] == 0);   // Relu over u
  CHECK(p.in_place_input[node("n3")] == -1);
  CHECK(p.slot_of_value[g.find_value("t")] == p.slot_of_value[g.find_value("u")]);
  Tensor y = s->run({"X", "B"}, {f32({3}, {1, -2, 3}), f32({2, 3}, {1, 1, 1, -9, 9, -9})})[0];
  const std::vector<int64_t> want{3, 0, 7, 0, 5, 0};
  for (int i = 0; i < 6; ++i) CHECK(y.data<int64_t>()[i] == want[i]);
}

namespace {
// Runs `m` on input X twice: as it is, where the planner may compute nodes over their dying inputs,
// and with every one of `intermediates` (each of Y's shape) also a graph output, where it computes
// none in place (graph outputs are never planned buffers). Checks that the second plan has nothing
// in place and that Y has the same bits both ways; returns the first session's plan.
MemoryPlan same_bits_with_and_without_in_place(onnx::ModelSpec m, const std::vector<std::string>& intermediates, const Tensor& x,
                                               int threads) {
  auto in_place = open(m, SessionOptions{threads});
  for (const std::string& v : intermediates) m.outputs.push_back({v, 1, m.outputs[0].dims});
  auto apart = open(m, SessionOptions{threads});
  CHECK(apart->memory_plan().in_place_nodes == 0);
  const Tensor y = in_place->run({"X"}, {x})[0];
  const Tensor want = apart->run({"X"}, {x})[0];
  REQUIRE(y.numel() == want.numel());
  CHECK(std::memcmp(y.raw(), want.raw(), y.byte_size()) == 0);
  return in_place->memory_plan();
}

// X -> LayerNormalization -> Add(S) + LayerNormalization (fused: SkipLayerNormalization) ->
// GroupNormalization -> InstanceNormalization -> BatchNormalization -> LayerNormalization x 2 -> Y on
// [n, c, w].
onnx::ModelSpec norm_chain(int64_t n, int64_t c, int64_t w) {
  onnx::ModelSpec m;
  m.opsets = {{"", 21}};
  const std::vector<std::variant<int64_t, std::string>> dims{n, c, w};
  m.inputs = {{"X", 1, dims}};
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.5f, 1.0f);
  auto values = [&](int64_t count) {
    std::vector<float> v(count);
    for (float& f : v) f = nd(rng);
    return v;
  };
  m.initializers = {onnx::tensor_spec("G", f32({w}, values(w))),       onnx::tensor_spec("B", f32({w}, values(w))),
                    onnx::tensor_spec("S", f32({n, c, w}, values(n * c * w))), onnx::tensor_spec("Gc", f32({c}, values(c))),
                    onnx::tensor_spec("Bc", f32({c}, values(c))),     onnx::tensor_spec("M", f32({c}, values(c))),
                    onnx::tensor_spec("V", f32({c}, std::vector<float>(c, 2.0f)))};
  m.nodes = {{"LayerNormalization", {"X", "G", "B"}, {"a"}, {}, "ln0"},
             {"Add", {"a", "S"}, {"s"}, {}, "add"},
             {"LayerNormalization", {"s", "G", "B"}, {"b"}, {}, "ln1"},
             {"GroupNormalization", {"b", "Gc", "Bc"}, {"g"}, {{"num_groups", attr_int(c)}}, "gn"},
             {"InstanceNormalization", {"g", "Gc", "Bc"}, {"i"}, {}, "in"},
             {"BatchNormalization", {"i", "Gc", "Bc", "M", "V"}, {"bn"}, {}, "bn"},
             {"LayerNormalization", {"bn", "G", "B"}, {"l"}, {}, "ln2"},
             {"LayerNormalization", {"l", "G", "B"}, {"Y"}, {}, "ln3"}};
  m.outputs = {{"Y", 1, dims}};
  return m;
}
}  // namespace

TEST_CASE("normalizations compute over an input that dies there, with the same bits as into a fresh buffer") {
  // Each kernel path, at 1 and 2 threads: rows of 40 (LayerNorm's pipeline; GroupNorm channel by
  // channel), rows of 300 (GroupNorm's pipeline too), four rows of 20000 (longer than a segment:
  // LayerNorm four rows at a time) and one row of 40000 (statistics and sweep split across threads).
  struct Dims {
    int64_t n, c, w;
  };
  for (const Dims dims : {Dims{4, 3, 40}, Dims{2, 4, 300}, Dims{4, 1, 20000}, Dims{1, 1, 40000}})
    for (int threads : {1, 2}) {
      const int64_t n = dims.n, c = dims.c, w = dims.w;  // plain locals: clang 14 will not capture bindings
      CAPTURE(w);
      CAPTURE(threads);
      std::mt19937 rng(3);
      std::normal_distribution<float> nd(100.0f, 3.0f);
      std::vector<float> xs(n * c * w);
      for (float& f : xs) f = nd(rng);
      const MemoryPlan p =
          same_bits_with_and_without_in_place(norm_chain(n, c, w), {"a", "b", "g", "i", "bn", "l"}, f32({n, c, w}, xs), threads);
      // Every node but the first (it reads the graph input) and the last (it writes the graph
      // output) computes over its input: the fused SkipLayerNormalization, the Group-, Instance-
      // and BatchNormalization and a LayerNormalization, all in one buffer.
      CHECK(p.in_place_nodes == 5);
      CHECK(p.num_slots == 1);
    }
}

TEST_CASE("Softmax and LogSoftmax compute over an input that dies there, with the same bits as into a fresh buffer") {
  // Contiguous rows (the online kernel, axis -1) and strided lanes (axis 1 of [2, 5, 33]), with a
  // fully masked row and a NaN among them.
  onnx::ModelSpec m;
  const std::vector<std::variant<int64_t, std::string>> dims{int64_t(2), int64_t(5), int64_t(33)};
  m.inputs = {{"X", 1, dims}};
  m.outputs = {{"Y", 1, dims}};
  m.nodes = {{"Neg", {"X"}, {"a"}, {}, "neg"},
             {"Softmax", {"a"}, {"b"}, {{"axis", attr_int(-1)}}, "sm"},
             {"LogSoftmax", {"b"}, {"c"}, {{"axis", attr_int(1)}}, "lsm"},
             {"Softmax", {"c"}, {"Y"}, {{"axis", attr_int(1)}}, "sm2"}};
  std::vector<float> xs(2 * 5 * 33);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(float(i)) * 3.0f;
  for (int j = 0; j < 33; ++j) xs[33 + j] = std::numeric_limits<float>::infinity();  // row 1: -inf after Neg
  xs[5 * 33 + 7] = std::numeric_limits<float>::quiet_NaN();
  CHECK(same_bits_with_and_without_in_place(m, {"a", "b", "c"}, f32({2, 5, 33}, xs), 1).in_place_nodes == 2);
}

TEST_CASE("in place over a dim shape inference left unknown: planned, and checked against the shapes at run time") {
  // u = Relu(X) is [N, 4]; v = u + B broadcasts N against M, a dim inference cannot name. The plan
  // computes v over u; a run where u is smaller than v (N = 1, M = 3) gives v fresh memory instead.
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {std::string("N"), int64_t(4)}}, {"B", 1, {std::string("M"), int64_t(4)}}};
  m.outputs = {{"Y", 1, {std::string("R"), int64_t(4)}}};
  m.nodes = {{"Relu", {"X"}, {"u"}, {}, "n0"}, {"Add", {"u", "B"}, {"v"}, {}, "n1"}, {"Neg", {"v"}, {"Y"}, {}, "n2"}};
  auto s = open(m);
  const Graph& g = s->graph();
  const MemoryPlan& p = s->memory_plan();
  int add = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == "n1") add = static_cast<int>(i);
  REQUIRE(add >= 0);
  CHECK(p.in_place_input[add] == 0);
  const Tensor b = f32({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  for (int64_t rows : {1, 3}) {
    CAPTURE(rows);
    std::vector<float> xs(rows * 4);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = (i % 2 ? -1.0f : 1.0f) * float(i);
    const Tensor y = s->run({"X", "B"}, {f32({rows, 4}, xs), b})[0];
    REQUIRE(y.numel() == 12);
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        const float x = xs[(rows == 1 ? 0 : r) * 4 + c];
        CHECK(y.data<float>()[r * 4 + c] == -(std::max(x, 0.0f) + b.data<float>()[r * 4 + c]));
      }
  }
}

TEST_CASE("memory plan keeps a value alive while a branch still reads it") {
  // a = X + C; b = a + C; c = b + C; Y = a + c  (a must survive until the last node)
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {int64_t(3)}}};
  m.outputs = {{"Y", 1, {int64_t(3)}}};
  m.initializers = {onnx::tensor_spec("C", f32({3}, {1, 2, 3}))};
  m.nodes = {{"Add", {"X", "C"}, {"a"}, {}, "n0"}, {"Add", {"a", "C"}, {"b"}, {}, "n1"},
             {"Add", {"b", "C"}, {"c"}, {}, "n2"}, {"Add", {"a", "c"}, {"Y"}, {}, "n3"}};
  auto s = open(m);
  const Graph& g = s->graph();
  const MemoryPlan& p = s->memory_plan();
  const int sa = p.slot_of_value[g.find_value("a")], sb = p.slot_of_value[g.find_value("b")], sc = p.slot_of_value[g.find_value("c")];
  CHECK(sa != sb);  // a is still read by n3: b must not be computed over it
  CHECK(sa != sc);
  CHECK(sb == sc);  // b dies at n2, which computes c over it in place
  CHECK(p.num_slots == 2);
  Tensor y = s->run({"X"}, {f32({3}, {0, 0, 0})})[0];
  // a = C, c = 3C, Y = 4C
  CHECK(y.data<float>()[0] == 4.0f);
  CHECK(y.data<float>()[2] == 12.0f);
}

TEST_CASE("views (Reshape) share their input's buffer and extend its lifetime") {
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {int64_t(2), int64_t(3)}}};
  m.outputs = {{"Y", 1, {int64_t(3), int64_t(2)}}};
  m.initializers = {onnx::tensor_spec("C", f32({1}, {1})), onnx::tensor_spec("shape", typed<int64_t>(DType::Int64, {2}, {3, 2}))};
  m.nodes = {{"Add", {"X", "C"}, {"a"}, {}, "n0"}, {"Reshape", {"a", "shape"}, {"r"}, {}, "n1"},
             {"Add", {"r", "C"}, {"b"}, {}, "n2"}, {"Add", {"b", "r"}, {"Y"}, {}, "n3"}};
  auto s = open(m);
  const Graph& g = s->graph();
  const MemoryPlan& p = s->memory_plan();
  CHECK(p.slot_of_value[g.find_value("r")] == -1);  // a view: no buffer of its own
  CHECK(p.slot_of_value[g.find_value("a")] != p.slot_of_value[g.find_value("b")]);
  Tensor y = s->run({"X"}, {f32({2, 3}, {0, 1, 2, 3, 4, 5})})[0];
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.data<float>()[5] == 13.0f);  // r = 6, b = 7, Y = 13
}

TEST_CASE("Constant nodes are folded at session creation") {
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {int64_t(2)}}};
  m.outputs = {{"Y", 1, {int64_t(2)}}};
  m.nodes = {{"Constant", {}, {"k"}, {{"value", attr_tensor(f32({2}, {10, 20}))}}, "const"},
             {"Add", {"X", "k"}, {"Y"}, {}, "add"}};
  auto s = open(m);
  CHECK(s->folded_nodes() == 1);
  CHECK(s->graph().values[s->graph().find_value("k")].constant != nullptr);
  Tensor y = s->run({"X"}, {f32({2}, {1, 2})})[0];
  CHECK(y.data<float>()[1] == 22.0f);
}

TEST_CASE("shape inference at creation: symbolic dims propagate, conflicts are errors") {
  onnx::ModelSpec m = one_node("Add", {{"A", 1, {std::string("batch"), int64_t(4)}}, {"B", 1, {std::string("batch"), int64_t(1)}}},
                               {{"C", 1, {}, false}});
  auto s = open(m);
  REQUIRE(s->outputs()[0].shape);
  CHECK(sym_shape_to_string(*s->outputs()[0].shape) == "[batch,4]");
  CHECK(s->outputs()[0].dtype == DType::Float32);

  onnx::ModelSpec bad = one_node("Add", {{"A", 1, {int64_t(3)}}, {"B", 1, {int64_t(4)}}}, {{"C", 1, {int64_t(4)}}});
  auto [code, msg] = error_of([&] { open(bad); });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("do not broadcast") != std::string::npos);
  CHECK(msg.find("the_Add") != std::string::npos);

  onnx::ModelSpec mixed = one_node("Add", {{"A", 1, {int64_t(3)}}, {"B", 7, {int64_t(3)}}}, {{"C", 1, {int64_t(3)}}});
  auto [code2, msg2] = error_of([&] { open(mixed); });
  CHECK(msg2.find("different element types") != std::string::npos);
}

TEST_CASE("shape inference: Expand to a shape known only at run time still has its rank, and X's dims other than 1") {
  // A class token [1, 1, 8] expanded to [batch, 1, 8]: the target comes from a graph input here.
  onnx::ModelSpec m = one_node("Expand", {{"X", 1, {int64_t(1), int64_t(1), int64_t(8)}}, {"S", 7, {int64_t(3)}}}, {{"Y", 1, {}, false}});
  auto s = open(m);
  REQUIRE(s->outputs()[0].shape);
  const SymShape& y = *s->outputs()[0].shape;
  REQUIRE(y.size() == 3);
  CHECK(!y[0].known());
  CHECK(!y[1].known());  // X's 1 may broadcast
  CHECK((y[2].known() && y[2].value == 8));
  const Tensor out = s->run({"X", "S"}, {f32({1, 1, 8}, {1, 2, 3, 4, 5, 6, 7, 8}), typed(DType::Int64, {3}, std::vector<int64_t>{3, 2, 8})})[0];
  CHECK(out.shape() == Shape{3, 2, 8});
}

TEST_CASE("shape inference: ConstantOfShape of a shape known only at run time has its rank") {
  // zeros_like(input_ids) exports as ConstantOfShape(Shape(ids)); BERT's embeddings add it, and
  // without the rank every shape after them was unknown (so split_product never saw its QKV).
  onnx::ModelSpec m = one_node("ConstantOfShape", {{"S", 7, {int64_t(2)}}}, {{"Y", 1, {}, false}});
  auto s = open(m);
  REQUIRE(s->outputs()[0].shape);
  const SymShape& y = *s->outputs()[0].shape;
  REQUIRE(y.size() == 2);
  CHECK((!y[0].known() && !y[1].known()));
  const Tensor out = s->run({"S"}, {typed(DType::Int64, {2}, std::vector<int64_t>{3, 2})})[0];
  CHECK(out.shape() == Shape{3, 2});
  CHECK(out.data<float>()[5] == 0.0f);
}

TEST_CASE("shape inference: a shape input declared absurdly long gives no rank, not an allocation of it") {
  // A fuzzed file declared Reshape's shape input [2^44]: inference built a SymShape of that rank.
  // Lengths above kMaxInferredRank (64) leave the output's shape unknown; the run then checks the
  // real value.
  for (const std::string op : {"Reshape", "Expand", "ConstantOfShape"}) {
    INFO(op);
    const int64_t huge = int64_t(1) << 44;
    onnx::ModelSpec m = op == "ConstantOfShape" ? one_node(op, {{"S", 7, {huge}}}, {{"Y", 1, {}, false}})
                                                : one_node(op, {{"X", 1, {int64_t(2), int64_t(3)}}, {"S", 7, {huge}}}, {{"Y", 1, {}, false}});
    auto s = open(m);
    CHECK(!s->outputs()[0].shape);
    onnx::ModelSpec ok = op == "ConstantOfShape" ? one_node(op, {{"S", 7, {int64_t(64)}}}, {{"Y", 1, {}, false}})
                                                 : one_node(op, {{"X", 1, {int64_t(2), int64_t(3)}}, {"S", 7, {int64_t(64)}}}, {{"Y", 1, {}, false}});
    auto so = open(ok);
    REQUIRE(so->outputs()[0].shape);
    CHECK(so->outputs()[0].shape->size() == 64);
  }
}

TEST_CASE("shape inference under a symbolic batch: Conv, ConvTranspose and pooling give their other dims; Slice keeps its rank") {
  auto output_shape = [](const onnx::ModelSpec& m) {
    auto s = open(m);
    REQUIRE(s->outputs()[0].shape);
    return sym_shape_to_string(*s->outputs()[0].shape);
  };
  auto model = [](const std::string& op, std::map<std::string, Attribute> attrs, Tensor w) {
    onnx::ModelSpec m = one_node(op, {{"X", 1, {std::string("batch"), int64_t(4), int64_t(7), int64_t(9)}}}, {{"Y", 1, {}, false}}, std::move(attrs));
    if (w.numel()) {
      m.initializers = {onnx::tensor_spec("W", w)};
      m.nodes[0].inputs.push_back("W");
    }
    return m;
  };
  Tensor none;
  CHECK(output_shape(model("Conv", {{"pads", attr_ints({1, 1, 1, 1})}}, Tensor::allocate(DType::Float32, {6, 4, 3, 3}))) == "[batch,6,7,9]");
  CHECK(output_shape(model("ConvTranspose", {{"strides", attr_ints({2, 2})}}, Tensor::allocate(DType::Float32, {4, 5, 2, 2}))) ==
        "[batch,5,14,18]");
  CHECK(output_shape(model("MaxPool", {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}}, none)) == "[batch,4,3,4]");
  CHECK(output_shape(model("GlobalAveragePool", {}, none)) == "[batch,4,1,1]");
  // Slice of the channels by constants: known; by starts known only at run time: the rank and
  // the untouched dims.
  onnx::ModelSpec cut = one_node("Slice", {{"X", 1, {std::string("batch"), int64_t(8), int64_t(3)}}}, {{"Y", 1, {}, false}});
  cut.initializers = {onnx::tensor_spec("s", typed<int64_t>(DType::Int64, {1}, {0})), onnx::tensor_spec("e", typed<int64_t>(DType::Int64, {1}, {4})),
                      onnx::tensor_spec("a", typed<int64_t>(DType::Int64, {1}, {1}))};
  cut.nodes[0].inputs = {"X", "s", "e", "a"};
  CHECK(output_shape(cut) == "[batch,4,3]");
  onnx::ModelSpec runtime = one_node("Slice", {{"X", 1, {std::string("batch"), int64_t(8), int64_t(3)}}, {"E", 7, {int64_t(1)}}}, {{"Y", 1, {}, false}});
  runtime.initializers = {onnx::tensor_spec("s", typed<int64_t>(DType::Int64, {1}, {0})), onnx::tensor_spec("a", typed<int64_t>(DType::Int64, {1}, {1}))};
  runtime.nodes[0].inputs = {"X", "s", "E", "a"};
  CHECK(output_shape(runtime) == "[batch,?,3]");
  auto rs = open(runtime);
  Tensor x = Tensor::allocate(DType::Float32, {2, 8, 3});
  CHECK(rs->run({"X", "E"}, {x, typed<int64_t>(DType::Int64, {1}, {5})})[0].shape() == Shape{2, 5, 3});
}

TEST_CASE("constant folding: a Shape-driven subgraph folds once the input shape is known, and outputs are unchanged") {
  // Y = Reshape(X, Concat(Gather(Shape(X), 0), [-1])): the flatten-to-[batch, -1] exporters write.
  auto model = [](std::variant<int64_t, std::string> batch) {
    onnx::ModelSpec m;
    m.inputs = {{"X", 1, {batch, int64_t(3), int64_t(4)}}};
    m.outputs = {{"Y", 1, {}, false}};
    m.initializers = {onnx::tensor_spec("zero", typed<int64_t>(DType::Int64, {}, {0})),
                      onnx::tensor_spec("minus_one", typed<int64_t>(DType::Int64, {1}, {-1})),
                      onnx::tensor_spec("axes", typed<int64_t>(DType::Int64, {1}, {0}))};
    m.opsets = {{"", 17}};
    m.nodes = {{"Shape", {"X"}, {"s"}, {}, "shape"},
               {"Gather", {"s", "zero"}, {"b"}, {{"axis", attr_int(0)}}, "gather"},
               {"Unsqueeze", {"b", "axes"}, {"b1"}, {}, "unsqueeze"},
               {"Concat", {"b1", "minus_one"}, {"target"}, {{"axis", attr_int(0)}}, "concat"},
               {"Reshape", {"X", "target"}, {"Y"}, {}, "reshape"}};
    return m;
  };
  Tensor x = f32({2, 3, 4}, std::vector<float>(24, 1.5f));
  x.data<float>()[23] = 7.0f;
  // Static batch: Shape, Gather, Unsqueeze and Concat fold; only the Reshape runs.
  auto fixed = open(model(int64_t(2)));
  CHECK(fixed->folded_nodes() == 4);
  const Value& target = fixed->graph().values[fixed->graph().find_value("target")];
  REQUIRE(target.constant);
  CHECK(target.constant->int_at(0) == 2);
  CHECK(target.constant->int_at(1) == -1);
  // Symbolic batch: nothing to fold; the same result computed at run time.
  auto dynamic = open(model(std::string("batch")));
  CHECK(dynamic->folded_nodes() == 0);
  for (Session* s : {fixed.get(), dynamic.get()}) {
    Tensor y = s->run({"X"}, {x})[0];
    CHECK(y.shape() == Shape{2, 12});
    CHECK(y.data<float>()[23] == 7.0f);
  }
}

TEST_CASE("shape-only nodes: reused while the shapes they read stay, recomputed when they change, never taken from data") {
  // Y = X + buf[:, :seq] (the causal-mask slice GPT-2 exports: Shape, Gather, Unsqueeze, Slice of
  // a constant), Z = X * count (count = Shape(NonZero(M))[1] as float: a Shape of a value whose
  // shape comes from M's data, not from any input's shape).
  onnx::ModelSpec m;
  m.inputs = {{"X", 1, {std::string("batch"), std::string("seq")}}, {"M", 1, {int64_t(6)}}};
  m.outputs = {{"Y", 1, {}, false}, {"Z", 1, {}, false}};
  std::vector<float> ramp(8);
  for (int i = 0; i < 8; ++i) ramp[i] = float(i);
  m.initializers = {onnx::tensor_spec("buf", f32({1, 8}, ramp)), onnx::tensor_spec("one", typed<int64_t>(DType::Int64, {}, {1})),
                    onnx::tensor_spec("zero1", typed<int64_t>(DType::Int64, {1}, {0})),
                    onnx::tensor_spec("axis1", typed<int64_t>(DType::Int64, {1}, {1}))};
  m.opsets = {{"", 17}};
  m.nodes = {{"Shape", {"X"}, {"s"}, {}, "shape_x"},
             {"Gather", {"s", "one"}, {"len"}, {{"axis", attr_int(0)}}, "gather_len"},
             {"Unsqueeze", {"len", "zero1"}, {"len1"}, {}, "unsqueeze_len"},
             {"Slice", {"buf", "zero1", "len1", "axis1"}, {"mask"}, {}, "slice_mask"},
             {"Add", {"X", "mask"}, {"Y"}, {}, "add"},
             {"NonZero", {"M"}, {"nz"}, {}, "nonzero"},
             {"Shape", {"nz"}, {"ns"}, {}, "shape_nz"},
             {"Gather", {"ns", "one"}, {"k"}, {{"axis", attr_int(0)}}, "gather_k"},
             {"Unsqueeze", {"k", "zero1"}, {"k1"}, {}, "unsqueeze_k"},
             {"Cast", {"k1"}, {"kf"}, {{"to", attr_int(1)}}, "cast_k"},
             {"Mul", {"X", "kf"}, {"Z"}, {}, "mul"}};
  SessionOptions options{1};
  options.profile = true;
  auto s = open(m, options);
  REQUIRE(s->folded_nodes() == 0);
  // (batch, seq, nonzeros in M); the events each run records: all 11 nodes, then only what reads
  // data (Add, NonZero, Mul) plus each Shape-driven chain whose Shape saw a new shape, as far as
  // the values change (a new batch: Shape(X) and its Gather run, and the Gather gives the same seq).
  struct Run { int64_t batch, seq; int nonzeros; size_t events; };
  const Run runs[] = {{2, 3, 2, 11}, {2, 3, 2, 3}, {2, 3, 4, 7}, {2, 5, 4, 7}, {3, 5, 4, 5}, {3, 2, 1, 11}, {3, 2, 1, 3}};
  int64_t index = 0;
  for (const Run& r : runs) {
    CAPTURE(index);
    std::vector<float> xv(r.batch * r.seq);
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = 0.25f * float(i + 1) - float(index);
    const Tensor x = f32({r.batch, r.seq}, xv);
    std::vector<float> mv(6, 0.0f);
    for (int i = 0; i < r.nonzeros; ++i) mv[5 - i] = float(i + 1);
    const std::vector<Tensor> out = s->run({"X", "M"}, {x, f32({6}, mv)});
    REQUIRE(out[0].shape() == Shape{r.batch, r.seq});
    REQUIRE(out[1].shape() == Shape{r.batch, r.seq});
    for (int64_t i = 0; i < x.numel(); ++i) {
      CHECK(out[0].data<float>()[i] == x.data<float>()[i] + float(i % r.seq));
      CHECK(out[1].data<float>()[i] == x.data<float>()[i] * float(r.nonzeros));
    }
    size_t events = 0;
    for (const NodeEvent& e : s->profile()) events += e.run == index;
    CHECK(events == r.events);
    ++index;
  }
}

namespace {
// A BERT-style block written out op by op, as exporters do: y = GELU(LayerNorm(x) W + b),
// LayerNorm as ReduceMean, Sub, Pow, ReduceMean, Add(eps), Sqrt, Div, Mul(gamma), Add(beta), GELU
// as Div(sqrt 2), Erf, Add(1), Mul(x), Mul(0.5). An unused branch (Neg) is dead code.
onnx::ModelSpec decomposed_block(int64_t d, int64_t n) {
  auto vec = [](int64_t len, float base) {
    std::vector<float> v(len);
    for (int64_t i = 0; i < len; ++i) v[i] = base + 0.01f * float(i % 7);
    return v;
  };
  onnx::ModelSpec m;
  m.opsets = {{"", 17}};
  m.inputs = {{"X", 1, {std::string("batch"), int64_t(5), d}}};
  m.outputs = {{"Y", 1, {}, false}};
  m.initializers = {onnx::tensor_spec("two", f32({}, {2.0f})),     onnx::tensor_spec("eps", f32({}, {1e-5f})),
                    onnx::tensor_spec("gamma", f32({d}, vec(d, 1))), onnx::tensor_spec("beta", f32({d}, vec(d, 0))),
                    onnx::tensor_spec("W", f32({d, n}, vec(d * n, -0.03f))), onnx::tensor_spec("b", f32({n}, vec(n, 0.1f))),
                    onnx::tensor_spec("sqrt2", f32({}, {1.4142135f})), onnx::tensor_spec("one", f32({}, {1.0f})),
                    onnx::tensor_spec("half", f32({}, {0.5f}))};
  m.nodes = {{"ReduceMean", {"X"}, {"mean"}, {{"axes", attr_ints({-1})}}, "mean"},
             {"Sub", {"X", "mean"}, {"d"}, {}, "sub"},
             {"Pow", {"d", "two"}, {"sq"}, {}, "pow"},
             {"ReduceMean", {"sq"}, {"var"}, {{"axes", attr_ints({-1})}}, "var"},
             {"Add", {"var", "eps"}, {"var_eps"}, {}, "add_eps"},
             {"Sqrt", {"var_eps"}, {"std"}, {}, "sqrt"},
             {"Div", {"d", "std"}, {"norm"}, {}, "div"},
             {"Mul", {"norm", "gamma"}, {"scaled"}, {}, "mul_gamma"},
             {"Add", {"scaled", "beta"}, {"ln"}, {}, "add_beta"},
             {"MatMul", {"ln", "W"}, {"h"}, {}, "matmul"},
             {"Add", {"h", "b"}, {"hb"}, {}, "add_bias"},
             {"Div", {"hb", "sqrt2"}, {"g1"}, {}, "gelu_div"},
             {"Erf", {"g1"}, {"g2"}, {}, "gelu_erf"},
             {"Add", {"g2", "one"}, {"g3"}, {}, "gelu_add"},
             {"Mul", {"hb", "g3"}, {"g4"}, {}, "gelu_mul"},
             {"Mul", {"g4", "half"}, {"Y"}, {}, "gelu_half"},
             {"Neg", {"X"}, {"unused"}, {}, "dead"}};
  return m;
}
}  // namespace

TEST_CASE("graph passes: decomposed LayerNorm, GELU and MatMul + bias fuse; dead code goes; outputs unchanged") {
  const int64_t d = 24, n = 40;
  const onnx::ModelSpec m = decomposed_block(d, n);
  std::vector<float> xs(3 * 5 * d);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = 100.0f + std::sin(0.37f * float(i)) * 3.0f;  // large mean: the robust kernel matters
  const Tensor x = f32({3, 5, d}, xs);
  auto plain = open(m, SessionOptions{1, kernels::Isa::Auto, false});
  auto fused = open(m, SessionOptions{1, kernels::Isa::Auto, true});
  const OptimizationReport& r = fused->optimization();
  CHECK(r.fired.at("layer_norm") == 1);
  CHECK(r.fired.at("gelu") == 1);
  CHECK(r.fired.at("matmul_bias") == 1);
  CHECK(r.fired.at("dead_code") == 1);
  CHECK(r.nodes_before == 17);
  CHECK(r.nodes_after == 2);  // LayerNormalization, FusedMatMul (bias + GELU in the epilogue)
  std::vector<std::string> ops;
  for (const Node& node : fused->graph().nodes) ops.push_back(node.op_type);
  CHECK(ops == std::vector<std::string>{"LayerNormalization", "FusedMatMul"});
  CHECK(plain->optimization().fired.empty());
  const Tensor a = plain->run({"X"}, {x})[0], b = fused->run({"X"}, {x})[0];
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, double(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
  CHECK(worst < 1e-4);
}

TEST_CASE("graph passes leave a pattern alone when an intermediate is read elsewhere") {
  onnx::ModelSpec m = decomposed_block(16, 8);
  m.outputs.push_back({"std", 1, {}, false});  // the standard deviation is also a graph output
  auto s = open(m);
  CHECK(s->optimization().fired.count("layer_norm") == 0);
  CHECK(s->optimization().fired.at("gelu") == 1);
  auto outs = s->run({"X"}, {f32({1, 5, 16}, std::vector<float>(80, 1.0f))});
  CHECK(outs.size() == 2);
}

TEST_CASE("graph passes: MatMul by a transposed constant weight packs the weight transposed once; outputs unchanged") {
  const int64_t k = 40, n = 70;
  std::vector<float> w(n * k);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.1f * float(i));
  onnx::ModelSpec m;
  m.opsets = {{"", 17}};
  m.inputs = {{"X", 1, {std::string("rows"), k}}};
  m.outputs = {{"Y", 1, {}, false}};
  m.initializers = {onnx::tensor_spec("W", f32({n, k}, w))};  // stored [N, K], used as Wᵀ
  m.nodes = {{"Transpose", {"W"}, {"Wt"}, {{"perm", attr_ints({1, 0})}}, "transpose"}, {"MatMul", {"X", "Wt"}, {"Y"}, {}, "matmul"}};
  SessionOptions off{1};
  off.optimize = false;
  auto fused = open(m), plain = open(m, off);
  CHECK(fused->optimization().fired.at("transposed_weight") == 1);
  REQUIRE(fused->graph().nodes.size() == 1);
  CHECK(fused->graph().nodes[0].op_type == "FusedMatMul");
  for (int64_t rows : {1, 2, 9}) {
    std::vector<float> xs(rows * k);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.3f * float(i));
    const Tensor x = f32({rows, k}, xs);
    const Tensor a = fused->run({"X"}, {x})[0], b = plain->run({"X"}, {x})[0];
    REQUIRE(a.shape() == Shape{rows, n});
    double worst = 0;
    for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, double(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
    CHECK(worst < 1e-4);
  }
}

namespace {
double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.double_at(i) - b.double_at(i)));
  return worst;
}
std::vector<float> wave(size_t n, float scale, float offset = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = offset + scale * std::sin(0.37f * float(i) + 0.1f);
  return v;
}
std::vector<std::string> op_types(const Session& s) {
  std::vector<std::string> ops;
  for (const Node& node : s.graph().nodes) ops.push_back(node.op_type);
  return ops;
}
}  // namespace

TEST_CASE("graph passes: the RMSNorm PyTorch writes (Reciprocal or Div form) becomes RMSNormalization; outputs unchanged") {
  const int64_t d = 20;
  for (bool reciprocal : {true, false}) {
    INFO("reciprocal form: " << reciprocal);
    onnx::ModelSpec m;
    m.opsets = {{"", 17}};
    m.inputs = {{"X", 1, {std::string("batch"), int64_t(3), d}}};
    m.outputs = {{"Y", 1, {}, false}};
    m.initializers = {onnx::tensor_spec("two", f32({}, {2.0f})), onnx::tensor_spec("eps", f32({}, {1e-6f})),
                      onnx::tensor_spec("w", f32({d}, wave(d, 0.5f, 1.0f)))};
    m.nodes = {{"Pow", {"X", "two"}, {"sq"}, {}, "pow"},
               {"ReduceMean", {"sq"}, {"ms"}, {{"axes", attr_ints({-1})}}, "mean"},
               {"Add", {"ms", "eps"}, {"mse"}, {}, "add_eps"},
               {"Sqrt", {"mse"}, {"rms"}, {}, "sqrt"}};
    if (reciprocal)
      m.nodes.push_back({"Reciprocal", {"rms"}, {"inv"}, {}, "recip"}), m.nodes.push_back({"Mul", {"X", "inv"}, {"n"}, {}, "mul_x"});
    else
      m.nodes.push_back({"Div", {"X", "rms"}, {"n"}, {}, "div"});
    m.nodes.push_back({"Mul", {"w", "n"}, {"Y"}, {}, "mul_w"});  // weight first, as `weight * x` exports
    SessionOptions off{1};
    off.optimize = false;
    auto fused = open(m), plain = open(m, off);
    CHECK(fused->optimization().fired.at("rms_norm") == 1);
    CHECK(op_types(*fused) == std::vector<std::string>{"RMSNormalization"});
    const Tensor x = f32({2, 3, d}, wave(2 * 3 * d, 4.0f, 0.5f));
    CHECK(max_abs_diff(fused->run({"X"}, {x})[0], plain->run({"X"}, {x})[0]) < 1e-5);
  }
}

TEST_CASE("graph passes: Add then LayerNormalization becomes SkipLayerNormalization, with the sum kept when read elsewhere") {
  const int64_t d = 24;
  struct Case {
    Shape a, b;         // the two Add operands (any order, any broadcast)
    bool sum_read;      // a pre-norm block: the sum also feeds the next residual Add
  };
  const Case cases[] = {{{2, 5, d}, {2, 5, d}, false}, {{2, 5, d}, {2, 5, d}, true}, {{d}, {2, 5, d}, true},
                        {{2, 5, d}, {5, d}, false},    {{2, 1, d}, {2, 5, d}, true}};  // last: a broadcast the skip rows cannot do
  for (const Case& c : cases) {
    INFO("a " << shape_to_string(c.a) << " b " << shape_to_string(c.b) << " sum read " << c.sum_read);
    auto dims = [](const Shape& s) { return std::vector<std::variant<int64_t, std::string>>(s.begin(), s.end()); };
    onnx::ModelSpec m;
    m.opsets = {{"", 17}};
    m.inputs = {{"A", 1, dims(c.a)}, {"B", 1, dims(c.b)}};
    m.outputs = {{"Y", 1, {}, false}};
    m.initializers = {onnx::tensor_spec("gamma", f32({d}, wave(d, 0.3f, 1.0f))), onnx::tensor_spec("beta", f32({d}, wave(d, 0.2f)))};
    m.nodes = {{"Add", {"A", "B"}, {"h"}, {}, "residual"},
               {"LayerNormalization", {"h", "gamma", "beta"}, {"Y"}, {{"epsilon", attr_float(1e-5f)}}, "ln"}};
    if (c.sum_read) m.outputs.push_back({"Z", 1, {}, false}), m.nodes.push_back({"Mul", {"h", "h"}, {"Z"}, {}, "next"});
    SessionOptions off{1};
    off.optimize = false;
    auto fused = open(m), plain = open(m, off);
    CHECK(fused->optimization().fired.at("skip_layer_norm") == 1);
    int skip_nodes = 0;
    for (const Node& n : fused->graph().nodes)
      if (n.op_type == "SkipLayerNormalization") {
        ++skip_nodes;
        CHECK(n.outputs.size() == (c.sum_read ? 4u : 1u));
      }
    CHECK(skip_nodes == 1);
    const Tensor a = f32(c.a, wave(checked_numel(c.a, "a"), 3.0f, 50.0f)), b = f32(c.b, wave(checked_numel(c.b, "b"), 2.0f, -7.0f));
    const auto got = fused->run({"A", "B"}, {a, b}), want = plain->run({"A", "B"}, {a, b});
    REQUIRE(got.size() == want.size());
    for (size_t o = 0; o < got.size(); ++o) CHECK(max_abs_diff(got[o], want[o]) < 1e-4);
  }
}

TEST_CASE("a weight its MatMul packed is not kept unpacked too; one read elsewhere is") {
  const int64_t k = 16, n = 12;
  onnx::ModelSpec m;
  m.opsets = {{"", 17}};
  m.inputs = {{"X", 1, {int64_t(3), k}}};
  m.outputs = {{"Y", 1, {}, false}};
  m.initializers = {onnx::tensor_spec("W", f32({k, n}, wave(k * n, 0.1f)))};
  m.nodes = {{"MatMul", {"X", "W"}, {"Y"}, {}, "matmul"}};
  const Tensor x = f32({3, k}, wave(3 * k, 1.0f));
  auto packed = open(m);
  CHECK(packed->packed_only_constants() == 1);
  const Value& w = packed->graph().values[packed->graph().find_value("W")];
  REQUIRE(w.constant);
  CHECK(w.constant->raw() == nullptr);  // type and shape only
  CHECK(w.constant->shape() == Shape{k, n});
  // The same weight also read at run time by an Add: it stays.
  m.inputs.push_back({"V", 1, {k, n}});
  m.outputs.push_back({"Z", 1, {}, false});
  m.nodes.push_back({"Add", {"W", "V"}, {"Z"}, {}, "add"});
  auto shared = open(m);
  CHECK(shared->packed_only_constants() == 0);
  const Tensor v = f32({k, n}, std::vector<float>(k * n, 1.0f));
  const auto a = packed->run({"X"}, {x}), b = shared->run({"X", "V"}, {x, v});
  CHECK(max_abs_diff(a[0], b[0]) == 0);
  CHECK(b[1].data<float>()[5] == wave(k * n, 0.1f)[5] + 1.0f);
}

TEST_CASE("graph passes: attention masked by Where (GPT-2's masked_fill) fuses; causal and other masks, NaN keys, outputs unchanged") {
  const int64_t heads = 2, seq = 300, d = 16;  // 300 keys: more than one key block, so causal blocks are skipped
  enum class Mask { Causal, CausalKeepForm, NearlyCausal };
  struct Case {
    const char* name;
    Mask mask;
    float fill;
    bool fuses;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const Case cases[] = {{"causal, masked_fill(-inf)", Mask::Causal, -inf, true},
                        {"causal, Where(keep, scores, lowest)", Mask::CausalKeepForm, -3.4028235e38f, true},
                        {"one extra key kept, row 0 fully masked", Mask::NearlyCausal, -inf, true},
                        {"fill -10000: not fused (exp of it does not underflow)", Mask::Causal, -10000.0f, false}};
  for (const Case& c : cases) {
    INFO(c.name);
    using D = std::variant<int64_t, std::string>;
    const std::vector<D> qkv_dims{int64_t(1), heads, seq, d};
    onnx::ModelSpec m;
    m.opsets = {{"", 17}};
    m.inputs = {{"Q", 1, qkv_dims}, {"K", 1, qkv_dims}, {"V", 1, qkv_dims}, {"M", 9, {int64_t(1), int64_t(1), seq, seq}}};
    m.outputs = {{"Y", 1, {}, false}};
    m.initializers = {onnx::tensor_spec("c", f32({}, {4.0f})), onnx::tensor_spec("fill", f32({}, {c.fill}))};
    const bool keep_form = c.mask == Mask::CausalKeepForm;
    m.nodes = {{"Transpose", {"K"}, {"Kt"}, {{"perm", attr_ints({0, 1, 3, 2})}}, "kt"},
               {"MatMul", {"Q", "Kt"}, {"s"}, {}, "qk"},
               {"Div", {"s", "c"}, {"sd"}, {}, "scale"},
               {"Where", keep_form ? std::vector<std::string>{"M", "sd", "fill"} : std::vector<std::string>{"M", "fill", "sd"}, {"w"}, {}, "mask"},
               {"Softmax", {"w"}, {"p"}, {{"axis", attr_int(-1)}}, "softmax"},
               {"MatMul", {"p", "V"}, {"Y"}, {}, "pv"}};
    Tensor mask = Tensor::allocate(DType::Bool, {1, 1, seq, seq});
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = 0; j < seq; ++j) mask.data<bool>()[i * seq + j] = keep_form ? j <= i : j > i;
    if (c.mask == Mask::NearlyCausal) {
      mask.data<bool>()[100 * seq + 250] = false;                               // query 100 also sees key 250
      for (int64_t j = 0; j < seq; ++j) mask.data<bool>()[j] = true;            // query 0 sees nothing
    }
    std::vector<float> k = wave(heads * seq * d, 0.37f);
    k[(seq - 1) * d + 3] = NAN;  // the last key of head 0: only the last query sees it
    const std::vector<Tensor> in{f32({1, heads, seq, d}, wave(heads * seq * d, 0.11f)), f32({1, heads, seq, d}, k),
                                 f32({1, heads, seq, d}, wave(heads * seq * d, 0.23f, 1.0f)), mask};
    SessionOptions off{1};
    off.optimize = false;
    auto fused = open(m), plain = open(m, off);
    CHECK(fused->optimization().fired.count("attention") == (c.fuses ? 1u : 0u));
    const Tensor got = fused->run({"Q", "K", "V", "M"}, in)[0], want = plain->run({"Q", "K", "V", "M"}, in)[0];
    REQUIRE(got.shape() == want.shape());
    int nan_rows = 0;
    double worst = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      const float a = got.data<float>()[i], b = want.data<float>()[i];
      REQUIRE(std::isnan(a) == std::isnan(b));  // NaN exactly where the graph puts it
      if (std::isnan(a)) ++nan_rows;
      else worst = std::max(worst, double(std::fabs(a - b)));
    }
    CHECK(worst < 1e-5);
    CHECK(nan_rows == d);  // head 0's last query row only
  }
}

TEST_CASE("graph passes: MatMul + bias + ONNX's Gelu (opset 20, both forms) becomes one FusedMatMul; outputs unchanged") {
  const int64_t k = 24, n = 40;
  for (const char* approximate : {"none", "tanh"}) {
    INFO("approximate " << approximate);
    onnx::ModelSpec m;
    m.opsets = {{"", 20}};
    m.inputs = {{"X", 1, {int64_t(2), int64_t(5), k}}};
    m.outputs = {{"Y", 1, {}, false}};
    m.initializers = {onnx::tensor_spec("W", f32({k, n}, wave(k * n, 0.2f))), onnx::tensor_spec("B", f32({n}, wave(n, 0.5f)))};
    Attribute a;
    a.kind = Attribute::Kind::String;
    a.s = approximate;
    m.nodes = {{"MatMul", {"X", "W"}, {"t"}, {}, "mm"}, {"Add", {"t", "B"}, {"u"}, {}, "bias"}, {"Gelu", {"u"}, {"Y"}, {{"approximate", a}}, "gelu"}};
    SessionOptions off{1};
    off.optimize = false;
    auto fused = open(m), plain = open(m, off);
    CHECK(fused->optimization().fired.at("matmul_bias") == 1);
    REQUIRE(fused->graph().nodes.size() == 1);
    CHECK(fused->graph().nodes[0].attr_string("activation", "") == (std::string(approximate) == "tanh" ? "gelu_tanh" : "gelu_erf"));
    const Tensor x = f32({2, 5, k}, wave(2 * 5 * k, 1.5f));
    CHECK(max_abs_diff(fused->run({"X"}, {x})[0], plain->run({"X"}, {x})[0]) < 1e-5);
  }
}

TEST_CASE("graph passes: a product read only by a Split of its last axis becomes one product per part; outputs unchanged") {
  const int64_t k = 24, n = 36;
  struct Case {
    const char* what;
    bool bias_gelu;         // MatMul + Add + Gelu (one FusedMatMul with an activation) or a bare MatMul
    int64_t axis;           // the Split's
    std::vector<int64_t> sizes;  // the split input; empty: equal parts
    bool splits;
  };
  const Case cases[] = {{"FusedMatMul with GELU, sizes 8/16/12", true, -1, {8, 16, 12}, true},
                        {"MatMul, three equal parts, axis 2", false, 2, {}, true},
                        {"Split of a middle axis stays", false, 1, {2, 3}, false}};
  for (const Case& c : cases) {
    INFO(c.what);
    onnx::ModelSpec m;
    m.opsets = {{"", 20}};
    // The batch dim is symbolic: the Split's axis is known to be the last only after inference.
    m.inputs = {{"X", 1, {std::string("batch"), int64_t(5), k}}};
    m.initializers = {onnx::tensor_spec("W", f32({k, n}, wave(k * n, 0.2f))), onnx::tensor_spec("B", f32({n}, wave(n, 0.5f)))};
    m.nodes = {{"MatMul", {"X", "W"}, {c.bias_gelu ? "t" : "p"}, {}, "mm"}};
    if (c.bias_gelu) m.nodes.push_back({"Add", {"t", "B"}, {"u"}, {}, "bias"}), m.nodes.push_back({"Gelu", {"u"}, {"p"}, {}, "gelu"});
    const size_t parts = c.sizes.empty() ? 3 : c.sizes.size();
    onnx::NodeSpec split{"Split", {"p"}, {}, {{"axis", attr_int(c.axis)}}, "split"};
    if (!c.sizes.empty()) {
      m.initializers.push_back(onnx::tensor_spec("S", typed(DType::Int64, {int64_t(c.sizes.size())}, c.sizes)));
      split.inputs.push_back("S");
    }
    for (size_t i = 0; i < parts; ++i) {
      split.outputs.push_back("Y" + std::to_string(i));
      m.outputs.push_back({"Y" + std::to_string(i), 1, {}, false});
    }
    m.nodes.push_back(split);
    SessionOptions off{1};
    off.optimize = false;
    auto fused = open(m), plain = open(m, off);
    const auto& fired = fused->optimization().fired;
    CHECK((fired.count("split_product") ? fired.at("split_product") : 0) == (c.splits ? 1 : 0));
    const std::vector<std::string> ops = op_types(*fused);
    CHECK((std::find(ops.begin(), ops.end(), "Split") == ops.end()) == c.splits);
    for (int64_t batch : {1, 3}) {
      const Tensor x = f32({batch, 5, k}, wave(batch * 5 * k, 1.5f));
      const std::vector<Tensor> a = fused->run({"X"}, {x}), b = plain->run({"X"}, {x});
      REQUIRE(a.size() == parts);
      for (size_t i = 0; i < parts; ++i) CHECK(max_abs_diff(a[i], b[i]) < 1e-5);
    }
  }
}

TEST_CASE("graph passes: a Where or Add mask whose last dim is 1 applies to every key, as the broadcast does") {
  const int64_t heads = 2, seq = 70, d = 8;
  for (float fill : {-std::numeric_limits<float>::infinity(), -3.4028235e38f, 0.0f}) {  // 0: an added float mask
    const bool added = fill == 0.0f;
    INFO("fill " << fill << (added ? " (Add of a float mask)" : ""));
    using D = std::variant<int64_t, std::string>;
    const std::vector<D> qkv_dims{int64_t(1), heads, seq, d};
    onnx::ModelSpec m;
    m.opsets = {{"", 17}};
    m.inputs = {{"Q", 1, qkv_dims}, {"K", 1, qkv_dims}, {"V", 1, qkv_dims}, {"M", added ? 1 : 9, {int64_t(1), int64_t(1), seq, int64_t(1)}}};
    m.outputs = {{"Y", 1, {}, false}};
    m.initializers = {onnx::tensor_spec("c", f32({}, {2.0f})), onnx::tensor_spec("fill", f32({}, {fill}))};
    m.nodes = {{"Transpose", {"K"}, {"Kt"}, {{"perm", attr_ints({0, 1, 3, 2})}}, "kt"},
               {"MatMul", {"Q", "Kt"}, {"s"}, {}, "qk"},
               {"Div", {"s", "c"}, {"sd"}, {}, "scale"},
               added ? onnx::NodeSpec{"Add", {"sd", "M"}, {"w"}, {}, "mask"} : onnx::NodeSpec{"Where", {"M", "fill", "sd"}, {"w"}, {}, "mask"},
               {"Softmax", {"w"}, {"p"}, {{"axis", attr_int(-1)}}, "softmax"},
               {"MatMul", {"p", "V"}, {"Y"}, {}, "pv"}};
    Tensor mask = Tensor::allocate(added ? DType::Float32 : DType::Bool, {1, 1, seq, 1});
    for (int64_t i = 0; i < seq; ++i) {
      if (added) mask.data<float>()[i] = float(i % 5) - 2.0f;  // a per-query shift: softmax is unchanged by it
      else mask.data<bool>()[i] = i % 3 == 1;                  // every third query sees nothing
    }
    const std::vector<Tensor> in{f32({1, heads, seq, d}, wave(heads * seq * d, 0.11f)), f32({1, heads, seq, d}, wave(heads * seq * d, 0.37f)),
                                 f32({1, heads, seq, d}, wave(heads * seq * d, 0.23f, 1.0f)), mask};
    SessionOptions off{1};
    off.optimize = false;
    auto fused = open(m), plain = open(m, off);
    CHECK(fused->optimization().fired.at("attention") == 1);
    CHECK(max_abs_diff(fused->run({"Q", "K", "V", "M"}, in)[0], plain->run({"Q", "K", "V", "M"}, in)[0]) < 1e-5);
  }
}

TEST_CASE("graph passes: attention reads Q, K, V as [B, S, H, D] and writes Y so when their Transposes are read nowhere else") {
  // The exporter's form: X [B, S, H * D] -> Reshape [B, S, H, D] -> Transpose [0, 2, 1, 3] (K: [0, 2, 3, 1],
  // i.e. Kᵀ), and Y -> Transpose [0, 2, 1, 3] -> Reshape [B, S, H * D].
  const int64_t batch = 2, heads = 3, seq = 70, d = 8;
  for (bool q_read_elsewhere : {false, true}) {
    INFO("transposed Q also a graph output: " << q_read_elsewhere);
    using D = std::variant<int64_t, std::string>;
    const std::vector<D> x_dims{batch, seq, heads * d};
    onnx::ModelSpec m;
    m.opsets = {{"", 17}};
    m.inputs = {{"XQ", 1, x_dims}, {"XK", 1, x_dims}, {"XV", 1, x_dims}, {"M", 1, {batch, int64_t(1), int64_t(1), seq}}};
    m.outputs = {{"Y", 1, {}, false}};
    Tensor split = Tensor::allocate(DType::Int64, {4}), merge = Tensor::allocate(DType::Int64, {3});
    const int64_t split_dims[] = {batch, seq, heads, d}, merge_dims[] = {batch, seq, heads * d};
    std::copy(split_dims, split_dims + 4, split.data<int64_t>());
    std::copy(merge_dims, merge_dims + 3, merge.data<int64_t>());
    m.initializers = {onnx::tensor_spec("c", f32({}, {std::sqrt(float(d))})), onnx::tensor_spec("split", split), onnx::tensor_spec("merge", merge)};
    m.nodes = {{"Reshape", {"XQ", "split"}, {"q4"}, {}, "rq"},
               {"Reshape", {"XK", "split"}, {"k4"}, {}, "rk"},
               {"Reshape", {"XV", "split"}, {"v4"}, {}, "rv"},
               {"Transpose", {"q4"}, {"q"}, {{"perm", attr_ints({0, 2, 1, 3})}}, "tq"},
               {"Transpose", {"k4"}, {"kt"}, {{"perm", attr_ints({0, 2, 3, 1})}}, "tk"},
               {"Transpose", {"v4"}, {"v"}, {{"perm", attr_ints({0, 2, 1, 3})}}, "tv"},
               {"MatMul", {"q", "kt"}, {"s"}, {}, "qk"},
               {"Div", {"s", "c"}, {"sd"}, {}, "scale"},
               {"Add", {"sd", "M"}, {"w"}, {}, "mask"},
               {"Softmax", {"w"}, {"p"}, {{"axis", attr_int(-1)}}, "softmax"},
               {"MatMul", {"p", "v"}, {"o"}, {}, "pv"},
               {"Transpose", {"o"}, {"o4"}, {{"perm", attr_ints({0, 2, 1, 3})}}, "to"},
               {"Reshape", {"o4", "merge"}, {"Y"}, {}, "ry"}};
    if (q_read_elsewhere) m.outputs.push_back({"q", 1, {}, false});
    Tensor mask = Tensor::allocate(DType::Float32, {batch, 1, 1, seq});
    for (int64_t i = 0; i < batch * seq; ++i) mask.data<float>()[i] = i % 7 == 3 ? -10000.0f : 0.0f;  // padded keys
    const std::vector<Tensor> in{f32({batch, seq, heads * d}, wave(batch * seq * heads * d, 0.11f)),
                                 f32({batch, seq, heads * d}, wave(batch * seq * heads * d, 0.37f)),
                                 f32({batch, seq, heads * d}, wave(batch * seq * heads * d, 0.23f, 1.0f)), mask};
    SessionOptions off{1};
    off.optimize = false;
    auto fused = open(m), plain = open(m, off);
    CHECK(fused->optimization().fired.at("attention") == 1);
    int transposes = 0;
    const Node* attention = nullptr;
    for (const Node& n : fused->graph().nodes) {
      if (n.op_type == "Transpose") ++transposes;
      if (n.op_type == "Attention") attention = &n;
    }
    REQUIRE(attention);
    CHECK(transposes == (q_read_elsewhere ? 1 : 0));
    CHECK(attention->attr_int("q_bsnh", 0) == (q_read_elsewhere ? 0 : 1));
    for (const char* a : {"k_bsnh", "v_bsnh", "y_bsnh"}) CHECK(attention->attr_int(a, 0) == 1);
    const auto got = fused->run({"XQ", "XK", "XV", "M"}, in), want = plain->run({"XQ", "XK", "XV", "M"}, in);
    REQUIRE(got.size() == want.size());
    for (size_t o = 0; o < got.size(); ++o) {
      CHECK(got[o].shape() == want[o].shape());
      CHECK(max_abs_diff(got[o], want[o]) < 1e-5);
    }
  }
}
