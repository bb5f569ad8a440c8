// The index-driven ops (GatherElements, GatherND, ScatterElements, ScatterND, OneHot, NonZero,
// TopK), DepthToSpace / SpaceToDepth, MaxUnpool, MatMulInteger, Sum / Mean and Dropout before
// opset 12: the cases ONNX's conformance files leave out (reductions over repeated targets, bad
// indices, values known only at run time, wrap-around, ties, round trips), each against a plain
// reference written here.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <random>

#include "runtime/session.h"
#include "test_util.h"

using namespace normrt;
using namespace normrt::test;

namespace {

// An input or output of any shape (known only at run time).
onnx::ValueSpec any(const std::string& name, int elem_type = 1) { return {name, elem_type, {}, false}; }

constexpr int kFloat = 1, kUInt8 = 2, kInt8 = 3, kInt32 = 6, kInt64 = 7, kBool = 9;

Tensor i64(Shape s, const std::vector<int64_t>& v) { return typed<int64_t>(DType::Int64, std::move(s), v); }

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data<float>(), t.data<float>() + t.numel()); }

}  // namespace

TEST_CASE("GatherElements: int32 and negative indices, smaller index dims, a bad index names the node") {
  auto s = open(one_node("GatherElements", {any("D"), any("I", kInt32)}, {any("Y")}, {{"axis", attr_int(0)}}, 13));
  // data [3, 3]; indices [2, 2] (smaller than data in the non-axis dim).
  const Tensor d = f32({3, 3}, {0, 1, 2, 10, 11, 12, 20, 21, 22});
  Tensor y = s->run({"D", "I"}, {d, typed<int32_t>(DType::Int32, {2, 2}, {2, -3, -1, 1})})[0];
  CHECK(y.shape() == Shape{2, 2});
  CHECK(values(y) == std::vector<float>{20, 1, 20, 11});
  auto [code, msg] = error_of([&] { s->run({"D", "I"}, {d, typed<int32_t>(DType::Int32, {1, 1}, {3})}); });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("the_GatherElements") != std::string::npos);
  CHECK(msg.find("index 3 is out of range") != std::string::npos);
  auto [code2, msg2] = error_of([&] { s->run({"D", "I"}, {d, typed<int32_t>(DType::Int32, {1, 4}, {0, 0, 0, 0})}); });
  CHECK(msg2.find("exceeds data's") != std::string::npos);
}

TEST_CASE("ScatterElements: reductions over repeated targets in order, Scatter-9, refusals") {
  const Tensor d = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor idx = i64({2, 2}, {1, 1, 0, 0});  // row 0 writes column 1 twice, row 1 column 0 twice
  const Tensor u = f32({2, 2}, {10, 20, 30, 40});
  struct Case { const char* reduction; int64_t opset; std::vector<float> want; };
  for (const Case& c : {Case{"none", 13, {1, 20, 3, 40, 5, 6}}, Case{"add", 16, {1, 32, 3, 74, 5, 6}},
                        Case{"mul", 16, {1, 400, 3, 4800, 5, 6}}, Case{"max", 18, {1, 20, 3, 40, 5, 6}},
                        Case{"min", 18, {1, 2, 3, 4, 5, 6}}}) {
    CAPTURE(c.reduction);
    std::map<std::string, Attribute> attrs{{"axis", attr_int(1)}};
    if (std::string(c.reduction) != "none") attrs["reduction"] = string_attribute(c.reduction);
    auto s = open(one_node("ScatterElements", {any("D"), any("I", kInt64), any("U")}, {any("Y")}, attrs, c.opset));
    CHECK(values(s->run({"D", "I", "U"}, {d, idx, u})[0]) == c.want);
  }
  // The deprecated Scatter (opset 9-10) is ScatterElements without a reduction; negative indices.
  auto s9 = open(one_node("Scatter", {any("D"), any("I", kInt64), any("U")}, {any("Y")}, {{"axis", attr_int(0)}}, 9));
  CHECK(values(s9->run({"D", "I", "U"}, {d, i64({1, 3}, {-1, 0, 1}), f32({1, 3}, {7, 8, 9})})[0]) == std::vector<float>{1, 8, 3, 7, 5, 9});
  // A reduction the opset does not define is refused at creation, naming it.
  auto [code, msg] = error_of([&] {
    open(one_node("ScatterElements", {any("D"), any("I", kInt64), any("U")}, {any("Y")}, {{"reduction", string_attribute("max")}}, 16));
  });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("reduction 'max' is not defined at opset 16") != std::string::npos);
  auto s16 = open(one_node("ScatterElements", {any("D"), any("I", kInt64), any("U")}, {any("Y")}, {{"axis", attr_int(1)}}, 16));
  auto [code2, msg2] = error_of([&] { s16->run({"D", "I", "U"}, {d, i64({2, 2}, {1, 3, 0, 0}), u}); });
  CHECK(code2 == ErrorCode::RuntimeError);
  CHECK(msg2.find("index 3 is out of range") != std::string::npos);
  auto [code3, msg3] = error_of([&] { s16->run({"D", "I", "U"}, {d, idx, f32({1, 2}, {1, 2})}); });
  CHECK(msg3.find("must have the indices' shape") != std::string::npos);
}

TEST_CASE("GatherND with batch_dims and negative indices; ScatterND reductions and bad tuples") {
  // data [2, 2, 3]; batch_dims 1; each batch entry picks rows by a 1-entry tuple.
  auto g = open(one_node("GatherND", {any("D"), any("I", kInt64)}, {any("Y")}, {{"batch_dims", attr_int(1)}}, 13));
  const Tensor d = f32({2, 2, 3}, {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15});
  Tensor y = g->run({"D", "I"}, {d, i64({2, 2, 1}, {1, 0, -1, -2})})[0];
  CHECK(y.shape() == Shape{2, 2, 3});
  CHECK(values(y) == std::vector<float>{3, 4, 5, 0, 1, 2, 13, 14, 15, 10, 11, 12});
  // Full tuples pick single elements.
  y = g->run({"D", "I"}, {d, i64({2, 1, 2}, {0, 2, 1, 1})})[0];
  CHECK(y.shape() == Shape{2, 1});
  CHECK(values(y) == std::vector<float>{2, 14});
  auto [code, msg] = error_of([&] { g->run({"D", "I"}, {d, i64({2, 1, 1}, {0, 2})}); });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("index 2 is out of range for an axis of size 2") != std::string::npos);
  auto [code2, msg2] = error_of([&] { g->run({"D", "I"}, {d, i64({2, 1, 3}, {0, 0, 0, 0, 0, 0})}); });
  CHECK(msg2.find("must lie in [1, 2]") != std::string::npos);

  auto sc = open(one_node("ScatterND", {any("D"), any("I", kInt64), any("U")}, {any("Y")}, {{"reduction", string_attribute("add")}}, 16));
  const Tensor base = f32({4}, {1, 1, 1, 1});
  CHECK(values(sc->run({"D", "I", "U"}, {base, i64({3, 1}, {2, -2, 0}), f32({3}, {5, 6, 7})})[0]) == std::vector<float>{8, 1, 12, 1});
  auto [code3, msg3] = error_of([&] { sc->run({"D", "I", "U"}, {base, i64({1, 1}, {4}), f32({1}, {5})}); });
  CHECK(code3 == ErrorCode::RuntimeError);
  CHECK(msg3.find("the_ScatterND") != std::string::npos);
  CHECK(msg3.find("index 4 is out of range") != std::string::npos);
}

TEST_CASE("OneHot: depth known only at run time, float indices, NaN and out-of-range rows, opset 9 negatives") {
  auto s = open(one_node("OneHot", {any("I"), any("depth"), any("values")}, {any("Y")}, {{"axis", attr_int(0)}}, 11));
  // float indices truncate; NaN and 5 give rows of off values; -1 wraps to depth - 1.
  Tensor y = s->run({"I", "depth", "values"}, {f32({4}, {1.7f, NAN, 5, -1}), f32({}, {3.5f}), f32({2}, {-1, 2})})[0];
  CHECK(y.shape() == Shape{3, 4});  // axis 0: depth first
  CHECK(values(y) == std::vector<float>{-1, -1, -1, -1, /**/ 2, -1, -1, -1, /**/ -1, -1, -1, 2});
  auto [code, msg] = error_of([&] { s->run({"I", "depth", "values"}, {f32({1}, {0}), f32({}, {0}), f32({2}, {0, 1})}); });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("depth must be a positive number") != std::string::npos);
  auto [code2, msg2] = error_of([&] { s->run({"I", "depth", "values"}, {f32({1}, {0}), f32({}, {2}), f32({3}, {0, 1, 2})}); });
  CHECK(msg2.find("exactly two elements") != std::string::npos);
  // Opset 9 has no negative indices: -1 is outside [0, depth).
  auto s9 = open(one_node("OneHot", {any("I", kInt64), any("depth", kInt64), any("values")}, {any("Y")}, {}, 9));
  y = s9->run({"I", "depth", "values"}, {i64({2}, {-1, 1}), i64({1}, {2}), f32({2}, {0, 1})})[0];
  CHECK(y.shape() == Shape{2, 2});
  CHECK(values(y) == std::vector<float>{0, 0, 0, 1});
}

TEST_CASE("NonZero: counts at run time, folds a constant, negative zero is zero, scalars and bool") {
  auto s = open(one_node("NonZero", {any("X")}, {any("Y", kInt64)}, {}, 13));
  Tensor y = s->run({"X"}, {f32({2, 3}, {0, 1, -0.0f, 2, 0, NAN})})[0];
  CHECK(y.shape() == Shape{2, 3});
  CHECK(std::vector<int64_t>(y.data<int64_t>(), y.data<int64_t>() + 6) == std::vector<int64_t>{0, 1, 1, 1, 0, 2});
  y = s->run({"X"}, {f32({2, 2}, {0, 0, 0, 0})})[0];
  CHECK(y.shape() == Shape{2, 0});
  y = s->run({"X"}, {f32({}, {5})})[0];
  CHECK(y.shape() == Shape{1, 1});
  CHECK(y.data<int64_t>()[0] == 0);
  auto b = open(one_node("NonZero", {any("X", kBool)}, {any("Y", kInt64)}, {}, 13));
  y = b->run({"X"}, {typed<uint8_t>(DType::Bool, {3}, {1, 0, 1})})[0];
  CHECK(std::vector<int64_t>(y.data<int64_t>(), y.data<int64_t>() + y.numel()) == std::vector<int64_t>{0, 2});

  // A constant input: the node folds at session creation.
  onnx::ModelSpec m = one_node("NonZero", {}, {any("Y", kInt64)}, {}, 13);
  m.nodes[0].inputs = {"C"};
  onnx::TensorSpec c;
  c.name = "C", c.data_type = kInt64, c.dims = {3}, c.int64_data = {0, 4, 4};
  m.initializers.push_back(c);
  auto f = open(m);
  CHECK(f->folded_nodes() == 1);
  y = f->run({}, {})[0];
  CHECK(std::vector<int64_t>(y.data<int64_t>(), y.data<int64_t>() + y.numel()) == std::vector<int64_t>{1, 2});
}

TEST_CASE("DepthToSpace (DCR, CRD) against the spec's reshape-transpose, and SpaceToDepth inverts DCR") {
  const int64_t n = 2, c = 8, h = 3, w = 2, b = 2, co = c / (b * b);
  Tensor x = Tensor::allocate(DType::Float32, {n, c, h, w});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float(i);
  for (const char* mode : {"DCR", "CRD"}) {
    CAPTURE(mode);
    auto s = open(one_node("DepthToSpace", {any("X")}, {any("Y")}, {{"blocksize", attr_int(b)}, {"mode", string_attribute(mode)}}, 13));
    Tensor y = s->run({"X"}, {x})[0];
    REQUIRE(y.shape() == Shape{n, co, h * b, w * b});
    bool ok = true;
    for (int64_t ni = 0; ni < n; ++ni)
      for (int64_t ci = 0; ci < co; ++ci)
        for (int64_t hh = 0; hh < h * b; ++hh)
          for (int64_t ww = 0; ww < w * b; ++ww) {
            const int64_t i = hh % b, j = ww % b;
            const int64_t src_c = std::string(mode) == "DCR" ? (i * b + j) * co + ci : ci * b * b + i * b + j;
            const float want = x.data<float>()[((ni * c + src_c) * h + hh / b) * w + ww / b];
            ok = ok && y.data<float>()[((ni * co + ci) * h * b + hh) * w * b + ww] == want;
          }
    CHECK(ok);
    if (std::string(mode) == "DCR") {
      auto back = open(one_node("SpaceToDepth", {any("X")}, {any("Y")}, {{"blocksize", attr_int(b)}}, 13));
      Tensor z = back->run({"X"}, {y})[0];
      CHECK(z.shape() == x.shape());
      CHECK(values(z) == values(x));
    }
  }
  auto s = open(one_node("DepthToSpace", {any("X")}, {any("Y")}, {{"blocksize", attr_int(3)}}, 13));
  auto [code, msg] = error_of([&] { s->run({"X"}, {x}); });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("multiple of blocksize") != std::string::npos);
  auto [code2, msg2] = error_of([&] { open(one_node("SpaceToDepth", {any("X")}, {any("Y")}, {{"blocksize", attr_int(0)}}, 13)); });
  CHECK(code2 == ErrorCode::InvalidModel);
  CHECK(msg2.find("blocksize must be >= 1") != std::string::npos);
}

TEST_CASE("MaxUnpool undoes MaxPool's values at MaxPool's indices, over a batch; bad indices are errors") {
  onnx::ModelSpec m;
  m.opsets = {{"", 11}};
  m.inputs = {any("X")};
  m.outputs = {any("Y"), any("P")};
  onnx::NodeSpec pool{"MaxPool", {"X"}, {"P", "I"}, {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}}, "pool"};
  onnx::NodeSpec unpool{"MaxUnpool", {"P", "I"}, {"Y"}, {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}}, "unpool"};
  m.nodes = {pool, unpool};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  Tensor x = Tensor::allocate(DType::Float32, {2, 3, 4, 6});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  auto out = open(m)->run({"X"}, {x});
  const Tensor &y = out[0], &p = out[1];
  REQUIRE(y.shape() == x.shape());
  // Every pooled maximum is back at its place; every other element is 0.
  int64_t kept = 0;
  bool ok = true;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const float v = y.data<float>()[i];
    if (v != 0) {
      ++kept;
      ok = ok && v == x.data<float>()[i];
    }
  }
  CHECK(ok);
  CHECK(kept == p.numel());

  auto s = open(one_node("MaxUnpool", {any("X"), any("I", kInt64)}, {any("Y")}, {{"kernel_shape", attr_ints({2})}}, 11));
  auto [code, msg] = error_of([&] { s->run({"X", "I"}, {f32({1, 1, 2}, {1, 2}), i64({1, 1, 2}, {0, 3})}); });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("index 3 is outside the unpooled tensor") != std::string::npos);
}

TEST_CASE("MatMulInteger against an int64 reference: zero points per row and column, batch broadcasting, int32 wrap") {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255);
  // A uint8 [2, 3, 5, 7] with per-row zero points [2, 3, 5, 1]; B int8 [7, 4] with per-column ones.
  const Shape as{2, 3, 5, 7}, bs{7, 4};
  std::vector<uint8_t> a(2 * 3 * 5 * 7), azp(2 * 3 * 5);
  std::vector<int8_t> b(7 * 4), bzp(4);
  for (auto& v : a) v = uint8_t(byte(rng));
  for (auto& v : azp) v = uint8_t(byte(rng));
  for (auto& v : b) v = int8_t(byte(rng) - 128);
  for (auto& v : bzp) v = int8_t(byte(rng) - 128);
  auto s = open(one_node("MatMulInteger", {any("A", kUInt8), any("B", kInt8), any("AZ", kUInt8), any("BZ", kInt8)}, {any("C", kInt32)}, {}, 10));
  Tensor c = s->run({"A", "B", "AZ", "BZ"}, {typed<uint8_t>(DType::UInt8, as, a), typed<int8_t>(DType::Int8, bs, b),
                                             typed<uint8_t>(DType::UInt8, {2, 3, 5, 1}, azp), typed<int8_t>(DType::Int8, {4}, bzp)})[0];
  REQUIRE(c.shape() == Shape{2, 3, 5, 4});
  bool ok = true;
  for (int64_t r = 0; r < 30; ++r)
    for (int64_t j = 0; j < 4; ++j) {
      int64_t want = 0;
      for (int64_t k = 0; k < 7; ++k) want += (int64_t(a[r * 7 + k]) - azp[r]) * (int64_t(b[k * 4 + j]) - bzp[j]);
      ok = ok && c.data<int32_t>()[r * 4 + j] == want;
    }
  CHECK(ok);
  // Past 2^31 the int32 sum wraps (as in ONNX Runtime), without undefined behaviour.
  const int64_t k = 70000;
  auto w = open(one_node("MatMulInteger", {any("A", kUInt8), any("B", kInt8)}, {any("C", kInt32)}, {}, 10));
  Tensor cw = w->run({"A", "B"}, {typed<uint8_t>(DType::UInt8, {1, k}, std::vector<uint8_t>(k, 255)),
                                  typed<int8_t>(DType::Int8, {k, 1}, std::vector<int8_t>(k, -128))})[0];
  CHECK(cw.data<int32_t>()[0] == static_cast<int32_t>(static_cast<uint32_t>(int64_t(255) * -128 * k)));
  // K = 0: zeros, per-row zero points still one per row.
  Tensor c0 = s->run({"A", "B", "AZ", "BZ"}, {typed<uint8_t>(DType::UInt8, {3, 0}, {}), typed<int8_t>(DType::Int8, {0, 2}, {}),
                                              typed<uint8_t>(DType::UInt8, {3}, {1, 2, 3}), typed<int8_t>(DType::Int8, {}, {4})})[0];
  CHECK(c0.shape() == Shape{3, 2});
  CHECK(std::vector<int32_t>(c0.data<int32_t>(), c0.data<int32_t>() + 6) == std::vector<int32_t>(6, 0));
  auto [code, msg] = error_of([&] {
    s->run({"A", "B", "AZ", "BZ"}, {typed<uint8_t>(DType::UInt8, as, a), typed<int8_t>(DType::Int8, bs, b),
                                    typed<uint8_t>(DType::UInt8, {2}, {0, 0}), typed<int8_t>(DType::Int8, {4}, bzp)});
  });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("a_zero_point must hold 1 value or one per row of A (30)") != std::string::npos);
}

namespace {
// MatMulInteger's C for uint8 A (zero point AZ) and int8 B (zero point BZ when bzp is given):
// first with B and BZ as run-time inputs, then as initializers (widened and packed once).
std::array<Tensor, 2> matmul_integer_both_ways(const Tensor& a, const Tensor& azp, const std::vector<int8_t>& b, const Shape& b_shape,
                                                const std::vector<int8_t>* bzp, const Shape& bzp_shape, const SessionOptions& options) {
  auto int8_spec = [](const std::string& name, const Shape& dims, const std::vector<int8_t>& v) {
    onnx::TensorSpec t;
    t.name = name, t.data_type = kInt8, t.dims = dims, t.raw_data.assign(reinterpret_cast<const char*>(v.data()), v.size());
    return t;
  };
  std::vector<onnx::ValueSpec> ins = {any("A", kUInt8), any("B", kInt8), any("AZ", kUInt8)};
  std::vector<std::string> names = {"A", "B", "AZ"};
  std::vector<Tensor> feeds = {a, typed<int8_t>(DType::Int8, b_shape, b), azp};
  if (bzp) ins.push_back(any("BZ", kInt8)), names.push_back("BZ"), feeds.push_back(typed<int8_t>(DType::Int8, bzp_shape, *bzp));
  const Tensor run_time = open(one_node("MatMulInteger", ins, {any("C", kInt32)}, {}, 10), options)->run(names, feeds)[0];
  onnx::ModelSpec spec = one_node("MatMulInteger", {any("A", kUInt8), any("AZ", kUInt8)}, {any("C", kInt32)}, {}, 10);
  spec.nodes[0].inputs = names;
  spec.initializers = {int8_spec("B", b_shape, b)};
  if (bzp) spec.initializers.push_back(int8_spec("BZ", bzp_shape, *bzp));
  return {run_time, open(spec, options)->run({"A", "AZ"}, {a, azp})[0]};
}
}  // namespace

TEST_CASE("MatMulInteger runs on the float GEMM exactly: depth slices of 256, the largest products, constant and run-time B, every ISA") {
  // |a - zp| = |b - zp| = 255 is the largest product (65025); 256 of them is the most a float32
  // slice may sum exactly. Depths straddle that (255, 256, 257, 513, 1000), rows and columns are not
  // multiples of any tile, B has two matrices, and the result is checked against int64 sums
  // wrapped to int32.
  std::mt19937 rng(29);
  std::uniform_int_distribution<int> byte(0, 255), coin(0, 3);
  struct Case {
    int64_t m, k, n;
    int threads;
  };
  for (kernels::Isa isa : {kernels::Isa::Scalar, kernels::Isa::Avx2, kernels::Isa::Avx512, kernels::Isa::Neon}) {
    if (!kernels::isa_available(isa)) continue;
    CAPTURE(kernels::isa_name(isa));
    for (const Case& cs : {Case{1, 257, 17, 1}, Case{7, 513, 33, 2}, Case{13, 1000, 7, 1}, Case{6, 256, 16, 2}, Case{9, 255, 1, 1},
                           Case{40, 300, 70, 2}}) {
      CAPTURE(cs.m);
      CAPTURE(cs.k);
      CAPTURE(cs.n);
      const int64_t m = cs.m, k = cs.k, n = cs.n;
      // Mostly 255 - 0 against -128 - 127: products of -65025, so a slice's sum nears -2^24 and
      // a deeper slice would pass it (where float32 holds only even integers); some random values.
      std::vector<uint8_t> a(2 * m * k);
      std::vector<int8_t> b(2 * k * n), bzp(2 * n);
      for (auto& v : a) v = coin(rng) ? 255 : uint8_t(byte(rng));
      for (auto& v : b) v = int8_t(coin(rng) ? -128 : byte(rng) - 128);
      for (size_t j = 0; j < bzp.size(); ++j) bzp[j] = int8_t(j % 4 ? 127 : byte(rng) - 128);
      const uint8_t azp = 0;
      std::vector<int32_t> want(2 * m * n);
      for (int64_t bi = 0; bi < 2; ++bi)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            int64_t sum = 0;
            for (int64_t kk = 0; kk < k; ++kk)
              sum += (int64_t(a[(bi * m + i) * k + kk]) - azp) * (int64_t(b[(bi * k + kk) * n + j]) - bzp[bi * n + j]);
            want[(bi * m + i) * n + j] = static_cast<int32_t>(static_cast<uint32_t>(sum));
          }
      SessionOptions options;
      options.threads = cs.threads, options.isa = isa;
      const auto cs2 = matmul_integer_both_ways(typed<uint8_t>(DType::UInt8, {2, m, k}, a), typed<uint8_t>(DType::UInt8, {}, {azp}), b,
                                                {2, k, n}, &bzp, {2, 1, n}, options);
      for (const Tensor& c : cs2) {
        REQUIRE(c.shape() == Shape{2, m, n});
        CHECK(std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel()) == want);
      }
    }
  }
}

TEST_CASE("MatMulInteger sums several depth slices in float when its zero points bound the factors, still exactly") {
  // A uint8 with zero point 128 (|a - zp| <= 128) against an int8 B in [-127, 127] without a zero
  // point: 4 slices (1024 deep) per float sum. Mostly 1 - 128 against 127, odd products of -16129,
  // so a sum 8 slices deep would pass 2^24 with odd values float32 cannot hold.
  std::mt19937 rng(31);
  std::uniform_int_distribution<int> byte(0, 255), weight(-127, 127), coin(0, 3);
  for (kernels::Isa isa : {kernels::Isa::Scalar, kernels::Isa::Avx2, kernels::Isa::Avx512, kernels::Isa::Neon}) {
    if (!kernels::isa_available(isa)) continue;
    CAPTURE(kernels::isa_name(isa));
    for (int64_t k : {1024, 1025, 2100}) {
      CAPTURE(k);
      const int64_t m = 5, n = 19;
      std::vector<uint8_t> a(m * k);
      std::vector<int8_t> b(k * n);
      for (auto& v : a) v = coin(rng) ? 1 : uint8_t(byte(rng));
      for (auto& v : b) v = int8_t(coin(rng) ? 127 : weight(rng));
      std::vector<int32_t> want(m * n);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int64_t sum = 0;
          for (int64_t kk = 0; kk < k; ++kk) sum += (int64_t(a[i * k + kk]) - 128) * int64_t(b[kk * n + j]);
          want[i * n + j] = static_cast<int32_t>(static_cast<uint32_t>(sum));
        }
      SessionOptions options;
      options.threads = 1, options.isa = isa;
      const auto cs2 = matmul_integer_both_ways(typed<uint8_t>(DType::UInt8, {m, k}, a), typed<uint8_t>(DType::UInt8, {}, {128}), b, {k, n},
                                                nullptr, {}, options);
      for (const Tensor& c : cs2) CHECK(std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel()) == want);
    }
  }
}

TEST_CASE("Dropout before opset 12: the identity, with a mask of ones in the input's type (7-9) or bool (10-11)") {
  const Tensor x = f32({3}, {1, -2, 3});
  for (int64_t opset : {7, 10}) {
    CAPTURE(opset);
    auto s = open(one_node("Dropout", {any("X")}, {any("Y"), any("M", opset >= 10 ? kBool : kFloat)}, {{"ratio", attr_float(0.5f)}}, opset));
    auto out = s->run({"X"}, {x});
    CHECK(values(out[0]) == values(x));
    CHECK(out[1].dtype() == (opset >= 10 ? DType::Bool : DType::Float32));
    if (opset < 10) CHECK(values(out[1]) == std::vector<float>{1, 1, 1});
    else CHECK(std::vector<uint8_t>(out[1].data<uint8_t>(), out[1].data<uint8_t>() + 3) == std::vector<uint8_t>{1, 1, 1});
  }
}

TEST_CASE("TopK: largest and smallest, ties keep the lower index, NaN ranks highest, k known only at run time") {
  auto s = open(one_node("TopK", {any("X"), any("K", kInt64)}, {any("V"), any("I", kInt64)}, {{"axis", attr_int(1)}}, 11));
  // x [2, 5] along axis 1.
  const Tensor x = f32({2, 5}, {3, 1, 3, NAN, 2, /**/ -1, 5, 5, 0, -7});
  auto out = s->run({"X", "K"}, {x, i64({1}, {3})});
  REQUIRE(out[0].shape() == Shape{2, 3});
  const float* v = out[0].data<float>();
  const int64_t* ix = out[1].data<int64_t>();
  CHECK(std::isnan(v[0]));
  CHECK(std::vector<float>{v[1], v[2], v[3], v[4], v[5]} == std::vector<float>{3, 3, 5, 5, 0});
  CHECK(std::vector<int64_t>(ix, ix + 6) == std::vector<int64_t>{3, 0, 2, 1, 2, 3});
  auto small = open(one_node("TopK", {any("X"), any("K", kInt64)}, {any("V"), any("I", kInt64)}, {{"largest", attr_int(0)}}, 11));
  out = small->run({"X", "K"}, {x, i64({1}, {2})});
  CHECK(values(out[0]) == std::vector<float>{1, 2, -7, -1});
  CHECK(std::vector<int64_t>(out[1].data<int64_t>(), out[1].data<int64_t>() + 4) == std::vector<int64_t>{1, 4, 4, 0});
  // Against a sort along axis 0 of a random [7, 3, 4] tensor, k = 7 (the whole axis).
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small_ints(-3, 3);  // many ties
  Tensor r = Tensor::allocate(DType::Float32, {7, 3, 4});
  for (int64_t i = 0; i < r.numel(); ++i) r.data<float>()[i] = float(small_ints(rng));
  auto s0 = open(one_node("TopK", {any("X"), any("K", kInt64)}, {any("V"), any("I", kInt64)}, {{"axis", attr_int(-3)}}, 11));
  out = s0->run({"X", "K"}, {r, i64({1}, {7})});
  bool ok = true;
  for (int64_t i = 0; i < 12; ++i) {
    std::vector<std::pair<float, int64_t>> line;
    for (int64_t s = 0; s < 7; ++s) line.push_back({-r.data<float>()[s * 12 + i], s});
    std::sort(line.begin(), line.end());
    for (int64_t s = 0; s < 7; ++s)
      ok = ok && out[0].data<float>()[s * 12 + i] == -line[s].first && out[1].data<int64_t>()[s * 12 + i] == line[s].second;
  }
  CHECK(ok);
  auto [code, msg] = error_of([&] { s->run({"X", "K"}, {x, i64({1}, {6})}); });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("k = 6 must lie in [0, 5]") != std::string::npos);
  // Opset 1 takes k as an attribute; it is required.
  auto s1 = open(one_node("TopK", {any("X")}, {any("V"), any("I", kInt64)}, {{"k", attr_int(1)}}, 9));
  CHECK(values(s1->run({"X"}, {f32({1, 3}, {1, 9, 4})})[0]) == std::vector<float>{9});
  auto [code2, msg2] = error_of([&] { open(one_node("TopK", {any("X")}, {any("V"), any("I", kInt64)}, {}, 9)); });
  CHECK(code2 == ErrorCode::InvalidModel);
  CHECK(msg2.find("the int attribute k is required") != std::string::npos);
}

TEST_CASE("Sum and Mean over several broadcast inputs, against float64") {
  std::mt19937 rng(9);
  std::normal_distribution<float> n(0, 1);
  auto rnd = [&](Shape sh) {
    Tensor t = Tensor::allocate(DType::Float32, std::move(sh));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
    return t;
  };
  const Tensor a = rnd({2, 3}), b = rnd({3}), c = rnd({2, 1});
  for (const char* op : {"Sum", "Mean"}) {
    CAPTURE(op);
    auto s = open(one_node(op, {any("A"), any("B"), any("C")}, {any("Y")}, {}, 13));
    Tensor y = s->run({"A", "B", "C"}, {a, b, c})[0];
    REQUIRE(y.shape() == Shape{2, 3});
    double worst = 0;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        double want = double(a.data<float>()[i * 3 + j]) + b.data<float>()[j] + c.data<float>()[i];
        if (std::string(op) == "Mean") want /= 3;
        worst = std::max(worst, std::fabs(y.data<float>()[i * 3 + j] - want));
      }
    CHECK(worst < 1e-6);
    CHECK(values(open(one_node(op, {any("A")}, {any("Y")}, {}, 13))->run({"A"}, {a})[0]) == values(a));
  }
  // Mean and Sum are defined on floating-point types only.
  auto [code, msg] = error_of([&] { open(one_node("Mean", {{"A", kInt32, {int64_t(2)}}}, {any("Y", kInt32)}, {}, 13)); });
  CHECK(code == ErrorCode::NotImplemented);
  CHECK(msg.find("the_Mean") != std::string::npos);
}

TEST_CASE("QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear: ties to even, saturation, per axis, and a quantized MatMul") {
  // Per tensor, uint8 with zero point 10: 2.5 -> 2 (ties to even) + 10, 3.5 -> 4 + 10, saturation
  // both ways, NaN -> 0.
  auto q = open(one_node("QuantizeLinear", {any("X"), any("S"), any("Z", kUInt8)}, {any("Y", kUInt8)}, {}, 13));
  Tensor y = q->run({"X", "S", "Z"}, {f32({5}, {2.5f, 3.5f, 1e6f, -1e6f, NAN}), f32({}, {1}), typed<uint8_t>(DType::UInt8, {}, {10})})[0];
  CHECK(std::vector<uint8_t>(y.data<uint8_t>(), y.data<uint8_t>() + 5) == std::vector<uint8_t>{12, 14, 255, 0, 0});
  // Per axis 1 of [2, 3], int8 (1 / 2 = 0.5 rounds to 0).
  auto qa = open(one_node("QuantizeLinear", {any("X"), any("S"), any("Z", kInt8)}, {any("Y", kInt8)}, {{"axis", attr_int(1)}}, 13));
  y = qa->run({"X", "S", "Z"}, {f32({2, 3}, {1, 1, 1, -300, 300, 0}), f32({3}, {0.5f, 1, 2}), typed<int8_t>(DType::Int8, {3}, {0, -1, 1})})[0];
  CHECK(std::vector<int8_t>(y.data<int8_t>(), y.data<int8_t>() + 6) == std::vector<int8_t>{2, 0, 1, -128, 127, 1});
  auto [code, msg] = error_of([&] { qa->run({"X", "S", "Z"}, {f32({2, 3}, {1, 1, 1, 1, 1, 1}), f32({2}, {1, 1}), typed<int8_t>(DType::Int8, {2}, {0, 0})}); });
  CHECK(code == ErrorCode::RuntimeError);
  CHECK(msg.find("one value per element of axis 1 (3)") != std::string::npos);
  auto dq = open(one_node("DequantizeLinear", {any("X", kInt8), any("S"), any("Z", kInt8)}, {any("Y")}, {{"axis", attr_int(0)}}, 13));
  y = dq->run({"X", "S", "Z"}, {typed<int8_t>(DType::Int8, {2, 2}, {-128, 127, 5, 6}), f32({2}, {0.5f, 2}), typed<int8_t>(DType::Int8, {2}, {1, 5})})[0];
  CHECK(values(y) == std::vector<float>{-64.5f, 63, 0, 2});
  auto [code2, msg2] = error_of([&] {
    open(one_node("DequantizeLinear", {any("X", kInt8), any("S")}, {any("Y")}, {{"block_size", attr_int(32)}}, 21));
  });
  CHECK(code2 == ErrorCode::NotImplemented);
  CHECK(msg2.find("block_size") != std::string::npos);

  // ONNX's documented example: scale 5/255, zero point 153.
  auto dyn = open(one_node("DynamicQuantizeLinear", {any("X")}, {any("Y", kUInt8), any("S"), any("Z", kUInt8)}, {}, 11));
  auto out = dyn->run({"X"}, {f32({6}, {0, 2, -3, -2.5f, 1.34f, 0.5f})});
  CHECK(std::vector<uint8_t>(out[0].data<uint8_t>(), out[0].data<uint8_t>() + 6) == std::vector<uint8_t>{153, 255, 0, 26, 221, 179});
  CHECK(out[1].data<float>()[0] == doctest::Approx(5.0 / 255).epsilon(1e-6));
  CHECK(out[2].data<uint8_t>()[0] == 153);
  // Against std::nearbyint over 1000 values (tails of the 8-lane min/max and of the vector loop):
  // x in [-127.5, 127.5] makes the scale exactly 1 and the zero point 128 (127.5 ties to even), so
  // the halves among them are exact ties; the rest are random.
  {
    std::mt19937 rng(41);
    std::uniform_real_distribution<float> u(-127.5f, 127.5f);
    std::vector<float> xs(1003);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = i % 3 == 0 ? float(int(i % 255) - 127) + 0.5f : u(rng);
    xs[10] = -127.5f, xs[500] = 127.5f, xs[7] = -0.5f, xs[8] = 0.5f;
    auto q = dyn->run({"X"}, {f32({int64_t(xs.size())}, xs)});
    REQUIRE(q[1].data<float>()[0] == 1.0f);
    REQUIRE(q[2].data<uint8_t>()[0] == 128);
    bool same = true;
    for (size_t i = 0; i < xs.size(); ++i) same = same && q[0].data<uint8_t>()[i] == uint8_t(std::clamp(std::nearbyint(xs[i]) + 128.0f, 0.0f, 255.0f));
    CHECK(same);
    CHECK(q[0].data<uint8_t>()[7] == 128);  // -0.5 -> -0 -> 128
    CHECK(q[0].data<uint8_t>()[8] == 128);  // 0.5 -> 0
    CHECK(q[0].data<uint8_t>()[10] == 0);
    CHECK(q[0].data<uint8_t>()[500] == 255);
    // A NaN or an infinity past the vector loop's first lanes is still found and named.
    xs[998] = NAN;
    auto [nan_code, nan_msg] = error_of([&] { dyn->run({"X"}, {f32({int64_t(xs.size())}, xs)}); });
    CHECK(nan_code == ErrorCode::RuntimeError);
    CHECK(nan_msg.find("NaN at element 998") != std::string::npos);
    xs[998] = INFINITY;
    auto [inf_code, inf_msg] = error_of([&] { dyn->run({"X"}, {f32({int64_t(xs.size())}, xs)}); });
    CHECK(inf_msg.find("infinity") != std::string::npos);
  }

  // The graph ONNX Runtime's dynamic quantization writes for X [4, 16] x W [16, 8]: X quantized at
  // run time, W (uint8, zero point 128) as a constant, the int32 product scaled back to float.
  std::mt19937 rng(17);
  std::normal_distribution<float> nd(0, 1);
  Tensor x = Tensor::allocate(DType::Float32, {4, 16}), w = Tensor::allocate(DType::Float32, {16, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = nd(rng);
  float wmax = 0;
  for (int64_t i = 0; i < w.numel(); ++i) wmax = std::max(wmax, std::fabs(w.data<float>()[i] = nd(rng)));
  const float w_scale = wmax / 127;
  onnx::ModelSpec m;
  m.opsets = {{"", 13}};
  m.inputs = {any("X")};
  m.outputs = {any("Y")};
  onnx::TensorSpec wq{"Wq", kUInt8, {16, 8}, {}}, wz{"Wz", kUInt8, {}, {}}, ws{"Ws", kFloat, {}, {}};
  for (int64_t i = 0; i < w.numel(); ++i) wq.raw_data.push_back(char(uint8_t(std::lround(w.data<float>()[i] / w_scale) + 128)));
  wz.raw_data = std::string(1, char(128));
  ws.float_data = {w_scale};
  m.initializers = {wq, wz, ws};
  m.nodes = {{"DynamicQuantizeLinear", {"X"}, {"Xq", "Xs", "Xz"}, {}, "dql"},
             {"MatMulInteger", {"Xq", "Wq", "Xz", "Wz"}, {"P"}, {}, "mmi"},
             {"Cast", {"P"}, {"Pf"}, {{"to", attr_int(kFloat)}}, "cast"},
             {"Mul", {"Xs", "Ws"}, {"S"}, {}, "scales"},
             {"Mul", {"Pf", "S"}, {"Y"}, {}, "rescale"}};
  Tensor yq = open(m)->run({"X"}, {x})[0];
  REQUIRE(yq.shape() == Shape{4, 8});
  double worst = 0, xmax = 0;
  for (int64_t i = 0; i < x.numel(); ++i) xmax = std::max(xmax, double(std::fabs(x.data<float>()[i])));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 8; ++j) {
      double want = 0;
      for (int64_t k = 0; k < 16; ++k) want += double(x.data<float>()[i * 16 + k]) * w.data<float>()[k * 8 + j];
      worst = std::max(worst, std::fabs(yq.data<float>()[i * 8 + j] - want));
    }
  // Each of the 16 terms is off by at most half a step of X's scale times |w| plus half of W's times |x|.
  const double bound = 16 * (0.5 * (2 * xmax / 255) * wmax + 0.5 * w_scale * xmax) * 1.01;
  CHECK(worst < bound);
  CHECK(worst > 0);  // quantized: not the float product
}

TEST_CASE("Integer Add, Mul, CumSum and scatter reductions wrap modulo 2^bits, without undefined behaviour") {
  const int32_t big = std::numeric_limits<int32_t>::max();
  auto add = open(one_node("Add", {any("A", kInt32), any("B", kInt32)}, {any("C", kInt32)}, {}, 14));
  Tensor c = add->run({"A", "B"}, {typed<int32_t>(DType::Int32, {2}, {big, -big}), typed<int32_t>(DType::Int32, {2}, {1, -2})})[0];
  CHECK(c.data<int32_t>()[0] == std::numeric_limits<int32_t>::min());
  CHECK(c.data<int32_t>()[1] == big);
  // uint16 x uint16 is computed in int after promotion in C++, where 65535 * 65535 overflows.
  auto mul = open(one_node("Mul", {any("A", 4), any("B", 4)}, {any("C", 4)}, {}, 14));
  Tensor m = mul->run({"A", "B"}, {typed<uint16_t>(DType::UInt16, {1}, {65535}), typed<uint16_t>(DType::UInt16, {1}, {65535})})[0];
  CHECK(m.data<uint16_t>()[0] == 1);
  auto sc = open(one_node("ScatterElements", {any("D", kInt64), any("I", kInt64), any("U", kInt64)}, {any("Y", kInt64)},
                          {{"reduction", string_attribute("add")}}, 16));
  const int64_t top = std::numeric_limits<int64_t>::max();
  Tensor y = sc->run({"D", "I", "U"}, {typed<int64_t>(DType::Int64, {1}, {top}), i64({2}, {0, 0}), typed<int64_t>(DType::Int64, {2}, {1, 1})})[0];
  CHECK(y.data<int64_t>()[0] == std::numeric_limits<int64_t>::min() + 1);
  auto cs = open(one_node("CumSum", {any("X", kInt32), any("A", kInt64)}, {any("Y", kInt32)}, {}, 14));
  Tensor z = cs->run({"X", "A"}, {typed<int32_t>(DType::Int32, {2}, {big, 2}), i64({}, {0})})[0];
  CHECK(z.data<int32_t>()[1] == std::numeric_limits<int32_t>::min() + 1);
}
