/* The hash embedder: signed feature hashing of byte n-grams and words. C99, no global state. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cr_api.h"

static unsigned char lower(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + ('a' - 'A')) : ch;
}

/* Word characters: ASCII letters and digits, and every byte of a multi-byte UTF-8 sequence,
 * so non-Latin words are words too. */
static int is_word(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch >= 0x80;
}

/* FNV-1a over the lowercased bytes, seeded per feature family so n-grams and words differ. */
static uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= lower(p[i]);
        h *= 1099511628211ULL;
    }
    /* A final avalanche so that low bits (the bucket) depend on every byte. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static void add_feature(float *out, int32_t dim, uint64_t h, float w)
{
    out[h % (uint64_t)dim] += (h >> 63) ? -w : w;
}

static void hash_span(const unsigned char *p, size_t n, int32_t dim, float *out)
{
    for (size_t gram = 1; gram <= 4; gram++)
        for (size_t i = 0; i + gram <= n; i++) add_feature(out, dim, fnv1a(p + i, gram, gram), 1.0f);
    size_t i = 0;
    while (i < n) {
        while (i < n && !is_word(lower(p[i]))) i++;
        size_t start = i;
        while (i < n && is_word(lower(p[i]))) i++;
        if (i > start) add_feature(out, dim, fnv1a(p + start, i - start, 0x9e3779b97f4a7c15ULL), 2.0f);
    }
}

int cr_hash_embed(const char *text, size_t len, size_t max_bytes, int32_t dim, float *out)
{
    if (!text || !out) return CR_ERR_NULL;
    if (dim < 1 || dim > CR_MAX_DIM || max_bytes < 2) return CR_ERR_SHAPE;
    memset(out, 0, (size_t)dim * sizeof(float));
    const unsigned char *p = (const unsigned char *)text;
    if (len <= max_bytes) {
        hash_span(p, len, dim, out);
    } else {
        size_t half = max_bytes / 2;
        hash_span(p, half, dim, out);
        hash_span(p + len - half, half, dim, out);
    }
    double ss = 0.0;
    for (int32_t i = 0; i < dim; i++) ss += (double)out[i] * (double)out[i];
    if (ss == 0.0) return CR_ERR_ZERO_VECTOR;
    float inv = (float)(1.0 / sqrt(ss));
    for (int32_t i = 0; i < dim; i++) out[i] *= inv;
    return CR_OK;
}
