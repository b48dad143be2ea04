/* Loads a .rtm model file (format: src/io/rtm_file.c) and checks that its spec and state agree,
 * for eval, predict and inspection of a trained model. */
#ifndef RINGTRAIN_RTM_LOAD_H
#define RINGTRAIN_RTM_LOAD_H

#include "model.h"
#include "normalize.h"
#include "ringtrain/modelfile.h"

typedef struct rt_loaded_model {
  rt_model_file file;
  rt_model_spec spec;
  const rt_family *family;
  rt_state_layout layout;
  rt_scaling scaling; /* the run's data.normalize, applied to data before predict/eval */
} rt_loaded_model;

/* Applies the model's feature scaling to rows read for it. */
void rt_model_prepare_rows(const rt_loaded_model *m, rt_shard *rows);

rt_code rt_model_load(const char *path, rt_loaded_model *m, rt_status *st);
void rt_model_unload(rt_loaded_model *m);

#endif
