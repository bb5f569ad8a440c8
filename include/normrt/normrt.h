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
 *    not be modified from two threads at the same time.
 */
#ifndef NORMRT_NORMRT_H
#define NORMRT_NORMRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
  NORMRT_IO_ERROR = 6
} normrt_code;

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

/* Version of the library, "MAJOR.MINOR.PATCH". The string is static. */
NORMRT_API const char* normrt_version(void);

/* ---- status ---- */
NORMRT_API normrt_code normrt_status_code(const normrt_status* status);          /* NORMRT_OK for NULL */
NORMRT_API const char* normrt_status_message(const normrt_status* status);      /* "" for NULL; owned by status */
NORMRT_API void normrt_status_release(normrt_status* status);

/* ---- session options ---- */
NORMRT_API normrt_status* normrt_session_options_create(normrt_session_options** out);
/* Threads used by one run: 0 (default) = all hardware threads, 1 = no worker threads. */
NORMRT_API normrt_status* normrt_session_options_set_threads(normrt_session_options* options, int threads);
/* Kernel instruction set: "auto" (default: the environment variable NORMRT_ISA if set, else the
 * best the CPU has), "scalar", "avx2", "avx512" or "neon". Session creation fails if the CPU
 * lacks it. */
NORMRT_API normrt_status* normrt_session_options_set_isa(normrt_session_options* options, const char* isa);
NORMRT_API void normrt_session_options_release(normrt_session_options* options);

/* ---- sessions ---- */
/* `options` may be NULL for defaults. External data is resolved relative to the model's folder. */
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

/* Runs the model. inputs[i] feeds the input named input_names[i] (every model input must be
 * given). outputs[i] receives a new tensor for output_names[i], owned by the caller; on failure
 * every outputs[i] is set to NULL. Thread-safe: a session may be run from several threads. */
NORMRT_API normrt_status* normrt_session_run(const normrt_session* session, const char* const* input_names,
                                             const normrt_tensor* const* inputs, size_t input_count,
                                             const char* const* output_names, size_t output_count,
                                             normrt_tensor** outputs);

/* ---- tensors ---- */
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
