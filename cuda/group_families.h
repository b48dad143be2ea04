/* Internal to the CUDA backend (C++/CUDA only): the family-specific halves of a fused group visit.
 * group.cu owns the context (member states at a fixed stride, staging, the batch order, feeds and
 * views, the loss commit, the optimizer, CUDA Graphs, the visit in flight) and issues each batch's
 * family arithmetic through these functions; logistic and linear sgd live in group.cu itself,
 * k-means in group_kmeans.cu, MLP in group_mlp.cu. */
#ifndef RINGTRAIN_GROUP_FAMILIES_H
#define RINGTRAIN_GROUP_FAMILIES_H

#include "family_kmeans.h"
#include "rt_cuda_internal.h"

/* Where member i's state lives in a context: base + i * stride (device memory). */
struct rt_group_members {
  unsigned char *base;
  size_t stride;        /* bytes between member states */
  size_t params_offset; /* bytes into a state */
  size_t aux_offset;
};

/* ---- k-means (group_kmeans.cu) ------------------------------------------------------------ */

/* A k-means group's per-member scratch, each member's piece at its stride (in elements). */
struct rt_km_group_ws {
  float *g;      /* rows x k products */
  double *cnorm; /* k: |c|^2 */
  double *mind;  /* rows: nearest squared distance (the dead-centre rule marks used rows -1) */
  int *near;     /* rows: nearest centre */
  int *offs;     /* Lloyd layouts only: k + 1 */
  int *rowlist;  /* Lloyd layouts only: rows */
  size_t g_stride, cnorm_stride, rows_stride, near_stride, offs_stride, list_stride;
};

/* Carves (or, with w.base == nullptr, measures) the scratch of `capacity` members of k centres
 * for batches of `rows` rows; lloyd: the members' layout has Lloyd accumulators. */
rt_km_group_ws rt_km_group_carve(rt_work_carver &w, size_t capacity, size_t rows, size_t k,
                                 int lloyd);

/* What one batch of a k-means group needs besides its scratch. */
struct rt_km_group_batch {
  rt_group_members members;
  rt_kmeans_aux_layout al; /* the members' aux layout (one for all: rt_cuda_group_uniform) */
  int lloyd_layout;        /* the layout has Lloyd accumulators (lloyd_now and the rest) */
  int any_minibatch;       /* some member's state says mini-batch for this pass (lloyd_now 0) */
  int any_lloyd;           /* some member's says Lloyd */
  int k, d, m;             /* centres, features, members */
};

/* One batch of m k-means members on `stream`: |c|^2, ONE strided-batched product G_i = X C_i^T
 * (rt_km_distance_products), the assignment with each row's loss into
 * row_loss[i * loss_stride + row], then Sculley's update and the dead-centre rule (members in a
 * mini-batch pass) and the Lloyd accumulation (members in a Lloyd pass), each member by the
 * arithmetic of kmeans_math.cuh, skipped for a member that has diverged. Whatever m: 4 launches
 * when every member is in a mini-batch pass, 5 when every member is in a Lloyd pass, 6 for a mix
 * (any_minibatch, any_lloyd). */
rt_code rt_km_group_issue(cudaStream_t stream, const rt_km_group_batch &b, const rt_km_group_ws &w,
                          const float *x, int rows, double *row_loss, size_t loss_stride,
                          rt_status *st);

/* G_i (rows x k, row-major, g_stride floats apart) = X C_i^T for m members whose centres (k x d,
 * row-major) are c_stride floats apart: ONE product launch (gemm.h), X shared (stride 0). The solo
 * batch (family_kmeans.cu) makes the same call with m = 1; the product's bits do not depend on
 * the batch count, so a model's products are the same alone, in a fused group and in an unfused
 * one (tests/gpu/test_gpu_groups.c). */
rt_code rt_km_distance_products(cudaStream_t stream, const float *x, const float *centres,
                                long long c_stride, int rows, int k, int d, float *g,
                                long long g_stride, int m, rt_status *st);

/* ---- MLP (group_mlp.cu) ----------------------------------------------------------------- */

/* What a member's element-wise kernels need of its spec (a device array, uploaded per visit). */
struct rt_mlp_member {
  int activation; /* rt_activation */
  float l2;       /* on the weights, not the biases; 0: none */
};

/* An MLP group's per-member scratch (each member's piece at its stride, in floats): the gradient
 * in the parameters' layout, each hidden layer's activations and act'(z) (the activations block
 * then holds that layer's delta), the output block; and the members' rt_mlp_member array. */
struct rt_mlp_group_ws {
  float *grad;
  float *act[RT_HIDDEN_MAX + 1], *der[RT_HIDDEN_MAX + 1]; /* [1..hidden] */
  float *out;
  rt_mlp_member *members; /* capacity */
  size_t grad_stride, act_stride[RT_HIDDEN_MAX + 1], out_stride;
};

/* Carves (or measures, with w.base == nullptr) the scratch of `capacity` members with the network
 * of `lead` for batches of `rows` rows. */
rt_mlp_group_ws rt_mlp_group_carve(rt_work_carver &w, size_t capacity, size_t rows,
                                   const rt_model_spec *lead);

/* What one batch of an MLP group needs besides its scratch. */
struct rt_mlp_group_batch {
  rt_group_members members;
  const rt_model_spec *lead; /* the network (every member's: rt_mlp_same_shape) */
  int m;                     /* members */
  int any_l2;                /* some member has l2 > 0 */
};

/* One batch of m MLP members on the context's stream, everything before the loss commit and the
 * optimizer (group.cu issues those): per layer ONE strided-batched product and one bias and
 * activation kernel for all members, the output rows (softmax cross-entropy or squared error,
 * each row's loss into row_loss[i * loss_stride + row]), then per layer back ONE strided-batched
 * weight-gradient product, L2 (when some member has it), one bias-gradient kernel and, below the
 * top layer, ONE strided-batched delta product and one act'(z) kernel. With L weight layers: 6L - 2
 * launches (7L - 2 with L2), whatever m; the elements are those of mlp_math.cuh and row_math.cuh,
 * as on a member's own slot. x: the batch's rows (device), or csr: its sparse rows (x NULL; the
 * first layer's product and weight gradient then are sparse products, one per member:
 * sparse_products.cu); y: its labels. */
rt_code rt_mlp_group_issue(rt_cuda_slot *slot, const rt_mlp_group_batch &b,
                           const rt_mlp_group_ws &w, const float *x, const rt_cuda_csr_batch *csr,
                           const float *y, int rows, double *row_loss, size_t loss_stride,
                           rt_status *st);

#endif
