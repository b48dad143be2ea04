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

namespace {

/* Device bytes of an input buffer of max_rows x width floats and a map of data columns. */
size_t buffer_bytes(size_t max_rows, size_t width, size_t data) {
  return rt_cuda_round_up(max_rows * width * sizeof(float)) + rt_cuda_round_up(data * sizeof(int)) +
         2 * rt_cuda_round_up(data * sizeof(float));
}

} /* namespace */

extern "C" size_t rt_cuda_input_bytes(const rt_model_spec *spec, const rt_scaling *shards_scaled,
                                      size_t max_rows) {
  if (!rt_cuda_own_input(spec, shards_scaled)) return 0;
  return buffer_bytes(max_rows, spec->problem.features, spec->problem.data_features);
}

extern "C" size_t rt_cuda_input_missing_bytes(const rt_cuda_slot *slot, const rt_model_spec *spec,
                                              const rt_scaling *shards_scaled) {
  if (!rt_cuda_own_input(spec, shards_scaled)) return 0;
  const rt_cuda_input *in = &slot->input;
  const size_t w = spec->problem.features, d = spec->problem.data_features;
  if (in->x && in->width_cap >= w && in->data_cap >= d) return 0; /* the test of prepare below */
  const size_t need = buffer_bytes(slot->max_rows, w, d);
  const size_t held = in->x ? buffer_bytes(slot->max_rows, in->width_cap, in->data_cap) : 0;
  return need > held ? need - held : 0; /* prepare frees the buffer it replaces first */
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
  /* The map of this spec, written over the host copy of the one on the device (the copies from
   * pageable memory took it when each call returned); uploaded when anything changed. */
  int changed = !in->loaded || in->width != w || in->scaled != (sc != nullptr);
  const int all = rt_view_all(&spec->hp), ranges = all ? 1 : spec->hp.view_count / 2;
  size_t j = 0;
  for (int i = 0; i < ranges; ++i) {
    const long lo = all ? 0 : spec->hp.view[2 * i], hi = all ? (long)w : spec->hp.view[2 * i + 1];
    for (long c = lo; c < hi && j < w; ++c, ++j) {
      const float off = sc ? sc->offset[c] : 0.0f, scale = sc ? sc->scale[c] : 1.0f;
      changed |=
          in->host_cols[j] != (int)c || in->host_offset[j] != off || in->host_scale[j] != scale;
      in->host_cols[j] = (int)c;
      in->host_offset[j] = off;
      in->host_scale[j] = scale;
    }
  }
  if (j != w) {
    in->loaded = 0; /* the host copy is no longer the device's */
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %llu: its view has %zu columns, not %zu",
                      (unsigned long long)spec->id, j, w);
  }
  if (changed) {
    in->loaded = 0;
    RT_CUDA_CHECK(st, cudaMemcpyAsync(in->cols, in->host_cols, w * sizeof(int),
                                      cudaMemcpyHostToDevice, slot->stream));
    RT_CUDA_CHECK(st, cudaMemcpyAsync(in->offset, in->host_offset, w * sizeof(float),
                                      cudaMemcpyHostToDevice, slot->stream));
    RT_CUDA_CHECK(st, cudaMemcpyAsync(in->scale, in->host_scale, w * sizeof(float),
                                      cudaMemcpyHostToDevice, slot->stream));
    in->loaded = 1;
    in->width = w;
    in->scaled = sc != nullptr;
  }
  *on = 1;
  return RT_OK;
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
