// The C API, through libnormrt.so only (this test does not link the core).
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "normrt/normrt.h"

namespace {
std::string models() {
  const char* d = std::getenv("NORMRT_TEST_MODELS");
  REQUIRE_MESSAGE(d, "NORMRT_TEST_MODELS is not set (ctest sets it)");
  return d;
}

// Takes ownership of a status: returns its code and message, and frees it.
struct Status {
  explicit Status(normrt_status* s) : code(normrt_status_code(s)), message(normrt_status_message(s)) { normrt_status_release(s); }
  normrt_code code;
  std::string message;
  bool ok() const { return code == NORMRT_OK; }
};

normrt_session* open(const std::string& file, int threads = 1) {
  normrt_session_options* o = nullptr;
  REQUIRE(Status(normrt_session_options_create(&o)).ok());
  REQUIRE(Status(normrt_session_options_set_threads(o, threads)).ok());
  normrt_session* s = nullptr;
  Status st(normrt_session_create((models() + "/" + file).c_str(), o, &s));
  normrt_session_options_release(o);
  REQUIRE_MESSAGE(st.ok(), st.message);
  return s;
}
}  // namespace

TEST_CASE("C API: version and status basics") {
  CHECK(std::string(normrt_version()).find('.') != std::string::npos);
  CHECK(normrt_status_code(nullptr) == NORMRT_OK);
  CHECK(std::string(normrt_status_message(nullptr)).empty());
  normrt_status_release(nullptr);
}

TEST_CASE("C API: inputs and outputs with symbolic shapes") {
  normrt_session* s = open("layernorm_seed.onnx");
  size_t n = 0;
  REQUIRE(Status(normrt_session_input_count(s, &n)).ok());
  CHECK(n == 1);
  normrt_io_info info;
  REQUIRE(Status(normrt_session_input_info(s, 0, &info)).ok());
  CHECK(std::string(info.name) == "X");
  CHECK(info.type == NORMRT_TYPE_FLOAT);
  REQUIRE(info.rank == 2);
  CHECK(info.dims[0] == -1);
  CHECK(std::string(info.dim_names[0]) == "batch");
  CHECK(info.dims[1] == 8);
  REQUIRE(Status(normrt_session_output_count(s, &n)).ok());
  CHECK(n == 1);
  REQUIRE(Status(normrt_session_output_info(s, 0, &info)).ok());
  CHECK(std::string(info.name) == "Y");
  Status bad(normrt_session_input_info(s, 5, &info));
  CHECK(bad.code == NORMRT_INVALID_ARGUMENT);
  CHECK(bad.message.find("index 5 is out of range") != std::string::npos);
  normrt_session_release(s);
}

TEST_CASE("C API: the seed example, with copied and borrowed tensors") {
  normrt_session* s = open("layernorm_seed.onnx");
  float x[8] = {5, 5, 0, 0, 0, 0, 0, 0};
  const int64_t dims[2] = {1, 8};
  for (bool borrow : {false, true}) {
    normrt_tensor* in = nullptr;
    Status st(borrow ? normrt_tensor_borrow(NORMRT_TYPE_FLOAT, dims, 2, x, sizeof x, &in)
                     : normrt_tensor_create(NORMRT_TYPE_FLOAT, dims, 2, x, sizeof x, &in));
    REQUIRE(st.ok());
    if (borrow) CHECK(normrt_tensor_data(in) == static_cast<void*>(x));
    const char* in_name = "X";
    const char* out_name = "Y";
    normrt_tensor* out = nullptr;
    Status run(normrt_session_run(s, &in_name, &in, 1, &out_name, 1, &out));
    REQUIRE_MESSAGE(run.ok(), run.message);
    CHECK(normrt_tensor_type(out) == NORMRT_TYPE_FLOAT);
    CHECK(normrt_tensor_rank(out) == 2);
    CHECK(normrt_tensor_dims(out)[1] == 8);
    CHECK(normrt_tensor_element_count(out) == 8);
    CHECK(normrt_tensor_byte_size(out) == 32);
    const float* y = static_cast<const float*>(normrt_tensor_data(out));
    CHECK(y[0] == doctest::Approx(1.7320508).epsilon(1e-6));
    CHECK(y[5] == doctest::Approx(-0.5773503).epsilon(1e-6));
    normrt_tensor_release(out);
    normrt_tensor_release(in);
  }
  normrt_session_release(s);
}

TEST_CASE("C API: errors are statuses with messages, never crashes") {
  normrt_session* s = nullptr;
  Status missing(normrt_session_create("/nonexistent/model.onnx", nullptr, &s));
  CHECK(missing.code == NORMRT_IO_ERROR);
  CHECK(missing.message.find("/nonexistent/model.onnx") != std::string::npos);
  CHECK(s == nullptr);

  Status unsupported(normrt_session_create((models() + "/unsupported_op.onnx").c_str(), nullptr, &s));
  CHECK(unsupported.code == NORMRT_NOT_IMPLEMENTED);
  CHECK(unsupported.message.find("node 'mystery'") != std::string::npos);
  CHECK(unsupported.message.find("NoSuchOp") != std::string::npos);

  const char garbage[] = "definitely not protobuf \xff\xff\xff";
  Status bad(normrt_session_create_from_buffer(garbage, sizeof garbage, nullptr, &s));
  CHECK(bad.code == NORMRT_INVALID_MODEL);
  CHECK(Status(normrt_session_create_from_buffer(nullptr, 10, nullptr, &s)).code == NORMRT_INVALID_ARGUMENT);
  CHECK(Status(normrt_session_create(nullptr, nullptr, &s)).code == NORMRT_INVALID_ARGUMENT);
  CHECK(Status(normrt_session_create("x", nullptr, nullptr)).code == NORMRT_INVALID_ARGUMENT);

  normrt_session_options* o = nullptr;
  REQUIRE(Status(normrt_session_options_create(&o)).ok());
  Status isa(normrt_session_options_set_isa(o, "mmx"));
  CHECK(isa.code == NORMRT_INVALID_ARGUMENT);
  CHECK(isa.message.find("'mmx'") != std::string::npos);
  CHECK(Status(normrt_session_options_set_isa(o, "scalar")).ok());
  CHECK(Status(normrt_session_options_set_threads(o, -1)).code == NORMRT_INVALID_ARGUMENT);
  normrt_session_options_release(o);

  normrt_tensor* t = nullptr;
  const int64_t dims[2] = {2, 8};
  float small[4] = {};
  Status too_small(normrt_tensor_borrow(NORMRT_TYPE_FLOAT, dims, 2, small, sizeof small, &t));
  CHECK(too_small.code == NORMRT_INVALID_ARGUMENT);
  CHECK(too_small.message.find("too small") != std::string::npos);
  CHECK(t == nullptr);
  const int64_t neg[1] = {-1};
  CHECK(Status(normrt_tensor_create(NORMRT_TYPE_FLOAT, neg, 1, nullptr, 0, &t)).code == NORMRT_INVALID_ARGUMENT);
  CHECK(Status(normrt_tensor_create(static_cast<normrt_type>(8), dims, 2, nullptr, 0, &t)).code == NORMRT_INVALID_ARGUMENT);
  CHECK(Status(normrt_tensor_create(NORMRT_TYPE_FLOAT, dims, 2, small, sizeof small, &t)).code == NORMRT_INVALID_ARGUMENT);

  // Run-time mistakes.
  s = open("layernorm_seed.onnx");
  REQUIRE(Status(normrt_tensor_create(NORMRT_TYPE_FLOAT, dims, 2, nullptr, 0, &t)).ok());
  const char* wrong = "Q";
  const char* out_name = "Y";
  normrt_tensor* out = reinterpret_cast<normrt_tensor*>(0x1);
  Status r1(normrt_session_run(s, &wrong, &t, 1, &out_name, 1, &out));
  CHECK(r1.code == NORMRT_INVALID_ARGUMENT);
  CHECK(r1.message.find("'Q' is not an input") != std::string::npos);
  CHECK(out == nullptr);
  const char* in_name = "X";
  normrt_tensor* null_tensor = nullptr;
  CHECK(Status(normrt_session_run(s, &in_name, &null_tensor, 1, &out_name, 1, &out)).code == NORMRT_INVALID_ARGUMENT);
  normrt_tensor* i64 = nullptr;
  REQUIRE(Status(normrt_tensor_create(NORMRT_TYPE_INT64, dims, 2, nullptr, 0, &i64)).ok());
  Status r2(normrt_session_run(s, &in_name, &i64, 1, &out_name, 1, &out));
  CHECK(r2.message.find("element type int64") != std::string::npos);
  CHECK(Status(normrt_session_run(s, &in_name, &t, 1, &out_name, 0, &out)).code == NORMRT_INVALID_ARGUMENT);
  CHECK(Status(normrt_session_run(nullptr, &in_name, &t, 1, &out_name, 1, &out)).code == NORMRT_INVALID_ARGUMENT);
  normrt_tensor_release(i64);
  normrt_tensor_release(t);
  normrt_session_release(s);
}

TEST_CASE("C API: a session from a buffer, run from several threads at once") {
  std::ifstream f(models() + "/add_broadcast.onnx", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  normrt_session_options* o = nullptr;
  REQUIRE(Status(normrt_session_options_create(&o)).ok());
  REQUIRE(Status(normrt_session_options_set_threads(o, 2)).ok());
  normrt_session* s = nullptr;
  REQUIRE(Status(normrt_session_create_from_buffer(bytes.data(), bytes.size(), o, &s)).ok());
  normrt_session_options_release(o);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const int64_t batch = 1 + (t + i) % 5;
        std::vector<float> x(batch * 3, float(t)), y = {1, 2, 3};
        const int64_t xd[2] = {batch, 3}, yd[1] = {3};
        normrt_tensor *tx = nullptr, *ty = nullptr, *tz = nullptr;
        normrt_status_release(normrt_tensor_borrow(NORMRT_TYPE_FLOAT, xd, 2, x.data(), x.size() * 4, &tx));
        normrt_status_release(normrt_tensor_borrow(NORMRT_TYPE_FLOAT, yd, 1, y.data(), 12, &ty));
        const char* names[2] = {"X", "Y"};
        const char* out = "Z";
        const normrt_tensor* ins[2] = {tx, ty};
        normrt_status* st = normrt_session_run(s, names, ins, 2, &out, 1, &tz);
        if (st || normrt_tensor_dims(tz)[0] != batch || static_cast<float*>(normrt_tensor_data(tz))[batch * 3 - 1] != float(t) + 3)
          ++failures[t];
        normrt_status_release(st);
        normrt_tensor_release(tz);
        normrt_tensor_release(tx);
        normrt_tensor_release(ty);
      }
    });
  for (auto& th : threads) th.join();
  for (int f2 : failures) CHECK(f2 == 0);
  normrt_session_release(s);
}
