/* The CPU backend (backend.h), the reference the CUDA backend follows: one shard visit of a
 * model (its batches in a counter-based random order, each a family step or a gradient and an
 * optimizer step, stoppable between batches) and the evaluation of a state on a shard. */
#include <math.h>
#include <string.h>

#include "backend.h"
#include "rng.h"

uint64_t rt_batch_order_key(const rt_model_spec *spec, uint64_t pass, uint64_t shard) {
  return rt_key_push(rt_key_push(rt_key_push(spec->hp.data_order, RT_STREAM_BATCH_ORDER), pass),
                     shard);
}

void rt_cpu_integrate_shard(const rt_model_spec *spec, const rt_family *fam, void *state,
                            const rt_shard *shard, uint64_t shard_index, float *ws,
                            uint64_t *order_buf) {
  (void)rt_cpu_integrate_visit(spec, fam, state, shard, shard_index, ws, order_buf, NULL, NULL);
}

int rt_cpu_integrate_visit(const rt_model_spec *spec, const rt_family *fam, void *state,
                           const rt_shard *shard, uint64_t shard_index, float *ws,
                           uint64_t *order_buf, int (*should_stop)(void *), void *user) {
  rt_state_header *h = rt_state_head(state);
  const rt_state_layout l = rt_state_layout_of(spec);
  float *params = rt_state_params(state, &l), *aux = rt_state_aux(state, &l);
  float *grad = ws, *scratch = ws + l.param_count;
  const size_t batch = (size_t)spec->hp.batch_size;
  const size_t nb = (shard->rows + batch - 1) / batch;
  rt_rng_permutation(rt_batch_order_key(spec, h->pass, shard_index), order_buf, nb);
  for (size_t k = (size_t)h->batch_cursor; k < nb; ++k) {
    if (should_stop && should_stop(user)) {
      h->batch_cursor = k;
      return 0;
    }
    const size_t b = (size_t)order_buf[k];
    const size_t first = b * batch;
    const size_t rows = first + batch <= shard->rows ? batch : shard->rows - first;
    const float *x = shard->x + first * shard->features, *y = shard->y ? shard->y + first : NULL;
    double loss = 0.0;
    if (!h->diverged && fam->integrate_batch) {
      fam->integrate_batch(spec, params, aux, x, y, rows, h->step, &loss, scratch);
      if (!isfinite(loss)) h->diverged = 1;
    } else if (!h->diverged) {
      fam->batch_gradient(spec, params, x, y, rows, grad, &loss, scratch);
      if (!isfinite(loss)) h->diverged = 1;
      else rt_optimizer_step(spec, params, aux, grad, l.param_count, h->step);
    }
    h->pass_loss_sum += h->diverged ? NAN : loss;
    h->pass_loss_rows += rows;
    h->samples += rows;
    h->step += 1;
  }
  h->batch_cursor = 0;
  return 1;
}

void rt_cpu_evaluate_shard(const rt_model_spec *spec, const rt_family *fam, const void *state,
                           const rt_shard *shard, float *ws, size_t ws_rows, double *sums) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const float *params = (const float *)((const char *)state + l.params_offset);
  for (size_t first = 0; first < shard->rows; first += ws_rows) {
    const size_t rows = first + ws_rows <= shard->rows ? ws_rows : shard->rows - first;
    fam->eval_rows(spec, params, shard->x + first * shard->features,
                   shard->y ? shard->y + first : NULL, rows, ws, sums);
  }
}
