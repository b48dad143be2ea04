/* Loading a trained model (rtm_load.h): a .rtm file read (rtm_file.c), its spec text parsed
 * into a spec, the state checked against the layout that spec implies, and the stored feature
 * scaling restored, for eval, predict and inspection. */
#include "rtm_load.h"

#include <string.h>

rt_code rt_model_load(const char *path, rt_loaded_model *m, rt_status *st) {
  memset(m, 0, sizeof *m);
  rt_code rc;
  RT_TRY(rc, rt_model_file_read(path, &m->file, st));
  if ((rc = rt_spec_from_text(m->file.spec_text, path, &m->spec, st))) goto fail;
  m->family = rt_family_find(m->spec.hp.kind);
  m->layout = rt_state_layout_of(&m->spec);
  const rt_state_header *h = (const rt_state_header *)m->file.state;
  if (m->file.state_len != m->layout.total_bytes || m->file.state_len < sizeof *h) {
    rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s: state is %zu bytes, the spec needs %zu", path,
                 m->file.state_len, m->layout.total_bytes);
    goto fail;
  }
  if (h->magic != RT_STATE_MAGIC || h->param_count != m->layout.param_count ||
      h->aux_count != m->layout.aux_count || h->history_count != m->spec.passes) {
    rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s: state header does not match the spec", path);
    goto fail;
  }
  if ((rc = rt_scaling_parse(m->file.spec_text, m->spec.problem.data_features, path, &m->scaling,
                             st)))
    goto fail;
  m->spec.scaling = &m->scaling;
  return RT_OK;
fail:
  rt_model_unload(m);
  return rc;
}

void rt_model_prepare_rows(const rt_loaded_model *m, rt_shard *rows) {
  if (rows->x) rt_scaling_apply_rows(&m->scaling, rows->x, rows->rows);
}

void rt_model_unload(rt_loaded_model *m) {
  rt_scaling_free(&m->scaling);
  rt_model_file_free(&m->file);
  memset(m, 0, sizeof *m);
}
