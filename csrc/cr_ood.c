/* The "unseen topic" check of cactus_router.ood.TopicDetector: a prompt's familiarity, in C.
 *
 * familiarity(x) = (rank0(neighbours(u)) + rank1(mahalanobis(u))) / 2 with u = x / ||x||:
 *   neighbours(u)  = mean of the k largest dot products of unit(u - centre) with the store's rows
 *   mahalanobis(u) = -min_j ||u L - mean_j L||^2 (L lower triangular, the shrunk precision's
 *                    Cholesky factor; mean_j L is computed once, in double, at cr_topic_new;
 *                    u L is computed over L stored as column panels, see tri_times)
 *   rank_g(v)      = np.interp(v, grid_g, linspace(0, 1, len(grid_g)))
 * Below a cutoff (the detector's threshold) every value is exact; at or above it a value may be a
 * bound >= cutoff, which decides "unseen" the same. Two bounds come first, cheapest first:
 *   1. a lower bound on the neighbour score: the mean of the k largest dot products with the
 *      stored rows of the PROBE groups nearest u (each row belongs to the group of its nearest
 *      unit(mean_j - centre)), a subset of the store, so at most the exact score; when its rank
 *      alone puts the familiarity at or above the cutoff, nothing else is computed (most
 *      in-distribution prompts: benchmarks/ood_cost.py counts them);
 *   2. the Mahalanobis rank alone, when it puts the familiarity at or above the cutoff.
 * Otherwise both scores are exact. The NumPy reference is TopicDetector.familiarity_reference;
 * results agree within float tolerance (tests/test_ood_routing.py). */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cr_api.h"
#include "cr_simd.h"

struct cr_topic {
    int32_t d, s, k, c, g0, g1;
    float *centre;  /* d */
    float *store;   /* s x d, unit rows, ordered by group (row order does not change the score) */
    float *groups;  /* c x d: unit(mean_j - centre), or zero when mean_j == centre */
    int32_t *first; /* c + 1: the store rows of group j are first[j] .. first[j + 1] - 1 */
    float *panels;  /* L as panels of PANEL columns: the panel at column j0 holds rows j0..d-1 of columns
                     * j0..j0+PANEL-1, PANEL floats a row, zero above the diagonal and past column d-1 */
    float *mz;      /* c x d: mean_j L */
    double *grid0;  /* g0 ascending */
    double *grid1;  /* g1 ascending */
};

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
CR_HOT static void tri_times(const float *u, const float *panels, size_t d, float *z)
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
    free(topic->groups);
    free(topic->first);
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

/* Directions of the groups (unit(mean_j - centre)), and the store's rows copied group by group: a row
 * joins the group of its largest dot product, the lowest j on ties. */
static int group_store(cr_topic *t, const float *means, const float *store)
{
    size_t d = (size_t)t->d, s = (size_t)t->s, c = (size_t)t->c;
    int32_t *group = malloc(s * sizeof *group), *next = malloc(c * sizeof *next);
    float *sims = malloc(c * sizeof *sims);
    if (group == NULL || next == NULL || sims == NULL) {
        free(group);
        free(next);
        free(sims);
        return CR_ERR_NOMEM;
    }
    for (size_t j = 0; j < c; j++) {
        float *g = t->groups + j * d;
        double nn = 0.0;
        for (size_t i = 0; i < d; i++) {
            g[i] = means[j * d + i] - t->centre[i];
            nn += (double)g[i] * (double)g[i];
        }
        float inv = nn > 0.0 ? (float)(1.0 / sqrt(nn)) : 0.0f;
        for (size_t i = 0; i < d; i++) g[i] *= inv;
    }
    for (size_t r = 0; r < s; r++) {
        size_t best = 0;
        cr_row_sums(0, store + r * d, t->groups, c, d, sims);
        for (size_t j = 1; j < c; j++)
            if (sims[j] > sims[best]) best = j;
        group[r] = (int32_t)best;
        t->first[best + 1]++;
    }
    for (size_t j = 0; j < c; j++) {
        t->first[j + 1] += t->first[j];
        next[j] = t->first[j];
    }
    for (size_t r = 0; r < s; r++) memcpy(t->store + (size_t)next[group[r]]++ * d, store + r * d, d * sizeof(float));
    free(group);
    free(next);
    free(sims);
    return CR_OK;
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
    t->store = malloc((size_t)s * dd * sizeof(float));
    t->groups = malloc((size_t)c * dd * sizeof(float));
    t->first = calloc((size_t)c + 1, sizeof(int32_t));
    t->panels = calloc(panel_floats(dd), sizeof(float));
    t->mz = malloc((size_t)c * dd * sizeof(float));
    t->grid0 = copy_of(grid0, (size_t)g0 * sizeof(double));
    t->grid1 = copy_of(grid1, (size_t)g1 * sizeof(double));
    double *acc = malloc(dd * sizeof(double));
    if (!t->centre || !t->store || !t->groups || !t->first || !t->panels || !t->mz || !t->grid0 || !t->grid1 || !acc
        || group_store(t, means, store) != CR_OK) {
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
    return topic == NULL ? 0 : 2 * topic->d + topic->s + topic->c;
}

/* z = unit(u - centre), the space the store's rows are compared in. */
static void centred(const cr_topic *t, const float *u, float *z)
{
    size_t d = (size_t)t->d;
    int finite;
    for (size_t i = 0; i < d; i++) z[i] = u[i] - t->centre[i];
    double cn = cr_sumsq_checked(z, d, &finite);
    float cinv = (float)(1.0 / fmax(sqrt(cn), 1e-12));
    for (size_t i = 0; i < d; i++) z[i] *= cinv;
}

/* The mean of the k largest of sims[0..n-1] (n >= k), summed largest first; sims is overwritten. */
static double top_k_mean(float *sims, size_t n, int32_t k)
{
    double top = 0.0;
    for (int32_t r = 0; r < k; r++) { /* k is small: k passes of selection */
        size_t best = 0;
        for (size_t j = 1; j < n; j++)
            if (sims[j] > sims[best]) best = j;
        top += (double)sims[best];
        sims[best] = -INFINITY;
    }
    return top / (double)k;
}

/* The neighbour score of the unit vector u; z (d) and sims (s) are scratch. */
static double neighbour_score(const cr_topic *t, const float *u, float *z, float *sims)
{
    size_t d = (size_t)t->d, s = (size_t)t->s;
    centred(t, u, z);
    cr_row_sums(0, z, t->store, s, d, sims);
    return top_k_mean(sims, s, t->k);
}

/* Groups whose rows the neighbour bound reads (the default profile's 32 groups hold 256 rows: about
 * 24 read). benchmarks/ood_cost.py counts the test prompts whose familiarity a bound decides. */
enum { PROBE = 3 };

/* At most the neighbour score of u: the same mean over the rows of the PROBE groups whose
 * directions are nearest z, a subset of the store with the same dot products, so each of its k
 * largest is at most the store's (-INFINITY when they hold fewer than k rows). z (d), sims (s)
 * and near (c) are scratch. */
static double neighbour_bound(const cr_topic *t, const float *u, float *z, float *sims, float *near)
{
    size_t d = (size_t)t->d, c = (size_t)t->c, n = 0;
    centred(t, u, z);
    cr_row_sums(0, z, t->groups, c, d, near);
    for (size_t p = 0; p < PROBE && p < c; p++) {
        size_t best = 0;
        for (size_t j = 1; j < c; j++)
            if (near[j] > near[best]) best = j;
        near[best] = -INFINITY;
        size_t rows = (size_t)(t->first[best + 1] - t->first[best]);
        cr_row_sums(0, z, t->store + (size_t)t->first[best] * d, rows, d, sims + n);
        n += rows;
    }
    return n < (size_t)t->k ? -INFINITY : top_k_mean(sims, n, t->k);
}

/* Minus the smallest squared distance of u L to the means' images; z (d) and dist (c) are scratch. */
static double mahalanobis_score(const cr_topic *t, const float *u, float *z, float *dist)
{
    size_t d = (size_t)t->d;
    tri_times(u, t->panels, d, z);
    cr_row_sums(1, z, t->mz, (size_t)t->c, d, dist);
    float nearest = INFINITY;
    for (int32_t j = 0; j < t->c; j++)
        if (dist[j] < nearest) nearest = dist[j];
    return -(double)nearest;
}

/* One row: u (d, scratch) receives the unit input; z (d), sims (s) and near (c) are scratch. */
static int familiarity_row(const cr_topic *t, const float *x, double cutoff, float *u, float *z, float *sims,
                           float *near, double *out)
{
    size_t d = (size_t)t->d;
    int finite;
    double nn = cr_sumsq_checked(x, d, &finite);
    if (!finite) return CR_ERR_NONFINITE;
    if (nn == 0.0) return CR_ERR_ZERO_VECTOR;
    float inv = (float)(1.0 / sqrt(nn));
    for (size_t i = 0; i < d; i++) u[i] = x[i] * inv;
    if (cutoff <= 0.5) { /* else no rank alone can reach it */
        double r0 = rank_of(neighbour_bound(t, u, z, sims, near), t->grid0, t->g0);
        if (r0 / 2.0 >= cutoff) { /* familiarity >= r0 / 2: the other rank is >= 0 */
            *out = r0 / 2.0;
            return CR_OK;
        }
    }
    double r1 = rank_of(mahalanobis_score(t, u, z, near), t->grid1, t->g1);
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
    float *u = work, *z = work + d, *sims = work + 2 * (size_t)d, *near = sims + topic->s;
    for (int32_t r = 0; r < n; r++) {
        int status = familiarity_row(topic, embeddings + (size_t)r * (size_t)d, cutoff, u, z, sims, near,
                                     familiarity + r);
        if (status != CR_OK) {
            if (failed_row != NULL) *failed_row = r;
            return status;
        }
    }
    return CR_OK;
}
