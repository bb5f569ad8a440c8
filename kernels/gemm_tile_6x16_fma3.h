// The AVX2 + FMA SGEMM tile's k loop (6 rows x 16 columns, 12 ymm accumulators) in x86-64 assembly.
//
// Why assembly: the loop needs 15 of AVX2's 16 vector registers (12 accumulators, 2 B vectors, a
// broadcast), and GCC 12 compiles it, written with xsimd (gemm_simd.h's `step`) or with plain
// _mm256 intrinsics, into code that rotates accumulators through the B registers with
// vfmadd132ps, adds register moves and spills one accumulator to the stack and back every 4
// steps, putting a store-to-load round trip on that accumulator's chain. Here each step is 2 aligned B loads, 6 broadcasts and 12 FMAs on fixed
// registers (ymm0-1 B, ymm2-3 A, ymm4-15 C), nothing else. Measured on Zen 3 in a standalone
// harness sweeping packed panels as gemm.cpp does (A 132 x kc, B kc x 768), against the intrinsics
// loop, both -O3: kc = 768 94.0 against 77.4 GFLOP/s, kc = 256 94.7 against 77.1, kc = 64 91.7
// against 74.4, kc = 40 (attention heads of 40) 75.2 against 59.3.
//
// Same bits as the portable tile: every accumulator is one FMA chain over k in order, acc =
// a[p] * b[p] + acc, starting from +0.
#pragma once
#include <cstdint>

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#define NORMRT_GEMM_TILE_6X16_FMA3 1

namespace normrt::kernels::simd {

// One step of k: B's 16 values at byte offset 64 * s from b, A's 6 at the addresses a0..a5.
#define NORMRT_TILE_STEP(s, a0, a1, a2, a3, a4, a5) \
  "vmovaps 64*" #s "(%[b]), %%ymm0\n\t"              \
  "vmovaps 64*" #s "+32(%[b]), %%ymm1\n\t"           \
  "vbroadcastss " a0 ", %%ymm2\n\t"                  \
  "vfmadd231ps %%ymm0, %%ymm2, %%ymm4\n\t"           \
  "vfmadd231ps %%ymm1, %%ymm2, %%ymm5\n\t"           \
  "vbroadcastss " a1 ", %%ymm3\n\t"                  \
  "vfmadd231ps %%ymm0, %%ymm3, %%ymm6\n\t"           \
  "vfmadd231ps %%ymm1, %%ymm3, %%ymm7\n\t"           \
  "vbroadcastss " a2 ", %%ymm2\n\t"                  \
  "vfmadd231ps %%ymm0, %%ymm2, %%ymm8\n\t"           \
  "vfmadd231ps %%ymm1, %%ymm2, %%ymm9\n\t"           \
  "vbroadcastss " a3 ", %%ymm3\n\t"                  \
  "vfmadd231ps %%ymm0, %%ymm3, %%ymm10\n\t"          \
  "vfmadd231ps %%ymm1, %%ymm3, %%ymm11\n\t"          \
  "vbroadcastss " a4 ", %%ymm2\n\t"                  \
  "vfmadd231ps %%ymm0, %%ymm2, %%ymm12\n\t"          \
  "vfmadd231ps %%ymm1, %%ymm2, %%ymm13\n\t"          \
  "vbroadcastss " a5 ", %%ymm3\n\t"                  \
  "vfmadd231ps %%ymm0, %%ymm3, %%ymm14\n\t"          \
  "vfmadd231ps %%ymm1, %%ymm3, %%ymm15\n\t"

// Packed A: step s's 6 values are contiguous, 24 bytes per step.
#define NORMRT_TILE_STEP_PACKED(s)                                                                               \
  NORMRT_TILE_STEP(s, "24*" #s "(%[a])", "24*" #s "+4(%[a])", "24*" #s "+8(%[a])", "24*" #s "+12(%[a])", \
                   "24*" #s "+16(%[a])", "24*" #s "+20(%[a])")
// Row-major A read in place: rows 0-2 from a, rows 3-5 from a3 = a + 3 rows, lda bytes apart.
#define NORMRT_TILE_STEP_ROWS(s)                                                                                          \
  NORMRT_TILE_STEP(s, "4*" #s "(%[a])", "4*" #s "(%[a],%[lda],1)", "4*" #s "(%[a],%[lda],2)", "4*" #s "(%[a3])", \
                   "4*" #s "(%[a3],%[lda],1)", "4*" #s "(%[a3],%[lda],2)")

#define NORMRT_TILE_ZERO                \
  "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"   \
  "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"   \
  "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"   \
  "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"   \
  "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"   \
  "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"   \
  "vxorps %%ymm10, %%ymm10, %%ymm10\n\t" \
  "vxorps %%ymm11, %%ymm11, %%ymm11\n\t" \
  "vxorps %%ymm12, %%ymm12, %%ymm12\n\t" \
  "vxorps %%ymm13, %%ymm13, %%ymm13\n\t" \
  "vxorps %%ymm14, %%ymm14, %%ymm14\n\t" \
  "vxorps %%ymm15, %%ymm15, %%ymm15\n\t"

// The 12 sums into C (6 rows, ldc bytes apart, from c), added to what C holds when accumulate.
// `quads` is 0 here and holds row 3's address from then on.
#define NORMRT_TILE_STORE                         \
  "lea (%[c],%[ldc],2), %[quads]\n\t"             \
  "add %[ldc], %[quads]\n\t"                      \
  "cmpb $0, %[accumulate]\n\t"                    \
  "jz 5f\n\t"                                     \
  "vaddps (%[c]), %%ymm4, %%ymm4\n\t"             \
  "vaddps 32(%[c]), %%ymm5, %%ymm5\n\t"           \
  "vaddps (%[c],%[ldc],1), %%ymm6, %%ymm6\n\t"    \
  "vaddps 32(%[c],%[ldc],1), %%ymm7, %%ymm7\n\t"  \
  "vaddps (%[c],%[ldc],2), %%ymm8, %%ymm8\n\t"    \
  "vaddps 32(%[c],%[ldc],2), %%ymm9, %%ymm9\n\t"  \
  "vaddps (%[quads]), %%ymm10, %%ymm10\n\t"       \
  "vaddps 32(%[quads]), %%ymm11, %%ymm11\n\t"     \
  "vaddps (%[quads],%[ldc],1), %%ymm12, %%ymm12\n\t" \
  "vaddps 32(%[quads],%[ldc],1), %%ymm13, %%ymm13\n\t" \
  "vaddps (%[quads],%[ldc],2), %%ymm14, %%ymm14\n\t" \
  "vaddps 32(%[quads],%[ldc],2), %%ymm15, %%ymm15\n" \
  "5:\n\t"                                        \
  "vmovups %%ymm4, (%[c])\n\t"                    \
  "vmovups %%ymm5, 32(%[c])\n\t"                  \
  "vmovups %%ymm6, (%[c],%[ldc],1)\n\t"           \
  "vmovups %%ymm7, 32(%[c],%[ldc],1)\n\t"         \
  "vmovups %%ymm8, (%[c],%[ldc],2)\n\t"           \
  "vmovups %%ymm9, 32(%[c],%[ldc],2)\n\t"         \
  "vmovups %%ymm10, (%[quads])\n\t"               \
  "vmovups %%ymm11, 32(%[quads])\n\t"             \
  "vmovups %%ymm12, (%[quads],%[ldc],1)\n\t"      \
  "vmovups %%ymm13, 32(%[quads],%[ldc],1)\n\t"    \
  "vmovups %%ymm14, (%[quads],%[ldc],2)\n\t"      \
  "vmovups %%ymm15, 32(%[quads],%[ldc],2)\n\t"

// Both loops over k: `quads` steps of 4 (STEP(0) to STEP(3), then A's pointers move by
// advance_quad, B's by 4 steps, the prefetch by one line), then `singles` single steps, then the
// store. The accumulators start at +0.
#define NORMRT_TILE_LOOPS(STEP, advance_quad, advance_single) \
  NORMRT_TILE_ZERO                                            \
  "test %[quads], %[quads]\n\t"                               \
  "jz 2f\n\t"                                                 \
  ".p2align 5\n"                                              \
  "1:\n\t"                                                    \
  "prefetcht0 (%[pf])\n\t" STEP(0) STEP(1) STEP(2) STEP(3)     \
  advance_quad                                                \
  "add $256, %[b]\n\t"                                        \
  "add %[pf_step], %[pf]\n\t"                                 \
  "dec %[quads]\n\t"                                          \
  "jnz 1b\n"                                                  \
  "2:\n\t"                                                    \
  "test %[singles], %[singles]\n\t"                           \
  "jz 4f\n"                                                   \
  "3:\n\t" STEP(0)                                            \
  advance_single                                              \
  "add $64, %[b]\n\t"                                         \
  "dec %[singles]\n\t"                                        \
  "jnz 3b\n"                                                  \
  "4:\n\t" NORMRT_TILE_STORE

#define NORMRT_TILE_CLOBBERS                                                                                              \
  "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
      "xmm13", "xmm14", "xmm15"

// Without a prefetch target the loops prefetch the same line of a static block every 4 steps (an
// L1 hit) rather than carrying a second copy of the loop.
alignas(64) inline const float gemm_tile_no_prefetch_target[16] = {};

// c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + sum over p < kc of a[p * 6 + i] * b[p * 16 + j],
// for i < 6 and j < 16 (b 32-byte aligned). prefetch (may be null): one line every 4 steps from
// there on, as gemm_simd.h's tile does.
inline void gemm_tile_6x16_fma3(int64_t kc, const float* a, const float* b, const float* prefetch, float* c, int64_t ldc,
                                bool accumulate) {
  const int64_t prefetch_step = prefetch ? 64 : 0;
  if (!prefetch) prefetch = gemm_tile_no_prefetch_target;
  int64_t quads = kc / 4, singles = kc % 4;
  const int64_t ldc_bytes = ldc * static_cast<int64_t>(sizeof(float));
  asm volatile(NORMRT_TILE_LOOPS(NORMRT_TILE_STEP_PACKED, "add $96, %[a]\n\t", "add $24, %[a]\n\t")
               : [a] "+r"(a), [b] "+r"(b), [quads] "+r"(quads), [singles] "+r"(singles), [pf] "+r"(prefetch)
               : [c] "r"(c), [ldc] "r"(ldc_bytes), [accumulate] "m"(accumulate), [pf_step] "m"(prefetch_step)
               : NORMRT_TILE_CLOBBERS);
}

// The same with A's 6 rows read in place, row i at a + i * lda floats (attention's P V product
// reads the probabilities this way); the sums are bit for bit those of the packed form.
inline void gemm_tile_6x16_fma3_rows(int64_t kc, const float* a, int64_t lda, const float* b, const float* prefetch, float* c,
                                     int64_t ldc, bool accumulate) {
  const int64_t prefetch_step = prefetch ? 64 : 0;
  if (!prefetch) prefetch = gemm_tile_no_prefetch_target;
  int64_t quads = kc / 4, singles = kc % 4;
  const int64_t ldc_bytes = ldc * static_cast<int64_t>(sizeof(float));
  const int64_t lda_bytes = lda * static_cast<int64_t>(sizeof(float));
  const float* a3 = a + 3 * lda;
  asm volatile(NORMRT_TILE_LOOPS(NORMRT_TILE_STEP_ROWS, "add $16, %[a]\n\tadd $16, %[a3]\n\t", "add $4, %[a]\n\tadd $4, %[a3]\n\t")
               : [a] "+r"(a), [a3] "+r"(a3), [b] "+r"(b), [quads] "+r"(quads), [singles] "+r"(singles), [pf] "+r"(prefetch)
               : [c] "r"(c), [ldc] "r"(ldc_bytes), [accumulate] "m"(accumulate), [pf_step] "m"(prefetch_step), [lda] "r"(lda_bytes)
               : NORMRT_TILE_CLOBBERS);
}

#undef NORMRT_TILE_STEP
#undef NORMRT_TILE_STEP_PACKED
#undef NORMRT_TILE_STEP_ROWS
#undef NORMRT_TILE_ZERO
#undef NORMRT_TILE_STORE
#undef NORMRT_TILE_LOOPS
#undef NORMRT_TILE_CLOBBERS

}  // namespace normrt::kernels::simd

#endif
