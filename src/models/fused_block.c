/* Group-buffer helpers of the fused gradient families (fused_block.h): aligning, copying a
 * member's block of parameters and optimizer state between its state buffer and the fused
 * matrices, and its optimizer step there. */
#include "fused_block.h"

#include <stdint.h>
#include <string.h>

/* Floats of alignment slack at the start of a group buffer (it starts 64-byte aligned after it). */
#define RT_FUSED_ALIGN_SLACK 16

/* n floats rounded up to whole 64-byte lines. */
static size_t rt_fused_round(size_t n) { return (n + 15) / 16 * 16; }

/* The first 64-byte aligned float of a group buffer. */
static float *rt_fused_base(float *g) { return (float *)(((uintptr_t)g + 63) & ~(uintptr_t)63); }

void rt_fused_aux_needs(const rt_model_spec *const *specs, size_t m, int *m1, int *m2) {
  *m1 = *m2 = 0;
  for (size_t i = 0; i < m; ++i) { /* the optimizer's floats per parameter: 0, 1 or 2 */
    const size_t per = rt_optimizer_aux_count(specs[i], 1);
    *m1 |= per >= 1;
    *m2 |= per >= 2;
  }
}

rt_fused_buffer rt_fused_buffer_of(const rt_model_spec *const *specs, size_t m, size_t prows,
                                   size_t n, size_t scratch, float *g) {
  int need1, need2;
  rt_fused_aux_needs(specs, m, &need1, &need2);
  const size_t block = rt_fused_round(prows * n);
  const size_t o_m1 = block, o_m2 = o_m1 + (need1 ? block : 0), o_gr = o_m2 + (need2 ? block : 0);
  const size_t o_s = o_gr + block;
  rt_fused_buffer b = {NULL, NULL, NULL,
                       NULL, NULL, RT_FUSED_ALIGN_SLACK + o_s + rt_fused_round(scratch)};
  if (g) {
    float *at = rt_fused_base(g);
    b.p = at;
    b.m1 = need1 ? at + o_m1 : NULL;
    b.m2 = need2 ? at + o_m2 : NULL;
    b.gr = at + o_gr;
    b.scratch = at + o_s;
  }
  return b;
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
