/* rt_cuda_parts_form (cuda_parts.h): each group's members split by fused CUDA layout, and into
 * parts of at most RT_CUDA_GROUP_MAX_MEMBERS members of a fusable kind. */
#include "cuda_parts.h"

#if RINGTRAIN_WITH_CUDA

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cuda.h"

/* Whether b belongs to the part whose first member is a: both of kinds with fused kernels and of
 * one layout, or both of kinds without. */
static int same_part(const rt_model_spec *a, const rt_model_spec *b) {
  const int fa = rt_cuda_group_fusable(a), fb = rt_cuda_group_fusable(b);
  if (fa != fb) return 0;
  if (!fa) return 1;
  const rt_model_spec *pair[2] = {a, b};
  return rt_cuda_group_uniform(pair, 2);
}

rt_code rt_cuda_parts_form(const rt_model_spec *specs, const rt_groups *groups, rt_groups *parts,
                           rt_status *st) {
  memset(parts, 0, sizeof *parts);
  const size_t n = groups->models;
  parts->models = n;
  parts->group_of = malloc((n ? n : 1) * sizeof *parts->group_of);
  parts->first = calloc(n + 1, sizeof *parts->first);
  parts->members = malloc((n ? n : 1) * sizeof *parts->members);
  size_t *lead = malloc((n ? n : 1) * sizeof *lead), *fill = calloc(n + 1, sizeof *fill);
  if (!parts->group_of || !parts->first || !parts->members || !lead || !fill) {
    free(lead);
    free(fill);
    rt_groups_free(parts);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the CUDA parts of %zu models", n);
  }
  size_t count = 0;
  for (size_t g = 0; g < groups->count; ++g) {
    const size_t base = count, m = rt_group_size(groups, g);
    const size_t *members = rt_group_members(groups, g);
    for (size_t k = 0; k < m; ++k) {
      const size_t j = members[k];
      /* a fused context holds at most so many (parts->first[p + 1] counts part p's so far) */
      const size_t cap = rt_cuda_group_fusable(&specs[j]) ? RT_CUDA_GROUP_MAX_MEMBERS : SIZE_MAX;
      size_t p = base;
      while (p < count && (parts->first[p + 1] >= cap || !same_part(&specs[lead[p]], &specs[j])))
        ++p;
      if (p == count) lead[count++] = j;
      parts->group_of[j] = p;
      parts->first[p + 1]++;
    }
  }
  parts->count = count;
  for (size_t p = 0; p < count; ++p) parts->first[p + 1] += parts->first[p];
  memcpy(fill, parts->first, (count + 1) * sizeof *fill);
  /* Group by group, members ascending: so ascending inside each part too. */
  for (size_t g = 0; g < groups->count; ++g) {
    const size_t m = rt_group_size(groups, g);
    const size_t *members = rt_group_members(groups, g);
    for (size_t k = 0; k < m; ++k) parts->members[fill[parts->group_of[members[k]]]++] = members[k];
  }
  free(lead);
  free(fill);
  return RT_OK;
}

#else
typedef int rt_cuda_parts_absent; /* a CPU-only build has no CUDA backend */
#endif
