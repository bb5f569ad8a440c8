/* Loads an ONNX model through normrt's C API, lists its inputs and outputs, feeds every input
 * with ones (symbolic dims set to 1, or to N with "-d N"), runs it and prints each output's
 * shape and first values.
 *
 *   run_model MODEL.onnx [-d N] [-t THREADS]
 */
#include <normrt/normrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(normrt_status* st, const char* what) {
  if (!st) return 0;
  fprintf(stderr, "run_model: %s failed (code %d): %s\n", what, (int)normrt_status_code(st), normrt_status_message(st));
  normrt_status_release(st);
  return 1;
}

static size_t element_size(normrt_type t) {
  switch (t) {
    case NORMRT_TYPE_FLOAT: case NORMRT_TYPE_INT32: case NORMRT_TYPE_UINT32: return 4;
    case NORMRT_TYPE_DOUBLE: case NORMRT_TYPE_INT64: case NORMRT_TYPE_UINT64: return 8;
    case NORMRT_TYPE_FLOAT16: case NORMRT_TYPE_BFLOAT16: case NORMRT_TYPE_INT16: case NORMRT_TYPE_UINT16: return 2;
    default: return 1;
  }
}

int main(int argc, char** argv) {
  const char* path = NULL;
  int64_t free_dim = 1;
  int threads = 0, rc = 1;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "-d") && i + 1 < argc) free_dim = atoll(argv[++i]);
    else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
    else path = argv[i];
  }
  if (!path) {
    fprintf(stderr, "usage: run_model MODEL.onnx [-d N] [-t THREADS]\n");
    return 2;
  }
  printf("normrt %s\n", normrt_version());

  normrt_session_options* opts = NULL;
  normrt_session* session = NULL;
  if (check(normrt_session_options_create(&opts), "options") ||
      check(normrt_session_options_set_threads(opts, threads), "set_threads") ||
      check(normrt_session_create(path, opts, &session), "session_create")) {
    normrt_session_options_release(opts);
    return 1;
  }
  normrt_session_options_release(opts);

  size_t n_in = 0, n_out = 0;
  if (check(normrt_session_input_count(session, &n_in), "input_count") ||
      check(normrt_session_output_count(session, &n_out), "output_count")) goto done;

  const char** in_names = calloc(n_in, sizeof *in_names);
  normrt_tensor** inputs = calloc(n_in, sizeof *inputs);
  const char** out_names = calloc(n_out, sizeof *out_names);
  normrt_tensor** outputs = calloc(n_out, sizeof *outputs);
  void** buffers = calloc(n_in, sizeof *buffers);

  for (size_t i = 0; i < n_in; ++i) {
    normrt_io_info info;
    if (check(normrt_session_input_info(session, i, &info), "input_info")) goto cleanup;
    in_names[i] = info.name;
    int64_t dims[16];
    int64_t count = 1;
    printf("input  %s type=%d [", info.name, (int)info.type);
    for (int64_t d = 0; d < info.rank && d < 16; ++d) {
      dims[d] = info.dims[d] >= 0 ? info.dims[d] : free_dim;
      count *= dims[d];
      printf("%s%s", d ? "," : "", info.dims[d] >= 0 ? "" : info.dim_names[d]);
      if (info.dims[d] >= 0) printf("%lld", (long long)info.dims[d]);
    }
    printf("]\n");
    /* A borrowed buffer of ones: normrt reads it in place. */
    const size_t es = element_size(info.type);
    buffers[i] = malloc(count * es + 1);
    for (int64_t k = 0; k < count; ++k) {
      char* p = (char*)buffers[i] + k * es;
      if (info.type == NORMRT_TYPE_FLOAT) { float one = 1.0f; memcpy(p, &one, 4); }
      else if (info.type == NORMRT_TYPE_DOUBLE) { double one = 1.0; memcpy(p, &one, 8); }
      else { memset(p, 0, es); p[0] = 1; }
    }
    if (check(normrt_tensor_borrow(info.type, dims, (size_t)info.rank, buffers[i], count * es, &inputs[i]), "tensor_borrow"))
      goto cleanup;
  }
  for (size_t i = 0; i < n_out; ++i) {
    normrt_io_info info;
    if (check(normrt_session_output_info(session, i, &info), "output_info")) goto cleanup;
    out_names[i] = info.name;
  }
  if (check(normrt_session_run(session, in_names, (const normrt_tensor* const*)inputs, n_in, out_names, n_out, outputs), "run"))
    goto cleanup;
  for (size_t i = 0; i < n_out; ++i) {
    const int64_t* dims = normrt_tensor_dims(outputs[i]);
    printf("output %s [", out_names[i]);
    for (size_t d = 0; d < normrt_tensor_rank(outputs[i]); ++d) printf("%s%lld", d ? "," : "", (long long)dims[d]);
    printf("]");
    if (normrt_tensor_type(outputs[i]) == NORMRT_TYPE_FLOAT) {
      const float* v = normrt_tensor_data(outputs[i]);
      for (int64_t k = 0; k < normrt_tensor_element_count(outputs[i]) && k < 4; ++k) printf(" %.6f", v[k]);
    }
    printf("\n");
  }
  rc = 0;

cleanup:
  for (size_t i = 0; i < n_out; ++i) normrt_tensor_release(outputs[i]);
  for (size_t i = 0; i < n_in; ++i) {
    normrt_tensor_release(inputs[i]);
    free(buffers[i]);
  }
  free(in_names);
  free(inputs);
  free(out_names);
  free(outputs);
  free(buffers);
done:
  normrt_session_release(session);
  return rc;
}
