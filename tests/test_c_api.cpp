// The C API, through libnormrt.so only (this test does not link the core).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
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

TEST_CASE("C API: version numbers agree with the string and the header") {
  int major = -1, minor = -1, patch = -1;
  normrt_version_numbers(&major, &minor, &patch);
  CHECK(std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch) == normrt_version());
  CHECK(major == NORMRT_VERSION_MAJOR);
  CHECK(minor == NORMRT_VERSION_MINOR);
  normrt_version_numbers(nullptr, nullptr, nullptr);
}

TEST_CASE("C API: model metadata") {
  normrt_session* s = open("add_broadcast.onnx");
  normrt_model_metadata md;
  REQUIRE(Status(normrt_session_metadata(s, &md)).ok());
  CHECK(std::string(md.producer_name) == "normrt-test");
  CHECK(std::string(md.producer_version) == "1.2.3");
  CHECK(std::string(md.graph_name) == "add_broadcast");
  CHECK(std::string(md.description) == "Z = X + Y, Y broadcast over the batch");
  CHECK(md.model_version == 7);
  REQUIRE(md.property_count == 2);
  const char *key = nullptr, *value = nullptr;
  REQUIRE(Status(normrt_session_metadata_property(s, 1, &key, &value)).ok());
  CHECK(std::string(key) == "license");
  CHECK(std::string(value) == "MIT");
  Status bad(normrt_session_metadata_property(s, 2, &key, &value));
  CHECK(bad.code == NORMRT_INVALID_ARGUMENT);
  CHECK(bad.message.find("out of range") != std::string::npos);
  REQUIRE(Status(normrt_session_metadata_lookup(s, "author", &value)).ok());
  CHECK(std::string(value) == "normrt tests");
  REQUIRE(Status(normrt_session_metadata_lookup(s, "nope", &value)).ok());
  CHECK(value == nullptr);
  normrt_session_release(s);
}

namespace {
normrt_tensor* floats(const std::vector<int64_t>& dims, const std::vector<float>& v) {
  normrt_tensor* t = nullptr;
  REQUIRE(Status(normrt_tensor_create(NORMRT_TYPE_FLOAT, dims.data(), dims.size(), v.data(), v.size() * sizeof(float), &t)).ok());
  return t;
}
}  // namespace

TEST_CASE("C API: outputs bound to caller memory, checked for type and shape") {
  normrt_session* s = open("add_broadcast.onnx");
  normrt_tensor* x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  normrt_tensor* y = floats({3}, {10, 20, 30});
  const char* in_names[] = {"X", "Y"};
  const normrt_tensor* ins[] = {x, y};
  const char* out_names[] = {"Z"};
  std::vector<float> buffer(6, -1.0f);
  const int64_t dims[] = {2, 3};
  normrt_tensor* bound = nullptr;
  REQUIRE(Status(normrt_tensor_borrow(NORMRT_TYPE_FLOAT, dims, 2, buffer.data(), buffer.size() * sizeof(float), &bound)).ok());
  normrt_tensor* outs[] = {bound};
  Status st(normrt_session_run_with_options(s, nullptr, in_names, ins, 2, out_names, 1, outs));
  REQUIRE_MESSAGE(st.ok(), st.message);
  CHECK(outs[0] == bound);  // still the caller's tensor
  CHECK(buffer == std::vector<float>{11, 22, 33, 14, 25, 36});
  // Wrong shape and wrong type: clear errors naming the output, the buffer untouched.
  const int64_t wrong_dims[] = {3, 2};
  normrt_tensor* wrong = nullptr;
  REQUIRE(Status(normrt_tensor_borrow(NORMRT_TYPE_FLOAT, wrong_dims, 2, buffer.data(), buffer.size() * sizeof(float), &wrong)).ok());
  outs[0] = wrong;
  Status bad_shape(normrt_session_run_with_options(s, nullptr, in_names, ins, 2, out_names, 1, outs));
  CHECK(bad_shape.code == NORMRT_INVALID_ARGUMENT);
  CHECK(bad_shape.message.find("output 'Z' is float[2,3] but the buffer bound to it is float[3,2]") != std::string::npos);
  normrt_tensor* ints = nullptr;
  REQUIRE(Status(normrt_tensor_create(NORMRT_TYPE_INT32, dims, 2, nullptr, 0, &ints)).ok());
  outs[0] = ints;
  Status bad_type(normrt_session_run_with_options(s, nullptr, in_names, ins, 2, out_names, 1, outs));
  CHECK(bad_type.code == NORMRT_INVALID_ARGUMENT);
  CHECK(bad_type.message.find("int32") != std::string::npos);
  for (normrt_tensor* t : {x, y, bound, wrong, ints}) normrt_tensor_release(t);
  normrt_session_release(s);
}

TEST_CASE("C API: a run cancelled from another thread returns NORMRT_CANCELLED promptly") {
  normrt_session* s = open("tanh_chain.onnx");
  const int64_t n = 1 << 20;  // 400 passes over 4 MiB: far longer than the cancel delay below
  normrt_tensor* x = nullptr;
  REQUIRE(Status(normrt_tensor_create(NORMRT_TYPE_FLOAT, &n, 1, nullptr, 0, &x)).ok());
  normrt_run_options* ro = nullptr;
  REQUIRE(Status(normrt_run_options_create(&ro)).ok());
  const char* in_names[] = {"X"};
  const normrt_tensor* ins[] = {x};
  const char* out_names[] = {"Y"};
  normrt_tensor* outs[] = {nullptr};
  // A full run, for scale.
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(Status(normrt_session_run_with_options(s, ro, in_names, ins, 1, out_names, 1, outs)).ok());
  const double full_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  normrt_tensor_release(outs[0]);
  outs[0] = nullptr;
  // Cancelled a tenth of the way in.
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(full_ms / 10));
    normrt_run_options_cancel(ro);
  });
  t0 = std::chrono::steady_clock::now();
  Status st(normrt_session_run_with_options(s, ro, in_names, ins, 1, out_names, 1, outs));
  const double cancelled_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  canceller.join();
  CHECK(st.code == NORMRT_CANCELLED);
  CHECK(st.message.find("cancelled") != std::string::npos);
  CHECK(outs[0] == nullptr);
  INFO("full run " << full_ms << " ms, cancelled run " << cancelled_ms << " ms");
  CHECK(cancelled_ms < full_ms * 0.6);
  // The flag stays set until reset.
  CHECK(Status(normrt_session_run_with_options(s, ro, in_names, ins, 1, out_names, 1, outs)).code == NORMRT_CANCELLED);
  normrt_run_options_reset(ro);
  REQUIRE(Status(normrt_session_run_with_options(s, ro, in_names, ins, 1, out_names, 1, outs)).ok());
  normrt_tensor_release(outs[0]);
  normrt_run_options_release(ro);
  normrt_tensor_release(x);
  normrt_session_release(s);
}

namespace {
struct Captured {
  std::mutex mutex;
  std::vector<std::pair<normrt_log_level, std::string>> lines;
};
void capture(void* user, normrt_log_level level, const char* message) {
  auto* c = static_cast<Captured*>(user);
  std::lock_guard<std::mutex> lock(c->mutex);
  c->lines.emplace_back(level, message);
}
}  // namespace

TEST_CASE("C API: the log callback gets session summaries and failures at their levels") {
  Captured c;
  normrt_set_log_callback(capture, &c, NORMRT_LOG_INFO);
  normrt_session* s = open("layernorm_seed.onnx");
  normrt_session* none = nullptr;
  Status st(normrt_session_create((models() + "/unsupported_op.onnx").c_str(), nullptr, &none));
  normrt_set_log_callback(nullptr, nullptr, NORMRT_LOG_VERBOSE);
  normrt_session* quiet = open("layernorm_seed.onnx");  // after logging is off: nothing more arrives
  CHECK(st.code == NORMRT_NOT_IMPLEMENTED);
  bool summary = false, error = false;
  for (const auto& [level, text] : c.lines) {
    summary |= level == NORMRT_LOG_INFO && text.find("layernorm_seed.onnx: session ready") != std::string::npos;
    error |= level == NORMRT_LOG_ERROR && text.find("NoSuchOp") != std::string::npos;
  }
  CHECK(summary);
  CHECK(error);
  CHECK(c.lines.size() == 2);
  normrt_session_release(s);
  normrt_session_release(quiet);
}

TEST_CASE("C API: optimization levels give the same outputs; profiling writes a Chrome trace") {
  std::vector<float> first;
  for (normrt_optimization_level level : {NORMRT_OPTIMIZE_OFF, NORMRT_OPTIMIZE_BASIC, NORMRT_OPTIMIZE_ALL}) {
    normrt_session_options* o = nullptr;
    REQUIRE(Status(normrt_session_options_create(&o)).ok());
    REQUIRE(Status(normrt_session_options_set_optimization_level(o, level)).ok());
    REQUIRE(Status(normrt_session_options_set_profiling(o, 1)).ok());
    CHECK(Status(normrt_session_options_set_optimization_level(o, static_cast<normrt_optimization_level>(3))).code ==
          NORMRT_INVALID_ARGUMENT);
    normrt_session* s = nullptr;
    REQUIRE(Status(normrt_session_create((models() + "/layernorm_seed.onnx").c_str(), o, &s)).ok());
    normrt_session_options_release(o);
    normrt_tensor* x = floats({1, 8}, {5, 5, 0, 0, 0, 0, 0, 0});
    const char* in_names[] = {"X"};
    const normrt_tensor* ins[] = {x};
    const char* out_names[] = {"Y"};
    normrt_tensor* outs[] = {nullptr};
    REQUIRE(Status(normrt_session_run(s, in_names, ins, 1, out_names, 1, outs)).ok());
    const float* y = static_cast<const float*>(normrt_tensor_data(outs[0]));
    if (first.empty()) first.assign(y, y + 8);
    CHECK(std::vector<float>(y, y + 8) == first);
    const std::string path = std::string(std::getenv("NORMRT_TEST_MODELS")) + "/profile_" + std::to_string(int(level)) + ".json";
    REQUIRE(Status(normrt_session_write_profile(s, path.c_str())).ok());
    std::ifstream f(path);
    std::stringstream text;
    text << f.rdbuf();
    CHECK(text.str().find("\"traceEvents\"") != std::string::npos);
    CHECK(text.str().find("\"name\":\"ln\",\"cat\":\"LayerNormalization\",\"ph\":\"X\"") != std::string::npos);
    normrt_tensor_release(outs[0]);
    normrt_tensor_release(x);
    normrt_session_release(s);
  }
  CHECK(std::fabs(first[0] - 1.7320508f) < 1e-5f);
  normrt_session* plain = open("layernorm_seed.onnx");
  Status off(normrt_session_write_profile(plain, "/nonexistent/x.json"));
  CHECK(off.code == NORMRT_INVALID_ARGUMENT);
  CHECK(off.message.find("profiling is off") != std::string::npos);
  normrt_session_release(plain);
}
