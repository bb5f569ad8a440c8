// The ONNX loader: well-formed features and malformed files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "onnx/loader.h"
#include "test_util.h"

using namespace normrt;
using namespace normrt::test;
namespace fs = std::filesystem;

namespace {
onnx::ModelSpec identity_with_initializer(onnx::TensorSpec init) {
  onnx::ModelSpec m;
  m.outputs = {{"W_out", init.data_type, {}, false}};
  m.nodes = {{"Identity", {init.name}, {"W_out"}, {}, "id"}};
  m.initializers = {std::move(init)};
  return m;
}

Graph load(const onnx::ModelSpec& m, onnx::LoadOptions o = {}) {
  const std::string b = onnx::serialize_model(m);
  return onnx::load_model_buffer(b.data(), b.size(), o, "test.onnx");
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("normrt_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST_CASE("loader: inputs with symbolic dims, outputs, opsets") {
  onnx::ModelSpec m = one_node("Add", {{"A", 1, {std::string("batch"), int64_t(4)}}, {"B", 1, {int64_t(4)}}},
                               {{"C", 1, {std::string("batch"), int64_t(4)}}});
  m.opsets = {{"", 14}, {"com.microsoft", 1}};
  Graph g = load(m);
  REQUIRE(g.inputs.size() == 2);
  const Value& a = g.values[g.inputs[0]];
  CHECK(a.name == "A");
  CHECK(a.dtype == DType::Float32);
  REQUIRE(a.shape);
  CHECK_FALSE((*a.shape)[0].known());
  CHECK((*a.shape)[0].symbol == "batch");
  CHECK((*a.shape)[1].value == 4);
  CHECK(g.opset_for("") == 14);
  CHECK(g.opset_for("ai.onnx") == 14);
  CHECK(g.opset_for("com.microsoft") == 1);
  CHECK(g.nodes[0].inputs.size() == 2);
}

TEST_CASE("loader: initializers of every supported type, raw and typed") {
  SUBCASE("raw_data") {
    for (DType t : {DType::Float32, DType::Float16, DType::BFloat16, DType::Float64, DType::Int8, DType::UInt8,
                    DType::Int32, DType::Int64, DType::Bool, DType::Int16, DType::UInt16, DType::UInt32, DType::UInt64}) {
      Tensor v = Tensor::allocate(t, {2, 3});
      for (size_t i = 0; i < v.byte_size(); ++i) static_cast<uint8_t*>(v.raw())[i] = static_cast<uint8_t>(i * 7 % 2 + (t == DType::Bool ? 0 : i));
      Graph g = load(identity_with_initializer(onnx::tensor_spec("W", v)));
      const Tensor& w = *g.values[g.find_value("W")].constant;
      CHECK(w.dtype() == t);
      CHECK(w.shape() == Shape{2, 3});
      CHECK(std::memcmp(w.raw(), v.raw(), v.byte_size()) == 0);
    }
  }
  SUBCASE("typed fields") {
    onnx::TensorSpec f{"W", 1, {3}};
    f.float_data = {1.5f, -2, 3};
    CHECK(load(identity_with_initializer(f)).values[0].constant->data<float>()[1] == -2.0f);
    onnx::TensorSpec i64{"W", 7, {2}};
    i64.int64_data = {int64_t(1) << 40, -5};
    CHECK(load(identity_with_initializer(i64)).values[0].constant->data<int64_t>()[0] == int64_t(1) << 40);
    onnx::TensorSpec d{"W", 11, {1}};
    d.double_data = {0.125};
    CHECK(load(identity_with_initializer(d)).values[0].constant->data<double>()[0] == 0.125);
    onnx::TensorSpec h{"W", 10, {2}};  // float16 bits in int32_data
    h.int32_data = {0x3c00, 0xc000};
    const Graph hg = load(identity_with_initializer(h));  // keep the graph alive while reading
    const Tensor& ht = *hg.values[0].constant;
    CHECK(ht.double_at(0) == 1.0);
    CHECK(ht.double_at(1) == -2.0);
    onnx::TensorSpec bf{"W", 16, {1}};
    bf.int32_data = {0x3f80};
    CHECK(load(identity_with_initializer(bf)).values[0].constant->double_at(0) == 1.0);
    onnx::TensorSpec i8{"W", 3, {2}};
    i8.int32_data = {-3, 100};
    CHECK(load(identity_with_initializer(i8)).values[0].constant->int_at(0) == -3);
    onnx::TensorSpec b{"W", 9, {3}};
    b.int32_data = {1, 0, 1};
    CHECK(load(identity_with_initializer(b)).values[0].constant->int_at(2) == 1);
  }
}

TEST_CASE("loader: attributes of every kind reach the IR") {
  onnx::ModelSpec m = one_node("Identity", {{"X", 1, {int64_t(2)}}}, {{"Y", 1, {int64_t(2)}}});
  Attribute s;
  s.kind = Attribute::Kind::String;
  s.s = "tanh";
  Attribute fl;
  fl.kind = Attribute::Kind::Floats;
  fl.floats = {0.5f, 2};
  Attribute ss;
  ss.kind = Attribute::Kind::Strings;
  ss.strings = {"a", "b"};
  m.nodes[0].attributes = {{"i", attr_int(-3)}, {"f", attr_float(0.25f)}, {"s", s}, {"is", attr_ints({1, 2, 3})},
                           {"fs", fl}, {"ss", ss}, {"t", attr_tensor(f32({2}, {1, 2}))}};
  Graph g = load(m);
  const Node& n = g.nodes[0];
  CHECK(n.attr_int("i", 0) == -3);
  CHECK(n.attr_float("f", 0) == 0.25f);
  CHECK(n.attr_string("s", "") == "tanh");
  CHECK(n.attr_ints("is") == std::vector<int64_t>{1, 2, 3});
  CHECK(n.attr_floats("fs") == std::vector<float>{0.5f, 2});
  CHECK(n.find_attribute("ss")->strings.size() == 2);
  CHECK(n.find_attribute("t")->t->data<float>()[1] == 2.0f);
  CHECK(n.attr_int("missing", 42) == 42);
  auto [code, msg] = error_of([&] { n.attr_int("f", 0); });
  CHECK(code == ErrorCode::InvalidModel);
  CHECK(msg.find("'f' must be of type int") != std::string::npos);
  CHECK(msg.find("node 'the_Identity'") != std::string::npos);
}

TEST_CASE("loader: malformed files give clear errors") {
  const std::string good = onnx::serialize_model(one_node("Add", {{"A", 1, {int64_t(2)}}, {"B", 1, {int64_t(2)}}}, {{"C", 1, {int64_t(2)}}}));
  SUBCASE("empty") {
    auto [code, msg] = error_of([&] { onnx::load_model_buffer(good.data(), 0, {}, "empty.onnx"); });
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(msg.find("empty.onnx") != std::string::npos);
    CHECK(msg.find("empty") != std::string::npos);
  }
  SUBCASE("truncated at every offset never crashes") {
    int errors = 0;
    for (size_t len = 1; len < good.size(); ++len) {
      try {
        onnx::load_model_buffer(good.data(), len, {}, "cut.onnx");
      } catch (const Error& e) {
        ++errors;
        CHECK(std::string(e.what()).find("cut.onnx") != std::string::npos);
        continue;
      }
      // A prefix that still parses must give a working session or a clean error.
      try {
        onnx::open_session(good.data(), len);
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find("<buffer>") != std::string::npos);
      }
    }
    CHECK(errors > 0);
  }
  SUBCASE("garbage bytes") {
    std::string garbage(256, '\xff');
    auto [code, msg] = error_of([&] { onnx::load_model_buffer(garbage.data(), garbage.size(), {}, "garbage.onnx"); });
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(msg.find("not a valid ONNX model") != std::string::npos);
  }
  SUBCASE("raw_data shorter or longer than the dims need") {
    for (size_t bytes : {size_t(8), size_t(16)}) {
      onnx::TensorSpec t{"W", 1, {3}};
      t.raw_data.assign(bytes, '\0');
      auto [code, msg] = error_of([&] { load(identity_with_initializer(t)); });
      CHECK(code == ErrorCode::InvalidModel);
      CHECK(msg.find("initializer 'W'") != std::string::npos);
      CHECK(msg.find("raw_data has " + std::to_string(bytes) + " bytes") != std::string::npos);
    }
  }
  SUBCASE("typed field count differs from dims") {
    onnx::TensorSpec t{"W", 1, {3}};
    t.float_data = {1, 2};
    auto [code, msg] = error_of([&] { load(identity_with_initializer(t)); });
    CHECK(msg.find("float_data has 2 values") != std::string::npos);
  }
  SUBCASE("dims whose product overflows int64") {
    onnx::TensorSpec t{"W", 1, {int64_t(1) << 40, int64_t(1) << 40}};
    auto [code, msg] = error_of([&] { load(identity_with_initializer(t)); });
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(msg.find("overflows") != std::string::npos);
    CHECK(msg.find("'W'") != std::string::npos);
  }
  SUBCASE("negative dims") {
    onnx::TensorSpec t{"W", 1, {-2}};
    auto [code, msg] = error_of([&] { load(identity_with_initializer(t)); });
    CHECK(msg.find("negative dimension") != std::string::npos);
  }
  SUBCASE("tensor bigger than the configured cap") {
    onnx::TensorSpec t{"W", 1, {1000}};
    t.raw_data.assign(4000, '\0');
    onnx::LoadOptions o;
    o.max_tensor_bytes = 1000;
    auto [code, msg] = error_of([&] { load(identity_with_initializer(t), o); });
    CHECK(code == ErrorCode::OutOfMemory);
    CHECK(msg.find("above the limit") != std::string::npos);
  }
  SUBCASE("unsupported element type") {
    onnx::TensorSpec t{"W", 8, {1}};  // string
    auto [code, msg] = error_of([&] { load(identity_with_initializer(t)); });
    CHECK(code == ErrorCode::NotImplemented);
    CHECK(msg.find("string") != std::string::npos);
  }
  SUBCASE("a node input nothing produces") {
    onnx::ModelSpec m = one_node("Add", {{"A", 1, {int64_t(2)}}}, {{"C", 1, {int64_t(2)}}});
    m.nodes[0].inputs = {"A", "ghost"};
    auto [code, msg] = error_of([&] { load(m); });
    CHECK(msg.find("input 'ghost' is not produced") != std::string::npos);
    CHECK(msg.find("the_Add") != std::string::npos);
  }
  SUBCASE("duplicate tensor names") {
    onnx::ModelSpec m = one_node("Identity", {{"A", 1, {int64_t(2)}}}, {{"A", 1, {int64_t(2)}}});
    auto [code, msg] = error_of([&] { load(m); });
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(msg.find("'A' is already defined") != std::string::npos);
  }
  SUBCASE("graph output nothing produces") {
    onnx::ModelSpec m = one_node("Identity", {{"A", 1, {int64_t(2)}}}, {{"B", 1, {int64_t(2)}}});
    m.outputs.push_back({"nowhere", 1, {int64_t(2)}});
    auto [code, msg] = error_of([&] { load(m); });
    CHECK(msg.find("graph output 'nowhere'") != std::string::npos);
  }
  SUBCASE("non-tensor graph input is refused as unsupported") {
    // A ValueSpec cannot express a sequence; a string-typed input stands for an unsupported type.
    onnx::ModelSpec m = one_node("Identity", {{"A", 8, {int64_t(2)}}}, {{"B", 8, {int64_t(2)}}});
    auto [code, msg] = error_of([&] { load(m); });
    CHECK(code == ErrorCode::NotImplemented);
    CHECK(msg.find("graph input 'A'") != std::string::npos);
  }
}

TEST_CASE("loader: external data") {
  const fs::path dir = temp_dir("external");
  {
    std::ofstream f(dir / "weights.bin", std::ios::binary);
    const float vals[4] = {0, 1.5f, -2.5f, 4};
    f.write(reinterpret_cast<const char*>(vals), sizeof vals);
  }
  auto model_with = [&](std::vector<std::pair<std::string, std::string>> ext, int64_t n = 2) {
    onnx::TensorSpec t{"W", 1, {n}};
    t.external = std::move(ext);
    onnx::save_model(identity_with_initializer(t), (dir / "model.onnx").string());
    return (dir / "model.onnx").string();
  };
  SUBCASE("location, offset and length relative to the model folder") {
    Graph g = onnx::load_model_file(model_with({{"location", "weights.bin"}, {"offset", "4"}, {"length", "8"}}));
    const Tensor& w = *g.values[g.find_value("W")].constant;
    CHECK(w.data<float>()[0] == 1.5f);
    CHECK(w.data<float>()[1] == -2.5f);
  }
  SUBCASE("absolute location is refused") {
    auto [code, msg] = error_of([&] { onnx::load_model_file(model_with({{"location", (dir / "weights.bin").string()}})); });
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(msg.find("is absolute") != std::string::npos);
    CHECK(msg.find("initializer 'W'") != std::string::npos);
  }
  SUBCASE("location escaping the folder is refused") {
    auto [code, msg] = error_of([&] { onnx::load_model_file(model_with({{"location", "../weights.bin"}})); });
    CHECK(msg.find("escapes the model's folder") != std::string::npos);
  }
  SUBCASE("a symlink pointing out of the folder is refused") {
    const fs::path outside = temp_dir("outside");
    std::ofstream(outside / "secret.bin") << "01234567";
    fs::create_symlink(outside / "secret.bin", dir / "link.bin");
    auto [code, msg] = error_of([&] { onnx::load_model_file(model_with({{"location", "link.bin"}})); });
    CHECK(msg.find("resolves outside") != std::string::npos);
    fs::remove_all(outside);
  }
  SUBCASE("range past the end of the file") {
    auto [code, msg] = error_of([&] { onnx::load_model_file(model_with({{"location", "weights.bin"}, {"offset", "12"}})); });
    CHECK(code == ErrorCode::InvalidModel);
    CHECK(msg.find("past the end") != std::string::npos);
  }
  SUBCASE("length disagreeing with dims") {
    auto [code, msg] = error_of([&] { onnx::load_model_file(model_with({{"location", "weights.bin"}, {"length", "12"}})); });
    CHECK(msg.find("does not match") != std::string::npos);
  }
  SUBCASE("missing file") {
    auto [code, msg] = error_of([&] { onnx::load_model_file(model_with({{"location", "nope.bin"}})); });
    CHECK(code == ErrorCode::IoError);
  }
  SUBCASE("from memory without a folder") {
    onnx::TensorSpec t{"W", 1, {2}};
    t.external = {{"location", "weights.bin"}};
    auto [code, msg] = error_of([&] { load(identity_with_initializer(t)); });
    CHECK(msg.find("loaded from memory") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("loader: tensor files round-trip") {
  const fs::path dir = temp_dir("tensorfile");
  Tensor t = f32({2, 2}, {1, 2, 3, 4});
  onnx::save_tensor_file(t, "x", (dir / "x.pb").string());
  std::string name;
  Tensor r = onnx::load_tensor_file((dir / "x.pb").string(), &name);
  CHECK(name == "x");
  CHECK(r.shape() == Shape{2, 2});
  CHECK(r.data<float>()[3] == 4.0f);
  auto [code, msg] = error_of([&] { onnx::load_tensor_file((dir / "missing.pb").string()); });
  CHECK(code == ErrorCode::IoError);
  fs::remove_all(dir);
}
