/* Model groups: the models of a run that share every batch (same kind and input dimensions, same
 * batch size, the same data-order key and so the same batch order, the same succession and shards
 * in use) travel and integrate together, one fused GEMM or kernel chain per batch for all members
 * (the families' group_* functions, src/models/model.h). Groups are a pure function of the
 * resolved models (their specs), never of timing or of how many ranks run: with run.fuse off every
 * model is a group of its own. Groups are numbered by their first member; members are in id order.
 * A member that stops early (early termination) leaves its group; the rest go on. */
#ifndef RINGTRAIN_GROUPS_H
#define RINGTRAIN_GROUPS_H

#include <stddef.h>

#include "model.h"

typedef struct rt_groups {
  size_t count;     /* groups */
  size_t models;    /* models grouped */
  size_t *group_of; /* [models]: the group of model j */
  size_t *first;    /* [count + 1]: group g's members are members[first[g] .. first[g + 1]) */
  size_t *members;  /* [models]: model indices, group by group, ascending inside a group */
} rt_groups;

/* Whether models a and b can share every batch (the one rule; check and the engine use it). */
int rt_models_can_group(const rt_model_spec *a, const rt_model_spec *b);

/* Forms the groups of specs[0..count) (fuse: run.fuse; 0 = every model alone). */
rt_code rt_groups_form(const rt_model_spec *specs, size_t count, int fuse, rt_groups *g,
                       rt_status *st);
void rt_groups_free(rt_groups *g);

/* Members of group g. */
static inline size_t rt_group_size(const rt_groups *g, size_t group) {
  return g->first[group + 1] - g->first[group];
}
static inline const size_t *rt_group_members(const rt_groups *g, size_t group) {
  return g->members + g->first[group];
}

#endif
