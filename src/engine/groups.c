/* Forms model groups (groups.h): models that can share every batch, in a fixed order. */
#include "groups.h"

#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "view.h"

int rt_models_can_group(const rt_model_spec *a, const rt_model_spec *b) {
  const rt_model_config *x = &a->hp, *y = &b->hp;
  if (strcmp(x->kind, y->kind) != 0) return 0;
  if (a->problem.features != b->problem.features || a->problem.classes != b->problem.classes)
    return 0;
  if (x->batch_size != y->batch_size || x->data_order != y->data_order) return 0;
  /* One batch of inputs for the whole group: the same view, the same scaling. */
  if (!rt_view_same(x, y) || x->normalize != y->normalize) return 0;
  /* The same shards in the same order in every pass (the succession), so the same batches. */
  if (a->succession != b->succession || rt_route_length(a) != rt_route_length(b) ||
      a->shards != b->shards || a->seed != b->seed)
    return 0;
  const uint64_t n = rt_route_length(a);
  if (a->succession != RT_SUCCESSION_FIXED &&
      (uint64_t)x->start_shard % n != (uint64_t)y->start_shard % n)
    return 0;
  /* One arithmetic per group: the solver (linear) and the algorithm (kmeans) decide it. */
  if (x->solver != y->solver || x->algorithm != y->algorithm) return 0;
  /* Passes done differently (the exact solver needs one) cannot share a route's passes. */
  return a->passes == b->passes;
}

void rt_groups_free(rt_groups *g) {
  free(g->group_of);
  free(g->first);
  free(g->members);
  memset(g, 0, sizeof *g);
}

rt_code rt_groups_form(const rt_model_spec *specs, size_t count, int fuse, rt_groups *g,
                       rt_status *st) {
  memset(g, 0, sizeof *g);
  const size_t n = count ? count : 1;
  size_t *leader = malloc(n * sizeof *leader); /* [group]: its first member */
  size_t *size = calloc(n, sizeof *size);
  g->group_of = malloc(n * sizeof *g->group_of);
  g->first = malloc((n + 1) * sizeof *g->first);
  g->members = malloc(n * sizeof *g->members);
  if (!leader || !size || !g->group_of || !g->first || !g->members) {
    free(leader), free(size), rt_groups_free(g);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the groups of %zu models", count);
  }
  g->models = count;
  /* Each model joins the first group whose leader it can group with (quadratic in the groups, not
   * the models: a sweep has few distinct groups). */
  for (size_t j = 0; j < count; ++j) {
    size_t k = g->count;
    if (fuse)
      for (k = 0; k < g->count; ++k)
        if (rt_models_can_group(&specs[leader[k]], &specs[j])) break;
    if (k == g->count) leader[g->count++] = j;
    g->group_of[j] = k;
    size[k]++;
  }
  g->first[0] = 0;
  for (size_t k = 0; k < g->count; ++k) g->first[k + 1] = g->first[k] + size[k];
  memset(size, 0, n * sizeof *size);
  for (size_t j = 0; j < count; ++j) {
    const size_t k = g->group_of[j];
    g->members[g->first[k] + size[k]++] = j;
  }
  free(leader), free(size);
  return RT_OK;
}
