/* What the C files share inside the extension (not part of the API in cr_api.h). */
#ifndef CR_SIMD_H
#define CR_SIMD_H

#include <math.h>
#include <stddef.h>

/* On x86-64 Linux, GCC and clang also build AVX2 copies of the kernels marked CR_HOT, which the
 * loader picks once on CPUs that have them (an ifunc). Same operations in the same order and no FMA
 * (ISO C mode keeps floating-point contraction off), so both copies give bit-identical results. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(CR_NO_CLONES)
#define CR_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CR_HOT
#endif

/* Sum of squares in double, over 16 lanes halved pairwise, then the tail: finite for any finite
 * float input, so overflow is never mistaken for an infinity in the data, and denormals still
 * count. *finite is 0 when a value is NaN or infinite. */
CR_HOT static double sumsq_checked(const float *x, size_t n, int *finite)
{
    double acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] += (double)x[i + l] * (double)x[i + l];
    for (int w = 8; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    double s = acc[0];
    for (; i < n; i++) s += (double)x[i] * (double)x[i];
    *finite = isfinite(s) ? 1 : 0;
    return s;
}

#endif
