/* Runs the seed LayerNorm model through an installed libnormrt: prints "y0=1.732051". */
#include <normrt/normrt.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  normrt_session* s = NULL;
  normrt_status* st = normrt_session_create(argv[1], NULL, &s);
  if (st) {
    fprintf(stderr, "%s\n", normrt_status_message(st));
    normrt_status_release(st);
    return 1;
  }
  const float x[8] = {5, 5, 0, 0, 0, 0, 0, 0};
  const int64_t dims[2] = {1, 8};
  normrt_tensor* in = NULL;
  normrt_tensor* out = NULL;
  normrt_status_release(normrt_tensor_create(NORMRT_TYPE_FLOAT, dims, 2, x, sizeof x, &in));
  const char* in_names[1] = {"X"};
  const char* out_names[1] = {"Y"};
  const normrt_tensor* ins[1] = {in};
  st = normrt_session_run(s, in_names, ins, 1, out_names, 1, &out);
  if (st) {
    fprintf(stderr, "%s\n", normrt_status_message(st));
    return 1;
  }
  printf("normrt %s y0=%.6f\n", normrt_version(), ((const float*)normrt_tensor_data(out))[0]);
  normrt_tensor_release(out);
  normrt_tensor_release(in);
  normrt_session_release(s);
  return 0;
}
