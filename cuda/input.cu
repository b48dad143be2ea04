/* CUDA backend, a model's own input (rt_cuda.h, "A model's own input"): a model that does not read
 * the device shard's rows as they are (a `features` view, or a scaling of its own: normalize
 * differs between the run's models, so the shards hold the rows unscaled) gets each batch, or
 * evaluation chunk, gathered into its slot's input buffer by one kernel before its family sees it:
 *   input[r][j] = (x[first + r][col_j] - offset_j) * scale_j     (float, no FMA: the CPU's bits)
 * with col_j the view's j-th column (every column without a view) and offset_j, scale_j the
 * model's scaling of that column (none: a plain gather). The data is never copied per model; the
 * buffer holds one batch. The map (columns, offsets, scales) is built on the host from the spec and
 * uploaded only when it differs from the one the slot holds, so a spec that changes (tpe, pbt)
 * is followed. The formula is src/models/view.h's rt_view_input, column by column. */
#include "rt_cuda.h"

#include <stdlib.h>
#include <string.h>

#include "rt_cuda_internal.h"

extern "C" {
#include "normalize.h" /* rt_scaling (no C++ guards of its own) */
#include "view.h"
}

namespace {

/* One thread per input element (row r, column j). */
__global__ void gather_input_kernel(const float *x, size_t data_features, const int *cols,
                                    const float *offset, const float *scale, int width, int rows,
                                    float *out) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)width * rows) return;
  const int r = (int)(e / width), j = (int)(e % width);
  float v = x[(size_t)r * data_features + (size_t)cols[j]];
  if (offset) v = __fmul_rn(__fsub_rn(v, offset[j]), scale[j]);
  out[e] = v;
}

/* The scaling the model applies itself, or NULL. */
const rt_scaling *own_scaling(const rt_model_spec *spec, const rt_scaling *shards_scaled) {
  const rt_scaling *sc = spec->scaling;
  return sc && sc->kind != RT_NORMALIZE_NONE && sc != shards_scaled ? sc : nullptr;
}

} /* namespace */

extern "C" int rt_cuda_own_input(const rt_model_spec *spec, const rt_scaling *shards_scaled) {
  return !rt_view_all(&spec->hp) || own_scaling(spec, shards_scaled) != nullptr;
}

extern "C" size_t rt_cuda_input_bytes(const rt_model_spec *spec, const rt_scaling *shards_scaled,
                                      size_t max_rows) {
  if (!rt_cuda_own_input(spec, shards_scaled)) return 0;
  const size_t w = spec->problem.features, d = spec->problem.data_features;
  return rt_cuda_round_up(max_rows * w * sizeof(float)) + rt_cuda_round_up(d * sizeof(int)) +
         2 * rt_cuda_round_up(d * sizeof(float));
}

void rt_cuda_input_free(rt_cuda_input *in) {
  if (in->x) (void)cudaFree(in->x);
  if (in->cols) (void)cudaFree(in->cols);
  if (in->offset) (void)cudaFree(in->offset);
  if (in->scale) (void)cudaFree(in->scale);
  free(in->host_cols);
  free(in->host_offset);
  free(in->host_scale);
  memset(in, 0, sizeof *in);
}

rt_code rt_cuda_input_prepare(rt_cuda_slot *slot, const rt_model_spec *spec,
                              const rt_cuda_shard *shard, int *on, rt_status *st) {
  rt_cuda_input *in = &slot->input;
  *on = 0;
  const rt_scaling *sc = own_scaling(spec, shard->scaled);
  if (rt_view_all(&spec->hp) && !sc) return RT_OK;
  const size_t w = spec->problem.features, d = spec->problem.data_features;
  if (shard->features != d || w == 0 || w > d || (sc && sc->features != d))
    return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "model %llu: a view of %zu of %zu columns over a device shard of %zu",
                      (unsigned long long)spec->id, w, d, shard->features);
  /* Allocated at the first model that needs it, for the slot's largest batch and row width (the
   * backend counted these bytes: rt_cuda_input_bytes). */
  if (!in->x || in->width_cap < w || in->data_cap < d) {
    /* Work already issued on the slot may still read the old buffers. */
    if (in->x) RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
    rt_cuda_input_free(in);
    in->host_cols = (int *)calloc(d, sizeof(int));
    in->host_offset = (float *)calloc(d, sizeof(float));
    in->host_scale = (float *)calloc(d, sizeof(float));
    if (!in->host_cols || !in->host_offset || !in->host_scale) {
      rt_cuda_input_free(in);
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate an input map of %zu columns", d);
    }
    rt_code rc = RT_CUDA_CALL(st, cudaMalloc((void **)&in->x, slot->max_rows * w * sizeof(float)));
    if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&in->cols, d * sizeof(int)));
    if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&in->offset, d * sizeof(float)));
    if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&in->scale, d * sizeof(float)));
    if (rc != RT_OK) {
      rt_cuda_input_free(in);
      return rc;
    }
    in->width_cap = w;
    in->data_cap = d;
    in->loaded = 0;
  }
  /* The map of this spec; uploaded when it is not the one on the device. */
  int *cols = (int *)malloc(w * sizeof(int));
  float *offset = (float *)malloc(w * sizeof(float)), *scale = (float *)malloc(w * sizeof(float));
  if (!cols || !offset || !scale) {
    free(cols);
    free(offset);
    free(scale);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate an input map of %zu columns", w);
  }
  size_t j = 0;
  if (rt_view_all(&spec->hp))
    for (; j < w; ++j) cols[j] = (int)j;
  else
    for (int i = 0; i < spec->hp.view_count; i += 2)
      for (long c = spec->hp.view[i]; c < spec->hp.view[i + 1] && j < w; ++c) cols[j++] = (int)c;
  for (size_t k = 0; k < w; ++k) {
    offset[k] = sc ? sc->offset[cols[k]] : 0.0f;
    scale[k] = sc ? sc->scale[cols[k]] : 1.0f;
  }
  const int same = in->loaded && in->width == w && in->scaled == (sc != nullptr) &&
                   memcmp(in->host_cols, cols, w * sizeof *cols) == 0 &&
                   memcmp(in->host_offset, offset, w * sizeof *offset) == 0 &&
                   memcmp(in->host_scale, scale, w * sizeof *scale) == 0;
  rt_code rc =
      j == w ? RT_OK
             : RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %llu: its view has %zu columns, not %zu",
                          (unsigned long long)spec->id, j, w);
  if (rc == RT_OK && !same) {
    memcpy(in->host_cols, cols, w * sizeof *cols);
    memcpy(in->host_offset, offset, w * sizeof *offset);
    memcpy(in->host_scale, scale, w * sizeof *scale);
    in->loaded = 0;
    /* From the slot's own host copies, which stay as they are until the next change: the copies
     * from pageable memory have taken them by the time each call returns. */
    rc = RT_CUDA_CALL(st, cudaMemcpyAsync(in->cols, in->host_cols, w * sizeof(int),
                                          cudaMemcpyHostToDevice, slot->stream));
    if (rc == RT_OK)
      rc = RT_CUDA_CALL(st, cudaMemcpyAsync(in->offset, in->host_offset, w * sizeof(float),
                                            cudaMemcpyHostToDevice, slot->stream));
    if (rc == RT_OK)
      rc = RT_CUDA_CALL(st, cudaMemcpyAsync(in->scale, in->host_scale, w * sizeof(float),
                                            cudaMemcpyHostToDevice, slot->stream));
    if (rc == RT_OK) {
      in->loaded = 1;
      in->width = w;
      in->scaled = sc != nullptr;
    }
  }
  free(cols);
  free(offset);
  free(scale);
  if (rc == RT_OK) *on = 1;
  return rc;
}

rt_code rt_cuda_input_gather(rt_cuda_slot *slot, const float *rows_x, size_t data_features,
                             int rows, const float **x, rt_status *st) {
  rt_cuda_input *in = &slot->input;
  if (!in->loaded || rows < 0 || (size_t)rows > slot->max_rows)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "an input gather of %d rows (slot: %zu rows, map %s)",
                      rows, slot->max_rows, in->loaded ? "loaded" : "not loaded");
  const long long n = (long long)rows * (long long)in->width;
  if (n > 0) {
    gather_input_kernel<<<(unsigned)((n + kRtElemThreads - 1) / kRtElemThreads), kRtElemThreads, 0,
                          slot->stream>>>(rows_x, data_features, in->cols,
                                          in->scaled ? in->offset : nullptr, in->scale,
                                          (int)in->width, rows, in->x);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  *x = in->x;
  return RT_OK;
}
