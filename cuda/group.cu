/* CUDA backend, fused model groups (rt_cuda.h, "Fused groups"): the members of a group visit
 * integrate every batch together with a constant number of launches, whatever the group size.
 * Logistic (softmax regression) and linear with solver sgd (squared error, one output) here;
 * k-means and MLP through group_kmeans.cu and group_mlp.cu (group_families.h), this file driving
 * them. Groups whose members differ in layout (k-means: k or Lloyd passes; MLP: the network)
 * integrate member by member on their slots (backend_cuda.c).
 *
 * Memory. A group context is one slot (slots.cu) whose "state" buffer holds up to `capacity`
 * member states one after another at a fixed stride (the largest member state, rounded up to
 * 256 bytes; members of a config group share their layout offsets: same features, classes,
 * passes and eval_every_pass, so member i's parameters are at i * stride + params_offset), and
 * whose workspace holds, per member, the logits / deltas (batch x classes) and the gradient.
 * The host states come in through the slot's pinned staging buffer: one host-to-device copy per
 * visit for all members, one back, plus one copy of the visit's optimizer arguments.
 *
 * One batch of logistic or linear sgd, for all m members, on the context's stream (6 launches; 5
 * for linear models without an intercept):
 *   1. outputs    Z_i = X W_i         one product launch (gemm.h; X shared: stride 0)
 *   2. deltas     rows x members      one kernel: rt_softmax_xent_row or rt_residual_row
 *                                     (row_math.cuh) per row
 *   3. gradient   G_i = X^T Delta_i   one product launch
 *   4. bias grad  columns x members   one kernel: rt_column_sum per column (no intercept: none)
 *   5. loss       one block a member  rt_batch_loss_commit: divergence as alone
 *   6. optimizer  elements x members  one kernel: rt_optimizer_element, skipped for a diverged member
 * On a sparse (LIBSVM) shard, steps 1 and 3 (and an MLP's first-layer product and weight
 * gradient) are sparse products instead, one cuSPARSE SpMM per member on the batch's CSR rows and
 * their transpose (sparse_products.cu, feed.cu), unless the members gather their own input (a
 * view, a scaling) or the batch is more than half dense: those batches are made dense.
 * Steps 2, 4, 5 and 6 run, element by element, the very device functions of the solo kernels
 * (compute.cu, family_shared.cu). The backend sends such a model through this path alone too
 * (a group of one), and the products' bits do not depend on the batch count (gemm.h: cuBLAS's
 * strided-batched sgemm did, on an H200), so a model's bytes do not depend on its group's size;
 * the gpu test tests/gpu/test_gpu_groups.c checks exactly that.
 *
 * One batch of k-means (group_kmeans.cu): |c|^2, one batched distance product, the
 * assignment, then Sculley's update or the Lloyd accumulation per member's own pass, then step 5
 * above: 5 launches (6 in a Lloyd pass, 7 when members are in both kinds of pass). No optimizer
 * arguments: the family updates its centres itself.
 *
 * One batch of an MLP of L weight layers (group_mlp.cu): per layer one strided-batched product
 * and one bias and activation kernel, the output rows, per layer back the weight-gradient product,
 * the bias gradients and the delta product with act'(z) (L2 when some member has it), then steps
 * 5 and 6 above: 6L launches (7L with L2), 12 for one hidden layer. The members' activations and
 * L2 come in one small copy per visit (rt_mlp_member). */
#include "rt_cuda.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h> /* strcasecmp */

#include <chrono>
#include <thread>

#include "group_families.h"
#include "mlp_math.cuh"
#include "row_math.cuh"
#include "rt_cuda_internal.h"

extern "C" {
#include "backend.h" /* rt_batch_order_key (no C++ guards of its own) */
#include "view.h"    /* rt_view_same */
}

namespace {

constexpr int kReduceThreads = 256; /* the one-block-per-member loss reduction; a power of two */

/* What a group's kernels need to find member i: its state at base + i * stride. */
struct group_geometry {
  unsigned char *base;
  size_t stride;        /* bytes between member states */
  size_t params_offset; /* bytes into a state */
  size_t aux_offset;
  int d, c;     /* features, outputs (classes; 1 for linear) */
  int softmax;  /* 1: softmax cross-entropy (logistic); 0: squared error (linear sgd) */
  int has_bias; /* a bias after the d x c weights (logistic; linear with fit_intercept) */
};

__device__ __forceinline__ rt_state_header *member_header(const group_geometry &g, int i) {
  return (rt_state_header *)(g.base + (size_t)i * g.stride);
}
__device__ __forceinline__ float *member_params(const group_geometry &g, int i) {
  return (float *)(g.base + (size_t)i * g.stride + g.params_offset);
}
__device__ __forceinline__ float *member_aux(const group_geometry &g, int i) {
  return (float *)(g.base + (size_t)i * g.stride + g.aux_offset);
}

/* grid (row blocks, members): row r of member blockIdx.y. */
__global__ void group_softmax_kernel(group_geometry g, float *z, size_t zstride, const float *y,
                                     int rows, float inv_rows, double *row_loss, int loss_stride) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int member = blockIdx.y;
  if (i >= rows) return;
  const float *bias = g.has_bias ? member_params(g, member) + (size_t)g.d * (size_t)g.c : nullptr;
  double *loss = &row_loss[(size_t)member * (size_t)loss_stride + (size_t)i];
  if (g.softmax)
    rt_softmax_xent_row(z + (size_t)member * zstride + (size_t)i * (size_t)g.c, bias, y, i, g.c,
                        inv_rows, loss);
  else rt_residual_row(z + (size_t)member * zstride, bias, y, i, inv_rows, loss);
}

/* grid (column blocks, members), a thread per class in a grid-stride loop: the bias gradient
 * after the member's weight gradient (members x classes may exceed an int). */
__global__ void group_bias_grad_kernel(group_geometry g, const float *z, size_t zstride, int rows,
                                       float *grad, size_t gstride) {
  const size_t member = blockIdx.y, stride = (size_t)gridDim.x * blockDim.x;
  for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < (size_t)g.c; k += stride)
    grad[member * gstride + (size_t)g.d * (size_t)g.c + k] =
        rt_column_sum(z + member * zstride, rows, g.c, (int)k);
}

/* One block per member. */
__global__ void group_loss_kernel(group_geometry g, const double *row_loss, int loss_stride,
                                  int rows) {
  __shared__ double sh[kReduceThreads];
  rt_batch_loss_commit(row_loss + (size_t)blockIdx.x * (size_t)loss_stride, rows,
                       member_header(g, (int)blockIdx.x), sh);
}

/* Grid-stride over members x n parameters; args: this batch's arguments of each member. */
__global__ void group_optimizer_kernel(group_geometry g, const rt_opt_args *args, const float *grad,
                                       size_t gstride, int members, unsigned long long n) {
  const unsigned long long total = (unsigned long long)members * n;
  const unsigned long long step = (unsigned long long)gridDim.x * blockDim.x;
  for (unsigned long long e = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; e < total;
       e += step) {
    const int member = (int)(e / n);
    if (member_header(g, member)->diverged) continue; /* this batch's loss or an earlier one */
    rt_optimizer_element(args[member], member_params(g, member), member_aux(g, member),
                         grad + (size_t)member * gstride, (size_t)(e % n));
  }
}

/* What a context is made for: its family's arithmetic and the sizes of its pieces. */
struct group_shape {
  int kmeans;                /* 1: k-means (group_kmeans.cu) */
  int lloyd;                 /* k-means members with Lloyd accumulators */
  int mlp;                   /* 1: MLP (group_mlp.cu); kmeans and mlp 0: logistic or linear sgd */
  const rt_model_spec *lead; /* the members' layout (the MLP's network) */
  size_t capacity, max_rows, d, c, max_batches; /* c: outputs (classes, 1) or k-means's k */
};

/* The pieces of a context's workspace, in floats (rt_work_carver: 256-byte aligned pieces). */
struct group_ws {
  double *row_loss;  /* capacity x max_rows */
  float *z;          /* logistic, linear: capacity x zstride */
  float *grad;       /* logistic, linear: capacity x gstride (MLP: mlp.grad) */
  rt_opt_args *args; /* gradient families: max_batches x capacity */
  size_t zstride, gstride;
  rt_km_group_ws km;   /* k-means */
  rt_mlp_group_ws mlp; /* MLP */
};

group_ws carve(const group_shape &sh, float *base, size_t *used) {
  rt_work_carver w = {base, 0};
  group_ws o = {};
  o.row_loss = w.doubles(sh.capacity * sh.max_rows);
  if (sh.kmeans) {
    o.km = rt_km_group_carve(w, sh.capacity, sh.max_rows, sh.c, sh.lloyd);
  } else if (sh.mlp) {
    o.mlp = rt_mlp_group_carve(w, sh.capacity, sh.max_rows, sh.lead);
    o.grad = o.mlp.grad;
    o.gstride = o.mlp.grad_stride;
  } else {
    o.zstride = rt_work_carver::padded(sh.max_rows * sh.c);
    o.gstride = rt_work_carver::padded((sh.d + 1) * sh.c);
    o.z = w.floats(sh.capacity * o.zstride);
    o.grad = w.floats(sh.capacity * o.gstride);
  }
  if (!sh.kmeans) /* the gradient families' optimizer arguments */
    o.args = (rt_opt_args *)(void *)w.floats(
        (sh.max_batches * sh.capacity * sizeof(rt_opt_args) + sizeof(float) - 1) / sizeof(float));
  if (used) *used = w.used;
  return o;
}

size_t state_stride(const rt_model_spec *const *specs, size_t m) {
  size_t most = 0;
  for (size_t i = 0; i < m; ++i) {
    const size_t b = rt_state_layout_of(specs[i]).total_bytes;
    if (b > most) most = b;
  }
  return rt_cuda_round_up(most);
}

} /* namespace */

struct rt_cuda_group {
  rt_cuda_slot *slot; /* stream, member states ("state"), workspace, staging (no cuBLAS) */
  size_t capacity, max_rows, max_batches, d, c, stride;
  int kmeans, lloyd, mlp;      /* group_shape's */
  rt_model_spec lead;          /* a copy of the spec it was made for: the members' layout */
  rt_opt_args *host_args;      /* pinned: max_batches x capacity; NULL for k-means */
  rt_mlp_member *host_members; /* pinned: capacity (MLP); NULL otherwise */
  uint64_t *order;
  size_t order_cap;
  /* The visit in flight (rt_cuda_group_start until rt_cuda_group_query sees it done): its
   * members' host states and specs, and what their counters advance by. */
  int busy;
  void **held;                      /* [capacity] */
  const rt_model_spec **held_specs; /* [capacity] */
  size_t held_m;
  uint64_t held_batches, held_rows;
  int graphs;           /* 1: each visit's batches as one CUDA Graph (issue_as_graph) */
  cudaGraphExec_t exec; /* the last visit's executable graph, updated or replaced */
};

extern "C" int rt_cuda_group_fusable(const rt_model_spec *spec) {
  const rt_family *fam = rt_family_find(spec->hp.kind);
  if (!fam) return 0;
  return fam->id == RT_FAMILY_LOGISTIC || fam->id == RT_FAMILY_KMEANS || fam->id == RT_FAMILY_MLP ||
         (fam->id == RT_FAMILY_LINEAR && spec->hp.solver == RT_SOLVER_SGD);
}

namespace {

rt_family_id family_of(const rt_model_spec *s) { return rt_family_find(s->hp.kind)->id; }

int softmax_of(const rt_model_spec *s) { return family_of(s) == RT_FAMILY_LOGISTIC; }

int kmeans_of(const rt_model_spec *s) { return family_of(s) == RT_FAMILY_KMEANS; }

int mlp_of(const rt_model_spec *s) { return family_of(s) == RT_FAMILY_MLP; }

/* k-means members whose aux has the Lloyd accumulators (family_kmeans.h). */
int lloyd_of(const rt_model_spec *s) { return kmeans_of(s) && rt_kmeans_lloyd_passes(s) > 0; }

/* Outputs per row: the classes (logistic), 1 (linear), the centres (k-means), the output layer's
 * width (MLP). */
size_t outputs_of(const rt_model_spec *s) {
  if (softmax_of(s)) return s->problem.classes;
  if (mlp_of(s)) return rt_mlp_width(s, rt_mlp_layers(s));
  return kmeans_of(s) ? (size_t)s->hp.k : 1;
}

/* A bias after the weights: logistic, linear with fit_intercept. */
int bias_of(const rt_model_spec *s) {
  return softmax_of(s) || (family_of(s) == RT_FAMILY_LINEAR && s->hp.fit_intercept);
}

/* Whether a and b can be members of one context: a fusable kind, the same arithmetic and the same
 * layout of the parameters and the family's aux (the one rule of rt_cuda_group_uniform,
 * rt_cuda_group_fits and check_visit). */
bool same_layout(const rt_model_spec *a, const rt_model_spec *b) {
  if (!rt_cuda_group_fusable(a) || !rt_cuda_group_fusable(b)) return false;
  const rt_state_layout la = rt_state_layout_of(a), lb = rt_state_layout_of(b);
  return strcmp(a->hp.kind, b->hp.kind) == 0 && a->problem.features == b->problem.features &&
         outputs_of(a) == outputs_of(b) && bias_of(a) == bias_of(b) && lloyd_of(a) == lloyd_of(b) &&
         (!mlp_of(a) || rt_mlp_same_shape(a, b)) && la.param_count == lb.param_count &&
         la.params_offset == lb.params_offset && la.aux_offset == lb.aux_offset;
}

group_shape shape_of(const rt_model_spec *s, size_t capacity, size_t max_batches) {
  group_shape sh;
  sh.kmeans = kmeans_of(s);
  sh.lloyd = lloyd_of(s);
  sh.mlp = mlp_of(s);
  sh.lead = s;
  sh.capacity = capacity;
  sh.max_rows = (size_t)s->hp.batch_size;
  sh.d = s->problem.features;
  sh.c = outputs_of(s);
  sh.max_batches = max_batches ? max_batches : 1;
  return sh;
}

/* A member's optimizer arguments for optimizer step `step`: L2 in the optimizer for logistic (and
 * linear sgd's ridge) on the first dc weights; the MLP adds its L2 per layer itself (group_mlp.cu,
 * as on its own slot). */
rt_opt_args opt_args_of(const rt_model_spec *s, uint64_t step, size_t dc) {
  if (mlp_of(s)) return rt_cuda_opt_args(s, step, 0.0f, 0);
  return rt_cuda_opt_args(s, step, softmax_of(s) ? (float)s->hp.l2 : rt_cuda_linear_ridge(s), dc);
}

} /* namespace */

extern "C" int rt_cuda_group_uniform(const rt_model_spec *const *specs, size_t m) {
  if (m == 0 || !rt_cuda_group_fusable(specs[0])) return 0;
  for (size_t i = 1; i < m; ++i)
    if (!same_layout(specs[i], specs[0])) return 0;
  return 1;
}

extern "C" size_t rt_cuda_group_bytes(const rt_model_spec *const *specs, size_t m,
                                      size_t max_batches) {
  if (m == 0) return 0;
  const rt_model_spec *s = specs[0];
  size_t work = 0;
  (void)carve(shape_of(s, m, max_batches), nullptr, &work);
  return rt_cuda_slot_bytes(m * state_stride(specs, m), (size_t)s->hp.batch_size,
                            s->problem.features, outputs_of(s), work);
}

extern "C" rt_code rt_cuda_group_create(const rt_model_spec *const *specs, size_t m,
                                        size_t max_batches, rt_cuda_group **out, rt_status *st) {
  *out = nullptr;
  if (!rt_cuda_group_uniform(specs, m))
    return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "a fused CUDA group needs members of one fusable kind and layout (%zu)", m);
  const rt_model_spec *s = specs[0];
  rt_cuda_group *g = (rt_cuda_group *)calloc(1, sizeof *g);
  if (!g) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a CUDA group");
  const group_shape sh = shape_of(s, m, max_batches);
  g->capacity = m;
  g->max_rows = sh.max_rows;
  g->max_batches = sh.max_batches;
  g->d = sh.d;
  g->c = sh.c;
  g->kmeans = sh.kmeans;
  g->lloyd = sh.lloyd;
  g->mlp = sh.mlp;
  g->lead = *s;
  const char *graphs = getenv("RINGTRAIN_CUDA_GRAPHS");
  g->graphs = !(graphs && (strcmp(graphs, "0") == 0 || strcasecmp(graphs, "off") == 0 ||
                           strcasecmp(graphs, "false") == 0 || strcasecmp(graphs, "no") == 0));
  g->stride = state_stride(specs, m);
  size_t work = 0;
  (void)carve(sh, nullptr, &work);
  g->held = (void **)calloc(m, sizeof *g->held);
  g->held_specs = (const rt_model_spec **)calloc(m, sizeof *g->held_specs);
  if (!g->held || !g->held_specs) {
    rt_cuda_group_free(g);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a CUDA group of %zu", m);
  }
  rt_code rc = rt_cuda_slot_create(m * g->stride, g->max_rows, g->d, g->c, work, &g->slot, st);
  if (rc == RT_OK && !g->kmeans) /* k-means has no optimizer */
    rc = RT_CUDA_CALL(
        st, cudaMallocHost((void **)&g->host_args, g->max_batches * m * sizeof *g->host_args));
  if (rc == RT_OK && g->mlp)
    rc = RT_CUDA_CALL(st, cudaMallocHost((void **)&g->host_members, m * sizeof *g->host_members));
  if (rc != RT_OK) {
    rt_cuda_group_free(g);
    return rc;
  }
  *out = g;
  return RT_OK;
}

extern "C" void rt_cuda_group_free(rt_cuda_group *g) {
  if (!g) return;
  rt_cuda_slot_free(g->slot); /* synchronises its stream first */
  if (g->exec) (void)cudaGraphExecDestroy(g->exec);
  if (g->host_args) (void)cudaFreeHost(g->host_args);
  if (g->host_members) (void)cudaFreeHost(g->host_members);
  free(g->order);
  free(g->held);
  free(g->held_specs);
  free(g);
}

extern "C" int rt_cuda_group_fits(const rt_cuda_group *g, const rt_model_spec *const *specs,
                                  size_t m, size_t max_batches) {
  if (!g || !rt_cuda_group_uniform(specs, m)) return 0;
  const rt_model_spec *s = specs[0];
  return m <= g->capacity && same_layout(s, &g->lead) && (size_t)s->hp.batch_size == g->max_rows &&
         state_stride(specs, m) <= g->stride && max_batches <= g->max_batches;
}

extern "C" size_t rt_cuda_group_input_missing_bytes(const rt_cuda_group *g,
                                                    const rt_model_spec *lead,
                                                    const rt_scaling *shards_scaled) {
  return g ? rt_cuda_input_missing_bytes(g->slot, lead, shards_scaled) : 0;
}

namespace {

/* Everything a visit relies on, before anything is issued. */
rt_code check_visit(const rt_cuda_group *g, const rt_model_spec *const *specs, void *const *states,
                    size_t m, const rt_cuda_shard *shard, size_t nb, rt_status *st) {
  if (m == 0 || m > g->capacity || nb > g->max_batches)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "a fused CUDA visit of %zu members and %zu batches exceeds its group's %zu "
                      "and %zu",
                      m, nb, g->capacity, g->max_batches);
  const rt_state_header *h0 = rt_state_head(states[0]);
  for (size_t i = 0; i < m; ++i) {
    const rt_model_spec *s = specs[i];
    const rt_state_layout l = rt_state_layout_of(s);
    const rt_state_header *h = rt_state_head(states[i]);
    rt_code rc;
    if ((rc = rt_cuda_check_spec(s, st)) != RT_OK) return rc;
    if (!same_layout(s, &g->lead) || (size_t)s->hp.batch_size != g->max_rows ||
        l.total_bytes > g->stride || s->hp.data_order != specs[0]->hp.data_order ||
        !rt_view_same(&s->hp, &specs[0]->hp) || s->scaling != specs[0]->scaling)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                        "model %llu does not fit the fused CUDA group of model %llu",
                        (unsigned long long)s->id, (unsigned long long)specs[0]->id);
    if (h->magic != RT_STATE_MAGIC || h->model_id != s->id || h->pass != h0->pass ||
        h->position != h0->position || h->batch_cursor != h0->batch_cursor)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %llu is not where its group is (model %llu)",
                        (unsigned long long)s->id, (unsigned long long)specs[0]->id);
  }
  const int labels = !g->kmeans; /* k-means ignores labels */
  if (shard->features != specs[0]->problem.data_features ||
      (labels && shard->rows > 0 && !shard->y))
    return RT_FAIL_AT(st, RT_ERR_DATA,
                      "the device shard (%zu features%s) does not suit the group's %zu features%s",
                      shard->features, shard->y ? "" : ", no labels",
                      specs[0]->problem.data_features, labels ? " with labels" : "");
  return RT_OK;
}

} /* namespace */

namespace {

/* What a visit's batch loop needs. */
struct visit_plan {
  const group_geometry *geo;
  const group_ws *w;
  const rt_cuda_shard *shard;
  size_t k0, nb, m;
  unsigned long long n; /* parameters per member */
  int own_input;        /* 1: each batch gathered first (a view or a scaling of the group's own) */
  int csr;              /* 1: a sparse shard's batches taken as CSR (sparse_products.cu) */
  const rt_km_group_batch *km;   /* k-means groups */
  const rt_mlp_group_batch *mlp; /* MLP groups */
};

/* Logistic or linear sgd: a batch of the visit (rows x, or sparse rows csr with x NULL; labels y;
 * r rows) for all members, steps 1 to 4 of the top comment. */
rt_code issue_gradient_batch(rt_cuda_group *g, const visit_plan *p, const float *x,
                             const rt_cuda_csr_batch *csr, const float *y, int r, rt_status *st) {
  rt_cuda_slot *slot = g->slot;
  const group_geometry &geo = *p->geo;
  const group_ws &w = *p->w;
  const size_t batch = g->max_rows, m = p->m;
  const float *w0 = (const float *)(slot->state + geo.params_offset);
  const int d = (int)g->d, c = (int)g->c, members = (int)m;
  const long long w_stride = (long long)(g->stride / sizeof(float));
  rt_code rc;
  /* Z_i (r x c, row-major) = X W_i: column-major Z_i^T (c x r) = W_i^T (c x d) X^T (d x r). */
  if (csr)
    RT_TRY(rc, rt_cuda_csr_products(slot, *csr, w0, w_stride, c, w.z, (long long)w.zstride, members,
                                    st));
  else
    RT_TRY(rc, rt_cuda_gemm_issue(slot->stream, 0, 0, c, r, d, w0, c, w_stride, x, d, 0, w.z, c,
                                  (long long)w.zstride, members, st));
  group_softmax_kernel<<<dim3((unsigned)rt_cuda_row_blocks(r), (unsigned)members), kRowThreads, 0,
                         slot->stream>>>(geo, w.z, w.zstride, y, r, 1.0f / (float)r, w.row_loss,
                                         (int)batch);
  RT_CUDA_CHECK_LAUNCH(st);
  /* G_i (d x c, row-major) = X^T Delta_i: column-major G_i^T (c x d) = Delta_i^T (c x r) X. */
  if (csr)
    RT_TRY(rc, rt_cuda_csr_gradients(slot, *csr, w.z, (long long)w.zstride, c, w.grad,
                                     (long long)w.gstride, members, st));
  else
    RT_TRY(rc, rt_cuda_gemm_issue(slot->stream, 0, 1, c, d, r, w.z, c, (long long)w.zstride, x, d,
                                  0, w.grad, c, (long long)w.gstride, members, st));
  if (geo.has_bias) {
    group_bias_grad_kernel<<<dim3((unsigned)rt_cuda_elem_blocks((size_t)c), (unsigned)members),
                             kRtElemThreads, 0, slot->stream>>>(geo, w.z, w.zstride, r, w.grad,
                                                                w.gstride);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  return RT_OK;
}

/* Steps 5 and 6 for every family after its own arithmetic of batch k (r rows): the loss commit,
 * then the optimizer (not for k-means, which updates its centres itself). */
rt_code issue_loss_and_step(rt_cuda_group *g, const visit_plan *p, size_t k, int r, rt_status *st) {
  rt_cuda_slot *slot = g->slot;
  const group_ws &w = *p->w;
  const int members = (int)p->m;
  group_loss_kernel<<<(unsigned)members, kReduceThreads, 0, slot->stream>>>(*p->geo, w.row_loss,
                                                                            (int)g->max_rows, r);
  RT_CUDA_CHECK_LAUNCH(st);
  if (p->km) return RT_OK;
  group_optimizer_kernel<<<rt_cuda_elem_blocks(p->m * (size_t)p->n), kRtElemThreads, 0,
                           slot->stream>>>(*p->geo, w.args + (k - p->k0) * p->m, w.grad, w.gstride,
                                           members, p->n);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

/* The visit's batches k0..nb on the context's stream: 6 launches each for logistic (5 for linear
 * without a bias; k-means 5 to 7), one more for a group that gathers its input (a view, a scaling
 * of its own: input.cu). */
rt_code issue_batches(rt_cuda_group *g, const visit_plan *p, rt_status *st) {
  rt_code rc;
  rt_cuda_slot *slot = g->slot;
  const rt_cuda_shard *shard = p->shard;
  const size_t batch = g->max_rows;
  for (size_t k = p->k0; k < p->nb; ++k) {
    const size_t first = (size_t)g->order[k] * batch;
    const int r = (int)(first + batch <= shard->rows ? batch : shard->rows - first);
    const float *x = shard->x ? shard->x + first * shard->features : nullptr;
    const float *y = shard->y ? shard->y + first : nullptr; /* k-means: may be NULL */
    rt_cuda_csr_batch csr_rows;
    int sparse = 0; /* this batch as CSR (x NULL) */
    if (p->csr) RT_TRY(rc, rt_cuda_feed_next_csr(slot, (size_t)r, &csr_rows, &sparse, &x, st));
    else if (rt_cuda_shard_fed(shard)) /* streamed, or sparse made dense */
      RT_TRY(rc, rt_cuda_feed_next(slot, (size_t)r, &x, st));
    if (rt_cuda_shard_fed(shard)) RT_TRY(rc, rt_cuda_feed_take(slot, slot->stream, st));
    const rt_cuda_csr_batch *csr = sparse ? &csr_rows : nullptr;
    if (p->own_input) RT_TRY(rc, rt_cuda_input_gather(slot, x, shard->features, r, &x, st));
    if (p->km)
      RT_TRY(rc,
             rt_km_group_issue(slot->stream, *p->km, p->w->km, x, r, p->w->row_loss, batch, st));
    else if (p->mlp)
      RT_TRY(rc,
             rt_mlp_group_issue(slot, *p->mlp, p->w->mlp, x, csr, y, r, p->w->row_loss, batch, st));
    else RT_TRY(rc, issue_gradient_batch(g, p, x, csr, y, r, st));
    RT_TRY(rc, issue_loss_and_step(g, p, k, r, st));
    if (rt_cuda_shard_fed(shard)) {
      RT_TRY(rc, rt_cuda_feed_used(slot, 0, slot->stream, st));
      RT_TRY(rc, rt_cuda_feed_done(slot, st));
    }
  }
  return RT_OK;
}

/* The same batches captured into a CUDA Graph and launched as one (the default;
 * RINGTRAIN_CUDA_GRAPHS=0, off, false or no turns it off). The context keeps the executable graph
 * and updates it in place when the next visit has the same shape (cudaGraphExecUpdate), else
 * instantiates anew. The launch counter counts the graph launch as one launch, not the captured
 * calls. A capture or an instantiation that fails (nothing of the capture ran) turns graphs off
 * for the context, and the batches are issued launch by launch: the same bytes
 * (tests/gpu/test_gpu_groups.c); an error that is not the capture's fails again there. */
rt_code issue_as_graph(rt_cuda_group *g, const visit_plan *p, rt_status *st) {
  cudaStream_t stream = g->slot->stream;
  const unsigned long long before = rt_cuda_launches.load(std::memory_order_relaxed);
  /* The capture's own status: after a fallback that works, the caller's must hold no error. */
  rt_status cap;
  rt_status_clear(&cap);
  rt_code rc = RT_CUDA_CALL(&cap, cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t graph = nullptr;
  if (rc == RT_OK) {
    const rt_code issued = issue_batches(g, p, &cap);
    const rt_code ended = RT_CUDA_CALL(&cap, cudaStreamEndCapture(stream, &graph)); /* always */
    rc = issued != RT_OK ? issued : ended;
  }
  rt_cuda_launches.fetch_sub(rt_cuda_launches.load(std::memory_order_relaxed) - before,
                             std::memory_order_relaxed);
  if (rc == RT_OK && g->exec) {
    cudaGraphExecUpdateResultInfo info;
    if (cudaGraphExecUpdate(g->exec, graph, &info) != cudaSuccess) {
      (void)cudaGetLastError(); /* another shape: instantiate below */
      (void)cudaGraphExecDestroy(g->exec);
      g->exec = nullptr;
    }
  }
  if (rc == RT_OK && !g->exec) rc = RT_CUDA_CALL(&cap, cudaGraphInstantiate(&g->exec, graph, 0));
  if (graph) (void)cudaGraphDestroy(graph);
  if (rc != RT_OK) {
    (void)cudaGetLastError(); /* a capture's failure is not sticky: the stream works on */
    if (g->exec) (void)cudaGraphExecDestroy(g->exec);
    g->exec = nullptr;
    g->graphs = 0;
    return issue_batches(g, p, st); /* a real error (not the capture's) fails again here */
  }
  rt_cuda_count_launch();
  RT_CUDA_CHECK(st, cudaGraphLaunch(g->exec, stream));
  return RT_OK;
}

} /* namespace */

namespace {

/* rt_cuda_group_start once the context is free. */
rt_code start_visit(rt_cuda_group *g, const rt_model_spec *const *specs, void *const *states,
                    size_t m, const rt_cuda_shard *shard, uint64_t shard_index, rt_status *st) {
  const size_t batch = g->max_rows;
  const size_t nb = (shard->rows + batch - 1) / batch;
  rt_code rc;
  RT_TRY(rc, check_visit(g, specs, states, m, shard, nb, st));
  rt_cuda_slot *slot = g->slot;
  const rt_state_header *h0 = rt_state_head(states[0]);
  const size_t k0 = (size_t)h0->batch_cursor;
  if (k0 > nb)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "batch cursor %zu beyond the visit's %zu batches", k0,
                      nb);
  rt_nvtx_push("integrate group of %zu (model %llu) pass %llu shard %llu", m,
               (unsigned long long)specs[0]->id, (unsigned long long)h0->pass,
               (unsigned long long)shard_index);
  rt_nvtx_scope nvtx_range;
  if (nb > g->order_cap) {
    uint64_t *grown = (uint64_t *)realloc(g->order, nb * sizeof *grown);
    if (!grown)
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the batch order of %zu batches", nb);
    g->order = grown;
    g->order_cap = nb;
  }
  rt_rng_permutation(rt_batch_order_key(specs[0], h0->pass, shard_index), g->order, nb);

  /* The members' states into the staging buffer at the group's stride, the optimizer arguments
   * of every batch of the visit (each member's own step counter; none for k-means), then one
   * copy each. */
  const size_t dc = g->d * g->c;
  const rt_state_layout l0 = rt_state_layout_of(specs[0]);
  for (size_t i = 0; i < m; ++i)
    memcpy(slot->staging + i * g->stride, states[i], rt_state_layout_of(specs[i]).total_bytes);
  for (size_t k = k0; !g->kmeans && k < nb; ++k)
    for (size_t i = 0; i < m; ++i)
      g->host_args[(k - k0) * m + i] =
          opt_args_of(specs[i], rt_state_head(states[i])->step + (k - k0), dc);
  const group_ws w = carve(shape_of(&g->lead, g->capacity, g->max_batches), slot->work, nullptr);
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->state, slot->staging, m * g->stride,
                                    cudaMemcpyHostToDevice, slot->stream));
  if (!g->kmeans && nb > k0)
    RT_CUDA_CHECK(st, cudaMemcpyAsync(w.args, g->host_args, (nb - k0) * m * sizeof *w.args,
                                      cudaMemcpyHostToDevice, slot->stream));
  rt_mlp_group_batch mlp = {};
  if (g->mlp) {
    /* Each member's activation and L2, for the element-wise kernels. */
    for (size_t i = 0; i < m; ++i) {
      g->host_members[i].activation = (int)specs[i]->hp.activation;
      g->host_members[i].l2 = (float)specs[i]->hp.l2;
      if (g->host_members[i].l2 > 0.0f) mlp.any_l2 = 1;
    }
    RT_CUDA_CHECK(st, cudaMemcpyAsync(w.mlp.members, g->host_members, m * sizeof *g->host_members,
                                      cudaMemcpyHostToDevice, slot->stream));
    mlp.members = {slot->state, g->stride, l0.params_offset, l0.aux_offset};
    mlp.lead = &g->lead;
    mlp.m = (int)m;
  }

  group_geometry geo;
  geo.base = slot->state;
  geo.stride = g->stride;
  geo.params_offset = l0.params_offset;
  geo.aux_offset = l0.aux_offset;
  geo.d = (int)g->d;
  geo.c = (int)g->c;
  geo.softmax = softmax_of(specs[0]);
  geo.has_bias = bias_of(specs[0]);
  int own_input = 0; /* the members share their view and scaling (src/engine/groups.c) */
  RT_TRY(rc, rt_cuda_input_prepare(slot, specs[0], shard, &own_input, st));
  rt_km_group_batch km = {};
  if (g->kmeans) {
    /* Which pass each member is in, from the flag its state carries (as the kernels read it). */
    km.members = {slot->state, g->stride, l0.params_offset, l0.aux_offset};
    km.al = rt_kmeans_aux_of(specs[0]);
    km.lloyd_layout = g->lloyd;
    km.k = (int)g->c;
    km.d = (int)g->d;
    km.m = (int)m;
    for (size_t i = 0; i < m; ++i) {
      const rt_state_layout l = rt_state_layout_of(specs[i]);
      const double *aux = (const double *)rt_state_aux(states[i], &l);
      if (g->lloyd && aux[km.al.lloyd_now] != 0.0) km.any_lloyd = 1;
      else km.any_minibatch = 1;
    }
  }
  /* A sparse shard's batches as CSR for the sparse products, unless the members gather their own
   * input (a view, a scaling: input.cu reads dense rows) or are k-means (dense distances). */
  const int csr = shard->indptr != nullptr && !own_input && !g->kmeans;
  const visit_plan plan = {&geo,
                           &w,
                           shard,
                           k0,
                           nb,
                           m,
                           l0.param_count,
                           own_input,
                           csr,
                           g->kmeans ? &km : nullptr,
                           g->mlp ? &mlp : nullptr};
  if (rt_cuda_shard_fed(shard)) {
    /* Streamed or sparse: batch by batch through the context's feed, never as a graph. */
    if (nb > k0) RT_TRY(rc, rt_cuda_feed_open(slot, shard, g->order, nb, k0, batch, 1, st));
    rc = issue_batches(g, &plan, st);
    rt_cuda_feed_close(slot);
    if (rc != RT_OK) return rc;
  } else if (g->graphs) {
    RT_TRY(rc, issue_as_graph(g, &plan, st));
  } else {
    RT_TRY(rc, issue_batches(g, &plan, st));
  }
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->staging, slot->state, m * g->stride,
                                    cudaMemcpyDeviceToHost, slot->stream));
  RT_TRY(rc, rt_cuda_mark_done(slot, st));
  uint64_t rows = 0;
  for (size_t k = k0; k < nb; ++k) {
    const size_t first = (size_t)g->order[k] * batch;
    rows += first + batch <= shard->rows ? batch : shard->rows - first;
  }
  for (size_t i = 0; i < m; ++i) {
    g->held[i] = states[i];
    g->held_specs[i] = specs[i];
  }
  g->held_m = m;
  g->held_batches = nb - k0;
  g->held_rows = rows;
  g->busy = 1;
  return RT_OK;
}

} /* namespace */

extern "C" rt_code rt_cuda_group_start(rt_cuda_group *g, const rt_model_spec *const *specs,
                                       void *const *states, size_t m, const rt_cuda_shard *shard,
                                       uint64_t shard_index, rt_status *st) {
  if (g->busy)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "a visit of model %llu's group started while another one is in flight",
                      (unsigned long long)specs[0]->id);
  const rt_code rc = start_visit(g, specs, states, m, shard, shard_index, st);
  /* A failed start may have issued copies and kernels (staging, arguments, a fed batch): they
   * finish before anything reuses those buffers. */
  if (rc != RT_OK) (void)cudaStreamSynchronize(g->slot->stream);
  return rc;
}

extern "C" void rt_cuda_group_use_graphs(rt_cuda_group *g, int on) { g->graphs = on != 0; }

extern "C" void rt_cuda_group_between(rt_cuda_group *g, int (*between)(void *), void *user) {
  rt_cuda_slot_between(g->slot, between, user);
}

extern "C" rt_code rt_cuda_group_query(rt_cuda_group *g, int *done, rt_status *st) {
  *done = 0;
  if (!g->busy) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "no visit of this CUDA group is in flight");
  rt_code rc;
  RT_TRY(rc, rt_cuda_slot_query(g->slot, done, st));
  if (!*done) return RT_OK;
  /* The states back; the host-owned counters advance for every batch, diverged or not (as on the
   * CPU); the device owns diverged and pass_loss_sum. */
  for (size_t i = 0; i < g->held_m; ++i) {
    void *state = g->held[i];
    rt_state_header *h = rt_state_head(state);
    const uint64_t step = h->step, samples = h->samples, loss_rows = h->pass_loss_rows;
    memcpy(state, g->slot->staging + i * g->stride,
           rt_state_layout_of(g->held_specs[i]).total_bytes);
    h->step = step + g->held_batches;
    h->samples = samples + g->held_rows;
    h->pass_loss_rows = loss_rows + g->held_rows;
    h->batch_cursor = 0;
  }
  g->busy = 0;
  return RT_OK;
}

extern "C" rt_code rt_cuda_group_wait(rt_cuda_group *g, int *waited, rt_status *st) {
  *waited = 0;
  if (!g->busy) return RT_OK;
  int done = 0;
  rt_code rc;
  if (g->slot->between) {
    /* Polls, calling the engine's hook between polls (its watchdog's answers), not to block a
     * rank for a whole visit. */
    for (;;) {
      RT_TRY(rc, rt_cuda_group_query(g, &done, st));
      if (done) break;
      (void)g->slot->between(g->slot->between_user);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  } else {
    RT_CUDA_CHECK(st, cudaStreamSynchronize(g->slot->stream));
    RT_TRY(rc, rt_cuda_group_query(g, &done, st));
    if (!done) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a synchronised CUDA group is still busy");
  }
  *waited = 1;
  return RT_OK;
}

extern "C" rt_code rt_cuda_group_integrate(rt_cuda_group *g, const rt_model_spec *const *specs,
                                           void *const *states, size_t m,
                                           const rt_cuda_shard *shard, uint64_t shard_index,
                                           rt_status *st) {
  rt_code rc;
  RT_TRY(rc, rt_cuda_group_start(g, specs, states, m, shard, shard_index, st));
  int waited = 0;
  return rt_cuda_group_wait(g, &waited, st);
}
