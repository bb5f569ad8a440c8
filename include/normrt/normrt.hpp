// normrt for C++: a header-only wrapper over the C API (normrt.h). Objects own their C handles
// (RAII, move-only); a failing call throws normrt::Error carrying the status code and message.
// The thread rules are the C API's: a Session may be run from several threads at once; other
// objects are not to be modified from two threads at the same time.
//
//   normrt::Session s("model.onnx", normrt::SessionOptions().threads(2));
//   std::vector<float> x(8, 1.0f);
//   auto y = s.run({{"X", normrt::Tensor::borrow(x.data(), {1, 8})}}, {"Y"});
//   const float* p = y[0].data<float>();
#ifndef NORMRT_NORMRT_HPP
#define NORMRT_NORMRT_HPP

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "normrt/normrt.h"

namespace normrt {

class Error : public std::runtime_error {
 public:
  Error(normrt_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  normrt_code code() const noexcept { return code_; }

 private:
  normrt_code code_;
};

namespace detail {
// Throws for a failed status, releasing it either way.
inline void check(normrt_status* status) {
  if (!status) return;
  const normrt_code code = normrt_status_code(status);
  std::string message = normrt_status_message(status);
  normrt_status_release(status);
  throw Error(code, message);
}
// Calls a C API constructor make(&out) and returns what it made; throws on failure.
template <class T, class F>
T* create(F&& make) {
  T* out = nullptr;
  check(make(&out));
  return out;
}
template <class T, void (*Release)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Release(p); }
};
template <class T, void (*Release)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Release>>;

template <class T> struct TypeOf;
template <> struct TypeOf<float> { static constexpr normrt_type value = NORMRT_TYPE_FLOAT; };
template <> struct TypeOf<double> { static constexpr normrt_type value = NORMRT_TYPE_DOUBLE; };
template <> struct TypeOf<int64_t> { static constexpr normrt_type value = NORMRT_TYPE_INT64; };
template <> struct TypeOf<int32_t> { static constexpr normrt_type value = NORMRT_TYPE_INT32; };
template <> struct TypeOf<int8_t> { static constexpr normrt_type value = NORMRT_TYPE_INT8; };
template <> struct TypeOf<uint8_t> { static constexpr normrt_type value = NORMRT_TYPE_UINT8; };
template <> struct TypeOf<bool> { static constexpr normrt_type value = NORMRT_TYPE_BOOL; };
}  // namespace detail

inline std::string version() { return normrt_version(); }

// Process-wide logging to a callable; pass an empty function to turn it off. The callable is
// kept until replaced and may be called from any thread.
inline void set_logger(std::function<void(normrt_log_level, const std::string&)> fn, normrt_log_level min_level = NORMRT_LOG_INFO);

class SessionOptions {
 public:
  SessionOptions() : h_(detail::create<normrt_session_options>(normrt_session_options_create)) {}
  SessionOptions& threads(int n) { return detail::check(normrt_session_options_set_threads(h_.get(), n)), *this; }
  SessionOptions& isa(const std::string& name) { return detail::check(normrt_session_options_set_isa(h_.get(), name.c_str())), *this; }
  SessionOptions& optimization(normrt_optimization_level level) {
    return detail::check(normrt_session_options_set_optimization_level(h_.get(), level)), *this;
  }
  SessionOptions& profiling(bool on) { return detail::check(normrt_session_options_set_profiling(h_.get(), on ? 1 : 0)), *this; }
  const normrt_session_options* get() const { return h_.get(); }

 private:
  detail::Handle<normrt_session_options, normrt_session_options_release> h_;
};

// A tensor: owning (a copy) or borrowing caller memory, which must outlive it.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(normrt_tensor* adopt) : h_(adopt) {}

  template <class T>
  static Tensor copy(const T* data, const std::vector<int64_t>& dims) {
    return Tensor(detail::create<normrt_tensor>([&](normrt_tensor** t) {
      return normrt_tensor_create(detail::TypeOf<T>::value, dims.data(), dims.size(), data, count(dims) * sizeof(T), t);
    }));
  }
  template <class T>
  static Tensor copy(const std::vector<T>& data, const std::vector<int64_t>& dims) {
    if (data.size() != count(dims)) throw Error(NORMRT_INVALID_ARGUMENT, "normrt::Tensor::copy: " + std::to_string(data.size()) +
                                                                            " values for " + std::to_string(count(dims)) + " elements");
    return copy(data.data(), dims);
  }
  static Tensor zeros(normrt_type type, const std::vector<int64_t>& dims) {
    return Tensor(detail::create<normrt_tensor>(
        [&](normrt_tensor** t) { return normrt_tensor_create(type, dims.data(), dims.size(), nullptr, 0, t); }));
  }
  template <class T>
  static Tensor borrow(T* data, const std::vector<int64_t>& dims) {
    return Tensor(detail::create<normrt_tensor>([&](normrt_tensor** t) {
      return normrt_tensor_borrow(detail::TypeOf<T>::value, dims.data(), dims.size(), const_cast<std::remove_const_t<T>*>(data),
                                  count(dims) * sizeof(T), t);
    }));
  }

  explicit operator bool() const { return h_ != nullptr; }
  normrt_type type() const { return normrt_tensor_type(h_.get()); }
  std::vector<int64_t> dims() const {
    const int64_t* d = normrt_tensor_dims(h_.get());
    return std::vector<int64_t>(d, d + normrt_tensor_rank(h_.get()));
  }
  int64_t size() const { return normrt_tensor_element_count(h_.get()); }
  size_t byte_size() const { return normrt_tensor_byte_size(h_.get()); }
  // Typed access; throws if T is not the element type.
  template <class T>
  T* data() {
    expect<T>();
    return static_cast<T*>(normrt_tensor_data(h_.get()));
  }
  template <class T>
  const T* data() const {
    expect<T>();
    return static_cast<const T*>(normrt_tensor_data(h_.get()));
  }
  template <class T>
  std::vector<T> to_vector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + size());
  }
  normrt_tensor* get() const { return h_.get(); }
  normrt_tensor* release() { return h_.release(); }

 private:
  static size_t count(const std::vector<int64_t>& dims) {
    size_t n = 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d < 0 ? 0 : d);
    return n;
  }
  template <class T>
  void expect() const {
    if (!h_) throw Error(NORMRT_INVALID_ARGUMENT, "normrt::Tensor: empty tensor");
    if (type() != detail::TypeOf<std::remove_const_t<T>>::value)
      throw Error(NORMRT_INVALID_ARGUMENT, "normrt::Tensor: element type is " + std::to_string(int(type())) + ", not the one asked for");
  }
  detail::Handle<normrt_tensor, normrt_tensor_release> h_;
};

// Per-run controls; cancel() may be called from any thread while runs are in flight.
class RunOptions {
 public:
  RunOptions() : h_(detail::create<normrt_run_options>(normrt_run_options_create)) {}
  void cancel() { normrt_run_options_cancel(h_.get()); }
  void reset() { normrt_run_options_reset(h_.get()); }
  const normrt_run_options* get() const { return h_.get(); }

 private:
  detail::Handle<normrt_run_options, normrt_run_options_release> h_;
};

// A named run input: {"X", tensor} or {"X", &tensor}. It refers to the tensor, which must live
// through the run (a temporary in the call's braces does).
struct Input {
  Input(std::string n, const Tensor& t) : name(std::move(n)), tensor(&t) {}
  Input(std::string n, const Tensor* t) : name(std::move(n)), tensor(t) {}
  std::string name;
  const Tensor* tensor;
};

struct IoInfo {
  std::string name;
  normrt_type type = NORMRT_TYPE_UNDEFINED;
  bool rank_known = false;
  std::vector<int64_t> dims;           // -1 where not fixed
  std::vector<std::string> dim_names;  // the symbolic name there ("batch"), else ""
};

struct ModelMetadata {
  std::string producer_name, producer_version, graph_name, domain, description;
  int64_t model_version = 0;
  std::vector<std::pair<std::string, std::string>> properties;
};

class Session {
 public:
  explicit Session(const std::string& model_path, const SessionOptions& options = SessionOptions())
      : h_(detail::create<normrt_session>([&](normrt_session** s) { return normrt_session_create(model_path.c_str(), options.get(), s); })) {}
  Session(const void* data, size_t size, const SessionOptions& options = SessionOptions())
      : h_(detail::create<normrt_session>(
            [&](normrt_session** s) { return normrt_session_create_from_buffer(data, size, options.get(), s); })) {}

  std::vector<IoInfo> inputs() const { return infos(true); }
  std::vector<IoInfo> outputs() const { return infos(false); }

  ModelMetadata metadata() const {
    normrt_model_metadata m;
    detail::check(normrt_session_metadata(h_.get(), &m));
    ModelMetadata r{m.producer_name, m.producer_version, m.graph_name, m.domain, m.description, m.model_version, {}};
    for (size_t i = 0; i < m.property_count; ++i) {
      const char *k = nullptr, *v = nullptr;
      detail::check(normrt_session_metadata_property(h_.get(), i, &k, &v));
      r.properties.emplace_back(k, v);
    }
    return r;
  }

  // Runs with named inputs; returns the named outputs (all model outputs when `outputs` is empty).
  std::vector<Tensor> run(const std::vector<Input>& inputs, std::vector<std::string> outputs = {},
                          const RunOptions* options = nullptr) const {
    std::vector<Tensor> none;
    return run_bound(inputs, std::move(outputs), none, options);
  }
  // Writes output i into bound[i] (its type and dims must be the output's); empty entries of
  // `bound` are filled with new tensors.
  void run_into(const std::vector<Input>& inputs, const std::vector<std::string>& outputs,
                std::vector<Tensor>& bound, const RunOptions* options = nullptr) const {
    std::vector<Tensor> r = run_bound(inputs, outputs, bound, options);
    for (size_t i = 0; i < r.size(); ++i)
      if (r[i]) bound[i] = std::move(r[i]);
  }

  void write_profile(const std::string& path) const { detail::check(normrt_session_write_profile(h_.get(), path.c_str())); }
  const normrt_session* get() const { return h_.get(); }

 private:
  std::vector<IoInfo> infos(bool input) const {
    size_t n = 0;
    detail::check(input ? normrt_session_input_count(h_.get(), &n) : normrt_session_output_count(h_.get(), &n));
    std::vector<IoInfo> r;
    for (size_t i = 0; i < n; ++i) {
      normrt_io_info info;
      detail::check(input ? normrt_session_input_info(h_.get(), i, &info) : normrt_session_output_info(h_.get(), i, &info));
      IoInfo io{info.name, info.type, info.rank >= 0, {}, {}};
      for (int64_t d = 0; d < info.rank; ++d) io.dims.push_back(info.dims[d]), io.dim_names.emplace_back(info.dim_names[d]);
      r.push_back(std::move(io));
    }
    return r;
  }

  // New tensors for the outputs not bound; bound ones come back empty (the caller keeps them).
  std::vector<Tensor> run_bound(const std::vector<Input>& inputs, std::vector<std::string> outputs,
                                const std::vector<Tensor>& bound, const RunOptions* options) const {
    if (outputs.empty())
      for (const IoInfo& o : infos(false)) outputs.push_back(o.name);
    if (!bound.empty() && bound.size() != outputs.size())
      throw Error(NORMRT_INVALID_ARGUMENT, "normrt::Session::run_into: " + std::to_string(bound.size()) + " bound tensors for " +
                                               std::to_string(outputs.size()) + " outputs");
    std::vector<const char*> in_names, out_names;
    std::vector<const normrt_tensor*> in_tensors;
    for (const Input& in : inputs) {
      in_names.push_back(in.name.c_str());
      in_tensors.push_back(in.tensor ? in.tensor->get() : nullptr);
    }
    for (const std::string& o : outputs) out_names.push_back(o.c_str());
    std::vector<normrt_tensor*> out(outputs.size(), nullptr);
    for (size_t i = 0; i < bound.size(); ++i) out[i] = bound[i].get();
    detail::check(normrt_session_run_with_options(h_.get(), options ? options->get() : nullptr, in_names.data(), in_tensors.data(),
                                                  in_names.size(), out_names.data(), out_names.size(), out.data()));
    std::vector<Tensor> r(outputs.size());
    for (size_t i = 0; i < out.size(); ++i)
      if (!(i < bound.size() && bound[i])) r[i] = Tensor(out[i]);
    return r;
  }

  detail::Handle<normrt_session, normrt_session_release> h_;
};

namespace detail {
inline void forward_log(void* user, normrt_log_level level, const char* message) {
  (*static_cast<std::function<void(normrt_log_level, const std::string&)>*>(user))(level, message);
}
}  // namespace detail

inline void set_logger(std::function<void(normrt_log_level, const std::string&)> fn, normrt_log_level min_level) {
  if (!fn) {
    normrt_set_log_callback(nullptr, nullptr, min_level);
    return;
  }
  // Every callable handed over stays alive (and reachable) for the process: a message in flight on
  // another thread may still be using the previous one when it is replaced.
  using Fn = std::function<void(normrt_log_level, const std::string&)>;
  static std::mutex mutex;
  static auto* kept = new std::vector<std::unique_ptr<Fn>>();
  Fn* holder;
  {
    std::lock_guard<std::mutex> lock(mutex);
    kept->push_back(std::make_unique<Fn>(std::move(fn)));
    holder = kept->back().get();
  }
  normrt_set_log_callback(detail::forward_log, holder, min_level);
}

}  // namespace normrt

#endif  // NORMRT_NORMRT_HPP
