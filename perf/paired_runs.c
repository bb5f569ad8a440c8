/* A/B timing of a code change inside one process, for effects smaller than this VM's drift.
 *
 *   build/perf/normrt_paired_runs MODEL THREADS SEQ ROUNDS
 *
 * Creates two sessions of MODEL through the C API, the first with NORMRT_EXPERIMENT=0 in the
 * environment and the second with NORMRT_EXPERIMENT=1, then runs them in alternation (the order
 * flips every round), setting the variable to match before each run. It prints each side's
 * median and the median (p10, p90) of the per-round ratio time(0) / time(1): above 1 means the
 * experiment is faster. Separate processes measured minutes apart differ by 10-20% here; paired
 * runs a few hundred ms apart resolve 1-2%.
 *
 * Nothing in normrt reads NORMRT_EXPERIMENT. To compare two versions of a kernel, make the code
 * under test choose between them with getenv("NORMRT_EXPERIMENT") (at session creation, e.g. in a
 * kernel's prepare(), or per call), measure, then keep the winner and remove the switch. With the
 * variable unset in both sessions the two sides are the same code: a ratio of 1.00 +- the p10-p90
 * spread is the harness's noise floor.
 *
 * Inputs: dims the model leaves free are 1 for the first one (batch) and SEQ for the others;
 * int64 inputs are filled with 1 (token ids, masks), float inputs with uniform noise in [-1, 1). */
#include <normrt/normrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IO 16
#define MAX_ROUNDS 10000

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static void check(normrt_status* status, const char* what) {
  if (!status) return;
  fprintf(stderr, "normrt_paired_runs: %s: %s\n", what, normrt_status_message(status));
  exit(2);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s MODEL THREADS SEQ ROUNDS\n", argv[0]);
    return 2;
  }
  const char* model = argv[1];
  const int threads = atoi(argv[2]), seq = atoi(argv[3]), rounds = atoi(argv[4]);
  if (threads < 1 || seq < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "normrt_paired_runs: THREADS and SEQ must be >= 1, ROUNDS in 1..%d\n", MAX_ROUNDS);
    return 2;
  }
  normrt_session_options* options;
  check(normrt_session_options_create(&options), "options");
  check(normrt_session_options_set_threads(options, threads), "threads");
  normrt_session* sessions[2];
  for (int v = 0; v < 2; ++v) {
    setenv("NORMRT_EXPERIMENT", v ? "1" : "0", 1);
    check(normrt_session_create(model, options, &sessions[v]), model);
  }
  normrt_session_options_release(options);

  size_t n_in, n_out;
  check(normrt_session_input_count(sessions[0], &n_in), "inputs");
  check(normrt_session_output_count(sessions[0], &n_out), "outputs");
  if (n_in > MAX_IO || n_out > MAX_IO) {
    fprintf(stderr, "normrt_paired_runs: at most %d inputs and outputs\n", MAX_IO);
    return 2;
  }
  const char* in_names[MAX_IO];
  const char* out_names[MAX_IO];
  normrt_tensor* inputs[MAX_IO];
  srand(1);
  for (size_t i = 0; i < n_in; ++i) {
    normrt_io_info info;
    check(normrt_session_input_info(sessions[0], i, &info), "input info");
    if (info.rank < 0 || info.rank > 8) {
      fprintf(stderr, "normrt_paired_runs: input %s has no usable rank\n", info.name);
      return 2;
    }
    if (info.type != NORMRT_TYPE_FLOAT && info.type != NORMRT_TYPE_INT64) {
      fprintf(stderr, "normrt_paired_runs: input %s is neither float32 nor int64\n", info.name);
      return 2;
    }
    in_names[i] = info.name;
    int64_t dims[8], count = 1;
    int free_dims = 0;
    for (int64_t d = 0; d < info.rank; ++d) {
      dims[d] = info.dims[d] >= 0 ? info.dims[d] : (free_dims++ == 0 ? 1 : seq);
      count *= dims[d];
    }
    const int is_int = info.type == NORMRT_TYPE_INT64;
    const size_t bytes = (size_t)count * (is_int ? 8 : 4);
    void* data = malloc(bytes ? bytes : 1);
    for (int64_t k = 0; k < count; ++k) {
      if (is_int) ((int64_t*)data)[k] = 1;
      else ((float*)data)[k] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    }
    check(normrt_tensor_create(is_int ? NORMRT_TYPE_INT64 : NORMRT_TYPE_FLOAT, dims, (size_t)info.rank, data, bytes, &inputs[i]),
          info.name);
    free(data);
  }
  for (size_t i = 0; i < n_out; ++i) {
    normrt_io_info info;
    check(normrt_session_output_info(sessions[0], i, &info), "output info");
    out_names[i] = info.name;
  }

  static double t[2][MAX_ROUNDS], ratio[MAX_ROUNDS];
  for (int r = -2; r < rounds; ++r) { /* two warm-up rounds */
    for (int k = 0; k < 2; ++k) {
      const int v = (r & 1) ? 1 - k : k;
      setenv("NORMRT_EXPERIMENT", v ? "1" : "0", 1);
      normrt_tensor* outputs[MAX_IO] = {0};
      const double t0 = now_ms();
      check(normrt_session_run(sessions[v], in_names, (const normrt_tensor* const*)inputs, n_in, out_names, n_out, outputs), "run");
      const double dt = now_ms() - t0;
      for (size_t i = 0; i < n_out; ++i) normrt_tensor_release(outputs[i]);
      if (r >= 0) t[v][r] = dt;
    }
  }
  for (int r = 0; r < rounds; ++r) ratio[r] = t[0][r] / t[1][r];
  qsort(t[0], rounds, sizeof(double), by_value);
  qsort(t[1], rounds, sizeof(double), by_value);
  qsort(ratio, rounds, sizeof(double), by_value);
  printf("NORMRT_EXPERIMENT=0: median %.3f ms   NORMRT_EXPERIMENT=1: median %.3f ms   time(0) / time(1): median %.3f (p10 %.3f, p90 %.3f), %d rounds\n",
         t[0][rounds / 2], t[1][rounds / 2], ratio[rounds / 2], ratio[rounds / 10], ratio[rounds * 9 / 10], rounds);
  for (size_t i = 0; i < n_in; ++i) normrt_tensor_release(inputs[i]);
  normrt_session_release(sessions[0]);
  normrt_session_release(sessions[1]);
  return 0;
}
