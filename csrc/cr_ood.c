/* The "unseen topic" check of cactus_router.ood.TopicDetector: a prompt's familiarity, in C.
 *
 * familiarity(x) = (rank0(neighbours(u)) + rank1(mahalanobis(u))) / 2 with u = x / ||x||:
 *   neighbours(u)  = mean of the k largest dot products of unit(u - centre) with the store's rows
 *   mahalanobis(u) = -min_j ||u L - mean_j L||^2 (L lower triangular, the shrunk precision's
 *                    Cholesky factor; mean_j L is computed once, in double, at cr_topic_new;
 *                    u L is computed over L stored as column panels, see tri_times)
 *   rank_g(v)      = np.interp(v, grid_g, linspace(0, 1, len(grid_g)))
 * The Mahalanobis rank is computed first: when it alone puts the familiarity at or above the
 * caller's cutoff (the detector's threshold), the neighbour score is skipped, which is most
 * in-distribution prompts. The NumPy reference is TopicDetector.familiarity_reference; results
 * agree within float tolerance (tests/test_ood_routing.py). */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cr_api.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(CR_NO_CLONES)
#define CR_OOD_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CR_OOD_HOT
#endif

struct cr_topic {
    int32_t d, s, k, c, g0, g1;
    float *centre;  /* d */
    float *store;   /* s x d, unit rows */
    float *panels;  /* L as panels of PANEL columns: the panel at column j0 holds rows j0..d-1 of columns
                     * j0..j0+PANEL-1, PANEL floats a row, zero above the diagonal and past column d-1 */
    float *mz;      /* c x d: mean_j L */
    double *grid0;  /* g0 ascending */
    double *grid1;  /* g1 ascending */
};

/* 16 independent float accumulators: vectorised without -ffast-math, the same order in both clones. */
CR_OOD_HOT static float dot16(const float *a, const float *b, size_t n)
{
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] += a[i + l] * b[i + l];
    for (int w = 8; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    float s = acc[0];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

CR_OOD_HOT static float sqdist16(const float *a, const float *b, size_t n)
{
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            float t = a[i + l] - b[i + l];
            acc[l] += t * t;
        }
    for (int w = 8; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    float s = acc[0];
    for (; i < n; i++) {
        float t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

typedef float cr_v8 __attribute__((vector_size(32)));
enum { PANEL = 64 }; /* columns a panel: eight 8-float vectors */

static size_t panel_floats(size_t d)
{
    size_t n = 0;
    for (size_t j0 = 0; j0 < d; j0 += PANEL) n += PANEL * (d - j0);
    return n;
}

/* z = u L over the panels: z[j0..j0+31] = sum over the panel's rows i of u[i] * row i, one 8-float
 * accumulator a vector: a broadcast, then a multiply and an add per 8 products. */
CR_OOD_HOT static void tri_times(const float *u, const float *panels, size_t d, float *z)
{
    const float *p = panels;
    for (size_t j0 = 0; j0 < d; j0 += PANEL) {
        cr_v8 acc[PANEL / 8] = {{0}}, r;
        for (size_t i = j0; i < d; i++, p += PANEL)
            for (int v = 0; v < PANEL / 8; v++) {
                memcpy(&r, p + 8 * v, sizeof r);
                acc[v] += u[i] * r;
            }
        for (size_t l = 0; l < PANEL && j0 + l < d; l++) z[j0 + l] = acc[l / 8][l % 8];
    }
}

static double rank_of(double v, const double *grid, int32_t g)
{
    if (!(v > grid[0])) return 0.0;
    if (v >= grid[g - 1]) return 1.0;
    int32_t lo = 0, hi = g - 1; /* grid[lo] < v < grid[hi] or grid[lo] == v */
    while (hi - lo > 1) {
        int32_t mid = lo + (hi - lo) / 2;
        if (grid[mid] <= v) lo = mid; else hi = mid;
    }
    double t = (v - grid[lo]) / (grid[hi] - grid[lo]);
    return ((double)lo + t) / (double)(g - 1);
}

static int all_finite_f(const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

static int ascending_finite(const double *a, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (!isfinite(a[i]) || (i > 0 && a[i] < a[i - 1])) return 0;
    return 1;
}

void cr_topic_free(cr_topic *topic)
{
    if (topic == NULL) return;
    free(topic->centre);
    free(topic->store);
    free(topic->panels);
    free(topic->mz);
    free(topic->grid0);
    free(topic->grid1);
    free(topic);
}

static void *copy_of(const void *src, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p != NULL) memcpy(p, src, bytes);
    return p;
}

int cr_topic_new(int32_t d, int32_t s, int32_t k, const float *centre, const float *store, int32_t c,
                 const float *means, const float *factor, int32_t g0, const double *grid0, int32_t g1,
                 const double *grid1, cr_topic **out)
{
    if (out == NULL || centre == NULL || store == NULL || means == NULL || factor == NULL || grid0 == NULL
        || grid1 == NULL)
        return CR_ERR_NULL;
    *out = NULL;
    if (d < 1 || d > CR_TOPIC_MAX_DIM || s < 1 || s > CR_TOPIC_MAX_STORE || k < 1 || k > s || c < 1
        || c > CR_TOPIC_MAX_MEANS || g0 < 2 || g0 > CR_TOPIC_MAX_GRID || g1 < 2 || g1 > CR_TOPIC_MAX_GRID)
        return CR_ERR_SHAPE;
    size_t dd = (size_t)d, tri = dd * (dd + 1) / 2;
    if (!all_finite_f(centre, dd) || !all_finite_f(store, (size_t)s * dd) || !all_finite_f(means, (size_t)c * dd)
        || !all_finite_f(factor, tri) || !ascending_finite(grid0, g0) || !ascending_finite(grid1, g1))
        return CR_ERR_NONFINITE;
    cr_topic *t = calloc(1, sizeof *t);
    if (t == NULL) return CR_ERR_NOMEM;
    t->d = d; t->s = s; t->k = k; t->c = c; t->g0 = g0; t->g1 = g1;
    t->centre = copy_of(centre, dd * sizeof(float));
    t->store = copy_of(store, (size_t)s * dd * sizeof(float));
    t->panels = calloc(panel_floats(dd), sizeof(float));
    t->mz = malloc((size_t)c * dd * sizeof(float));
    t->grid0 = copy_of(grid0, (size_t)g0 * sizeof(double));
    t->grid1 = copy_of(grid1, (size_t)g1 * sizeof(double));
    double *acc = malloc(dd * sizeof(double));
    if (!t->centre || !t->store || !t->panels || !t->mz || !t->grid0 || !t->grid1 || !acc) {
        free(acc);
        cr_topic_free(t);
        return CR_ERR_NOMEM;
    }
    { /* rows of the lower triangle (L[i][0..i]) to the panels (zeros from calloc elsewhere) */
        float *p = t->panels;
        for (size_t j0 = 0; j0 < dd; j0 += PANEL)
            for (size_t i = j0; i < dd; i++, p += PANEL)
                for (size_t l = 0; l < PANEL && j0 + l <= i; l++) p[l] = factor[i * (i + 1) / 2 + j0 + l];
    }
    for (int32_t j = 0; j < c; j++) {
        const float *m = means + (size_t)j * dd;
        memset(acc, 0, dd * sizeof(double));
        const float *row = factor;
        for (size_t i = 0; i < dd; i++) {
            for (size_t q = 0; q <= i; q++) acc[q] += (double)m[i] * (double)row[q];
            row += i + 1;
        }
        for (size_t q = 0; q < dd; q++) t->mz[(size_t)j * dd + q] = (float)acc[q];
    }
    free(acc);
    *out = t;
    return CR_OK;
}

int32_t cr_topic_work_floats(const cr_topic *topic)
{
    return topic == NULL ? 0 : 2 * topic->d + topic->s;
}

/* The neighbour score of the unit vector u; z (d) and sims (s) are scratch. */
static double neighbour_score(const cr_topic *t, const float *u, float *z, float *sims)
{
    size_t d = (size_t)t->d, s = (size_t)t->s;
    double cn = 0.0;
    for (size_t i = 0; i < d; i++) {
        z[i] = u[i] - t->centre[i];
        cn += (double)z[i] * (double)z[i];
    }
    float cinv = (float)(1.0 / fmax(sqrt(cn), 1e-12));
    for (size_t i = 0; i < d; i++) z[i] *= cinv;
    for (size_t j = 0; j < s; j++) sims[j] = dot16(z, t->store + j * d, d);
    double top = 0.0;
    for (int32_t r = 0; r < t->k; r++) { /* k is small: k passes of selection */
        size_t best = 0;
        for (size_t j = 1; j < s; j++)
            if (sims[j] > sims[best]) best = j;
        top += (double)sims[best];
        sims[best] = -INFINITY;
    }
    return top / (double)t->k;
}

/* Minus the smallest squared distance of u L to the means' images; z (d) is scratch. */
static double mahalanobis_score(const cr_topic *t, const float *u, float *z)
{
    size_t d = (size_t)t->d;
    tri_times(u, t->panels, d, z);
    float nearest = INFINITY;
    for (int32_t j = 0; j < t->c; j++) {
        float dist = sqdist16(z, t->mz + (size_t)j * d, d);
        if (dist < nearest) nearest = dist;
    }
    return -(double)nearest;
}

/* One row: u (d, scratch) receives the unit input; z (d) and sims (s) are scratch. */
static int familiarity_row(const cr_topic *t, const float *x, double cutoff, float *u, float *z, float *sims,
                           double *out)
{
    size_t d = (size_t)t->d;
    double nn = 0.0;
    for (size_t i = 0; i < d; i++) nn += (double)x[i] * (double)x[i];
    if (!isfinite(nn)) return CR_ERR_NONFINITE;
    if (nn == 0.0) return CR_ERR_ZERO_VECTOR;
    float inv = (float)(1.0 / sqrt(nn));
    for (size_t i = 0; i < d; i++) u[i] = x[i] * inv;
    double r1 = rank_of(mahalanobis_score(t, u, z), t->grid1, t->g1);
    if (r1 / 2.0 >= cutoff) { /* at or above the cutoff whatever the other rank (>= 0) */
        *out = r1 / 2.0;
        return CR_OK;
    }
    *out = (rank_of(neighbour_score(t, u, z, sims), t->grid0, t->g0) + r1) / 2.0;
    return CR_OK;
}

int cr_topic_familiarity(const cr_topic *topic, int32_t n, int32_t d, const float *embeddings, double cutoff,
                         float *work, double *familiarity, int32_t *failed_row)
{
    if (topic == NULL || embeddings == NULL || work == NULL || familiarity == NULL) return CR_ERR_NULL;
    if (failed_row != NULL) *failed_row = -1;
    if (n < 0 || d != topic->d) return CR_ERR_SHAPE;
    if (isnan(cutoff)) return CR_ERR_NONFINITE;
    float *u = work, *z = work + d, *sims = work + 2 * (size_t)d;
    for (int32_t r = 0; r < n; r++) {
        int status = familiarity_row(topic, embeddings + (size_t)r * (size_t)d, cutoff, u, z, sims,
                                     familiarity + r);
        if (status != CR_OK) {
            if (failed_row != NULL) *failed_row = r;
            return status;
        }
    }
    return CR_OK;
}
