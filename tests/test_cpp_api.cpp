// The C++ wrapper (include/normrt/normrt.hpp), through libnormrt.so only.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "normrt/normrt.hpp"

namespace {
std::string model(const char* file) {
  const char* d = std::getenv("NORMRT_TEST_MODELS");
  REQUIRE_MESSAGE(d, "NORMRT_TEST_MODELS is not set (ctest sets it)");
  return std::string(d) + "/" + file;
}
}  // namespace

TEST_CASE("C++: the seed example, inputs described, outputs by name and all") {
  normrt::Session s(model("layernorm_seed.onnx"), normrt::SessionOptions().threads(1));
  const auto ins = s.inputs();
  REQUIRE(ins.size() == 1);
  CHECK(ins[0].name == "X");
  CHECK(ins[0].type == NORMRT_TYPE_FLOAT);
  CHECK(ins[0].dims == std::vector<int64_t>{-1, 8});
  CHECK(ins[0].dim_names[0] == "batch");
  std::vector<float> x{5, 5, 0, 0, 0, 0, 0, 0};
  auto y = s.run({{"X", normrt::Tensor::borrow(x.data(), {1, 8})}}, {"Y"});
  REQUIRE(y.size() == 1);
  CHECK(y[0].dims() == std::vector<int64_t>{1, 8});
  const std::vector<float> v = y[0].to_vector<float>();
  CHECK(std::fabs(v[0] - 1.7320508f) < 1e-5f);
  CHECK(std::fabs(v[2] + 0.57735026f) < 1e-5f);
  auto all = s.run({{"X", normrt::Tensor::copy(x, {1, 8})}});  // every output
  CHECK(all.size() == 1);
  CHECK_THROWS_AS(y[0].data<int64_t>(), normrt::Error);  // wrong element type
}

TEST_CASE("C++: errors are exceptions with the C API's code and message") {
  try {
    normrt::Session s(model("unsupported_op.onnx"));
    FAIL("no exception");
  } catch (const normrt::Error& e) {
    CHECK(e.code() == NORMRT_NOT_IMPLEMENTED);
    CHECK(std::string(e.what()).find("NoSuchOp") != std::string::npos);
  }
  normrt::Session s(model("layernorm_seed.onnx"));
  std::vector<float> x(6, 1.0f);
  try {
    s.run({{"X", normrt::Tensor::copy(x, {2, 3})}});
    FAIL("no exception");
  } catch (const normrt::Error& e) {
    CHECK(e.code() == NORMRT_INVALID_ARGUMENT);
    CHECK(std::string(e.what()).find("'X'") != std::string::npos);
  }
  CHECK_THROWS_AS(normrt::SessionOptions().isa("sse9"), normrt::Error);
  CHECK_THROWS_AS(normrt::Tensor::copy(std::vector<float>(3), {2, 2}), normrt::Error);
}

TEST_CASE("C++: metadata, bound outputs, cancellation, profiling, logging") {
  normrt::Session s(model("add_broadcast.onnx"), normrt::SessionOptions().threads(1).optimization(NORMRT_OPTIMIZE_BASIC).profiling(true));
  const normrt::ModelMetadata md = s.metadata();
  CHECK(md.producer_version == "1.2.3");
  CHECK(md.model_version == 7);
  REQUIRE(md.properties.size() == 2);
  CHECK(md.properties[0] == std::make_pair(std::string("author"), std::string("normrt tests")));

  std::vector<float> x{1, 2, 3, 4, 5, 6}, y{10, 20, 30}, z(6, 0.0f);
  normrt::Tensor tx = normrt::Tensor::borrow(x.data(), {2, 3}), ty = normrt::Tensor::borrow(y.data(), {3});
  std::vector<normrt::Tensor> bound;
  bound.push_back(normrt::Tensor::borrow(z.data(), {2, 3}));
  s.run_into({{"X", &tx}, {"Y", &ty}}, {"Z"}, bound);
  CHECK(z == std::vector<float>{11, 22, 33, 14, 25, 36});
  std::vector<normrt::Tensor> fresh(1);  // an empty entry gets a new tensor
  s.run_into({{"X", &tx}, {"Y", &ty}}, {"Z"}, fresh);
  CHECK(fresh[0].to_vector<float>() == z);

  normrt::RunOptions ro;
  ro.cancel();
  try {
    s.run({{"X", &tx}, {"Y", &ty}}, {}, &ro);
    FAIL("no exception");
  } catch (const normrt::Error& e) {
    CHECK(e.code() == NORMRT_CANCELLED);
  }
  ro.reset();
  CHECK(s.run({{"X", &tx}, {"Y", &ty}}, {}, &ro).size() == 1);

  const std::string trace = model("cpp_profile.json");
  s.write_profile(trace);
  FILE* f = std::fopen(trace.c_str(), "rb");
  REQUIRE(f);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), f));
  std::fclose(f);
  CHECK(text.find("\"cat\":\"Add\"") != std::string::npos);

  std::vector<std::string> lines;
  normrt::set_logger([&](normrt_log_level, const std::string& m) { lines.push_back(m); }, NORMRT_LOG_INFO);
  { normrt::Session again(model("add_broadcast.onnx"), normrt::SessionOptions().threads(1)); }
  normrt::set_logger(nullptr);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("session ready") != std::string::npos);
}

TEST_CASE("C++: one session run from several threads gives the same bits") {
  normrt::Session s(model("layernorm_seed.onnx"), normrt::SessionOptions().threads(1));
  std::vector<float> x(64 * 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * float(i)) * 100.0f;
  const normrt::Tensor in = normrt::Tensor::borrow(x.data(), {64, 8});
  const std::vector<float> want = s.run({{"X", &in}})[0].to_vector<float>();
  std::vector<int> same(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 50; ++r) same[t] += s.run({{"X", &in}})[0].to_vector<float>() == want;
    });
  for (auto& th : threads) th.join();
  for (int c : same) CHECK(c == 50);
}
