/* CUDA backend, the per-batch driver shared by every family: finds the CUDA family of a kind in
 * the one registry (src/models/registry.c), checks a spec and a slot before anything is issued, and mirrors
 * src/engine/backend_cpu.c step by step around the family's own kernels (family_<kind>.cu):
 *   batch order   permutation on the host, rt_batch_order_key (the CPU's own function);
 *   loss          the family's per-row losses (double), summed by ONE block in a fixed tree order
 *                 (no floating-point atomics anywhere), so the result does not vary run to run;
 *   optimizer     element-wise kernels built on src/models/scalar_math.h, learning rate and Adam bias
 *                 corrections computed on the host in double exactly as src/models/optimizer.c does;
 *                 L2 (from the family) folded in as gw + l2 * w, before the update;
 *   bookkeeping   the host-owned header counters, pass close into the history, the family's pass
 *                 end; evaluation chunks and their fixed-order sums.
 * Divergence: the loss kernel sets header.diverged on the device when a batch loss is not finite;
 * the optimizer kernel reads it and skips the update, so the state stops changing at the same
 * batch as on the CPU without the host ever waiting for the device. Families that update the
 * state themselves (kmeans, linear exact) issue their update before the batch's loss kernel and
 * skip it when the flag is already set, as rt_cpu_integrate_shard() skips integrate_batch. */
#include "rt_cuda.h"

#include <stdlib.h>
#include <string.h>

#include <math_constants.h>

#include "row_math.cuh"
#include "rt_cuda_internal.h"
#include "scalar_math.h"

extern "C" {
#include "backend.h" /* rt_batch_order_key (no C++ guards of its own) */
}

namespace {

constexpr int kReduceThreads = 256; /* the single-block reductions; a power of two */

/* ---- Kernels --------------------------------------------------------------------------------- */

/* One block: the batch's loss and divergence (rt_batch_loss_commit, shared with fused groups). */
__global__ void batch_loss_kernel(const double *row_loss, int rows, rt_state_header *h) {
  __shared__ double sh[kReduceThreads];
  rt_batch_loss_commit(row_loss, rows, h, sh);
}

/* One block: acc[k] += the fixed-order sum of column k (n values, columns `stride` apart), for
 * k < sums (evaluation chunks are added in order). */
__global__ void eval_reduce_kernel(const double *cols, size_t stride, int sums, int n,
                                   double *acc) {
  __shared__ double sh[kReduceThreads];
  for (int k = 0; k < sums; ++k) {
    const double v = rt_fixed_sum(cols + (size_t)k * stride, n, sh);
    if (threadIdx.x == 0) acc[k] += v;
  }
}

__global__ void optimizer_kernel(const rt_state_header *h, float *p, float *aux, const float *g,
                                 rt_opt_args a) {
  if (h->diverged) return; /* set by batch_loss_kernel of this batch or an earlier one */
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += stride)
    rt_optimizer_element(a, p, aux, g, i);
}

/* The host-owned header fields after a shard visit (which is complete: no batch cursor). */
__global__ void header_commit_kernel(rt_state_header *h, unsigned long long step,
                                     unsigned long long samples, unsigned long long loss_rows) {
  h->step = step;
  h->samples = samples;
  h->pass_loss_rows = loss_rows;
  h->batch_cursor = 0;
}

/* engine.c serve(): position / pass bookkeeping, closing a pass into the history. */
__global__ void visit_end_kernel(rt_state_header *h, double *history, int close_pass,
                                 unsigned long long closed_pass, unsigned long long closed_rows,
                                 unsigned long long position, unsigned long long pass) {
  if (close_pass) {
    history[closed_pass] = closed_rows ? h->pass_loss_sum / (double)closed_rows : 0.0;
    /* Finite batch losses can still add up to an overflow: that is divergence too (as on the CPU). */
    if (!isfinite(history[closed_pass])) h->diverged = 1;
    h->pass_loss_sum = 0.0;
    h->pass_loss_rows = 0;
  }
  h->position = position;
  h->pass = pass;
}

/* ---- The family of a kind -------------------------------------------------------------------- */

/* The kernels of a kind: its family in the one registry (src/models/registry.c), by id. A family added
 * there without a case here is a -Wswitch error. */
const rt_cuda_family *cuda_family_of(const char *kind) {
  const rt_family *fam = rt_family_find(kind);
  if (!fam) return nullptr;
  switch (fam->id) {
    case RT_FAMILY_LOGISTIC: return &rt_cuda_family_logistic;
    case RT_FAMILY_KMEANS: return &rt_cuda_family_kmeans;
    case RT_FAMILY_LINEAR: return &rt_cuda_family_linear;
    case RT_FAMILY_MLP: return &rt_cuda_family_mlp;
    case RT_FAMILY_COUNT: break;
  }
  return nullptr;
}

} /* namespace */

rt_opt_args rt_cuda_opt_args(const rt_model_spec *spec, uint64_t step, float l2, size_t nw) {
  const rt_model_config *hp = &spec->hp;
  rt_opt_args a = {};
  a.kind = hp->optimizer == RT_OPT_ADAM ? RT_CUDA_OPT_ADAM
           : hp->momentum > 0.0         ? RT_CUDA_OPT_MOMENTUM
                                        : RT_CUDA_OPT_SGD;
  a.b1 = (float)hp->beta1;
  a.b2 = (float)hp->beta2;
  a.eps = (float)hp->epsilon;
  a.mu = (float)hp->momentum;
  a.n = rt_state_layout_of(spec).param_count;
  const uint64_t total_steps = spec->total_batches * spec->passes;
  a.lr = (float)rt_lr_at(hp->learning_rate, hp->schedule, hp->decay, step, total_steps);
  if (a.kind == RT_CUDA_OPT_ADAM) {
    a.c1 = (float)rt_adam_bias_correction(hp->beta1, step);
    a.c2 = (float)rt_adam_bias_correction(hp->beta2, step);
  }
  a.l2 = l2;
  a.nw = nw;
  return a;
}

extern "C" size_t rt_cuda_work_floats(const rt_model_spec *spec, size_t max_rows) {
  const rt_cuda_family *f = cuda_family_of(spec->hp.kind);
  return f ? f->work_floats(spec, max_rows) : 0;
}

/* ---- Compute --------------------------------------------------------------------------------- */

namespace {

/* The family of a spec, before anything else is looked at (its layout included); then the
 * family's own rules (the same check the CPU runs, src/models/family_*.c), which the CUDA family's
 * check and the layout rely on. */
rt_code check_kind(const rt_model_spec *spec, const rt_cuda_family **fam, rt_status *st) {
  const rt_family *host = rt_family_find(spec->hp.kind);
  *fam = cuda_family_of(spec->hp.kind); /* nullptr for a kind the registry does not know */
  if (!*fam)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec,
                           "the CUDA backend has no kernels for this kind (use backend: cpu)");
  return host->check(spec, st);
}

/* The CUDA limits of a spec for batches (or evaluation chunks) of rows_per_call rows. */
rt_code check_limits(const rt_cuda_family *fam, const rt_model_spec *spec, size_t rows_per_call,
                     int has_labels, rt_status *st) {
  rt_code rc;
  if ((rc = rt_cuda_check_dim(spec, "features", spec->problem.features, st)) ||
      (rc = rt_cuda_check_dim(spec, "rows per batch", rows_per_call, st)))
    return rc;
  return fam->check(spec, rows_per_call, has_labels, st);
}

/* Everything a launch relies on, checked before anything is issued. */
rt_code check_model(const rt_cuda_slot *slot, const rt_cuda_family *fam, const rt_model_spec *spec,
                    const rt_cuda_shard *shard, const rt_state_layout *l, size_t rows_per_call,
                    rt_status *st) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  const unsigned long long id = (unsigned long long)spec->id;
  if (!slot->has_model)
    return rt_fail(st, RT_ERR_INTERNAL, "model %llu: the CUDA slot holds no state", id);
  if (slot->mirror.magic != RT_STATE_MAGIC || slot->mirror.model_id != spec->id)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "model %llu: the CUDA slot holds a different or damaged state (model %llu)", id,
                   (unsigned long long)slot->mirror.model_id);
  if (slot->state_bytes != l->total_bytes)
    return rt_fail(st, RT_ERR_INTERNAL, "model %llu: state is %zu bytes, its layout says %zu", id,
                   slot->state_bytes, l->total_bytes);
  const rt_code rc =
      check_limits(fam, spec, rows_per_call, shard->rows == 0 || shard->y != nullptr, st);
  if (rc != RT_OK) return rc;
  const size_t work = fam->work_floats(spec, rows_per_call);
  if (d > slot->max_features || c > slot->max_classes || rows_per_call > slot->max_rows ||
      work > slot->work_cap)
    return rt_fail(
        st, RT_ERR_INTERNAL,
        "model %llu: %zu features, %zu classes, %zu rows per batch, %zu workspace floats "
        "exceed the CUDA slot's %zu, %zu, %zu, %zu",
        id, d, c, rows_per_call, work, slot->max_features, slot->max_classes, slot->max_rows,
        slot->work_cap);
  if (shard->features != spec->problem.data_features)
    return rt_fail(st, RT_ERR_DATA, "model %llu expects %zu features, the device shard has %zu", id,
                   spec->problem.data_features, shard->features);
  return RT_OK;
}

} /* namespace */

const void *rt_cuda_probe_kernel(void) { return (const void *)header_commit_kernel; }

extern "C" rt_code rt_cuda_check_spec(const rt_model_spec *spec, rt_status *st) {
  const rt_cuda_family *fam = nullptr;
  const rt_code rc = check_kind(spec, &fam, st);
  if (rc != RT_OK) return rc;
  return check_limits(fam, spec, (size_t)spec->hp.batch_size, 1, st);
}

namespace {

/* A visit of one slot's model, batch by batch (rt_cuda_integrate_shard, rt_cuda_integrate_members):
 * begin checks and computes the batch order; each batch_step issues batch k = the mirror's cursor
 * (its rows: x, device rows of the shard's width, or NULL to read them from the resident shard);
 * end commits the header. */
struct slot_visit {
  const rt_cuda_family *fam;
  const rt_model_spec *spec;
  const rt_cuda_shard *shard;
  size_t batch, nb;
  int own_input, opt_blocks;
  float *params, *aux;
};

rt_code visit_begin(rt_cuda_slot *slot, const rt_model_spec *spec, const rt_cuda_shard *shard,
                    uint64_t shard_index, slot_visit *v, rt_status *st) {
  rt_code rc;
  v->spec = spec;
  v->shard = shard;
  RT_TRY(rc, check_kind(spec, &v->fam, st));
  const rt_state_layout l = rt_state_layout_of(spec);
  v->batch = (size_t)spec->hp.batch_size;
  if ((rc = check_model(slot, v->fam, spec, shard, &l, v->batch, st)) != RT_OK) return rc;
  rt_state_header *m = &slot->mirror;
  v->params = (float *)(slot->state + l.params_offset);
  v->aux = (float *)(slot->state + l.aux_offset);
  v->nb = (shard->rows + v->batch - 1) / v->batch;
  if (v->nb > slot->order_cap) {
    uint64_t *grown = (uint64_t *)realloc(slot->order, v->nb * sizeof *grown);
    if (!grown)
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the batch order of %zu batches", v->nb);
    slot->order = grown;
    slot->order_cap = v->nb;
  }
  rt_rng_permutation(rt_batch_order_key(spec, m->pass, shard_index), slot->order, v->nb);
  v->opt_blocks = rt_cuda_elem_blocks(l.param_count);
  v->own_input = 0; /* a view or a scaling of its own: each batch gathered first (input.cu) */
  RT_TRY(rc, rt_cuda_input_prepare(slot, spec, shard, &v->own_input, st));
  if (m->batch_cursor > v->nb)
    return rt_fail(st, RT_ERR_INTERNAL, "model %llu: batch cursor %llu beyond the visit's %zu",
                   (unsigned long long)spec->id, (unsigned long long)m->batch_cursor, v->nb);
  return RT_OK;
}

/* Rows in batch k of the visit. */
size_t batch_rows(const rt_cuda_slot *slot, const slot_visit *v, size_t k) {
  const size_t first = (size_t)slot->order[k] * v->batch;
  return first + v->batch <= v->shard->rows ? v->batch : v->shard->rows - first;
}

rt_code visit_batch(rt_cuda_slot *slot, const slot_visit *v, const float *x, rt_status *st) {
  rt_code rc;
  rt_state_header *m = &slot->mirror, *dh = (rt_state_header *)slot->state;
  const size_t k = (size_t)m->batch_cursor;
  if (k >= v->nb)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %llu: batch %zu of a visit of %zu",
                      (unsigned long long)v->spec->id, k, v->nb);
  const size_t first = (size_t)slot->order[k] * v->batch, rows = batch_rows(slot, v, k);
  const rt_cuda_shard *shard = v->shard;
  rt_cuda_batch b;
  b.spec = v->spec;
  b.dh = dh;
  b.params = v->params;
  b.aux = v->aux;
  b.x = x ? x : shard->x + first * shard->features;
  b.y = shard->y ? shard->y + first : nullptr;
  b.rows = (int)rows;
  if (v->own_input) RT_TRY(rc, rt_cuda_input_gather(slot, b.x, shard->features, b.rows, &b.x, st));
  rt_cuda_batch_out out = {};
  if ((rc = v->fam->batch(slot, &b, &out, st)) != RT_OK) return rc;
  /* diverged |= !isfinite(loss); pass_loss_sum += diverged ? NaN : loss (rt_cpu_integrate_shard) */
  batch_loss_kernel<<<1, kReduceThreads, 0, slot->stream>>>(slot->row_vals, out.loss_n, dh);
  RT_CUDA_CHECK_LAUNCH(st);
  if (out.gradient) {
    const rt_opt_args a = rt_cuda_opt_args(v->spec, m->step, out.l2, out.nw);
    optimizer_kernel<<<v->opt_blocks, kRtElemThreads, 0, slot->stream>>>(dh, v->params, v->aux,
                                                                         slot->work, a);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  /* The host-owned counters advance for every batch, diverged or not (as on the CPU). */
  m->pass_loss_rows += rows;
  m->samples += rows;
  m->step += 1;
  m->batch_cursor += 1;
  return RT_OK;
}

rt_code visit_end(rt_cuda_slot *slot, rt_status *st) {
  rt_state_header *m = &slot->mirror;
  m->batch_cursor = 0;
  header_commit_kernel<<<1, 1, 0, slot->stream>>>((rt_state_header *)slot->state, m->step,
                                                  m->samples, m->pass_loss_rows);
  RT_CUDA_CHECK_LAUNCH(st);
  return rt_cuda_mark_done(slot, st);
}

/* The batches of slots[0..m)'s visits over a streamed or sparse shard, each batch read (or made
 * dense) and copied once for all of them (the feed of slots[0], feed.cu): every slot's stream
 * waits for the copy, and the buffer is refilled only after every slot's kernels of its batch. */
rt_code fed_batches(rt_cuda_slot *const *slots, const slot_visit *v, size_t m, rt_status *st) {
  rt_code rc;
  rt_cuda_slot *lead = slots[0];
  const size_t k0 = (size_t)lead->mirror.batch_cursor;
  if (k0 >= v[0].nb) return RT_OK;
  RT_TRY(rc, rt_cuda_feed_open(lead, v[0].shard, lead->order, v[0].nb, k0, v[0].batch, m, st));
  for (size_t k = k0; rc == RT_OK && k < v[0].nb; ++k) {
    const float *x = nullptr;
    if ((rc = rt_cuda_feed_next(lead, batch_rows(lead, &v[0], k), &x, st)) != RT_OK) break;
    for (size_t i = 0; rc == RT_OK && i < m; ++i) {
      rc = rt_cuda_feed_take(lead, slots[i]->stream, st);
      if (rc == RT_OK) rc = visit_batch(slots[i], &v[i], x, st);
      if (rc == RT_OK) rc = rt_cuda_feed_used(lead, i, slots[i]->stream, st);
    }
    if (rc == RT_OK) rc = rt_cuda_feed_done(lead, st);
  }
  /* After a failure, kernels queued for the abandoned batch may still read the feed's buffer,
   * and no `used` event says so: wait for every member's stream before the feed can hand that
   * buffer out again (their errors ignored: rc says what failed). */
  if (rc != RT_OK)
    for (size_t i = 0; i < m; ++i) (void)cudaStreamSynchronize(slots[i]->stream);
  rt_cuda_feed_close(lead);
  return rc;
}

} /* namespace */

extern "C" rt_code rt_cuda_integrate_members(rt_cuda_slot *const *slots,
                                             const rt_model_spec *const *specs, size_t m,
                                             const rt_cuda_shard *shard, uint64_t shard_index,
                                             rt_status *st) {
  if (m == 0) return RT_OK;
  slot_visit *v = (slot_visit *)calloc(m, sizeof *v);
  if (!v) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot track a visit of %zu models", m);
  if (m == 1)
    rt_nvtx_push("integrate model %llu pass %llu shard %llu", (unsigned long long)specs[0]->id,
                 (unsigned long long)slots[0]->mirror.pass, (unsigned long long)shard_index);
  else
    rt_nvtx_push("integrate model %llu pass %llu shard %llu group of %zu",
                 (unsigned long long)specs[0]->id, (unsigned long long)slots[0]->mirror.pass,
                 (unsigned long long)shard_index, m);
  rt_nvtx_scope nvtx_range;
  rt_code rc = RT_OK;
  for (size_t i = 0; rc == RT_OK && i < m; ++i)
    rc = visit_begin(slots[i], specs[i], shard, shard_index, &v[i], st);
  /* A streamed or sparse shard is read (made dense) once for the members, who must then stand at
   * one cursor in one order (a group: src/engine/groups.h). */
  for (size_t i = 1; rc == RT_OK && rt_cuda_shard_fed(shard) && i < m; ++i)
    if (v[i].nb != v[0].nb || v[i].batch != v[0].batch ||
        slots[i]->mirror.batch_cursor != slots[0]->mirror.batch_cursor ||
        memcmp(slots[i]->order, slots[0]->order, v[0].nb * sizeof *slots[0]->order) != 0)
      rc = RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "models %llu and %llu share a fed visit but not its batches",
                      (unsigned long long)specs[0]->id, (unsigned long long)specs[i]->id);
  if (rc == RT_OK && rt_cuda_shard_fed(shard)) {
    rc = fed_batches(slots, v, m, st);
  } else {
    for (size_t i = 0; rc == RT_OK && i < m; ++i)
      while (rc == RT_OK && (size_t)slots[i]->mirror.batch_cursor < v[i].nb)
        rc = visit_batch(slots[i], &v[i], nullptr, st);
  }
  for (size_t i = 0; rc == RT_OK && i < m; ++i) rc = visit_end(slots[i], st);
  free(v);
  return rc;
}

extern "C" rt_code rt_cuda_integrate_shard(rt_cuda_slot *slot, const rt_model_spec *spec,
                                           const rt_cuda_shard *shard, uint64_t shard_index,
                                           rt_status *st) {
  return rt_cuda_integrate_members(&slot, &spec, 1, shard, shard_index, st);
}

extern "C" rt_code rt_cuda_finish_visit(rt_cuda_slot *slot, const rt_model_spec *spec,
                                        uint64_t shards, int *model_done, rt_status *st) {
  const rt_cuda_family *fam = nullptr;
  rt_code rc;
  RT_TRY(rc, check_kind(spec, &fam, st));
  rt_state_header *m = &slot->mirror;
  if (!slot->has_model || m->pass >= spec->passes || shards == 0)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "model %llu: finish_visit at pass %llu of %llu (%llu shards)",
                   (unsigned long long)spec->id, (unsigned long long)m->pass,
                   (unsigned long long)spec->passes, (unsigned long long)shards);
  const rt_state_layout l = rt_state_layout_of(spec);
  int close = 0;
  const unsigned long long closed_pass = m->pass, closed_rows = m->pass_loss_rows;
  if (++m->position == shards) {
    close = 1;
    m->pass_loss_sum = 0.0;
    m->pass_loss_rows = 0;
    m->position = 0;
    m->pass += 1;
  }
  visit_end_kernel<<<1, 1, 0, slot->stream>>>((rt_state_header *)slot->state,
                                              (double *)(slot->state + l.history_offset), close,
                                              closed_pass, closed_rows, m->position, m->pass);
  RT_CUDA_CHECK_LAUNCH(st);
  /* The family's pass end, where engine.c serve() calls it: after the pass is closed. */
  if (close && fam->pass_end && (rc = fam->pass_end(slot, spec, closed_pass, st)) != RT_OK)
    return rc;
  *model_done = m->pass == spec->passes;
  return rt_cuda_mark_done(slot, st);
}

namespace {

/* The evaluation chunks of a shard into slot->acc (rt_cuda_evaluate_shard). */
rt_code evaluate_chunks(rt_cuda_slot *slot, const rt_cuda_family *fam, const rt_model_spec *spec,
                        const rt_cuda_shard *shard, const rt_state_layout *l, size_t chunk,
                        int own_input, rt_status *st) {
  rt_code rc;
  const int via_feed = rt_cuda_shard_fed(shard);
  for (size_t first = 0; first < shard->rows; first += chunk) {
    rt_cuda_batch b;
    b.spec = spec;
    b.dh = (rt_state_header *)slot->state;
    b.params = (float *)(slot->state + l->params_offset);
    b.aux = (float *)(slot->state + l->aux_offset);
    b.x = shard->x ? shard->x + first * shard->features : nullptr;
    b.y = shard->y ? shard->y + first : nullptr;
    b.rows = (int)(first + chunk <= shard->rows ? chunk : shard->rows - first);
    if (via_feed) {
      RT_TRY(rc, rt_cuda_feed_next(slot, (size_t)b.rows, &b.x, st));
      RT_TRY(rc, rt_cuda_feed_take(slot, slot->stream, st));
    }
    if (own_input) RT_TRY(rc, rt_cuda_input_gather(slot, b.x, shard->features, b.rows, &b.x, st));
    int n = 0;
    if ((rc = fam->eval(slot, &b, &n, st)) != RT_OK) return rc;
    eval_reduce_kernel<<<1, kReduceThreads, 0, slot->stream>>>(slot->row_vals, slot->max_rows, n,
                                                               b.rows, slot->acc);
    RT_CUDA_CHECK_LAUNCH(st);
    if (via_feed) {
      RT_TRY(rc, rt_cuda_feed_used(slot, 0, slot->stream, st));
      RT_TRY(rc, rt_cuda_feed_done(slot, st));
    }
  }
  return RT_OK;
}

} /* namespace */

extern "C" rt_code rt_cuda_evaluate_shard(rt_cuda_slot *slot, const rt_model_spec *spec,
                                          const rt_cuda_shard *shard, double *sums, rt_status *st) {
  const rt_cuda_family *fam = nullptr;
  rt_code rc;
  RT_TRY(rc, check_kind(spec, &fam, st));
  const rt_state_layout l = rt_state_layout_of(spec);
  /* Chunks of the model's own batch size, as on the CPU: a slot kept through a respec may be
   * larger, and the sums must not depend on which slot the model got. The checks are for the
   * chunk, not the slot's largest batch: a kept slot's workspace fits the model's own batches
   * (backend_cuda.c, slot_holds), not necessarily its per-row workspace at the slot's rows. */
  const size_t batch = (size_t)spec->hp.batch_size;
  const size_t chunk = batch > 0 && batch < slot->max_rows ? batch : slot->max_rows;
  if ((rc = check_model(slot, fam, spec, shard, &l, chunk, st)) != RT_OK) return rc;
  rt_nvtx_push("evaluate model %llu (%zu rows)", (unsigned long long)spec->id, shard->rows);
  rt_nvtx_scope nvtx_range;
  int own_input = 0; /* a view or a scaling of its own: each chunk gathered first (input.cu) */
  RT_TRY(rc, rt_cuda_input_prepare(slot, spec, shard, &own_input, st));
  RT_CUDA_CHECK(st, cudaMemsetAsync(slot->acc, 0, RT_EVAL_SUMS * sizeof(double), slot->stream));
  const int via_feed = rt_cuda_shard_fed(shard); /* its chunks in turn through the slot's feed */
  if (via_feed && shard->rows)
    RT_TRY(rc, rt_cuda_feed_open(slot, shard, nullptr, (shard->rows + chunk - 1) / chunk, 0, chunk,
                                 1, st));
  rc = evaluate_chunks(slot, fam, spec, shard, &l, chunk, own_input, st);
  /* After a failure the abandoned chunk's kernels may still read the feed's buffer (no `used`
   * event says so): they finish before the feed can reuse it, as in fed_batches. */
  if (rc != RT_OK && via_feed) (void)cudaStreamSynchronize(slot->stream);
  if (via_feed) rt_cuda_feed_close(slot);
  if (rc != RT_OK) return rc;
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->pinned, slot->acc, RT_EVAL_SUMS * sizeof(double),
                                    cudaMemcpyDeviceToHost, slot->stream));
  RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
  double got[RT_EVAL_SUMS];
  memcpy(got, slot->pinned, sizeof got);
  for (int k = 0; k < RT_EVAL_SUMS; ++k) sums[k] += got[k];
  return rt_cuda_mark_done(slot, st);
}
