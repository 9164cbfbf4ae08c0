/* The learned maps' kernels: the knn-prior map of cactus_router.maps.KNNPrior, in C.
 *
 * errors(x)[j] = clip(1 - (k * knn_j + beta * (1 - prior_j)) / (k + beta), 0, 1), where knn_j is
 * model j's mean score over the k stored rows most similar to unit(x) (dot products; ties go to
 * the lower row index) and prior_j the cluster rule's expected error (cr_expected_errors). Each
 * row goes through the same code whether it is routed alone or in a batch, so the two agree bit
 * for bit. The NumPy reference is KNNPrior.errors_reference (tests/test_maps.py). */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cr_api.h"
#include "cr_simd.h"

enum { KNN_BLOCK = 64 }; /* stored rows whose similarities are computed a pass */

struct cr_knn {
    int32_t n, d, m, k;
    double beta;
    float *store;  /* n x d */
    float *scores; /* n x m, in [0, 1] */
};

void cr_knn_free(cr_knn *knn)
{
    if (knn == NULL) return;
    free(knn->store);
    free(knn->scores);
    free(knn);
}

int cr_knn_new(int32_t n, int32_t d, int32_t m, int32_t k, double beta, const float *store, const float *scores,
               cr_knn **out)
{
    if (out == NULL || store == NULL || scores == NULL) return CR_ERR_NULL;
    *out = NULL;
    if (n < 1 || n > CR_KNN_MAX_ROWS || d < 1 || d > CR_MAX_DIM || m < 1 || m > CR_MAX_MODELS || k < 1 || k > n)
        return CR_ERR_SHAPE;
    size_t nd = (size_t)n * (size_t)d, nm = (size_t)n * (size_t)m;
    if (!isfinite(beta)) return CR_ERR_NONFINITE;
    if (beta < 0.0 || beta > 1e6) return CR_ERR_RANGE;
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(store[i])) return CR_ERR_NONFINITE;
    for (size_t i = 0; i < nm; i++) {
        if (!isfinite(scores[i])) return CR_ERR_NONFINITE;
        if (scores[i] < 0.0f || scores[i] > 1.0f) return CR_ERR_RANGE;
    }
    cr_knn *t = calloc(1, sizeof *t);
    if (t == NULL) return CR_ERR_NOMEM;
    t->store = malloc(nd * sizeof(float));
    t->scores = malloc(nm * sizeof(float));
    if (t->store == NULL || t->scores == NULL) {
        cr_knn_free(t);
        return CR_ERR_NOMEM;
    }
    memcpy(t->store, store, nd * sizeof(float));
    memcpy(t->scores, scores, nm * sizeof(float));
    t->n = n; t->d = d; t->m = m; t->k = k; t->beta = beta;
    *out = t;
    return CR_OK;
}

int32_t cr_knn_work_floats(const cr_knn *knn)
{
    return knn == NULL ? 0 : knn->d + knn->k + KNN_BLOCK;
}

/* Is candidate (va, a) worse than (vb, b)? Lower similarity, then higher row index. */
static int worse(float va, int32_t a, float vb, int32_t b)
{
    return va < vb || (va == vb && a > b);
}

/* Restore the heap (its root the worst of its h candidates) below place q. */
static void sift_down(float *hv, int32_t *hi, int32_t h, int32_t q)
{
    for (;;) {
        int32_t l = 2 * q + 1, r = l + 1, w = q;
        if (l < h && worse(hv[l], hi[l], hv[w], hi[w])) w = l;
        if (r < h && worse(hv[r], hi[r], hv[w], hi[w])) w = r;
        if (w == q) return;
        float v = hv[q];
        int32_t i = hi[q];
        hv[q] = hv[w]; hi[q] = hi[w];
        hv[w] = v; hi[w] = i;
        q = w;
    }
}

/* Offer candidate (v, i) to a heap of at most k. */
static void offer(float *hv, int32_t *hi, int32_t *h, int32_t k, float v, int32_t i)
{
    if (*h < k) { /* sift up */
        int32_t q = (*h)++;
        while (q > 0 && worse(v, i, hv[(q - 1) / 2], hi[(q - 1) / 2])) {
            hv[q] = hv[(q - 1) / 2];
            hi[q] = hi[(q - 1) / 2];
            q = (q - 1) / 2;
        }
        hv[q] = v;
        hi[q] = i;
    } else if (worse(hv[0], hi[0], v, i)) {
        hv[0] = v;
        hi[0] = i;
        sift_down(hv, hi, *h, 0);
    }
}

static int ascending(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* One row: u (d), hv (k) and sims (KNN_BLOCK) floats and hi (k) ints are scratch. */
static int knn_row(const cr_knn *t, const float *x, const double *prior, float *u, float *hv, float *sims,
                   int32_t *hi, double *out)
{
    size_t d = (size_t)t->d, m = (size_t)t->m;
    int finite;
    double nn = cr_sumsq_checked(x, d, &finite);
    if (!finite) return CR_ERR_NONFINITE;
    if (nn == 0.0) return CR_ERR_ZERO_VECTOR;
    for (size_t j = 0; j < m; j++)
        if (!isfinite(prior[j]) || prior[j] < 0.0) return isfinite(prior[j]) ? CR_ERR_RANGE : CR_ERR_NONFINITE;
    double inv = 1.0 / sqrt(nn);
    for (size_t i = 0; i < d; i++) u[i] = (float)((double)x[i] * inv);
    int32_t h = 0;
    for (int32_t r0 = 0; r0 < t->n; r0 += KNN_BLOCK) {
        int32_t count = t->n - r0 < KNN_BLOCK ? t->n - r0 : KNN_BLOCK;
        cr_row_sums(0, u, t->store + (size_t)r0 * d, (size_t)count, d, sims);
        for (int32_t q = 0; q < count; q++) offer(hv, hi, &h, t->k, sims[q], r0 + q);
    }
    qsort(hi, (size_t)h, sizeof *hi, ascending); /* sum the neighbours' scores in row order */
    for (size_t j = 0; j < m; j++) out[j] = 0.0;
    for (int32_t q = 0; q < h; q++) {
        const float *row = t->scores + (size_t)hi[q] * m;
        for (size_t j = 0; j < m; j++) out[j] += (double)row[j];
    }
    const double k = (double)t->k;
    for (size_t j = 0; j < m; j++) {
        double quality = (out[j] + t->beta * (1.0 - prior[j])) / (k + t->beta); /* k * mean = the sum */
        double err = 1.0 - quality;
        out[j] = err < 0.0 ? 0.0 : (err > 1.0 ? 1.0 : err);
    }
    return CR_OK;
}

int cr_knn_errors(const cr_knn *knn, int32_t n, int32_t d, const float *embeddings, const double *prior,
                  float *work, int32_t *iwork, double *errors, int32_t *failed_row)
{
    if (knn == NULL || embeddings == NULL || prior == NULL || work == NULL || iwork == NULL || errors == NULL
        || failed_row == NULL)
        return CR_ERR_NULL;
    *failed_row = -1;
    if (n < 0 || d != knn->d) return CR_ERR_SHAPE;
    float *u = work, *hv = work + knn->d, *sims = hv + knn->k;
    size_t m = (size_t)knn->m;
    for (int32_t r = 0; r < n; r++) {
        int st = knn_row(knn, embeddings + (size_t)r * (size_t)d, prior + (size_t)r * m, u, hv, sims, iwork,
                         errors + (size_t)r * m);
        if (st != CR_OK) {
            *failed_row = r;
            return st;
        }
    }
    return CR_OK;
}
