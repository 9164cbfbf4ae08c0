/* Nearest-centroid routing: the scoring rule of UniRoute's cluster router.
 * C99, no Python.h, no global state; only cr_index_new allocates. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cr_api.h"
#include "cr_simd.h"

struct cr_index {
    int32_t k, d, m;
    float *centroids;    /* k x d, unit rows */
    float *error_rates;  /* k x m */
    double *costs;       /* m */
};

const char *cr_strerror(int status)
{
    switch (status) {
    case CR_OK: return "ok";
    case CR_ERR_NULL: return "a required pointer was NULL";
    case CR_ERR_SHAPE: return "a dimension is out of range";
    case CR_ERR_NONFINITE: return "an input contains NaN or infinity";
    case CR_ERR_RANGE: return "a value is out of range (error rate outside [0, 1] or negative cost)";
    case CR_ERR_NOMEM: return "out of memory";
    case CR_ERR_NO_ELIGIBLE: return "no model is eligible";
    case CR_ERR_ZERO_VECTOR: return "a vector has zero norm";
    default: return "unknown status";
    }
}

int cr_abi_version(void) { return CR_ABI_VERSION; }

/* 32 independent float accumulators, enough in flight to hide the latency of each vector add.
 * Indices are size_t: with int32_t ones, -fwrapv (which Python's build flags add) blocks
 * vectorisation. acc[l] sums a[i + l] * b[i + l] over the 32-float blocks, the halves are then
 * added pairwise (acc[l] += acc[l + w] for w = 16, 8, 4, 2, 1), then the tail: every compiler
 * and every copy gives that same order, so the same bits. */
#if defined(__GNUC__)
/* GCC and clang: the 32 accumulators as four 8-float vectors (one AVX2 register each, two SSE
 * registers in the default copy), which keep them in registers through the halving sums. */
typedef float cr_v8f __attribute__((vector_size(32)));
/* The same type at float alignment, for loads from any float pointer. */
typedef float cr_v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define LOAD8(p) (*(const cr_v8u *)(const void *)(p))

CR_HOT static float dot_f(const float *a, const float *b, size_t n)
{
    cr_v8f acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 += LOAD8(a + i) * LOAD8(b + i);
        acc1 += LOAD8(a + i + 8) * LOAD8(b + i + 8);
        acc2 += LOAD8(a + i + 16) * LOAD8(b + i + 16);
        acc3 += LOAD8(a + i + 24) * LOAD8(b + i + 24);
    }
    cr_v8f h = (acc0 + acc2) + (acc1 + acc3); /* w = 16, then w = 8 */
    float s = ((h[0] + h[4]) + (h[2] + h[6])) + ((h[1] + h[5]) + (h[3] + h[7])); /* w = 4, 2, 1 */
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#else
CR_HOT static float dot_f(const float *a, const float *b, size_t n)
{
    float acc[32] = {0};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int l = 0; l < 32; l++) acc[l] += a[i + l] * b[i + l];
    for (int w = 16; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    float s = acc[0];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#endif

static double dot_d(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

int cr_index_new(int32_t k, int32_t d, int32_t m, const float *centroids,
                 const float *error_rates, const double *costs, cr_index **out)
{
    if (!centroids || !error_rates || !costs || !out) return CR_ERR_NULL;
    *out = NULL;
    if (k < 1 || d < 1 || m < 1 || k > CR_MAX_CLUSTERS || d > CR_MAX_DIM || m > CR_MAX_MODELS)
        return CR_ERR_SHAPE;
    size_t kd = (size_t)k * (size_t)d, km = (size_t)k * (size_t)m;
    for (size_t i = 0; i < km; i++) {
        if (!isfinite(error_rates[i])) return CR_ERR_NONFINITE;
        if (error_rates[i] < 0.0f || error_rates[i] > 1.0f) return CR_ERR_RANGE;
    }
    for (int32_t j = 0; j < m; j++) {
        if (!isfinite(costs[j])) return CR_ERR_NONFINITE;
        if (costs[j] < 0.0) return CR_ERR_RANGE;
    }
    for (int32_t c = 0; c < k; c++) {
        int finite;
        double ss = cr_sumsq_checked(centroids + (size_t)c * d, d, &finite);
        if (!finite) return CR_ERR_NONFINITE;
        if (ss == 0.0) return CR_ERR_ZERO_VECTOR;
    }
    cr_index *ix = calloc(1, sizeof *ix);
    if (!ix) return CR_ERR_NOMEM;
    ix->centroids = malloc(kd * sizeof(float));
    ix->error_rates = malloc(km * sizeof(float));
    ix->costs = malloc((size_t)m * sizeof(double));
    if (!ix->centroids || !ix->error_rates || !ix->costs) {
        cr_index_free(ix);
        return CR_ERR_NOMEM;
    }
    ix->k = k;
    ix->d = d;
    ix->m = m;
    for (int32_t c = 0; c < k; c++) {
        const float *src = centroids + (size_t)c * d;
        float *dst = ix->centroids + (size_t)c * d;
        int finite;
        double inv = 1.0 / sqrt(cr_sumsq_checked(src, d, &finite));
        for (int32_t i = 0; i < d; i++) dst[i] = (float)((double)src[i] * inv);
    }
    memcpy(ix->error_rates, error_rates, km * sizeof(float));
    memcpy(ix->costs, costs, (size_t)m * sizeof(double));
    *out = ix;
    return CR_OK;
}

void cr_index_free(cr_index *index)
{
    if (!index) return;
    free(index->centroids);
    free(index->error_rates);
    free(index->costs);
    free(index);
}

int cr_index_shape(const cr_index *index, int32_t *k, int32_t *d, int32_t *m)
{
    if (!index || !k || !d || !m) return CR_ERR_NULL;
    *k = index->k;
    *d = index->d;
    *m = index->m;
    return CR_OK;
}

/* Does model a rank before model b? Lower score, then lower cost, then lower index. */
static int ranks_before(float sa, double ca, int32_t a, float sb, double cb, int32_t b)
{
    if (sa != sb) return sa < sb;
    if (ca != cb) return ca < cb;
    return a < b;
}

/* The embedding's nearest centroid (cosine): *best, its similarity *s1 and the second best *s2;
 * each similarity in sims[c] when sims is not NULL. */
static int nearest(const cr_index *ix, const float *e, float *sims, int32_t *best_out, double *s1_out,
                   double *s2_out)
{
    const int32_t k = ix->k, d = ix->d;
    int finite;
    double ss = cr_sumsq_checked(e, (size_t)d, &finite);
    if (!finite) return CR_ERR_NONFINITE;
    if (ss == 0.0) return CR_ERR_ZERO_VECTOR;
    double norm = sqrt(ss);
    /* Float dots are exact enough for a unit-scale vector; far outside it (huge or denormal
     * entries) the double path keeps the products representable. */
    int use_float = norm > 1e-15 && norm < 1e15;

    int32_t best = 0;
    double s1 = -INFINITY, s2 = -INFINITY;
    for (int32_t c = 0; c < k; c++) {
        const float *cent = ix->centroids + (size_t)c * d;
        double s = (use_float ? (double)dot_f(cent, e, (size_t)d) : dot_d(cent, e, (size_t)d)) / norm;
        if (sims) sims[c] = (float)s;
        if (s > s1) {
            s2 = s1;
            s1 = s;
            best = c;
        } else if (s > s2) {
            s2 = s;
        }
    }
    *best_out = best;
    *s1_out = s1;
    *s2_out = s2;
    return CR_OK;
}

/* The eligible models' lowest cost *cmin and cost span *span; returns how many are eligible. */
static int32_t cost_range(const cr_index *ix, const uint8_t *eligible, double *cmin_out, double *span_out)
{
    double cmin = INFINITY, cmax = -INFINITY;
    int32_t n = 0;
    for (int32_t j = 0; j < ix->m; j++) {
        if (eligible && !eligible[j]) continue;
        if (ix->costs[j] < cmin) cmin = ix->costs[j];
        if (ix->costs[j] > cmax) cmax = ix->costs[j];
        n++;
    }
    *cmin_out = cmin;
    *span_out = cmax - cmin;
    return n;
}

/* sims[c] (similarities) to softmax weights at the temperature, shifted by the best similarity so
 * exp() cannot overflow. */
static void soft_weights(const cr_index *ix, float *sims, int32_t best, double temperature)
{
    double wsum = 0.0;
    const double top = (double)sims[best]; /* the stored (float) maximum, not s1 */
    for (int32_t c = 0; c < ix->k; c++) {
        double w = exp(((double)sims[c] - top) / temperature);
        sims[c] = (float)w;
        wsum += w;
    }
    for (int32_t c = 0; c < ix->k; c++) sims[c] = (float)((double)sims[c] / wsum);
}

enum { CHUNK = 64 }; /* models mixed a pass: each model's sum still runs over the clusters in order */

/* mixed[u] = models j .. j + width - 1's rates mixed over the clusters by the weights w. */
static void mix(const cr_index *ix, const float *w, int32_t j, int32_t width, double *mixed)
{
    for (int32_t u = 0; u < width; u++) mixed[u] = 0.0;
    for (int32_t c = 0; c < ix->k; c++) {
        const double wc = (double)w[c];
        const float *row = ix->error_rates + (size_t)c * ix->m + j;
        for (int32_t u = 0; u < width; u++) mixed[u] += wc * (double)row[u];
    }
}

/* Insert model j (expected error err) into the first *filled places of the ranking, by (score,
 * cost, index): insertion sort, M is small and it needs no scratch memory. */
static void insert_ranked(const cr_index *ix, int32_t j, double err, double lam, double cmin, double span,
                          int32_t *ranking, float *scores, float *errors, int32_t *filled)
{
    double nc = span > 0.0 ? (ix->costs[j] - cmin) / span : 0.0;
    float sc = (float)(err + lam * nc);
    int32_t q = *filled;
    while (q > 0 && ranks_before(sc, ix->costs[j], j, scores[q - 1], ix->costs[ranking[q - 1]], ranking[q - 1])) {
        ranking[q] = ranking[q - 1];
        scores[q] = scores[q - 1];
        errors[q] = errors[q - 1];
        q--;
    }
    ranking[q] = j;
    scores[q] = sc;
    errors[q] = (float)err;
    (*filled)++;
}

/* The derived tier rule's inputs, each expected error recomputed from its (float) score, and the
 * count, into res. */
static void finish(const cr_index *ix, double lam, int32_t n, double cmin, double span, const int32_t *ranking,
                   const float *scores, cr_result *res)
{
    double best_err = INFINITY, cheapest_err = INFINITY;
    for (int32_t q = 0; q < n; q++) {
        const double cost = ix->costs[ranking[q]];
        const double e = (double)scores[q] - lam * (span > 0.0 ? (cost - cmin) / span : 0.0);
        if (e < best_err) best_err = e;
        if (cost == cmin && e < cheapest_err) cheapest_err = e;
    }
    res->n_ranked = n;
    res->best_error = best_err;
    res->cheapest_error = cheapest_err;
}

static int route_one(const cr_index *ix, const float *e, const uint8_t *eligible, const cr_params *p,
                     cr_result *res, int32_t *ranking, float *scores, float *errors, float *sims)
{
    int32_t best;
    double s1, s2, cmin, span;
    int st = nearest(ix, e, sims, &best, &s1, &s2);
    if (st != CR_OK) return st;
    int32_t n = cost_range(ix, eligible, &cmin, &span);
    if (n == 0) return CR_ERR_NO_ELIGIBLE;
    const int32_t m = ix->m;
    const float *rates = ix->error_rates + (size_t)best * m;
    const int soft = p->temperature > 0.0 && ix->k > 1;
    if (soft) soft_weights(ix, sims, best, p->temperature);
    double mixed[CHUNK];
    int32_t filled = 0;
    for (int32_t j = 0; j < m; j++) {
        if (soft && j % CHUNK == 0) mix(ix, sims, j, m - j < CHUNK ? m - j : CHUNK, mixed);
        if (eligible && !eligible[j]) continue;
        insert_ranked(ix, j, soft ? mixed[j % CHUNK] : (double)rates[j], p->lam, cmin, span, ranking, scores, errors,
                      &filled);
    }
    finish(ix, p->lam, n, cmin, span, ranking, scores, res);
    res->cluster = best;
    res->similarity = (float)s1;
    res->margin = ix->k > 1 ? (float)(s1 - s2) : 2.0f;
    return CR_OK;
}

static int check_route_args(const cr_index *ix, const void *e, const cr_params *p, const void *res,
                            const void *ranking, const void *scores, const void *errors, const void *scratch)
{
    if (!ix || !e || !p || !res || !ranking || !scores || !errors) return CR_ERR_NULL;
    if (!isfinite(p->lam) || !isfinite(p->temperature)) return CR_ERR_NONFINITE;
    if (p->lam < 0.0 || p->lam > 1e6 || p->temperature < 0.0) return CR_ERR_RANGE;
    if (p->temperature > 0.0 && !scratch) return CR_ERR_NULL;
    return CR_OK;
}

int cr_route(const cr_index *index, const float *embedding, int32_t d, const uint8_t *eligible,
             const cr_params *params, cr_result *result, int32_t *ranking, float *scores,
             float *errors, float *similarities)
{
    int st = check_route_args(index, embedding, params, result, ranking, scores, errors, similarities);
    if (st != CR_OK) return st;
    if (d != index->d) return CR_ERR_SHAPE;
    return route_one(index, embedding, eligible, params, result, ranking, scores, errors, similarities);
}

int cr_route_batch(const cr_index *index, int32_t n, int32_t d, const float *embeddings,
                   const uint8_t *eligible, const cr_params *params, cr_result *results,
                   int32_t *rankings, float *scores, float *errors, float *work,
                   int32_t *failed_row)
{
    int st = check_route_args(index, embeddings, params, results, rankings, scores, errors, work);
    if (st != CR_OK) return st;
    if (!failed_row) return CR_ERR_NULL;
    *failed_row = -1;
    if (n < 0 || d != index->d) return CR_ERR_SHAPE;
    const size_t m = (size_t)index->m;
    for (int32_t i = 0; i < n; i++) {
        st = route_one(index, embeddings + (size_t)i * (size_t)d, eligible, params, results + i, rankings + (size_t)i * m,
                       scores + (size_t)i * m, errors + (size_t)i * m, params->temperature > 0.0 ? work : NULL);
        if (st != CR_OK) {
            *failed_row = i;
            return st;
        }
    }
    return CR_OK;
}

int cr_expected_errors(const cr_index *index, int32_t n, int32_t d, const float *embeddings, double temperature,
                       float *work, double *expected, int32_t *failed_row)
{
    if (!index || !embeddings || !work || !expected || !failed_row) return CR_ERR_NULL;
    *failed_row = -1;
    if (!isfinite(temperature)) return CR_ERR_NONFINITE;
    if (temperature < 0.0) return CR_ERR_RANGE;
    if (n < 0 || d != index->d) return CR_ERR_SHAPE;
    const int32_t m = index->m;
    const int soft = temperature > 0.0 && index->k > 1;
    for (int32_t i = 0; i < n; i++) {
        int32_t best;
        double s1, s2, *out = expected + (size_t)i * (size_t)m;
        int st = nearest(index, embeddings + (size_t)i * (size_t)d, work, &best, &s1, &s2);
        if (st != CR_OK) {
            *failed_row = i;
            return st;
        }
        if (!soft) {
            for (int32_t j = 0; j < m; j++) out[j] = (double)index->error_rates[(size_t)best * m + j];
            continue;
        }
        soft_weights(index, work, best, temperature);
        for (int32_t j = 0; j < m; j += CHUNK) mix(index, work, j, m - j < CHUNK ? m - j : CHUNK, out + j);
    }
    return CR_OK;
}

int cr_rank_errors(const cr_index *index, int32_t n, const double *expected, const uint8_t *eligible,
                   const cr_params *params, cr_result *results, int32_t *rankings, float *scores, float *errors,
                   int32_t *failed_row)
{
    /* no scratch here (the temperature is not used): expected stands in for it */
    int st = check_route_args(index, expected, params, results, rankings, scores, errors, expected);
    if (st != CR_OK) return st;
    if (!failed_row) return CR_ERR_NULL;
    *failed_row = -1;
    if (n < 0) return CR_ERR_SHAPE;
    const int32_t m = index->m;
    double cmin, span;
    int32_t count = cost_range(index, eligible, &cmin, &span);
    if (count == 0) return CR_ERR_NO_ELIGIBLE;
    for (int32_t i = 0; i < n; i++) {
        const double *row = expected + (size_t)i * (size_t)m;
        int32_t *ranking = rankings + (size_t)i * (size_t)m, filled = 0;
        float *sc = scores + (size_t)i * (size_t)m, *er = errors + (size_t)i * (size_t)m;
        for (int32_t j = 0; j < m; j++) {
            if (!isfinite(row[j]) || row[j] < 0.0) {
                *failed_row = i;
                return isfinite(row[j]) ? CR_ERR_RANGE : CR_ERR_NONFINITE;
            }
        }
        for (int32_t j = 0; j < m; j++)
            if (!eligible || eligible[j]) insert_ranked(index, j, row[j], params->lam, cmin, span, ranking, sc, er, &filled);
        finish(index, params->lam, count, cmin, span, ranking, sc, results + i);
        results[i].cluster = -1;
        results[i].similarity = 0.0f;
        results[i].margin = 0.0f;
    }
    return CR_OK;
}
