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

/* Floats of alignment slack at the start of a group buffer (it starts 64-byte aligned after it). */
#define RT_FUSED_ALIGN_SLACK 16

/* n floats rounded up to whole 64-byte lines. */
static inline size_t rt_fused_round(size_t n) { return (n + 15) / 16 * 16; }

/* The first 64-byte aligned float of a group buffer of RT_FUSED_ALIGN_SLACK + ... floats. */
float *rt_fused_base(float *g);

/* The optimizer-state matrices a group needs: *m1 for any member with momentum or adam, *m2 for
 * any adam member. */
void rt_fused_aux_needs(const rt_model_spec *const *specs, size_t m, int *m1, int *m2);

/* Copies member `spec`'s params (its first `rows` x cols of them) and optimizer state from its
 * state buffer into the blocks at p, m1, m2 (ld), or back (to_state). m1 / m2 may be NULL when
 * the member's optimizer does not use them. */
void rt_fused_copy_member(const rt_model_spec *spec, void *state, size_t rows, size_t cols,
                          float *p, float *m1, float *m2, size_t ld, int to_state);

/* The optimizer update of one member's block: rt_optimizer_step_block with the member's m1 / m2
 * (NULL where absent). */
void rt_fused_step_member(const rt_model_spec *spec, uint64_t step, float *p, float *m1, float *m2,
                          const float *grad, size_t rows, size_t cols, size_t ld);

#endif
