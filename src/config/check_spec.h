/* The part of a model's spec that the checks and the groups read (id, hyper-parameters with
 * seed and data_order resolved and start_shard as the config resolved it, problem, passes,
 * shards, shards in use, succession),
 * built in one place for rt_check_run and rt_check_groups (src/config/check.c) and for training
 * (src/engine/train.c build_specs, which adds what only the loaded data fixes: batches per pass,
 * label column). */
#ifndef RINGTRAIN_CHECK_SPEC_H
#define RINGTRAIN_CHECK_SPEC_H

#include "model.h"
#include "ringtrain/check.h"

/* Model j's feature scaling: its normalize key, or data.normalize when that is auto. */
rt_normalize rt_model_normalize(const rt_config *cfg, size_t j);

/* Fills *sp (zeroed first) for model j of cfg on data `data`. */
void rt_check_spec_base(const rt_config *cfg, size_t j, const rt_check_facts *data,
                        rt_model_spec *sp);

/* The same for a model given apart (tpe: a suggested model that takes model j's place). */
void rt_check_spec_of(const rt_config *cfg, size_t j, const rt_model_config *model,
                      const rt_check_facts *data, rt_model_spec *sp);

/* The checks of one model's spec against the data (its view, its family's rules, the CUDA
 * backend's limits when `cuda`): what rt_check_run runs for every model, and train for a model
 * tpe suggests. */
rt_code rt_check_spec(const rt_config *cfg, const rt_model_spec *spec, const rt_check_facts *data,
                      int cuda, rt_status *st);

#endif
