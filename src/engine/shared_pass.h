/* Shared statistics passes: exact least-squares models that differ only in alpha accumulate
 * identical statistics (same rows, same batch boundaries, same order), so one of them, the lowest
 * id, travels the ring and the others copy its statistics and solve with their own alpha.
 * src/engine/train.c plans them, for either backend. */
#ifndef RINGTRAIN_SHARED_PASS_H
#define RINGTRAIN_SHARED_PASS_H

#include <stddef.h>

#include "model.h"
#include "ringtrain/config.h"

/* 1 when models a and b can share one statistics pass. */
int rt_shares_statistics(const rt_model_config *a, const rt_model_config *b);

/* source[j]: the model whose pass model j uses (j itself unless it shares with a lower id).
 * Returns the number of models that travel (source[j] == j). */
size_t rt_plan_shared_passes(const rt_model_spec *specs, size_t count, size_t *source);

#endif
