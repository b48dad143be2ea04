/* Validation split of a shard and rt_shard_free.
 *
 * Key derivation (fixed; changing it changes which rows are held out):
 *   key = rt_key_push(rt_key_push(rt_key_push(seed, RT_STREAM_VALIDATION_SPLIT), shard_index), 0)
 * perm = rt_rng_permutation(key, n); the rows perm[0 .. k) with k = round(n * fraction) (halves
 * away from zero, i.e. floor(n * fraction + 0.5)) go to validation, the rest to training; both
 * keep the original row order. Both outputs get the input's first_row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "rng.h"
#include "row_source.h"

void rt_shard_free(rt_shard *shard) {
  if (!shard) return;
  rt_row_source_free(shard->source);
  free(shard->indptr);
  free(shard->indices);
  free(shard->values);
  free(shard->x);
  free(shard->y);
  memset(shard, 0, sizeof *shard);
}

uint64_t rt_validation_split_rows(uint64_t rows, double fraction) {
  if (!(fraction > 0.0)) return 0;
  const double k = floor((double)rows * fraction + 0.5);
  return k >= (double)rows ? rows : (uint64_t)k;
}

rt_code rt_shard_rows_check(const char *path, const uint64_t *rows, size_t nshards,
                            double split_fraction, rt_status *st) {
  for (size_t s = 0; s < nshards; ++s) {
    if (rows[s] > 0) continue;
    if (split_fraction > 0.0)
      return rt_fail(
          st, RT_ERR_DATA,
          "%s: shard %zu has no training rows left after holding out validation_fraction %g", path,
          s, split_fraction);
    return rt_fail(st, RT_ERR_DATA,
                   "%s: shard %zu of %zu is empty: the file has fewer data rows than shards", path,
                   s, nshards);
  }
  return RT_OK;
}

rt_code rt_validation_flags(size_t n, double fraction, uint64_t seed, size_t shard_index,
                            unsigned char **flags, rt_status *st) {
  *flags = NULL;
  const size_t k = (size_t)rt_validation_split_rows(n, fraction);
  uint64_t *perm = malloc((n ? n : 1) * sizeof *perm);
  unsigned char *is_val = calloc(n ? n : 1, 1);
  if (!perm || !is_val) {
    free(perm);
    free(is_val);
    return rt_fail(st, RT_ERR_NOMEM, "cannot allocate the validation split of %zu rows", n);
  }
  uint64_t key =
      rt_key_push(rt_key_push(rt_key_push(seed, RT_STREAM_VALIDATION_SPLIT), shard_index), 0);
  rt_rng_permutation(key, perm, n);
  for (size_t i = 0; i < k; ++i) is_val[perm[i]] = 1;
  free(perm);
  *flags = is_val;
  return RT_OK;
}

/* The split of a streamed shard: two sources over the kept and the held-out rows (no row is
 * read), the labels split as for a shard in memory. Consumes src and is_val. */
static rt_code split_streamed(rt_shard *src, unsigned char *is_val, size_t k, rt_shard *train,
                              rt_shard *validation, rt_status *st) {
  const size_t n = src->rows;
  rt_code rc = rt_row_source_subset(src->source, is_val, 1, k, &validation->source, st);
  if (rc == RT_OK) rc = rt_row_source_subset(src->source, is_val, 0, n - k, &train->source, st);
  if (rc == RT_OK && src->y) {
    validation->y = malloc((k ? k : 1) * sizeof(float));
    train->y = malloc((n - k ? n - k : 1) * sizeof(float));
    if (!validation->y || !train->y)
      rc = rt_fail(st, RT_ERR_NOMEM, "cannot allocate the labels of a split of %zu rows", n);
  }
  if (rc == RT_OK && src->y)
    for (size_t i = 0, v = 0, t = 0; i < n; ++i) {
      if (is_val[i]) validation->y[v++] = src->y[i];
      else train->y[t++] = src->y[i];
    }
  free(is_val);
  train->rows = n - k;
  train->features = src->features;
  train->first_row = src->first_row;
  validation->rows = k;
  rt_shard_free(src);
  if (rc != RT_OK) {
    rt_shard_free(train);
    rt_shard_free(validation);
  }
  return rc;
}

/* One side of a sparse shard's split: the rows i whose is_val[i] == want, n of them. */
static rt_code sparse_side(const rt_shard *src, const unsigned char *is_val, unsigned char want,
                           size_t n, rt_shard *out, rt_status *st) {
  uint64_t nnz = 0;
  for (size_t i = 0; i < src->rows; ++i)
    if (is_val[i] == want) nnz += src->indptr[i + 1] - src->indptr[i];
  out->rows = n;
  out->features = src->features;
  out->first_row = src->first_row;
  out->indptr = malloc((n + 1) * sizeof *out->indptr);
  out->indices = malloc((nnz ? nnz : 1) * sizeof *out->indices);
  out->values = malloc((nnz ? nnz : 1) * sizeof *out->values);
  if (src->y) out->y = malloc((n ? n : 1) * sizeof *out->y);
  if (!out->indptr || !out->indices || !out->values || (src->y && !out->y))
    return rt_fail(st, RT_ERR_NOMEM, "cannot allocate a split of %zu sparse rows", n);
  size_t r = 0;
  uint64_t at = 0;
  out->indptr[0] = 0;
  for (size_t i = 0; i < src->rows; ++i) {
    if (is_val[i] != want) continue;
    const uint64_t a = src->indptr[i], b = src->indptr[i + 1];
    memcpy(out->indices + at, src->indices + a, (b - a) * sizeof *out->indices);
    memcpy(out->values + at, src->values + a, (b - a) * sizeof *out->values);
    at += b - a;
    if (src->y) out->y[r] = src->y[i];
    out->indptr[++r] = at;
  }
  return RT_OK;
}

/* The split of a sparse shard: both sides sparse. Consumes src and is_val. */
static rt_code split_sparse(rt_shard *src, unsigned char *is_val, size_t k, rt_shard *train,
                            rt_shard *validation, rt_status *st) {
  rt_code rc = sparse_side(src, is_val, 1, k, validation, st);
  if (rc == RT_OK) rc = sparse_side(src, is_val, 0, src->rows - k, train, st);
  free(is_val);
  rt_shard_free(src);
  if (rc != RT_OK) {
    rt_shard_free(train);
    rt_shard_free(validation);
  }
  return rc;
}

rt_code rt_shard_split_validation(rt_shard *in, double fraction, uint64_t seed, size_t shard_index,
                                  rt_shard *train, rt_shard *validation, rt_status *st) {
  if (!in || !train || !validation || train == validation) {
    if (in) rt_shard_free(in);
    return rt_fail(st, RT_ERR_INTERNAL, "rt_shard_split_validation: bad arguments");
  }
  /* Take ownership first so that `train` or `validation` may alias `in`. */
  rt_shard src = *in;
  memset(in, 0, sizeof *in);
  memset(train, 0, sizeof *train);
  memset(validation, 0, sizeof *validation);
  if (!(fraction >= 0.0 && fraction <= 1.0)) {
    rt_shard_free(&src);
    return rt_fail(st, RT_ERR_CONFIG, "validation fraction %g is outside [0, 1]", fraction);
  }
  const size_t n = src.rows, f = src.features;
  const size_t k = (size_t)rt_validation_split_rows(n, fraction);

  validation->features = f;
  validation->first_row = src.first_row;
  if (k == 0) {
    *train = src;
    return RT_OK;
  }

  unsigned char *is_val = NULL;
  rt_code frc = rt_validation_flags(n, fraction, seed, shard_index, &is_val, st);
  if (frc != RT_OK) {
    rt_shard_free(&src);
    memset(validation, 0, sizeof *validation);
    return frc;
  }
  if (src.source) return split_streamed(&src, is_val, k, train, validation, st);
  if (src.indptr) return split_sparse(&src, is_val, k, train, validation, st);

  rt_code rc = rt_data_alloc_floats(k * f, &validation->x, "validation split", st);
  if (rc == RT_OK && src.y) {
    validation->y = malloc(k * sizeof(float));
    if (!validation->y) rc = rt_fail(st, RT_ERR_NOMEM, "cannot allocate %zu validation labels", k);
  }
  if (rc != RT_OK) {
    free(is_val);
    rt_shard_free(validation);
    rt_shard_free(&src);
    return rc;
  }
  /* Validation rows are copied out; training rows are compacted in place (j <= i always). */
  size_t v = 0, t = 0;
  for (size_t i = 0; i < n; ++i) {
    if (is_val[i]) {
      if (f) memcpy(validation->x + v * f, src.x + i * f, f * sizeof(float));
      if (src.y) validation->y[v] = src.y[i];
      ++v;
    } else {
      if (t != i) {
        if (f) memmove(src.x + t * f, src.x + i * f, f * sizeof(float));
        if (src.y) src.y[t] = src.y[i];
      }
      ++t;
    }
  }
  free(is_val);
  validation->rows = k;
  src.rows = t;
  if (t == 0) {
    free(src.x);
    free(src.y);
    src.x = NULL;
    src.y = NULL;
  }
  *train = src;
  return RT_OK;
}
