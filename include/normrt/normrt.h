/*
 * normrt: a CPU inference runtime for ONNX models. Plain C API.
 *
 * Conventions
 *  - Every function that can fail returns a normrt_status*: NULL on success, otherwise an object
 *    holding a code and a message saying what failed, which the caller frees with
 *    normrt_status_release(). No C++ exception ever crosses this API.
 *  - Objects returned through an out-pointer belong to the caller, who frees each with its
 *    *_release function (NULL is accepted and ignored by every *_release).
 *  - A session may be run from several threads at once. Other objects (options, tensors) must
 *    not be modified from two threads at the same time. Each function below says what it owns,
 *    what it borrows and what may be called concurrently.
 *  - Strings passed in are only read during the call; strings handed out are owned by the object
 *    they came from and stay valid until it is released.
 */
#ifndef NORMRT_NORMRT_H
#define NORMRT_NORMRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header belongs to; normrt_version() gives the library's. */
#define NORMRT_VERSION_MAJOR 0
#define NORMRT_VERSION_MINOR 1
#define NORMRT_VERSION_PATCH 0

#if defined(_WIN32)
#define NORMRT_API __declspec(dllexport)
#else
#define NORMRT_API __attribute__((visibility("default")))
#endif

typedef enum normrt_code {
  NORMRT_OK = 0,
  NORMRT_INVALID_ARGUMENT = 1, /* the caller passed something wrong */
  NORMRT_INVALID_MODEL = 2,    /* the model is malformed or inconsistent */
  NORMRT_NOT_IMPLEMENTED = 3,  /* valid ONNX that normrt does not support (op, opset, type) */
  NORMRT_RUNTIME_ERROR = 4,    /* failure while running */
  NORMRT_OUT_OF_MEMORY = 5,
  NORMRT_IO_ERROR = 6,
  NORMRT_CANCELLED = 7         /* a run stopped because its run options were cancelled */
} normrt_code;

typedef enum normrt_log_level {
  NORMRT_LOG_VERBOSE = 0, /* every run */
  NORMRT_LOG_INFO = 1,    /* session creation summaries, cancelled runs */
  NORMRT_LOG_WARNING = 2,
  NORMRT_LOG_ERROR = 3    /* every failure a C API call reports */
} normrt_log_level;

/* Graph optimization levels (session options). Constant folding runs at every level. */
typedef enum normrt_optimization_level {
  NORMRT_OPTIMIZE_OFF = 0,   /* the graph as the file has it */
  NORMRT_OPTIMIZE_BASIC = 1, /* dead-code elimination */
  NORMRT_OPTIMIZE_ALL = 2    /* every fusion (the default); `normrt info` lists what fired */
} normrt_optimization_level;

/* Element types; the values are ONNX's TensorProto.DataType codes. */
typedef enum normrt_type {
  NORMRT_TYPE_UNDEFINED = 0,
  NORMRT_TYPE_FLOAT = 1,
  NORMRT_TYPE_UINT8 = 2,
  NORMRT_TYPE_INT8 = 3,
  NORMRT_TYPE_UINT16 = 4,
  NORMRT_TYPE_INT16 = 5,
  NORMRT_TYPE_INT32 = 6,
  NORMRT_TYPE_INT64 = 7,
  NORMRT_TYPE_BOOL = 9,
  NORMRT_TYPE_FLOAT16 = 10,
  NORMRT_TYPE_DOUBLE = 11,
  NORMRT_TYPE_UINT32 = 12,
  NORMRT_TYPE_UINT64 = 13,
  NORMRT_TYPE_BFLOAT16 = 16
} normrt_type;

typedef struct normrt_status normrt_status;
typedef struct normrt_session_options normrt_session_options;
typedef struct normrt_session normrt_session;
typedef struct normrt_tensor normrt_tensor;
typedef struct normrt_run_options normrt_run_options;

/* Version of the library, "MAJOR.MINOR.PATCH". The string is static. Any thread. */
NORMRT_API const char* normrt_version(void);
/* The same as numbers; any pointer may be NULL. Any thread. */
NORMRT_API void normrt_version_numbers(int* major, int* minor, int* patch);

/* ---- logging ----
 * One process-wide callback receives messages of at least min_level; NULL turns logging off
 * (the default). The callback may be called from any thread that creates or runs a session,
 * from several at once; `message` is valid only during the call. Setting the callback while
 * other threads log is safe: a message goes to the old or the new callback. */
typedef void (*normrt_log_callback)(void* user_data, normrt_log_level level, const char* message);
NORMRT_API void normrt_set_log_callback(normrt_log_callback callback, void* user_data, normrt_log_level min_level);

/* ---- status ----
 * A status is owned by the caller, who releases it once; it is not shared between threads. */
NORMRT_API normrt_code normrt_status_code(const normrt_status* status);          /* NORMRT_OK for NULL */
NORMRT_API const char* normrt_status_message(const normrt_status* status);      /* "" for NULL; owned by status */
NORMRT_API void normrt_status_release(normrt_status* status);

/* ---- session options ----
 * Owned by the caller; not to be modified from two threads at once. */
NORMRT_API normrt_status* normrt_session_options_create(normrt_session_options** out);
/* Threads used by one run: 0 (default) = all hardware threads, 1 = no worker threads. */
NORMRT_API normrt_status* normrt_session_options_set_threads(normrt_session_options* options, int threads);
/* Kernel instruction set: "auto" (default: the environment variable NORMRT_ISA if set, else the
 * best the CPU has), "scalar", "avx2", "avx512" or "neon". Session creation fails if the CPU
 * lacks it. */
NORMRT_API normrt_status* normrt_session_options_set_isa(normrt_session_options* options, const char* isa);
/* Graph optimization level (default NORMRT_OPTIMIZE_ALL). */
NORMRT_API normrt_status* normrt_session_options_set_optimization_level(normrt_session_options* options,
                                                                        normrt_optimization_level level);
/* Profiling (default off): every run records each node's time, which
 * normrt_session_write_profile writes out. Costs a clock read per node. */
NORMRT_API normrt_status* normrt_session_options_set_profiling(normrt_session_options* options, int enabled);
/* The largest single tensor, in bytes, that loading may create or a run may compute (0: no cap,
 * the default). A model or input that needs more fails with NORMRT_OUT_OF_MEMORY naming the
 * tensor or node, before allocating: set it when loading models you do not trust. */
NORMRT_API normrt_status* normrt_session_options_set_max_tensor_bytes(normrt_session_options* options, size_t bytes);
/* Options are read only by normrt_session_create*: they may be released right after. */
NORMRT_API void normrt_session_options_release(normrt_session_options* options);

/* ---- sessions ----
 * *out is owned by the caller and released with normrt_session_release, only once no other
 * thread uses the session. Everything else on a session (info, metadata, runs, profile) may be
 * called from several threads at once. */
/* `options` may be NULL for defaults (only read during the call). External data is resolved
 * relative to the model's folder. */
NORMRT_API normrt_status* normrt_session_create(const char* model_path, const normrt_session_options* options,
                                                normrt_session** out);
/* The buffer is only read during the call. A model with external data cannot be loaded this way. */
NORMRT_API normrt_status* normrt_session_create_from_buffer(const void* data, size_t size,
                                                            const normrt_session_options* options,
                                                            normrt_session** out);
NORMRT_API void normrt_session_release(normrt_session* session);

/* Description of a graph input or output. All pointers are owned by the session and stay valid
 * until it is released. dims[i] is -1 for a dimension not fixed by the model; dim_names[i] is
 * then its symbolic name ("batch"), or "" if it has none. rank is -1 when even the rank is
 * unknown (dims and dim_names are then NULL). */
typedef struct normrt_io_info {
  const char* name;
  normrt_type type;
  int64_t rank;
  const int64_t* dims;
  const char* const* dim_names;
} normrt_io_info;

NORMRT_API normrt_status* normrt_session_input_count(const normrt_session* session, size_t* out);
NORMRT_API normrt_status* normrt_session_input_info(const normrt_session* session, size_t index, normrt_io_info* out);
NORMRT_API normrt_status* normrt_session_output_count(const normrt_session* session, size_t* out);
NORMRT_API normrt_status* normrt_session_output_info(const normrt_session* session, size_t index, normrt_io_info* out);

/* Model metadata as the file gives it; strings are "" when absent. Owned by the session. */
typedef struct normrt_model_metadata {
  const char* producer_name;
  const char* producer_version;
  const char* graph_name;
  const char* domain;
  const char* description; /* the model's doc_string */
  int64_t model_version;
  size_t property_count;   /* metadata_props entries */
} normrt_model_metadata;
NORMRT_API normrt_status* normrt_session_metadata(const normrt_session* session, normrt_model_metadata* out);
/* Entry `index` of metadata_props, in file order; key and value are owned by the session. */
NORMRT_API normrt_status* normrt_session_metadata_property(const normrt_session* session, size_t index, const char** key,
                                                           const char** value);
/* The value for `key`, or NULL in *value when the model has no such property. */
NORMRT_API normrt_status* normrt_session_metadata_lookup(const normrt_session* session, const char* key, const char** value);

/* Runs the model. inputs[i] feeds the input named input_names[i] (every model input must be
 * given). outputs[i] receives a new tensor for output_names[i], owned by the caller; on failure
 * every outputs[i] is set to NULL. Thread-safe: a session may be run from several threads. */
NORMRT_API normrt_status* normrt_session_run(const normrt_session* session, const char* const* input_names,
                                             const normrt_tensor* const* inputs, size_t input_count,
                                             const char* const* output_names, size_t output_count,
                                             normrt_tensor** outputs);

/* ---- run options ----
 * Owned by the caller. normrt_run_options_cancel may be called from any thread at any time,
 * also while runs using these options are in flight: each such run stops before its next node
 * and returns NORMRT_CANCELLED (within one node's time). The flag stays set, so later runs
 * with these options fail at once, until normrt_run_options_reset. Release only after every
 * run using the options has returned. */
NORMRT_API normrt_status* normrt_run_options_create(normrt_run_options** out);
NORMRT_API void normrt_run_options_cancel(normrt_run_options* run_options);
NORMRT_API void normrt_run_options_reset(normrt_run_options* run_options);
NORMRT_API void normrt_run_options_release(normrt_run_options* run_options);

/* normrt_session_run with run options (NULL: none) and bound outputs: where outputs[i] is not
 * NULL on entry it is the caller's tensor (normrt_tensor_create or, for preallocated memory,
 * normrt_tensor_borrow) and the output is written into its memory; its type and dims must be
 * the output's exactly (else NORMRT_INVALID_ARGUMENT naming the output), and it stays the
 * caller's. Entries that are NULL on entry receive new tensors as in normrt_session_run, and
 * are NULL again on failure. A bound tensor must not be read or written by anyone else during
 * the run. Thread-safe like normrt_session_run. */
NORMRT_API normrt_status* normrt_session_run_with_options(const normrt_session* session, const normrt_run_options* run_options,
                                                          const char* const* input_names, const normrt_tensor* const* inputs,
                                                          size_t input_count, const char* const* output_names,
                                                          size_t output_count, normrt_tensor** outputs);

/* ---- profiling ----
 * With profiling on, writes every node event recorded so far as a Chrome trace (JSON that
 * Perfetto and chrome://tracing open) to `path`. Safe while other threads run the session. */
NORMRT_API normrt_status* normrt_session_write_profile(const normrt_session* session, const char* path);

/* ---- tensors ----
 * Owned by the caller. A tensor may be read by several threads (several runs may take it as an
 * input) but not written while anyone reads it. */
/* A tensor owning a copy of `data` (byte_size bytes, which must equal the element count times
 * the type's size). data may be NULL: the tensor is then zero-filled and byte_size ignored. */
NORMRT_API normrt_status* normrt_tensor_create(normrt_type type, const int64_t* dims, size_t rank, const void* data,
                                               size_t byte_size, normrt_tensor** out);
/* A tensor over caller memory, not copied: `data` must stay valid, and unchanged during runs
 * that read it, until the tensor is released. byte_size must be at least what the dims need. */
NORMRT_API normrt_status* normrt_tensor_borrow(normrt_type type, const int64_t* dims, size_t rank, void* data,
                                               size_t byte_size, normrt_tensor** out);
NORMRT_API normrt_type normrt_tensor_type(const normrt_tensor* tensor);
/* Rank and dims; dims is owned by the tensor. */
NORMRT_API size_t normrt_tensor_rank(const normrt_tensor* tensor);
NORMRT_API const int64_t* normrt_tensor_dims(const normrt_tensor* tensor);
NORMRT_API int64_t normrt_tensor_element_count(const normrt_tensor* tensor);
NORMRT_API size_t normrt_tensor_byte_size(const normrt_tensor* tensor);
/* The elements, row-major. Owned by the tensor (or the caller, for a borrowed one). */
NORMRT_API void* normrt_tensor_data(normrt_tensor* tensor);
NORMRT_API void normrt_tensor_release(normrt_tensor* tensor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NORMRT_NORMRT_H */
