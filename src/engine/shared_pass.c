/* Shared statistics passes of exact linear models (see shared_pass.h). */
#include "shared_pass.h"

#include <string.h>

#include "view.h"

int rt_shares_statistics(const rt_model_config *a, const rt_model_config *b) {
  return strcmp(a->kind, "linear") == 0 && strcmp(b->kind, "linear") == 0 &&
         a->solver == RT_SOLVER_EXACT && b->solver == RT_SOLVER_EXACT &&
         a->fit_intercept == b->fit_intercept && a->batch_size == b->batch_size &&
         rt_view_same(a, b) && a->normalize == b->normalize;
}

size_t rt_plan_shared_passes(const rt_model_spec *specs, size_t count, size_t *source) {
  size_t travelling = 0;
  for (size_t j = 0; j < count; ++j) {
    source[j] = j;
    for (size_t i = 0; i < j; ++i)
      if (source[i] == i && rt_shares_statistics(&specs[i].hp, &specs[j].hp)) {
        source[j] = i;
        break;
      }
    travelling += source[j] == j;
  }
  return travelling;
}
