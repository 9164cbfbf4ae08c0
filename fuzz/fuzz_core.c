/* libFuzzer harness for the C core: cr_index_new, cr_route, cr_route_batch, cr_hash_embed.
 *
 * The input bytes choose a target, shapes (K, D, M and N, including K=1, M=1, D=1 and the
 * CR_MAX_* limits) and values (from a palette of NaN, infinities, denormals, FLT_MAX, zero
 * vectors and out-of-range rates, or raw float bits). Outputs are allocated to their exact sizes so
 * AddressSanitizer sees any overrun. Beyond memory errors, the harness aborts when a call breaks
 * the contract in cr_api.h: a status outside the enum, a non-finite or unsorted score, a
 * ranking that is not a set of eligible models, soft-assignment weights that do not sum to 1.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc fuzz/fuzz_core.c csrc/cr_core.c csrc/cr_hash.c csrc/cr_maps.c csrc/cr_simd.c -lm
 *
 * Built with -DCR_STANDALONE (no libFuzzer), main() runs each file named on the command line
 * once: the driver valgrind runs over the corpus the fuzzer grew (see .ci/sanitizers.sh).
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cr_api.h"

typedef struct {
    const uint8_t *p;
    size_t n, i;
} stream;

static uint8_t next(stream *s) { return s->i < s->n ? s->p[s->i++] : (uint8_t)(s->i++ * 131u); }

static uint32_t next32(stream *s)
{
    uint32_t v = 0;
    for (int b = 0; b < 4; b++) v |= (uint32_t)next(s) << (8 * b);
    return v;
}

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "contract broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static const float SPECIAL_F[] = {
    0.0f, -0.0f, 1.0f, -1.0f, NAN, INFINITY, -INFINITY, FLT_MIN, 1e-45f, -1e-45f, 1e-40f,
    FLT_MAX, -FLT_MAX, 1e-20f, 1e20f, 0.5f, 1.0000001f, -0.0000001f, 3e38f, 1e-38f,
};
static const double SPECIAL_D[] = {
    0.0, -0.0, 1.0, -1.0, NAN, INFINITY, -INFINITY, DBL_MIN, 5e-324, 1e-300, 1e-12, 1e300,
    DBL_MAX, 0.5, 2.0, 10.0, 1e-6, 1e6, 1e12, -1e-300,
};
#define NSF (sizeof SPECIAL_F / sizeof SPECIAL_F[0])
#define NSD (sizeof SPECIAL_D / sizeof SPECIAL_D[0])

/* Mostly ordinary numbers in [-2, 2], sometimes a special value, sometimes raw bits. */
static float next_float(stream *s)
{
    uint8_t b = next(s);
    if (b < 200) return ((float)b - 100.0f) / 50.0f;
    if (b < 200 + NSF) return SPECIAL_F[b - 200];
    uint32_t bits = next32(s);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* A rate: mostly in [0, 1], sometimes special (out of range, NaN). */
static float next_rate(stream *s)
{
    uint8_t b = next(s);
    return b < 240 ? (float)b / 239.0f : SPECIAL_F[(b - 240) % NSF];
}

static double next_double(stream *s)
{
    uint8_t b = next(s);
    if (b < 200) return (double)b / 20.0;
    return SPECIAL_D[(b - 200) % NSD];
}

static void check_status(int st)
{
    CHECK(st >= CR_OK && st <= CR_ERR_ZERO_VECTOR);
    CHECK(cr_strerror(st) != NULL);
}

static int all_finite_f(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* One routed embedding's outputs obey the contract. */
static void check_result(const cr_result *r, const int32_t *ranking, const float *scores, const float *errors,
                         const float *sims, const uint8_t *eligible, int32_t k, int32_t m, double temperature)
{
    CHECK(r->cluster >= 0 && r->cluster < k);
    CHECK(r->n_ranked >= 1 && r->n_ranked <= m);
    CHECK(isfinite(r->similarity) && r->similarity >= -1.01f && r->similarity <= 1.01f);
    CHECK(isfinite(r->margin) && r->margin >= 0.0f);
    CHECK(isfinite(r->best_error) && isfinite(r->cheapest_error) && r->best_error <= r->cheapest_error);
    uint8_t *seen = calloc((size_t)m, 1);
    CHECK(seen != NULL);
    int32_t n_eligible = 0;
    for (int32_t j = 0; j < m; j++) n_eligible += !eligible || eligible[j];
    CHECK(r->n_ranked == n_eligible);
    for (int32_t q = 0; q < r->n_ranked; q++) {
        int32_t j = ranking[q];
        CHECK(j >= 0 && j < m && !seen[j] && (!eligible || eligible[j]));
        seen[j] = 1;
        CHECK(isfinite(scores[q]) && isfinite(errors[q]));
        CHECK(errors[q] >= -1e-6f && errors[q] <= 1.0f + 1e-6f);
        if (q > 0) CHECK(scores[q - 1] <= scores[q]);
    }
    free(seen);
    if (sims && temperature > 0.0 && k > 1) {
        double sum = 0.0;
        for (int32_t c = 0; c < k; c++) {
            CHECK(isfinite(sims[c]) && sims[c] >= 0.0f);
            sum += sims[c];
        }
        CHECK(fabs(sum - 1.0) < 1e-3);
    }
}

static void fuzz_hash(stream *s)
{
    static const size_t MAX_BYTES[] = {0, 1, 2, 3, 7, 64, 4096, 1 << 20};
    int32_t lo = next(s), hi = next(s);
    int32_t dim = (lo | (hi << 8)) - 2; /* -2 .. 65533 */
    if (next(s) & 1) dim = dim % 70;                       /* mostly small, D=1 included */
    size_t max_bytes = MAX_BYTES[next(s) % 8];
    const char *text = (const char *)s->p + (s->i < s->n ? s->i : s->n);
    size_t len = s->i < s->n ? s->n - s->i : 0;
    float *out = malloc((size_t)(dim > 0 ? dim : 1) * sizeof(float));
    CHECK(out != NULL);
    int st = cr_hash_embed(text, len, max_bytes, dim, out);
    check_status(st);
    if (dim < 1 || dim > CR_MAX_DIM || max_bytes < 2) CHECK(st == CR_ERR_SHAPE);
    if (st == CR_OK) {
        CHECK(all_finite_f(out, (size_t)dim));
        double ss = 0.0;
        for (int32_t i = 0; i < dim; i++) ss += (double)out[i] * out[i];
        CHECK(fabs(ss - 1.0) < 1e-3);
    }
    CHECK(cr_hash_embed(NULL, 0, 64, 8, out) == CR_ERR_NULL);
    free(out);
}

static void fuzz_route(stream *s)
{
    int32_t k, d, m;
    uint8_t shape = next(s);
    switch (shape % 16) {
    case 0: k = CR_MAX_CLUSTERS; d = 1; m = 1 + next(s) % 3; break;           /* huge K */
    case 1: k = 1; d = CR_MAX_DIM; m = 1; break;                               /* huge D */
    case 2: k = 1 + next(s) % 3; d = 1; m = CR_MAX_MODELS; break;              /* huge M */
    case 3: k = (int32_t)next(s) - 128; d = (int32_t)next(s) - 128; m = (int32_t)next(s) - 128; break;
    case 4: k = CR_MAX_CLUSTERS + 1; d = 1; m = 1; break;                      /* over the limits */
    case 5: k = 1; d = 1; m = 1; break;                                        /* K = D = M = 1 */
    default: k = 1 + next(s) % 40; d = 1 + next(s) % 48; m = 1 + next(s) % 12; break;
    }
    int valid_shape = k >= 1 && d >= 1 && m >= 1 && k <= CR_MAX_CLUSTERS && d <= CR_MAX_DIM && m <= CR_MAX_MODELS;
    size_t kk = valid_shape ? (size_t)k : 1, dd = valid_shape ? (size_t)d : 1, mm = valid_shape ? (size_t)m : 1;
    float *cent = malloc(kk * dd * sizeof(float));
    float *rates = malloc(kk * mm * sizeof(float));
    double *costs = malloc(mm * sizeof(double));
    CHECK(cent && rates && costs);
    for (size_t i = 0; i < kk * dd; i++) cent[i] = next_float(s);
    for (size_t i = 0; i < kk * mm; i++) rates[i] = next_rate(s);
    for (size_t j = 0; j < mm; j++) costs[j] = next_double(s);

    cr_index *ix = (cr_index *)(uintptr_t)1; /* must be overwritten with NULL on failure */
    int st = cr_index_new(k, d, m, cent, rates, costs, &ix);
    check_status(st);
    if (!valid_shape) CHECK(st == CR_ERR_SHAPE);
    free(cent);
    free(rates);
    free(costs);
    if (st != CR_OK) {
        CHECK(ix == NULL);
        return;
    }
    int32_t k2, d2, m2;
    CHECK(cr_index_shape(ix, &k2, &d2, &m2) == CR_OK && k2 == k && d2 == d && m2 == m);

    uint8_t *mask = NULL;
    if (next(s) & 1) {
        mask = malloc(mm);
        CHECK(mask != NULL);
        for (size_t j = 0; j < mm; j++) mask[j] = next(s) & 1;
    }
    double lam = next_double(s), temperature = (next(s) & 1) ? 0.0 : next_double(s);
    if (next(s) % 8 == 0) lam = -lam;
    /* Positional: cr_params is {lambda, temperature} (its field names are not part of this test). */
    cr_params params = {lam, temperature};
    int finite_params = isfinite(lam) && isfinite(temperature) && lam >= 0.0 && temperature >= 0.0;

    int32_t n = (int32_t)(next(s) % 5); /* 0 .. 4 rows */
    size_t nn = n > 0 ? (size_t)n : 1;
    float *emb = malloc(nn * dd * sizeof(float));
    cr_result *res = malloc(nn * sizeof(cr_result));
    int32_t *ranking = malloc(nn * mm * sizeof(int32_t));
    float *scores = malloc(nn * mm * sizeof(float));
    float *errors = malloc(nn * mm * sizeof(float));
    float *work = malloc(kk * sizeof(float));
    CHECK(emb && res && ranking && scores && errors && work);
    for (size_t i = 0; i < nn * dd; i++) emb[i] = next_float(s);

    /* One embedding. similarities: k slots, or NULL (allowed only when temperature is 0). */
    float *sims = (temperature > 0.0 || (next(s) & 1)) ? work : NULL;
    st = cr_route(ix, emb, d, mask, &params, res, ranking, scores, errors, sims);
    check_status(st);
    if (!finite_params) CHECK(st == CR_ERR_NONFINITE || st == CR_ERR_RANGE);
    if (st == CR_OK) check_result(res, ranking, scores, errors, sims, mask, k, m, temperature);

    /* A batch with the same inputs: each OK row must match the single call on that row. */
    int32_t failed = 12345;
    st = cr_route_batch(ix, n, d, emb, mask, &params, res, ranking, scores, errors, work, &failed);
    check_status(st);
    if (st == CR_OK) {
        CHECK(failed == -1);
        for (int32_t r = 0; r < n; r++)
            check_result(res + r, ranking + (size_t)r * mm, scores + (size_t)r * mm, errors + (size_t)r * mm,
                         NULL, mask, k, m, temperature);
    } else {
        /* A failing row is named; an argument error may leave failed_row untouched or -1. */
        CHECK(failed == 12345 || failed == -1 || (failed >= 0 && failed < n));
    }
    /* The same batch taken apart (every model's expected errors) and ranked again must give the
     * same rankings and scores, row for row. */
    double *expected = malloc(nn * mm * sizeof(double));
    cr_result *res2 = malloc(nn * sizeof(cr_result));
    int32_t *ranking2 = malloc(nn * mm * sizeof(int32_t));
    float *scores2 = malloc(nn * mm * sizeof(float)), *errors2 = malloc(nn * mm * sizeof(float));
    CHECK(expected && res2 && ranking2 && scores2 && errors2);
    int st_batch = st;
    st = cr_expected_errors(ix, n, d, emb, temperature, work, expected, &failed);
    check_status(st);
    if (st == CR_OK) {
        /* in [0, 1] up to the float weights' rounding (k of them, each within half an ulp) */
        for (size_t i = 0; i < (size_t)n * mm; i++)
            CHECK(expected[i] >= 0.0 && expected[i] <= 1.0 + 1.2e-7 * (double)kk);
        st = cr_rank_errors(ix, n, expected, mask, &params, res2, ranking2, scores2, errors2, &failed);
        check_status(st);
        if (st == CR_OK && st_batch == CR_OK)
            for (int32_t r = 0; r < n; r++) {
                CHECK(res2[r].n_ranked == res[r].n_ranked && res2[r].cluster == -1);
                for (int32_t q = 0; q < res[r].n_ranked; q++)
                    CHECK(ranking2[(size_t)r * mm + q] == ranking[(size_t)r * mm + q]
                          && scores2[(size_t)r * mm + q] == scores[(size_t)r * mm + q]);
            }
    }
    free(expected);
    free(res2);
    free(ranking2);
    free(scores2);
    free(errors2);
    CHECK(cr_route_batch(ix, -1, d, emb, mask, &params, res, ranking, scores, errors, work, &failed) != CR_OK);
    CHECK(cr_route(NULL, emb, d, mask, &params, res, ranking, scores, errors, NULL) == CR_ERR_NULL);
    /* A vector of another width is refused before any of it is read (it may be shorter than d). */
    if (finite_params && lam <= 1e6) {
        CHECK(cr_route(ix, emb, d + 1, mask, &params, res, ranking, scores, errors, work) == CR_ERR_SHAPE);
        CHECK(cr_route(ix, emb, d - 1, mask, &params, res, ranking, scores, errors, work) == CR_ERR_SHAPE);
        CHECK(cr_route_batch(ix, n, d - 1, emb, mask, &params, res, ranking, scores, errors, work, &failed)
              == CR_ERR_SHAPE);
    }

    free(emb);
    free(res);
    free(ranking);
    free(scores);
    free(errors);
    free(work);
    free(mask);
    cr_index_free(ix);
}

/* The knn-prior map: any shape and values; on success every error is in [0, 1] and each row of a
 * batch equals the same row routed alone. */
static void fuzz_knn(stream *s)
{
    int32_t n = (int32_t)(next(s) % 40) - 2, d = (int32_t)(next(s) % 20) - 1, m = (int32_t)(next(s) % 6) - 1;
    int32_t k = (int32_t)(next(s) % 12) - 1;
    double beta = (next(s) & 1) ? next_double(s) : (double)(next(s) % 50);
    size_t nn = n > 0 ? (size_t)n : 1, dd = d > 0 ? (size_t)d : 1, mm = m > 0 ? (size_t)m : 1;
    float *store = malloc(nn * dd * sizeof(float)), *scores = malloc(nn * mm * sizeof(float));
    CHECK(store && scores);
    for (size_t i = 0; i < nn * dd; i++) store[i] = next_float(s);
    for (size_t i = 0; i < nn * mm; i++) scores[i] = (next(s) % 16 == 0) ? next_float(s) : next_rate(s);
    cr_knn *knn = (cr_knn *)(uintptr_t)1;
    int st = cr_knn_new(n, d, m, k, beta, store, scores, &knn);
    check_status(st);
    free(store);
    free(scores);
    if (st != CR_OK) {
        CHECK(knn == NULL);
        return;
    }
    int32_t rows = (int32_t)(next(s) % 4);
    size_t rr = rows > 0 ? (size_t)rows : 1;
    float *x = malloc(rr * dd * sizeof(float)), *work = malloc((size_t)cr_knn_work_floats(knn) * sizeof(float));
    double *prior = malloc(rr * mm * sizeof(double)), *out = malloc(rr * mm * sizeof(double));
    double *one = malloc(mm * sizeof(double));
    int32_t *iwork = malloc((size_t)k * sizeof(int32_t)), failed = 12345;
    CHECK(x && work && prior && out && one && iwork);
    for (size_t i = 0; i < rr * dd; i++) x[i] = next_float(s);
    for (size_t i = 0; i < rr * mm; i++) prior[i] = (next(s) % 16 == 0) ? next_double(s) : (double)next_rate(s);
    st = cr_knn_errors(knn, rows, d, x, prior, work, iwork, out, &failed);
    check_status(st);
    if (st == CR_OK) {
        CHECK(failed == -1);
        for (int32_t r = 0; r < rows; r++) {
            CHECK(cr_knn_errors(knn, 1, d, x + (size_t)r * dd, prior + (size_t)r * mm, work, iwork, one, &failed)
                  == CR_OK);
            for (size_t j = 0; j < mm; j++) CHECK(one[j] == out[(size_t)r * mm + j] && one[j] >= 0.0 && one[j] <= 1.0);
        }
    } else {
        CHECK(failed >= 0 && failed < rows);
    }
    CHECK(cr_knn_errors(knn, rows, d + 1, x, prior, work, iwork, out, &failed) == CR_ERR_SHAPE);
    CHECK(cr_knn_errors(NULL, rows, d, x, prior, work, iwork, out, &failed) == CR_ERR_NULL);
    free(x);
    free(work);
    free(prior);
    free(out);
    free(one);
    free(iwork);
    cr_knn_free(knn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream s = {data, size, 0};
    if (size == 0) return 0;
    CHECK(cr_abi_version() == CR_ABI_VERSION);
    uint8_t which = next(&s) % 8;
    if (which < 2)
        fuzz_hash(&s);
    else if (which < 4)
        fuzz_knn(&s);
    else
        fuzz_route(&s);
    return 0;
}

#ifdef CR_STANDALONE
int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f) {
            perror(argv[a]);
            return 2;
        }
        uint8_t *buf = malloc(1 << 20);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    printf("ran %d inputs\n", argc - 1);
    return 0;
}
#endif
