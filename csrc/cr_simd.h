/* Kernels the C files share inside the extension (csrc/cr_simd.c; not part of the API in
 * cr_api.h), defined once: a static copy per file would give clang one ifunc resolver per file
 * under the same name. CR_HOT marks a file's own static kernels for AVX2 copies. */
#ifndef CR_SIMD_H
#define CR_SIMD_H

#include <stddef.h>

/* On x86-64 Linux, GCC and clang also build AVX2 copies of the static kernels marked CR_HOT, which
 * the loader picks once on CPUs that have them (an ifunc); cr_simd.c's shared kernels have such
 * copies too, picked per call (CR_X86_COPIES). Same operations in the same order and no FMA
 * (ISO C mode keeps floating-point contraction off), so both copies give bit-identical results. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(CR_NO_CLONES)
#define CR_HOT __attribute__((target_clones("avx2", "default")))
#define CR_X86_COPIES 1
#else
#define CR_HOT
#define CR_X86_COPIES 0
#endif

/* Sum of squares in double, over 16 lanes halved pairwise, then the tail: finite for any finite
 * float input, so overflow is never mistaken for an infinity in the data, and denormals still
 * count. *finite is 0 when a value is NaN or infinite. */
double cr_sumsq_checked(const float *x, size_t n, int *finite);

/* out[q] = the sum over i < n of a[i] * rows[q n + i] (diff 0) or of (a[i] - rows[q n + i])^2
 * (diff 1) for q < count, each in one fixed order whatever count (see cr_simd.c), so a row's sum
 * is the same bits alone or among others. */
void cr_row_sums(int diff, const float *a, const float *rows, size_t count, size_t n, float *out);

#endif
