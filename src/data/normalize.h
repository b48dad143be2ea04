/* Feature scaling (data.normalize): per-feature offset and scale, x' = (x - offset) * scale,
 * computed by a statistics pass over every shard before training and stored in each model file,
 * so eval and predict apply exactly the same transformation. */
#ifndef RINGTRAIN_NORMALIZE_H
#define RINGTRAIN_NORMALIZE_H

#include <mpi.h>

#include "dataset.h"
#include "ringtrain/config.h"

typedef struct rt_scaling {
  rt_normalize kind; /* none: offset/scale NULL */
  size_t features;
  float *offset; /* [features]: mean (standard) or minimum (minmax) */
  float *scale;  /* [features]: 1/std or 1/(max - min); 1 for a constant feature */
} rt_scaling;

/* Collective: statistics of the training shards (per shard in double, added in shard order, so
 * every rank layout gives the same numbers). */
rt_code rt_scaling_compute(rt_normalize kind, const rt_dataset *ds, MPI_Comm comm, rt_scaling *out,
                           rt_status *st);
/* Applies the scaling in place to `rows` rows of sc->features floats: the one formula,
 * x' = (x - offset) * scale in float, row by row. */
static inline void rt_scaling_apply_rows(const rt_scaling *sc, float *x, size_t rows) {
  if (!sc || sc->kind == RT_NORMALIZE_NONE) return;
  const size_t d = sc->features;
  for (size_t i = 0; i < rows; ++i) {
    float *row = x + i * d;
    for (size_t f = 0; f < d; ++f) row[f] = (row[f] - sc->offset[f]) * sc->scale[f];
  }
}

/* Applies the scaling to a shard: in place to its rows, or, for a streamed shard, to every row
 * it will read (the source keeps a copy). */
rt_code rt_scaling_apply(const rt_scaling *sc, rt_shard *shard, rt_status *st);
void rt_scaling_free(rt_scaling *sc);

/* Model-file text: "normalize=standard\nnorm_offset=a,b,...\nnorm_scale=...\n" (floats written
 * exactly). Appends to an open stream; parse from spec text (none when absent). The first line is
 * the model key normalize's; `kind` names it when there is no scaling (sc NULL or none). */
void rt_scaling_write(const rt_scaling *sc, rt_normalize kind, FILE *f);
rt_code rt_scaling_parse(const char *spec_text, size_t features, const char *file, rt_scaling *out,
                         rt_status *st);

#endif
