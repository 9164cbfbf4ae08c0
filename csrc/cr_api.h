/* cactus-router C core: THE contract between csrc/ and cactus_router/_native.py.
 *
 * This file is fed verbatim both to cffi's cdef() and to the C compiler, so it holds only
 * declarations (no preprocessor lines): a prototype that drifts from its definition is a
 * compile error. Include <stdint.h> and <stddef.h> before it.
 *
 * Every function returns a cr_status (0 = CR_OK); outputs go through out-pointers.
 * There is no global state: every function is safe to call from many threads at once,
 * provided the output buffers are not shared.
 */

enum cr_status {
    CR_OK = 0,
    CR_ERR_NULL = 1,         /* a required pointer was NULL */
    CR_ERR_SHAPE = 2,        /* a dimension is < 1 or too large */
    CR_ERR_NONFINITE = 3,    /* NaN or infinity in an input */
    CR_ERR_RANGE = 4,        /* a value is out of range (error rate outside [0, 1], negative cost) */
    CR_ERR_NOMEM = 5,        /* allocation failed (only cr_index_new allocates) */
    CR_ERR_NO_ELIGIBLE = 6,  /* the eligibility mask excludes every model */
    CR_ERR_ZERO_VECTOR = 7   /* an embedding or centroid has zero norm */
};

enum { CR_ABI_VERSION = 5 };

/* Upper bounds checked by cr_index_new, so sizes never overflow. */
enum { CR_MAX_CLUSTERS = 65536, CR_MAX_DIM = 65536, CR_MAX_MODELS = 4096 };

/* The hash embedder's default input cap in bytes (first and last halves kept). */
enum { CR_HASH_MAX_BYTES = 4096 };

/* An immutable routing index: unit-norm centroids, error rates and costs, owned by C. */
typedef struct cr_index cr_index;

/* How to score.
 *   lam          lambda, the weight of the min-max normalised cost (normalised over eligible
 *                models), in [0, 1e6]
 *   temperature  0: each model's expected error is its rate in the nearest cluster (hard
 *                assignment); > 0: a mix of its rates over all clusters weighted by
 *                softmax(similarity / temperature) (soft assignment) */
typedef struct {
    double lam;
    double temperature;
} cr_params;

/* The outcome of routing one embedding. */
typedef struct {
    int32_t cluster;      /* nearest centroid */
    float similarity;     /* its cosine similarity to the embedding */
    float margin;         /* similarity minus the second-best similarity (2.0 when K = 1) */
    int32_t n_ranked;     /* number of eligible models written to ranking/scores */
    /* The inputs of the derived tier rule (docs/tiers.md), each model's expected error recomputed
     * from its float score as score - lambda * normalised_cost: */
    double best_error;     /* the lowest over the ranked models */
    double cheapest_error; /* the lowest over the ranked models of the lowest eligible cost */
} cr_result;

const char *cr_strerror(int status);

int cr_abi_version(void);

/* Copy and validate a profile's arrays into a new index.
 *   centroids   k x d, row-major; each row is L2-normalised on copy (a zero row is an error)
 *   error_rates k x m, row-major: error_rates[c * m + j] is model j's error rate in cluster c
 *   costs       m, finite and >= 0
 * On success *out owns the memory; free it with cr_index_free. */
int cr_index_new(int32_t k, int32_t d, int32_t m, const float *centroids,
                 const float *error_rates, const double *costs, cr_index **out);

void cr_index_free(cr_index *index);

int cr_index_shape(const cr_index *index, int32_t *k, int32_t *d, int32_t *m);

/* Route one embedding (any non-zero norm: it is normalised before scoring).
 *   d             the embedding's length: must equal the index's dimension (else CR_ERR_SHAPE),
 *                 so a caller holding a vector of the wrong width cannot make C read past it
 *   eligible      m bytes, non-zero = eligible; NULL = every model
 *   ranking       m slots: eligible model indices, best first (first n_ranked are written)
 *   scores        m slots: their scores, expected_error[j] + lambda * normalised_cost[j]
 *   errors        m slots: their expected errors
 *   similarities  k slots: on return, the cosine similarity to every centroid when
 *                 temperature is 0 (may then be NULL), the soft-assignment weights (summing
 *                 to 1) when temperature > 0
 * Ties in score are broken by lower cost, then by lower model index. */
int cr_route(const cr_index *index, const float *embedding, int32_t d, const uint8_t *eligible,
             const cr_params *params, cr_result *result, int32_t *ranking, float *scores,
             float *errors, float *similarities);

/* Route n embeddings (n x d, row-major; d must equal the index's dimension) with one mask and
 * one set of params; outputs are
 * n x (their single-call size), row-major. work: k floats of scratch, may be NULL when
 * temperature is 0. Stops at the first failing row and reports its index. */
int cr_route_batch(const cr_index *index, int32_t n, int32_t d, const float *embeddings,
                   const uint8_t *eligible, const cr_params *params, cr_result *results,
                   int32_t *rankings, float *scores, float *errors, float *work,
                   int32_t *failed_row);

/* Each model's expected error for n embeddings (n x d; d must equal the index's dimension), as
 * cr_route computes it before scoring: the nearest cluster's rates (temperature 0) or their mix
 * over the clusters by the soft-assignment weights (temperature > 0; the float weights' rounding
 * may take a mix of rates of 1 a little past 1), for every model, into expected[n x m] (row-major). work: k floats of scratch. Stops at the first failing row and
 * reports its index. */
int cr_expected_errors(const cr_index *index, int32_t n, int32_t d, const float *embeddings, double temperature,
                       float *work, double *expected, int32_t *failed_row);

/* Rank given expected errors (n x m, row-major, each finite and >= 0: a mix of rates may pass 1 by
 * its float rounding, so 1 is not a bound here) with the index's costs:
 * what cr_route_batch does after its expected errors, with the same scores, tie-breaks, mask and
 * tier-rule inputs. Each result's cluster is -1 and its similarity and margin 0 (the caller's to
 * fill). Stops at the first failing row and reports its index. */
int cr_rank_errors(const cr_index *index, int32_t n, const double *expected, const uint8_t *eligible,
                   const cr_params *params, cr_result *results, int32_t *rankings, float *scores, float *errors,
                   int32_t *failed_row);

/* The hash embedder: signed feature hashing of the ASCII-lowercased byte n-grams (n = 1..4)
 * and words of a UTF-8 text into dim buckets, L2-normalised. Texts longer than max_bytes are
 * truncated to their first max_bytes/2 and last max_bytes/2 bytes. A text with no feature
 * (empty) is CR_ERR_ZERO_VECTOR. */
int cr_hash_embed(const char *text, size_t len, size_t max_bytes, int32_t dim, float *out);

/* ---- The knn-prior map (csrc/cr_maps.c; cactus_router.maps.KNNPrior) ---- */

/* Most stored rows cr_knn_new takes (the profile format's own bound on an array's side). */
enum { CR_KNN_MAX_ROWS = 65536 };

/* An immutable knn-prior map, owned by C (cr_knn_new allocates too). */
typedef struct cr_knn cr_knn;

/* Build a map from float32 copies of its arrays (both copied):
 *   store   n x d   the training embeddings (unit rows)
 *   scores  n x m   their scores per model, each in [0, 1] (CR_ERR_RANGE otherwise)
 *   k       1 <= k <= n neighbours averaged; beta >= 0 pseudo-neighbours holding the prior
 * Free with cr_knn_free. */
int cr_knn_new(int32_t n, int32_t d, int32_t m, int32_t k, double beta, const float *store, const float *scores,
               cr_knn **out);
void cr_knn_free(cr_knn *knn);

/* Floats of scratch cr_knn_errors needs in work (its iwork needs k int32s). */
int32_t cr_knn_work_floats(const cr_knn *knn);

/* The map's expected errors of n embeddings (n x d row-major, any non-zero norm: each is
 * normalised first) into errors[n x m], given the cluster rule's expected errors prior[n x m]
 * (each finite and >= 0, as cr_expected_errors gives them): clip(1 - (sum of the k nearest rows' scores + beta (1 - prior)) / (k + beta),
 * 0, 1), nearest by dot product with ties to the lower row. Stops at the first failing row and
 * reports its index. */
int cr_knn_errors(const cr_knn *knn, int32_t n, int32_t d, const float *embeddings, const double *prior,
                  float *work, int32_t *iwork, double *errors, int32_t *failed_row);

/* ---- The "unseen topic" check (csrc/cr_ood.c; cactus_router.ood.TopicDetector) ---- */

/* Bounds checked by cr_topic_new (the profile format's own: cactus_router/ood). */
enum { CR_TOPIC_MAX_DIM = 65536, CR_TOPIC_MAX_STORE = 4096, CR_TOPIC_MAX_MEANS = 1024, CR_TOPIC_MAX_GRID = 1028 };

/* An immutable topic detector, owned by C (cr_topic_new allocates too). */
typedef struct cr_topic cr_topic;

/* Build a detector from float32 copies of its arrays (all copied):
 *   centre  d          the training mean subtracted before comparing with the store
 *   store   s x d      unit rows; k (1 <= k <= s) nearest are averaged
 *   means   c x d      cluster means of the Mahalanobis score
 *   factor  d(d+1)/2   the lower-triangular Cholesky factor L, row by row (L[i][0..i])
 *   grid0   g0, grid1 g1: ascending held-out scores of the two components (2 to 1028 each)
 * Non-finite values or descending grids are CR_ERR_NONFINITE. Free with cr_topic_free. */
int cr_topic_new(int32_t d, int32_t s, int32_t k, const float *centre, const float *store, int32_t c,
                 const float *means, const float *factor, int32_t g0, const double *grid0, int32_t g1,
                 const double *grid1, cr_topic **out);
void cr_topic_free(cr_topic *topic);

/* Floats of scratch cr_topic_familiarity needs (2 d + s + c). */
int32_t cr_topic_work_floats(const cr_topic *topic);

/* The familiarity in [0, 1] of n embeddings (n x d row-major, any non-zero norm: each is
 * normalised first) into familiarity[n]. Below cutoff every value is exact; a row that a cheaper
 * bound puts at or above cutoff gets that bound (>= cutoff) instead (a lower bound on its
 * neighbour score, then its Mahalanobis rank alone: csrc/cr_ood.c), so "familiarity < cutoff" is
 * decided the same (cutoff > 0.5: every value is exact). work: cr_topic_work_floats floats of
 * scratch. Stops at the first non-finite or zero row and reports its index in *failed_row (may be
 * NULL). */
int cr_topic_familiarity(const cr_topic *topic, int32_t n, int32_t d, const float *embeddings, double cutoff,
                         float *work, double *familiarity, int32_t *failed_row);
