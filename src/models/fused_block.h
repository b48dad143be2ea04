/* The group buffer of the fused gradient families (logistic, linear with solver sgd): each member's
 * parameters are a block of `rows` rows of `cols` values inside row-major matrices of row stride
 * ld (all members' columns side by side: member i at column i * cols), and so are its optimizer
 * state and gradient, so that one GEMM covers every member and rt_optimizer_step_block updates
 * one member's block in place. A member's solo state is the same block with ld = cols: params
 * (rows x cols, row-major), aux as rt_optimizer_aux_count lays it out (adam [m | v], momentum
 * [velocity], plain sgd nothing). */
#ifndef RINGTRAIN_FUSED_BLOCK_H
#define RINGTRAIN_FUSED_BLOCK_H

#include <stddef.h>

#include "model.h"

/* The matrices of a fused gradient family's group buffer g (64-byte aligned after a few floats
 * of slack): parameters P, first moments or
 * velocity M1 (when a member needs them), second moments M2 (when a member is adam) and the
 * gradient GR, each prows x n floats starting on a 64-byte line, then `scratch` floats. g NULL:
 * only the size (floats, the alignment slack included). */
typedef struct rt_fused_buffer {
  float *p, *m1, *m2, *gr, *scratch;
  size_t floats;
} rt_fused_buffer;
rt_fused_buffer rt_fused_buffer_of(const rt_model_spec *const *specs, size_t m, size_t prows,
                                   size_t n, size_t scratch, float *g);

/* The optimizer-state matrices a group needs: *m1 for any member with momentum or adam, *m2 for
 * any adam member. */
void rt_fused_aux_needs(const rt_model_spec *const *specs, size_t m, int *m1, int *m2);

/* Copies member `spec`'s params (its first `rows` x cols of them) and optimizer state from its
 * state buffer into the blocks at p, m1, m2 (ld), or back (to_state). m1 / m2 may be NULL when
 * the member's optimizer does not use them. */
void rt_fused_copy_member(const rt_model_spec *spec, void *state, size_t rows, size_t cols,
                          float *p, float *m1, float *m2, size_t ld, int to_state);

#endif
