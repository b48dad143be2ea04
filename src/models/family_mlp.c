/* Multilayer perceptron: features -> hidden[0] -> ... -> hidden[H-1] -> out, with out = classes
 * (output classification: softmax cross-entropy) or 1 (output regression: squared error
 * 0.5 (y_hat - y)^2). Hidden layers use relu, tanh or gelu; the output layer is linear (softmax on
 * top for classification).
 *
 * Parameters, layer after layer (l = 0..H, n_0 = features, n_1..n_H = hidden, n_{H+1} = out):
 *   W_l (n_l x n_{l+1}, row-major), then b_l (n_{l+1}).
 * Optimizer state: the shared optimizers' (no aux_floats of its own).
 *
 * Training goes through the group operations (model.h), a model alone being a group of one, so
 * there is one implementation of the batch arithmetic (batch_gradient, kept for the gradient
 * checks, is the same functions with m = 1). Group buffer of m members (features F, first widths
 * n_1^i, S = sum of n_1^i, T = sum of the members' parameter counts), gathered once per visit:
 *   P [T]: W1_cat (F x S row-major: member i's W_0 in columns col_i .. col_i + n_1^i, col_i the
 *          sum of the widths before it), then b1_cat [S] (the same columns), then each member's
 *          deeper layers (W_1, b_1, ..., W_H, b_H as in its solo layout), member after member;
 *   M [T] (if any member has momentum or Adam): first moment / velocity, in P's layout;
 *   V [T] (if any member has Adam): second moment, in P's layout;
 *   G [T]: the batch's gradient, in P's layout;
 *   scratch: Z1_cat and D1_cat (rows x S each: first-layer pre-activations, then activations,
 *          then dL/dZ1; act'), then each member's own blocks of its deeper layers.
 * For m = 1 P is exactly the solo parameter layout, and the scratch the solo workspace. Per batch:
 * ONE sgemm X W1_cat for every first layer; per member its first bias and activation on its
 * columns (row stride S), its deeper layers and backward down to its dL/dZ1 columns; ONE sgemm
 * X^T dZ1_cat for every first-layer weight gradient; per member its L2 and bias gradients and its
 * optimizer over three blocks (W_0 columns at row stride S, b_0, deeper layers) with
 * rt_optimizer_step_block. A member's numbers equal its solo numbers because the fused products
 * follow fused_gemm.h (a member whose own product is too small for the BLAS's regular path gets its
 * own product into its columns; tests/unit/test_group_mlp.c checks every member bit for bit) and
 * all element-wise work is per member in loops that do not depend on m. A member whose batch loss is
 * not finite gets no update; an inactive (diverged) member is not computed and not changed.
 *
 * GELU is the tanh approximation (as in BERT/GPT-2, PyTorch's approximate='tanh'):
 *   gelu(z) = 0.5 z (1 + tanh(u)),  u = sqrt(2/pi) (z + 0.044715 z^3),
 *   gelu'(z) = 0.5 (1 + t) + 0.5 z (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 z^2),  t = tanh(u).
 * relu'(0) is taken as 0, and relu keeps a NaN a NaN (z < 0 ? 0 : z) so divergence is noticed.
 *
 * Determinism: every loop runs in a fixed order on one thread (BLAS with the run's threads), bias
 * gradients are column sums in row order; the result depends only on the batch, never on the rank
 * that computes it. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "family_rules.h"
#include "fused_block.h"
#include "fused_gemm.h"
#include "model.h"
#include "rng.h"
#include "scalar_math.h"
#include "sparse_rows.h"

/* At most 2^31 bytes of parameters. */
#define MLP_MAX_PARAMS ((uint64_t)1 << 29)

#define MLP_SQRT_2_OVER_PI 0.79788456080286535588f
#define MLP_GELU_C 0.044715f

static int mlp_regression(const rt_model_spec *spec) {
  return spec->hp.output == RT_OUTPUT_REGRESSION;
}

/* Number of weight layers (hidden layers + output layer). */
static size_t mlp_layers(const rt_model_spec *spec) { return (size_t)spec->hp.hidden_count + 1; }

/* Width of layer i: 0 = input (features), 1..H = hidden, H+1 = output. */
static size_t mlp_width(const rt_model_spec *spec, size_t i) {
  const size_t h = (size_t)spec->hp.hidden_count;
  if (i == 0) return spec->problem.features;
  if (i <= h) return (size_t)spec->hp.hidden[i - 1];
  return mlp_regression(spec) ? 1 : spec->problem.classes;
}

static rt_task mlp_task(const rt_model_spec *spec) {
  return mlp_regression(spec) ? RT_TASK_REGRESSION : RT_TASK_CLASSIFICATION;
}

static size_t mlp_param_count(const rt_model_spec *spec) {
  size_t n = 0;
  for (size_t l = 0; l < mlp_layers(spec); ++l) {
    const size_t in = mlp_width(spec, l), out = mlp_width(spec, l + 1);
    n += in * out + out;
  }
  return n;
}

static rt_code mlp_check(const rt_model_spec *spec, rt_status *st) {
  if (spec->hp.hidden_count < 1)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec, "hidden needs at least one layer width");
  if (spec->hp.hidden_count > RT_HIDDEN_MAX)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec, "hidden has %d layers; at most %d",
                           spec->hp.hidden_count, RT_HIDDEN_MAX);
  for (int i = 0; i < spec->hp.hidden_count; ++i)
    if (spec->hp.hidden[i] < 1)
      return rt_model_refuse(st, RT_ERR_CONFIG, spec, "hidden layer %d has width %ld; needs >= 1",
                             i + 1, spec->hp.hidden[i]);
  rt_code rc;
  if ((!mlp_regression(spec) && (rc = rt_rule_classes(spec, st)) != RT_OK) ||
      (rc = rt_rule_features(spec, st)) != RT_OK)
    return rc;
  /* Sum of n_l * n_{l+1} + n_{l+1} without overflow: stop as soon as it passes the limit. */
  uint64_t total = 0;
  for (size_t l = 0; l < mlp_layers(spec); ++l) {
    const uint64_t in = mlp_width(spec, l), out = mlp_width(spec, l + 1);
    if (in > MLP_MAX_PARAMS / out || (total += in * out + out) > MLP_MAX_PARAMS)
      return rt_model_refuse(st, RT_ERR_CONFIG, spec,
                             "too many parameters: more than %llu floats (2^31 bytes) "
                             "once layer %zu (%llu x %llu) is counted",
                             (unsigned long long)MLP_MAX_PARAMS, l + 1, (unsigned long long)in,
                             (unsigned long long)out);
  }
  return RT_OK;
}

/* Weights N(0, std^2) by Box-Muller on the stream (key, INIT, layer): weight j of a layer uses
 * the pair of uniforms (2 floor(j/2), 2 floor(j/2) + 1), the cosine branch for even j and the
 * sine branch for odd j; so each weight is a pure function of (key, layer, j). std = sqrt(2/in)
 * (he) or sqrt(2/(in+out)) (xavier), on every layer including the output layer; biases 0. */
static void mlp_init(const rt_model_spec *spec, uint64_t key, float *params) {
  const rt_init_scheme scheme = rt_init_scheme_resolve(spec->hp.init, spec->hp.activation);
  const uint64_t init_key = rt_key_push(key, RT_STREAM_INIT);
  float *p = params;
  for (size_t l = 0; l < mlp_layers(spec); ++l) {
    const size_t in = mlp_width(spec, l), out = mlp_width(spec, l + 1), nw = in * out;
    const double std =
        scheme == RT_INIT_HE ? sqrt(2.0 / (double)in) : sqrt(2.0 / (double)(in + out));
    const uint64_t k = rt_key_push(init_key, l);
    for (size_t j = 0; j < nw; j += 2) {
      const double u1 = 1.0 - rt_rng_uniform(k, j), u2 = rt_rng_uniform(k, j + 1); /* u1 in (0,1] */
      const double r = sqrt(-2.0 * log(u1)), theta = 2.0 * RT_PI * u2;
      p[j] = (float)(std * r * cos(theta));
      if (j + 1 < nw) p[j + 1] = (float)(std * r * sin(theta));
    }
    memset(p + nw, 0, out * sizeof *p);
    p += nw + out;
  }
}

/* Workspace for `rows` rows: per hidden layer h an activation block A_h and a derivative block
 * D_h (rows x n_h each), then the output block (rows x out: logits -> probabilities, or
 * predictions). In the backward pass A_h is reused for the delta of layer h. This is the group
 * scratch of a group of one (below): A_1, D_1 are the "cat" blocks, the rest the member's own. */
static size_t mlp_workspace(const rt_model_spec *spec, size_t rows) {
  size_t per_row = mlp_width(spec, mlp_layers(spec));
  for (int h = 0; h < spec->hp.hidden_count; ++h) per_row += 2 * (size_t)spec->hp.hidden[h];
  return rows * per_row;
}

/* A member's own scratch floats for `rows` rows: its blocks after the first hidden layer. */
static size_t mlp_member_ws(const rt_model_spec *spec, size_t rows) {
  return mlp_workspace(spec, rows) - 2 * rows * mlp_width(spec, 1);
}

/* Floats of a member's parameters after its first layer (W_1, b_1, ..., W_H, b_H). */
static size_t mlp_rest_count(const rt_model_spec *spec) {
  const size_t f = spec->problem.features, w = mlp_width(spec, 1);
  return mlp_param_count(spec) - f * w - w;
}

/* One member's blocks: act[h], der[h] for hidden layer h = 1..H; out. act[1], der[1] are the
 * member's columns of the group's layer-1 blocks, at row stride ld1 (= n_1 for a group of one);
 * the deeper blocks are contiguous (row stride n_h). */
typedef struct mlp_blocks {
  float *act[RT_HIDDEN_MAX + 1], *der[RT_HIDDEN_MAX + 1];
  float *out;
  size_t ld1;
} mlp_blocks;

/* The blocks of a member whose layer-1 columns start at a1 / d1 (row stride ld1), its own
 * scratch at rest. */
static mlp_blocks mlp_member_blocks(const rt_model_spec *spec, size_t rows, float *a1, float *d1,
                                    size_t ld1, float *rest) {
  mlp_blocks b;
  memset(&b, 0, sizeof b);
  b.act[1] = a1;
  b.der[1] = d1;
  b.ld1 = ld1;
  float *p = rest;
  for (size_t h = 2; h <= (size_t)spec->hp.hidden_count; ++h) {
    const size_t n = rows * mlp_width(spec, h);
    b.act[h] = p;
    b.der[h] = p + n;
    p += 2 * n;
  }
  b.out = p;
  return b;
}

/* The blocks of a group of one in a workspace of mlp_workspace(spec, rows) floats. */
static mlp_blocks mlp_split(const rt_model_spec *spec, size_t rows, float *ws) {
  const size_t n1 = mlp_width(spec, 1);
  return mlp_member_blocks(spec, rows, ws, ws + rows * n1, n1, ws + 2 * rows * n1);
}

/* Row stride of hidden block h. */
static size_t mlp_ld(const rt_model_spec *spec, const mlp_blocks *b, size_t h) {
  return h == 1 ? b->ld1 : mlp_width(spec, h);
}

/* Applies the activation to z[0..n) in place; with der, also stores the derivative at z. */
static void mlp_activate(rt_activation act, float *z, float *der, size_t n) {
  switch (act) {
    case RT_ACTIVATION_RELU:
      for (size_t i = 0; i < n; ++i) {
        const float v = z[i];
        if (der) der[i] = v > 0.0f ? 1.0f : 0.0f;
        z[i] = v < 0.0f ? 0.0f : v; /* NaN stays NaN */
      }
      return;
    case RT_ACTIVATION_TANH:
      for (size_t i = 0; i < n; ++i) {
        const float t = tanhf(z[i]);
        if (der) der[i] = 1.0f - t * t;
        z[i] = t;
      }
      return;
    case RT_ACTIVATION_GELU:
      for (size_t i = 0; i < n; ++i) {
        const float v = z[i], v2 = v * v;
        const float t = tanhf(MLP_SQRT_2_OVER_PI * (v + MLP_GELU_C * v2 * v));
        if (der)
          der[i] = 0.5f * (1.0f + t) +
                   0.5f * v * (1.0f - t * t) * MLP_SQRT_2_OVER_PI * (1.0f + 3.0f * MLP_GELU_C * v2);
        z[i] = 0.5f * v * (1.0f + t);
      }
      return;
  }
}

/* z (rows x n at row stride ld) += bias, then (hidden layers) the activation, row by row. */
static void mlp_bias_activate(const rt_model_spec *spec, float *z, float *der, const float *bias,
                              size_t rows, size_t n, size_t ld, int hidden) {
  for (size_t i = 0; i < rows; ++i) {
    float *zi = z + i * ld;
    for (size_t k = 0; k < n; ++k) zi[k] += bias[k];
    if (hidden) mlp_activate(spec->hp.activation, zi, der ? der + i * ld : NULL, n);
  }
}

/* The first layer's product for every member at once: Z1 = X W1_cat (rows x S at row stride S),
 * W1_cat features x S; for a group of one S = n_1 and W1_cat = W_0. */
static void mlp_first_product(size_t features, size_t s, size_t rows, const float *x,
                              const float *w1_cat, float *z1_cat) {
  rt_gemm_rowmajor(0, 0, rows, s, features, x, features, w1_cat, s, z1_cat, s);
}

/* The first layer's weight gradient for every member at once: GW1_cat = X^T dH1_cat. */
static void mlp_first_gradient(size_t features, size_t s, size_t rows, const float *x,
                               const float *dh1_cat, float *gw1_cat) {
  rt_gemm_rowmajor(1, 0, features, s, rows, x, features, dh1_cat, s, gw1_cat, s);
}

/* One member's forward pass once its first-layer product is in b->act[1]: the first bias and
 * activation, then its deeper layers (rest = its parameters after the first layer), the output
 * block as probabilities (classification) or predictions (regression). With derivatives, act'(z)
 * into the der blocks. */
static void mlp_member_forward(const rt_model_spec *spec, const float *b1, const float *rest,
                               size_t rows, const mlp_blocks *b, int derivatives) {
  const size_t layers = mlp_layers(spec);
  mlp_bias_activate(spec, b->act[1], derivatives ? b->der[1] : NULL, b1, rows, mlp_width(spec, 1),
                    b->ld1, 1);
  const float *in = b->act[1], *p = rest;
  size_t ld_in = b->ld1;
  for (size_t l = 1; l < layers; ++l) {
    const size_t n_in = mlp_width(spec, l), n_out = mlp_width(spec, l + 1);
    const float *w = p, *bias = p + n_in * n_out;
    const int hidden = l + 1 < layers;
    float *z = hidden ? b->act[l + 1] : b->out;
    rt_gemm_rowmajor(0, 0, rows, n_out, n_in, in, ld_in, w, n_out, z, n_out);
    mlp_bias_activate(spec, z, hidden && derivatives ? b->der[l + 1] : NULL, bias, rows, n_out,
                      n_out, hidden);
    in = z;
    ld_in = n_out;
    p += n_in * n_out + n_out;
  }
  if (!mlp_regression(spec)) rt_softmax_rows(b->out, rows, spec->problem.classes);
}

/* Forward pass of a group of one (prediction, evaluation) on dense rows x or sparse rows sx. */
static mlp_blocks mlp_forward(const rt_model_spec *spec, const float *params, const float *x,
                              const rt_csr_rows *sx, size_t rows, float *ws, int derivatives) {
  const mlp_blocks b = mlp_split(spec, rows, ws);
  const size_t f = spec->problem.features, n1 = mlp_width(spec, 1);
  if (sx) rt_csr_product(sx, params, n1, n1, b.act[1], n1);
  else mlp_first_product(f, n1, rows, x, params, b.act[1]);
  mlp_member_forward(spec, params + f * n1, params + f * n1 + n1, rows, &b, derivatives);
  return b;
}

/* Bias gradient: column sums of delta (rows x n at row stride ld) in row order. */
static void mlp_bias_gradient(float *gb, const float *delta, size_t rows, size_t n, size_t ld) {
  memset(gb, 0, n * sizeof *gb);
  for (size_t i = 0; i < rows; ++i)
    for (size_t k = 0; k < n; ++k) gb[k] += delta[i * ld + k];
}

/* One member's backward pass after mlp_member_forward with derivatives: returns the batch's sum
 * of per-row losses; the gradient of its deeper layers (with L2) into grest (laid out as rest);
 * dL/dZ1 (the first layer's delta, mean over the batch) into b->act[1]. */
static double mlp_member_backward(const rt_model_spec *spec, const float *rest, const float *y,
                                  size_t rows, const mlp_blocks *b, float *grest) {
  const size_t layers = mlp_layers(spec), out = mlp_width(spec, layers);
  const float inv_rows = 1.0f / (float)rows;
  /* Output delta (mean over the batch) in place of the output block. */
  double loss = 0.0;
  if (mlp_regression(spec)) {
    for (size_t i = 0; i < rows; ++i) {
      const float diff = b->out[i] - y[i];
      loss += 0.5 * (double)diff * (double)diff;
      b->out[i] = diff * inv_rows;
    }
  } else {
    for (size_t i = 0; i < rows; ++i) {
      float *gi = b->out + i * out;
      const size_t label = (size_t)y[i];
      loss -= log((double)rt_loss_probability(gi[label]));
      gi[label] -= 1.0f;
      for (size_t k = 0; k < out; ++k) gi[k] = rt_flush_subnormal(gi[k] * inv_rows);
    }
  }
  /* Offsets of each deeper layer's W in rest / grest. */
  size_t offset[RT_HIDDEN_MAX + 2];
  offset[1] = 0;
  for (size_t l = 1; l < layers; ++l)
    offset[l + 1] =
        offset[l] + mlp_width(spec, l) * mlp_width(spec, l + 1) + mlp_width(spec, l + 1);
  const float l2 = (float)spec->hp.l2;
  float *delta = b->out;
  for (size_t l = layers - 1; l >= 1; --l) {
    const size_t n_in = mlp_width(spec, l), n_out = mlp_width(spec, l + 1), ld = mlp_ld(spec, b, l);
    const float *w = rest + offset[l];
    float *gw = grest + offset[l], *gb = gw + n_in * n_out;
    rt_gemm_rowmajor(1, 0, n_in, n_out, rows, b->act[l], ld, delta, n_out, gw, n_out);
    if (l2 > 0.0f) rt_add_l2(gw, w, l2, n_in, n_out, n_out);
    mlp_bias_gradient(gb, delta, rows, n_out, n_out);
    /* delta_l = (delta_{l+1} W_l^T) * act'(z_l), into the activation block (no longer needed). */
    float *next = b->act[l];
    rt_gemm_rowmajor(0, 1, rows, n_in, n_out, delta, n_out, w, n_out, next, ld);
    const float *der = b->der[l];
    for (size_t i = 0; i < rows; ++i)
      for (size_t k = 0; k < n_in; ++k) next[i * ld + k] *= der[i * ld + k];
    delta = next;
  }
  return loss;
}

/* One member's first-layer gradient once GW1_cat holds X^T dH1_cat: its L2 term (on its block
 * of F rows x n_1 at row stride ld) and its bias gradient from its dH1 columns. */
static void mlp_member_first_gradient(const rt_model_spec *spec, const float *w1, float *gw1,
                                      float *gb1, size_t ld, const float *dh1, size_t rows) {
  const size_t n1 = mlp_width(spec, 1);
  const float l2 = (float)spec->hp.l2;
  if (l2 > 0.0f) rt_add_l2(gw1, w1, l2, spec->problem.features, n1, ld);
  mlp_bias_gradient(gb1, dh1, rows, n1, ld);
}

/* rt_family.batch_gradient: the gradient of a group of one (params and grad in the solo layout,
 * which is the fused layout of one member), through the group path's functions. */
static void mlp_gradient(const rt_model_spec *spec, const float *params, const float *x,
                         const float *y, size_t rows, float *grad, double *loss_sum, float *ws) {
  const size_t f = spec->problem.features, n1 = mlp_width(spec, 1), first = f * n1 + n1;
  const mlp_blocks b = mlp_split(spec, rows, ws);
  mlp_first_product(f, n1, rows, x, params, b.act[1]);
  mlp_member_forward(spec, params + f * n1, params + first, rows, &b, 1);
  *loss_sum = mlp_member_backward(spec, params + first, y, rows, &b, grad + first);
  mlp_first_gradient(f, n1, rows, x, b.act[1], grad);
  mlp_member_first_gradient(spec, params, grad, grad + f * n1, n1, b.act[1], rows);
}

/* ---- groups: the fused layout (see the top comment) ---- */

/* Where things are in a group buffer of m members for batches of `rows` rows. */
typedef struct mlp_group_layout {
  size_t features, s; /* F and S = the members' first widths summed */
  size_t total;       /* T: the members' parameters summed */
  size_t p, m, v, g;  /* offsets of the P, M, V, G arrays (T floats each; m, v: SIZE_MAX if none) */
  size_t scratch;     /* offset of the scratch: Z1_cat, D1_cat (rows x S each), members' own */
  size_t tmp, half;   /* one member's first-layer operand and product (m > 1): 2 x half floats */
  size_t floats;      /* all of it */
} mlp_group_layout;

static mlp_group_layout mlp_group_layout_of(const rt_model_spec *const *specs, size_t m,
                                            size_t rows) {
  mlp_group_layout L;
  memset(&L, 0, sizeof L);
  L.features = specs[0]->problem.features;
  int has_m, has_v;
  rt_fused_aux_needs(specs, m, &has_m, &has_v);
  size_t member_ws = 0, widest = 0;
  for (size_t i = 0; i < m; ++i) {
    const size_t n = mlp_param_count(specs[i]);
    if (mlp_width(specs[i], 1) > widest) widest = mlp_width(specs[i], 1);
    L.s += mlp_width(specs[i], 1);
    L.total += n;
    member_ws += mlp_member_ws(specs[i], rows);
  }
  size_t at = 0;
  L.p = at, at += L.total;
  L.m = has_m ? at : SIZE_MAX, at += has_m ? L.total : 0;
  L.v = has_v ? at : SIZE_MAX, at += has_v ? L.total : 0;
  L.g = at, at += L.total;
  L.scratch = at, at += 2 * rows * L.s + member_ws;
  L.half = m > 1 ? (L.features > rows ? L.features : rows) * widest : 0;
  L.tmp = at, at += 2 * L.half;
  L.floats = at;
  return L;
}

/* Member i's place, found by walking the members in order: its first-layer columns start at col;
 * its deeper layers at rest (in P, M, V, G alike); its own scratch at ws (after the cat blocks). */
typedef struct mlp_slot {
  size_t col, rest, ws;
} mlp_slot;

static mlp_slot mlp_slot_first(const mlp_group_layout *L) {
  mlp_slot at = {0, L->features * L->s + L->s, 0};
  return at;
}

static void mlp_slot_next(mlp_slot *at, const rt_model_spec *spec, size_t rows) {
  at->col += mlp_width(spec, 1);
  at->rest += mlp_rest_count(spec);
  at->ws += mlp_member_ws(spec, rows);
}

/* Copies a solo-layout vector (params, or one optimizer moment) of member at `at` into (to_fused)
 * or out of the fused array a. */
static void mlp_move(const rt_model_spec *spec, const mlp_group_layout *L, const mlp_slot *at,
                     float *a, float *solo, int to_fused) {
  const size_t f = L->features, n1 = mlp_width(spec, 1), rest = mlp_rest_count(spec);
  for (size_t r = 0; r <= f; ++r) { /* f rows of W_0, then row f: b_0 */
    float *fused = a + r * L->s + at->col, *own = solo + r * n1;
    if (to_fused) memcpy(fused, own, n1 * sizeof *own);
    else memcpy(own, fused, n1 * sizeof *own);
  }
  if (to_fused) memcpy(a + at->rest, solo + f * n1 + n1, rest * sizeof *solo);
  else memcpy(solo + f * n1 + n1, a + at->rest, rest * sizeof *solo);
}

/* Moves every member's params and optimizer state between its state and the group buffer. */
static void mlp_group_move(const rt_model_spec *const *specs, size_t m, void *const *states,
                           float *g, int to_fused) {
  const mlp_group_layout L = mlp_group_layout_of(specs, m, 0);
  mlp_slot at = mlp_slot_first(&L);
  for (size_t i = 0; i < m; ++i) {
    const rt_state_layout sl = rt_state_layout_of(specs[i]);
    float *params = rt_state_params(states[i], &sl), *aux = rt_state_aux(states[i], &sl);
    mlp_move(specs[i], &L, &at, g + L.p, params, to_fused);
    if (sl.aux_count >= sl.param_count) mlp_move(specs[i], &L, &at, g + L.m, aux, to_fused);
    if (sl.aux_count >= 2 * sl.param_count)
      mlp_move(specs[i], &L, &at, g + L.v, aux + sl.param_count, to_fused);
    mlp_slot_next(&at, specs[i], 0);
  }
}

static size_t mlp_group_floats(const rt_model_spec *const *specs, size_t m, size_t rows) {
  return mlp_group_layout_of(specs, m, rows).floats;
}

static void mlp_group_gather(const rt_model_spec *const *specs, size_t m, void *const *states,
                             float *g) {
  mlp_group_move(specs, m, states, g, 1);
}

static void mlp_group_scatter(const rt_model_spec *const *specs, size_t m, const float *g,
                              void *const *states) {
  mlp_group_move(specs, m, states, (float *)g, 0); /* reads g only */
}

/* Member i's solo product into tmp_out (rows x n1, or F x n1 for the gradient), its operand from
 * the fused layout copied to the solo layout first (W_0 block, or its dH1 columns). */
static void mlp_member_product(const mlp_group_layout *L, size_t col, size_t n1, const float *g,
                               const float *x, size_t rows, int gradient, float *tmp_in,
                               float *tmp_out) {
  const size_t f = L->features, s = L->s;
  const float *src = gradient ? g + L->scratch : g + L->p; /* dH1_cat or W1_cat */
  const size_t src_rows = gradient ? rows : f;
  for (size_t r = 0; r < src_rows; ++r) memcpy(tmp_in + r * n1, src + r * s + col, n1 * sizeof *g);
  if (gradient) mlp_first_gradient(f, n1, rows, x, tmp_in, tmp_out);
  else mlp_first_product(f, n1, rows, x, tmp_in, tmp_out);
}

/* The first-layer products of a batch (forward: Z1_cat = X W1_cat; gradient: GW1_cat = X^T
 * dH1_cat): ONE product for the members whose own product fused_gemm.h lets fuse, each other
 * member's own product (its operand copied to the solo layout) into its columns, so every member
 * gets its solo bits. A group of one is its own solo product. */
static void mlp_first_products(const rt_model_spec *const *specs, size_t m,
                               const mlp_group_layout *L, float *g, const float *x,
                               const rt_csr_rows *sx, size_t rows, int gradient) {
  const size_t f = L->features, s = L->s;
  float *out = gradient ? g + L->g : g + L->scratch; /* GW1_cat or Z1_cat */
  const size_t out_rows = gradient ? f : rows;
  if (sx) { /* sparse rows: one product, each column its solo sum (sparse_rows.h) */
    if (!gradient) {
      rt_csr_product(sx, g + L->p, s, s, out, s);
      return;
    }
    memset(out, 0, f * s * sizeof *out);
    rt_csr_gradient(sx, g + L->scratch, s, s, out, s);
    return;
  }
  int fused = m == 1;
  for (size_t i = 0; i < m && !fused; ++i) {
    const size_t n1 = mlp_width(specs[i], 1);
    fused = gradient ? rt_gemm_fusable(f, n1, rows) : rt_gemm_fusable(rows, n1, f);
  }
  if (fused) {
    if (gradient) mlp_first_gradient(f, s, rows, x, g + L->scratch, out);
    else mlp_first_product(f, s, rows, x, g + L->p, out);
    if (m == 1) return;
  }
  float *tmp_out = g + L->tmp, *tmp_in = tmp_out + L->half;
  size_t col = 0;
  for (size_t i = 0; i < m; col += mlp_width(specs[i], 1), ++i) {
    const size_t n1 = mlp_width(specs[i], 1);
    if (gradient ? rt_gemm_fusable(f, n1, rows) : rt_gemm_fusable(rows, n1, f)) continue;
    mlp_member_product(L, col, n1, g, x, rows, gradient, tmp_in, tmp_out);
    for (size_t r = 0; r < out_rows; ++r)
      memcpy(out + r * s + col, tmp_out + r * n1, n1 * sizeof *out);
  }
}

/* One batch for every member: ONE product for all first layers, each member's deeper layers and
 * backward down to its dH1 columns, ONE product for all first-layer weight gradients, then each
 * member's first-layer L2 and bias gradient and its optimizer steps over its three blocks (W_0
 * columns at row stride S, b_0, the deeper layers), skipped when its loss is not finite. */
static void mlp_group_rows(const rt_model_spec *const *specs, size_t m, float *g, const float *x,
                           const rt_csr_rows *sx, const float *y, size_t rows,
                           const uint64_t *steps, const unsigned char *active, double *loss_sums) {
  const mlp_group_layout L = mlp_group_layout_of(specs, m, rows);
  const size_t f = L.features, s = L.s, b0 = f * s;
  float *p = g + L.p, *gr = g + L.g;
  float *mo = L.m != SIZE_MAX ? g + L.m : NULL, *vo = L.v != SIZE_MAX ? g + L.v : NULL;
  float *z1 = g + L.scratch, *d1 = z1 + rows * s, *own = d1 + rows * s;
  mlp_first_products(specs, m, &L, g, x, sx, rows, 0);
  mlp_slot at = mlp_slot_first(&L);
  for (size_t i = 0; i < m; ++i) {
    const rt_model_spec *spec = specs[i];
    const size_t n1 = mlp_width(spec, 1);
    if (active[i]) {
      const mlp_blocks b = mlp_member_blocks(spec, rows, z1 + at.col, d1 + at.col, s, own + at.ws);
      mlp_member_forward(spec, p + b0 + at.col, p + at.rest, rows, &b, 1);
      loss_sums[i] = mlp_member_backward(spec, p + at.rest, y, rows, &b, gr + at.rest);
    } else { /* its dH1 columns: zeros, so the shared product reads no stale numbers */
      for (size_t r = 0; r < rows; ++r) memset(z1 + r * s + at.col, 0, n1 * sizeof *z1);
    }
    mlp_slot_next(&at, spec, rows);
  }
  mlp_first_products(specs, m, &L, g, x, sx, rows, 1);
  at = mlp_slot_first(&L);
  for (size_t i = 0; i < m; ++i) {
    const rt_model_spec *spec = specs[i];
    if (active[i] && isfinite(loss_sums[i])) {
      const size_t n1 = mlp_width(spec, 1), c = at.col, r = at.rest, nr = mlp_rest_count(spec);
      const int adam = spec->hp.optimizer == RT_OPT_ADAM;
      const int vel = rt_optimizer_aux_count(spec, 1) > 0;
      mlp_member_first_gradient(spec, p + c, gr + c, gr + b0 + c, s, z1 + c, rows);
      rt_optimizer_step_block(spec, steps[i], p + c, vel ? mo + c : NULL, adam ? vo + c : NULL,
                              gr + c, f, n1, s);
      rt_optimizer_step_block(spec, steps[i], p + b0 + c, vel ? mo + b0 + c : NULL,
                              adam ? vo + b0 + c : NULL, gr + b0 + c, 1, n1, n1);
      rt_optimizer_step_block(spec, steps[i], p + r, vel ? mo + r : NULL, adam ? vo + r : NULL,
                              gr + r, 1, nr, nr);
    }
    mlp_slot_next(&at, spec, rows);
  }
}

static void mlp_group_batch(const rt_model_spec *const *specs, size_t m, float *g, const float *x,
                            const float *y, size_t rows, const uint64_t *steps,
                            const unsigned char *active, double *loss_sums) {
  mlp_group_rows(specs, m, g, x, NULL, y, rows, steps, active, loss_sums);
}

/* Sparse rows: the first layer's products over the non-zeros; everything else as dense (the
 * optimizers update every weight: no member updates lazily, so every batch is settled). */
static void mlp_group_batch_sparse(const rt_model_spec *const *specs, size_t m, float *g,
                                   const rt_csr_rows *x, const float *y, const uint64_t *steps,
                                   const unsigned char *active, double *loss_sums) {
  mlp_group_rows(specs, m, g, NULL, x, y, x->rows, steps, active, loss_sums);
}

/* Prediction columns: classification "predicted", "p0".."p{C-1}"; regression "prediction". */
static size_t mlp_output_width(const rt_model_spec *spec) {
  return mlp_regression(spec) ? 1 : spec->problem.classes + 1;
}

static void mlp_output_name(const rt_model_spec *spec, size_t column, char *buf, size_t cap) {
  if (mlp_regression(spec)) snprintf(buf, cap, "prediction");
  else rt_class_output_name(column, buf, cap);
}

/* Predictions of dense rows x or sparse rows sx (x NULL). */
static void mlp_predict_rows(const rt_model_spec *spec, const float *params, const float *x,
                             const rt_csr_rows *sx, size_t rows, float *out, float *ws) {
  const mlp_blocks b = mlp_forward(spec, params, x, sx, rows, ws, 0);
  if (mlp_regression(spec)) {
    memcpy(out, b.out, rows * sizeof *out);
    return;
  }
  rt_class_predict_rows(b.out, rows, spec->problem.classes, out);
}

static void mlp_predict(const rt_model_spec *spec, const float *params, const float *x, size_t rows,
                        float *out, float *ws) {
  mlp_predict_rows(spec, params, x, NULL, rows, out, ws);
}

static void mlp_predict_sparse(const rt_model_spec *spec, const float *params, const rt_csr_rows *x,
                               float *out, float *ws) {
  mlp_predict_rows(spec, params, NULL, x, x->rows, out, ws);
}

/* Evaluation sums. Classification: [0] log-loss, [1] correct predictions. Regression: [0] sum of
 * squared errors, [1] sum of absolute errors, [2] sum of y, [3] sum of y^2. Rows: dense x or
 * sparse sx (x NULL). */
static void mlp_eval_any(const rt_model_spec *spec, const float *params, const float *x,
                         const rt_csr_rows *sx, const float *y, size_t rows, float *ws,
                         double *sums) {
  const mlp_blocks b = mlp_forward(spec, params, x, sx, rows, ws, 0);
  if (mlp_regression(spec)) {
    for (size_t i = 0; i < rows; ++i) {
      const double t = (double)y[i], d = (double)b.out[i] - t;
      sums[0] += d * d;
      sums[1] += fabs(d);
      sums[2] += t;
      sums[3] += t * t;
    }
    return;
  }
  rt_class_eval_sums(b.out, y, rows, spec->problem.classes, sums);
}

static void mlp_eval_rows(const rt_model_spec *spec, const float *params, const float *x,
                          const float *y, size_t rows, float *ws, double *sums) {
  mlp_eval_any(spec, params, x, NULL, y, rows, ws, sums);
}

static void mlp_eval_rows_sparse(const rt_model_spec *spec, const float *params,
                                 const rt_csr_rows *x, const float *y, float *ws, double *sums) {
  mlp_eval_any(spec, params, NULL, x, y, x->rows, ws, sums);
}

/* Metrics depend on the output: logloss and accuracy for classification, rmse, mae and r2 for
 * regression. The family table's static metric_count / metric_names are the classification ones;
 * metric_names_of (below, through rt_family_metric_names) gives each spec its own. */
static const char *const mlp_classification_metric_names[] = {"logloss", "accuracy"};
static const char *const mlp_regression_metric_names[] = {"rmse", "mae", "r2"};

static size_t mlp_metric_count(const rt_model_spec *spec) { return mlp_regression(spec) ? 3 : 2; }

static const char *const *mlp_metric_names(const rt_model_spec *spec) {
  return mlp_regression(spec) ? mlp_regression_metric_names : mlp_classification_metric_names;
}

/* Regression r2 = 1 - sse / (sum y^2 - (sum y)^2 / n); NaN when the targets do not vary. */
static void mlp_metrics(const rt_model_spec *spec, const double *sums, uint64_t rows,
                        double *values) {
  const double n = (double)rows;
  if (mlp_regression(spec)) {
    const double total = sums[3] - sums[2] * sums[2] / n;
    values[0] = sqrt(sums[0] / n);
    values[1] = sums[1] / n;
    values[2] = total > 0.0 ? 1.0 - sums[0] / total : NAN;
    return;
  }
  values[0] = sums[0] / n;
  values[1] = sums[1] / n;
}

/* rt_family.metric_names_of: the metric names of this model, classification or regression (the
 * names and count mlp_metrics fills in). */
static size_t mlp_metric_names_of(const rt_model_spec *spec, const char *const **names) {
  *names = mlp_metric_names(spec);
  return mlp_metric_count(spec);
}

const rt_family rt_family_mlp = {
    .kind = "mlp",
    .id = RT_FAMILY_MLP,
    .task = mlp_task,
    .check = mlp_check,
    .param_count = mlp_param_count,
    .init_params = mlp_init,
    .workspace_floats = mlp_workspace,
    .batch_gradient = mlp_gradient,
    .group_floats = mlp_group_floats,
    .group_gather = mlp_group_gather,
    .group_batch = mlp_group_batch,
    .group_scatter = mlp_group_scatter,
    .group_batch_sparse = mlp_group_batch_sparse,
    .eval_rows_sparse = mlp_eval_rows_sparse,
    .predict_sparse = mlp_predict_sparse,
    .output_width = mlp_output_width,
    .output_name = mlp_output_name,
    .predict = mlp_predict,
    .eval_rows = mlp_eval_rows,
    .metric_count = 2, /* classification; metric_names_of gives the spec's own */
    .metric_names = mlp_classification_metric_names,
    .metric_names_of = mlp_metric_names_of,
    .metrics = mlp_metrics,
};
