// The C API: thin wrappers that turn every exception into a status object.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "normrt/normrt.h"
#include "onnx/session_factory.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/profile.h"

#ifndef NORMRT_VERSION_STRING
#define NORMRT_VERSION_STRING "0.0.0"
#endif

struct normrt_status {
  normrt_code code;
  std::string message;
};

struct normrt_session_options {
  normrt::SessionOptions options;
};

struct normrt_session {
  std::unique_ptr<normrt::Session> session;
  // Storage behind the normrt_io_info pointers handed out.
  struct IoStrings {
    std::vector<int64_t> dims;
    std::vector<std::string> dim_names;
    std::vector<const char*> dim_name_ptrs;
  };
  std::vector<IoStrings> input_info, output_info;
};

struct normrt_tensor {
  normrt::Tensor tensor;
};

struct normrt_run_options {
  std::atomic<bool> cancel{false};
};

namespace {

// Returned when even the status object cannot be allocated; never freed.
normrt_status g_out_of_memory{NORMRT_OUT_OF_MEMORY, "out of memory"};

normrt_status* make_status(normrt_code code, std::string message) {
  try {
    return new normrt_status{code, std::move(message)};
  } catch (...) {
    return &g_out_of_memory;
  }
}

// A failure, also logged at Error level (Info for a cancelled run) when someone listens.
normrt_status* failure(normrt_code code, std::string message) {
  try {
    normrt::log(code == NORMRT_CANCELLED ? normrt::LogLevel::Info : normrt::LogLevel::Error, [&] { return message; });
  } catch (...) {  // a throwing log callback must not turn into an exception here
  }
  return make_status(code, std::move(message));
}

// Runs f, converting any exception into a status.
template <class F>
normrt_status* guarded(const char* fn, F&& f) {
  try {
    f();
    return nullptr;
  } catch (const normrt::Error& e) {
    return failure(static_cast<normrt_code>(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return failure(NORMRT_OUT_OF_MEMORY, std::string(fn) + ": out of memory");
  } catch (const std::exception& e) {
    return failure(NORMRT_RUNTIME_ERROR, std::string(fn) + ": " + e.what());
  } catch (...) {
    return failure(NORMRT_RUNTIME_ERROR, std::string(fn) + ": unknown error");
  }
}

void require(const void* p, const char* fn, const char* arg) {
  if (!p) normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": argument '" + arg + "' is NULL");
}

void fill_io_strings(const std::vector<normrt::IoInfo>& infos, std::vector<normrt_session::IoStrings>& out) {
  out.resize(infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    if (!infos[i].shape) continue;
    for (const normrt::Dim& d : *infos[i].shape) {
      out[i].dims.push_back(d.known() ? d.value : -1);
      out[i].dim_names.push_back(d.known() ? "" : d.symbol);
    }
    for (const std::string& s : out[i].dim_names) out[i].dim_name_ptrs.push_back(s.c_str());
  }
}

normrt_status* create_session(const normrt_session_options* options, normrt_session** out, const char* fn,
                              const std::function<std::unique_ptr<normrt::Session>(const normrt::SessionOptions&)>& open) {
  if (out) *out = nullptr;
  return guarded(fn, [&] {
    require(out, fn, "out");
    auto s = std::make_unique<normrt_session>();
    s->session = open(options ? options->options : normrt::SessionOptions{});
    fill_io_strings(s->session->inputs(), s->input_info);
    fill_io_strings(s->session->outputs(), s->output_info);
    *out = s.release();
  });
}

normrt_status* io_info(const normrt_session* session, size_t index, normrt_io_info* out, bool input) {
  const char* fn = input ? "normrt_session_input_info" : "normrt_session_output_info";
  return guarded(fn, [&] {
    require(session, fn, "session");
    require(out, fn, "out");
    const auto& infos = input ? session->session->inputs() : session->session->outputs();
    const auto& strings = input ? session->input_info : session->output_info;
    if (index >= infos.size())
      normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": index " + std::to_string(index) +
                                                           " is out of range (the model has " + std::to_string(infos.size()) + ")");
    out->name = infos[index].name.c_str();
    out->type = static_cast<normrt_type>(infos[index].dtype);
    out->rank = infos[index].shape ? static_cast<int64_t>(infos[index].shape->size()) : -1;
    out->dims = infos[index].shape ? strings[index].dims.data() : nullptr;
    out->dim_names = infos[index].shape ? strings[index].dim_name_ptrs.data() : nullptr;
  });
}

// Checks a tensor description from the caller: a supported type and non-negative dims whose byte
// size does not overflow. Returns the byte size; `shape` receives the dims.
size_t checked_description(normrt_type type, const int64_t* dims, size_t rank, const char* fn, normrt::Shape& shape) {
  const normrt::DType t = static_cast<normrt::DType>(type);
  if (!normrt::dtype_supported(t))
    normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": unsupported element type " + std::to_string(type));
  if (rank > 0) require(dims, fn, "dims");
  shape.assign(dims, dims + rank);
  for (int64_t d : shape)
    if (d < 0) normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": negative dimension in " + normrt::shape_to_string(shape));
  return normrt::checked_bytes(t, normrt::checked_numel(shape, fn), fn);
}

}  // namespace

extern "C" {

const char* normrt_version(void) { return NORMRT_VERSION_STRING; }

void normrt_version_numbers(int* major, int* minor, int* patch) {
  int v[3] = {0, 0, 0};
  std::sscanf(NORMRT_VERSION_STRING, "%d.%d.%d", &v[0], &v[1], &v[2]);
  if (major) *major = v[0];
  if (minor) *minor = v[1];
  if (patch) *patch = v[2];
}

void normrt_set_log_callback(normrt_log_callback callback, void* user_data, normrt_log_level min_level) {
  try {
    if (!callback) {
      normrt::set_log_sink(nullptr, normrt::LogLevel::Error);
      return;
    }
    normrt::set_log_sink([callback, user_data](normrt::LogLevel level, const std::string& message) {
      callback(user_data, static_cast<normrt_log_level>(level), message.c_str());
    }, static_cast<normrt::LogLevel>(std::clamp(static_cast<int>(min_level), 0, 3)));
  } catch (...) {  // out of memory: logging stays as it was
  }
}

normrt_code normrt_status_code(const normrt_status* status) { return status ? status->code : NORMRT_OK; }
const char* normrt_status_message(const normrt_status* status) { return status ? status->message.c_str() : ""; }
void normrt_status_release(normrt_status* status) {
  if (status != &g_out_of_memory) delete status;
}

normrt_status* normrt_session_options_create(normrt_session_options** out) {
  return guarded("normrt_session_options_create", [&] {
    require(out, "normrt_session_options_create", "out");
    *out = new normrt_session_options();
  });
}

normrt_status* normrt_session_options_set_threads(normrt_session_options* options, int threads) {
  return guarded("normrt_session_options_set_threads", [&] {
    require(options, "normrt_session_options_set_threads", "options");
    if (threads < 0 || threads > 4096)
      normrt::fail(normrt::ErrorCode::InvalidArgument, "normrt_session_options_set_threads: threads must be in 0..4096, got " + std::to_string(threads));
    options->options.threads = threads;
  });
}

normrt_status* normrt_session_options_set_isa(normrt_session_options* options, const char* isa) {
  return guarded("normrt_session_options_set_isa", [&] {
    require(options, "normrt_session_options_set_isa", "options");
    require(isa, "normrt_session_options_set_isa", "isa");
    bool ok;
    normrt::kernels::Isa v = normrt::kernels::isa_from_string(isa, &ok);
    if (!ok)
      normrt::fail(normrt::ErrorCode::InvalidArgument, std::string("normrt_session_options_set_isa: '") + isa +
                                                           "' is not one of auto, scalar, avx2, avx512, neon");
    options->options.isa = v;
  });
}

normrt_status* normrt_session_options_set_optimization_level(normrt_session_options* options, normrt_optimization_level level) {
  constexpr const char* fn = "normrt_session_options_set_optimization_level";
  return guarded(fn, [&] {
    require(options, fn, "options");
    if (level < NORMRT_OPTIMIZE_OFF || level > NORMRT_OPTIMIZE_ALL)
      normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": level must be 0 (off), 1 (basic) or 2 (all), got " +
                                                           std::to_string(static_cast<int>(level)));
    options->options.optimize = true;
    options->options.level = static_cast<normrt::OptimizationLevel>(level);
  });
}

normrt_status* normrt_session_options_set_profiling(normrt_session_options* options, int enabled) {
  return guarded("normrt_session_options_set_profiling", [&] {
    require(options, "normrt_session_options_set_profiling", "options");
    options->options.profile = enabled != 0;
  });
}

normrt_status* normrt_session_options_set_max_tensor_bytes(normrt_session_options* options, size_t bytes) {
  return guarded("normrt_session_options_set_max_tensor_bytes", [&] {
    require(options, "normrt_session_options_set_max_tensor_bytes", "options");
    options->options.max_tensor_bytes = bytes ? bytes : SIZE_MAX;
  });
}

void normrt_session_options_release(normrt_session_options* options) { delete options; }

normrt_status* normrt_session_create(const char* model_path, const normrt_session_options* options, normrt_session** out) {
  return create_session(options, out, "normrt_session_create", [&](const normrt::SessionOptions& o) {
    require(model_path, "normrt_session_create", "model_path");
    return normrt::onnx::open_session(std::string(model_path), o);
  });
}

normrt_status* normrt_session_create_from_buffer(const void* data, size_t size, const normrt_session_options* options,
                                                 normrt_session** out) {
  return create_session(options, out, "normrt_session_create_from_buffer", [&](const normrt::SessionOptions& o) {
    require(data, "normrt_session_create_from_buffer", "data");
    return normrt::onnx::open_session(data, size, o);
  });
}

void normrt_session_release(normrt_session* session) { delete session; }

normrt_status* normrt_session_input_count(const normrt_session* session, size_t* out) {
  return guarded("normrt_session_input_count", [&] {
    require(session, "normrt_session_input_count", "session");
    require(out, "normrt_session_input_count", "out");
    *out = session->session->inputs().size();
  });
}

normrt_status* normrt_session_output_count(const normrt_session* session, size_t* out) {
  return guarded("normrt_session_output_count", [&] {
    require(session, "normrt_session_output_count", "session");
    require(out, "normrt_session_output_count", "out");
    *out = session->session->outputs().size();
  });
}

normrt_status* normrt_session_input_info(const normrt_session* session, size_t index, normrt_io_info* out) {
  return io_info(session, index, out, true);
}
normrt_status* normrt_session_output_info(const normrt_session* session, size_t index, normrt_io_info* out) {
  return io_info(session, index, out, false);
}

normrt_status* normrt_session_metadata(const normrt_session* session, normrt_model_metadata* out) {
  constexpr const char* fn = "normrt_session_metadata";
  return guarded(fn, [&] {
    require(session, fn, "session");
    require(out, fn, "out");
    const normrt::Graph& g = session->session->graph();
    out->producer_name = g.producer.c_str();
    out->producer_version = g.producer_version.c_str();
    out->graph_name = g.name.c_str();
    out->domain = g.domain.c_str();
    out->description = g.doc_string.c_str();
    out->model_version = g.model_version;
    out->property_count = g.metadata_props.size();
  });
}

normrt_status* normrt_session_metadata_property(const normrt_session* session, size_t index, const char** key, const char** value) {
  constexpr const char* fn = "normrt_session_metadata_property";
  return guarded(fn, [&] {
    require(session, fn, "session");
    require(key, fn, "key");
    require(value, fn, "value");
    const auto& props = session->session->graph().metadata_props;
    if (index >= props.size())
      normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": index " + std::to_string(index) +
                                                           " is out of range (the model has " + std::to_string(props.size()) + ")");
    *key = props[index].first.c_str();
    *value = props[index].second.c_str();
  });
}

normrt_status* normrt_session_metadata_lookup(const normrt_session* session, const char* key, const char** value) {
  constexpr const char* fn = "normrt_session_metadata_lookup";
  return guarded(fn, [&] {
    require(session, fn, "session");
    require(key, fn, "key");
    require(value, fn, "value");
    *value = nullptr;
    for (const auto& [k, v] : session->session->graph().metadata_props)
      if (k == key) *value = v.c_str();
  });
}

normrt_status* normrt_run_options_create(normrt_run_options** out) {
  return guarded("normrt_run_options_create", [&] {
    require(out, "normrt_run_options_create", "out");
    *out = new normrt_run_options();
  });
}
void normrt_run_options_cancel(normrt_run_options* r) {
  if (r) r->cancel.store(true);
}
void normrt_run_options_reset(normrt_run_options* r) {
  if (r) r->cancel.store(false);
}
void normrt_run_options_release(normrt_run_options* r) { delete r; }

normrt_status* normrt_session_write_profile(const normrt_session* session, const char* path) {
  constexpr const char* fn = "normrt_session_write_profile";
  return guarded(fn, [&] {
    require(session, fn, "session");
    require(path, fn, "path");
    if (!session->session->profiling())
      normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": profiling is off for this session (normrt_session_options_set_profiling)");
    normrt::write_chrome_trace(*session->session, path);
  });
}

}  // extern "C"

namespace {
// Both run entry points: outputs[i] that are not NULL are bound (see normrt.h); `fn` names the
// caller in errors.
normrt_status* run_session(const char* fn, const normrt_session* session, const normrt_run_options* run_options,
                           const char* const* input_names, const normrt_tensor* const* inputs, size_t input_count,
                           const char* const* output_names, size_t output_count, normrt_tensor** outputs) {
  return guarded(fn, [&] {
    require(session, fn, "session");
    if (input_count) {
      require(input_names, fn, "input_names");
      require(inputs, fn, "inputs");
    }
    if (output_count == 0) normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": output_count is 0");
    require(output_names, fn, "output_names");
    require(outputs, fn, "outputs");
    std::vector<std::string> in_names, out_names;
    std::vector<normrt::Tensor> in_tensors;
    for (size_t i = 0; i < input_count; ++i) {
      if (!input_names[i]) normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": input_names[" + std::to_string(i) + "] is NULL");
      if (!inputs[i]) normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": tensor for input '" + input_names[i] + "' is NULL");
      in_names.emplace_back(input_names[i]);
      in_tensors.push_back(inputs[i]->tensor);
    }
    for (size_t i = 0; i < output_count; ++i) {
      if (!output_names[i]) normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": output_names[" + std::to_string(i) + "] is NULL");
      out_names.emplace_back(output_names[i]);
    }
    normrt::RunOptions ro;
    if (run_options) ro.cancel = &run_options->cancel;
    bool any_bound = false;
    for (size_t i = 0; i < output_count; ++i) any_bound |= outputs[i] != nullptr;
    if (any_bound)
      for (size_t i = 0; i < output_count; ++i) ro.bound_outputs.push_back(outputs[i] ? &outputs[i]->tensor : nullptr);
    std::vector<normrt::Tensor> results = session->session->run(in_names, in_tensors, out_names, ro);
    std::vector<std::unique_ptr<normrt_tensor>> owned(output_count);
    for (size_t i = 0; i < output_count; ++i)
      if (!outputs[i]) owned[i] = std::make_unique<normrt_tensor>(normrt_tensor{std::move(results[i])});
    for (size_t i = 0; i < output_count; ++i)
      if (owned[i]) outputs[i] = owned[i].release();
  });
}
}  // namespace

extern "C" {

normrt_status* normrt_session_run(const normrt_session* session, const char* const* input_names,
                                  const normrt_tensor* const* inputs, size_t input_count,
                                  const char* const* output_names, size_t output_count, normrt_tensor** outputs) {
  if (outputs)
    for (size_t i = 0; i < output_count; ++i) outputs[i] = nullptr;
  return run_session("normrt_session_run", session, nullptr, input_names, inputs, input_count, output_names, output_count, outputs);
}

normrt_status* normrt_session_run_with_options(const normrt_session* session, const normrt_run_options* run_options,
                                               const char* const* input_names, const normrt_tensor* const* inputs,
                                               size_t input_count, const char* const* output_names, size_t output_count,
                                               normrt_tensor** outputs) {
  return run_session("normrt_session_run_with_options", session, run_options, input_names, inputs, input_count, output_names,
                     output_count, outputs);
}

normrt_status* normrt_tensor_create(normrt_type type, const int64_t* dims, size_t rank, const void* data,
                                    size_t byte_size, normrt_tensor** out) {
  constexpr const char* fn = "normrt_tensor_create";
  if (out) *out = nullptr;
  return guarded(fn, [&] {
    require(out, fn, "out");
    normrt::Shape shape;
    const size_t need = checked_description(type, dims, rank, fn, shape);
    const normrt::DType t = static_cast<normrt::DType>(type);
    if (data && byte_size != need)
      normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": byte_size is " + std::to_string(byte_size) + " but shape " +
                                                           normrt::shape_to_string(shape) + " needs " + std::to_string(need));
    auto r = std::make_unique<normrt_tensor>(normrt_tensor{normrt::Tensor::allocate(t, std::move(shape), fn)});
    if (data && need) std::memcpy(r->tensor.raw(), data, need);
    *out = r.release();
  });
}

normrt_status* normrt_tensor_borrow(normrt_type type, const int64_t* dims, size_t rank, void* data, size_t byte_size,
                                    normrt_tensor** out) {
  constexpr const char* fn = "normrt_tensor_borrow";
  if (out) *out = nullptr;
  return guarded(fn, [&] {
    require(out, fn, "out");
    normrt::Shape shape;
    const size_t need = checked_description(type, dims, rank, fn, shape);
    const normrt::DType t = static_cast<normrt::DType>(type);
    if (need) require(data, fn, "data");
    if (byte_size < need)
      normrt::fail(normrt::ErrorCode::InvalidArgument, std::string(fn) + ": buffer of " + std::to_string(byte_size) + " bytes is too small for shape " +
                                                           normrt::shape_to_string(shape) + " (" + std::to_string(need) + " bytes)");
    *out = new normrt_tensor{normrt::Tensor::borrow(t, std::move(shape), data)};
  });
}

normrt_type normrt_tensor_type(const normrt_tensor* t) { return t ? static_cast<normrt_type>(t->tensor.dtype()) : NORMRT_TYPE_UNDEFINED; }
size_t normrt_tensor_rank(const normrt_tensor* t) { return t ? t->tensor.rank() : 0; }
const int64_t* normrt_tensor_dims(const normrt_tensor* t) { return t ? t->tensor.shape().data() : nullptr; }
int64_t normrt_tensor_element_count(const normrt_tensor* t) { return t ? t->tensor.numel() : 0; }
size_t normrt_tensor_byte_size(const normrt_tensor* t) { return t ? t->tensor.byte_size() : 0; }
void* normrt_tensor_data(normrt_tensor* t) { return t ? t->tensor.raw() : nullptr; }
void normrt_tensor_release(normrt_tensor* t) { delete t; }

}  // extern "C"
