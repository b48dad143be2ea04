/* Group-buffer helpers of the fused gradient families (fused_block.h): aligning, copying a
 * member's block of parameters and optimizer state between its state buffer and the fused
 * matrices, and its optimizer step there. */
#include "fused_block.h"

#include <stdint.h>
#include <string.h>

float *rt_fused_base(float *g) { return (float *)(((uintptr_t)g + 63) & ~(uintptr_t)63); }

void rt_fused_aux_needs(const rt_model_spec *const *specs, size_t m, int *m1, int *m2) {
  *m1 = *m2 = 0;
  for (size_t i = 0; i < m; ++i) {
    if (specs[i]->hp.optimizer == RT_OPT_ADAM) *m1 = *m2 = 1;
    else if (specs[i]->hp.momentum > 0.0) *m1 = 1;
  }
}

/* rows x cols between a contiguous block (ld = cols) and a strided one. */
static void copy_block(float *contiguous, float *strided, size_t rows, size_t cols, size_t ld,
                       int to_contiguous) {
  for (size_t r = 0; r < rows; ++r) {
    if (to_contiguous) memcpy(contiguous + r * cols, strided + r * ld, cols * sizeof(float));
    else memcpy(strided + r * ld, contiguous + r * cols, cols * sizeof(float));
  }
}

void rt_fused_copy_member(const rt_model_spec *spec, void *state, size_t rows, size_t cols,
                          float *p, float *m1, float *m2, size_t ld, int to_state) {
  const rt_state_layout l = rt_state_layout_of(spec);
  float *params = rt_state_params(state, &l), *aux = rt_state_aux(state, &l);
  copy_block(params, p, rows, cols, ld, to_state);
  const size_t n = l.param_count;
  if (l.aux_count >= n && m1) copy_block(aux, m1, rows, cols, ld, to_state);
  if (l.aux_count >= 2 * n && m2) copy_block(aux + n, m2, rows, cols, ld, to_state);
}

void rt_fused_step_member(const rt_model_spec *spec, uint64_t step, float *p, float *m1, float *m2,
                          const float *grad, size_t rows, size_t cols, size_t ld) {
  const int adam = spec->hp.optimizer == RT_OPT_ADAM;
  const int momentum = !adam && spec->hp.momentum > 0.0;
  rt_optimizer_step_block(spec, step, p, adam || momentum ? m1 : NULL, adam ? m2 : NULL, grad, rows,
                          cols, ld);
}
