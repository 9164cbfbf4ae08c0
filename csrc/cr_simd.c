/* The kernels of cr_simd.h, each defined once. On x86-64 with GCC or clang each has an AVX2 copy
 * and a baseline copy, compiled from the same inline body and picked per call by the CPU's
 * features: the same operations in the same order and no FMA (ISO C mode keeps floating-point
 * contraction off), so both give bit-identical results. (Explicit copies, not target_clones: GCC
 * and clang disagree on multiversioned functions called from other files.) */

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "cr_simd.h"

static inline __attribute__((always_inline)) double sumsq(const float *x, size_t n, int *finite)
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

typedef float cr_v8 __attribute__((vector_size(32)));
enum { ROWS = 4 }; /* rows that share a pass over a: independent sums in flight hide the adds' latency */

/* out[q] = the sum over i < n of a[i] * b[q n + i] (diff 0) or of (a[i] - b[q n + i])^2 (diff 1),
 * for q < m, in one fixed order: 16 lanes (lane l sums the i = l mod 16 of the whole 16-float
 * blocks), halved pairwise (lane l += lane l + w for w = 8, 4, 2, 1), then the tail in order.
 * Every row's order is the same whatever m, so its sum is too. Vectorised without -ffast-math. */
static inline __attribute__((always_inline)) void block_sums(int diff, int m, const float *a, const float *b,
                                                             size_t n, float *out)
{
    cr_v8 acc[ROWS][2];
    for (int q = 0; q < m; q++) acc[q][0] = acc[q][1] = (cr_v8){0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        cr_v8 x0, x1, y0, y1;
        memcpy(&x0, a + i, sizeof x0);
        memcpy(&x1, a + i + 8, sizeof x1);
        for (int q = 0; q < m; q++) {
            memcpy(&y0, b + (size_t)q * n + i, sizeof y0);
            memcpy(&y1, b + (size_t)q * n + i + 8, sizeof y1);
            if (diff) {
                y0 = x0 - y0;
                y1 = x1 - y1;
                acc[q][0] += y0 * y0;
                acc[q][1] += y1 * y1;
            } else {
                acc[q][0] += x0 * y0;
                acc[q][1] += x1 * y1;
            }
        }
    }
    for (int q = 0; q < m; q++) {
        const float *row = b + (size_t)q * n;
        float lane[16];
        memcpy(lane, &acc[q][0], sizeof acc[q][0]);
        memcpy(lane + 8, &acc[q][1], sizeof acc[q][1]);
        for (int w = 8; w > 0; w /= 2)
            for (int l = 0; l < w; l++) lane[l] += lane[l + w];
        float sum = lane[0];
        for (size_t j = i; j < n; j++) {
            float t = diff ? a[j] - row[j] : a[j];
            sum += diff ? t * t : t * row[j];
        }
        out[q] = sum;
    }
}

/* block_sums over `count` rows of n floats, ROWS at a time. */
static inline __attribute__((always_inline)) void row_sums(int diff, const float *a, const float *rows, size_t count, size_t n, float *out)
{
    size_t r = 0;
    if (diff) {
        for (; r + ROWS <= count; r += ROWS) block_sums(1, ROWS, a, rows + r * n, n, out + r);
        for (; r < count; r++) block_sums(1, 1, a, rows + r * n, n, out + r);
    } else {
        for (; r + ROWS <= count; r += ROWS) block_sums(0, ROWS, a, rows + r * n, n, out + r);
        for (; r < count; r++) block_sums(0, 1, a, rows + r * n, n, out + r);
    }
}

#if CR_X86_COPIES
__attribute__((target("avx2"))) static double sumsq_avx2(const float *x, size_t n, int *finite)
{
    return sumsq(x, n, finite);
}

static double sumsq_base(const float *x, size_t n, int *finite) { return sumsq(x, n, finite); }

__attribute__((target("avx2"))) static void row_sums_avx2(int diff, const float *a, const float *rows, size_t count,
                                                          size_t n, float *out)
{
    row_sums(diff, a, rows, count, n, out);
}

static void row_sums_base(int diff, const float *a, const float *rows, size_t count, size_t n, float *out)
{
    row_sums(diff, a, rows, count, n, out);
}

double cr_sumsq_checked(const float *x, size_t n, int *finite)
{
    return __builtin_cpu_supports("avx2") ? sumsq_avx2(x, n, finite) : sumsq_base(x, n, finite);
}

void cr_row_sums(int diff, const float *a, const float *rows, size_t count, size_t n, float *out)
{
    if (__builtin_cpu_supports("avx2"))
        row_sums_avx2(diff, a, rows, count, n, out);
    else
        row_sums_base(diff, a, rows, count, n, out);
}
#else
double cr_sumsq_checked(const float *x, size_t n, int *finite) { return sumsq(x, n, finite); }

void cr_row_sums(int diff, const float *a, const float *rows, size_t count, size_t n, float *out)
{
    row_sums(diff, a, rows, count, n, out);
}
#endif
