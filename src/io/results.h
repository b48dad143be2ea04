/* The run directory: resolved config, results.csv, results.jsonl, history.csv, models/<id>.rtm.
 * Every file is written atomically (temp file + rename); results.csv goes last. */
#ifndef RINGTRAIN_RESULTS_H
#define RINGTRAIN_RESULTS_H

#include "model.h"
#include "ringtrain/config.h"
#include "ringtrain/train.h"

rt_code rt_results_write(const rt_config *cfg, const rt_run_result *res, const rt_model_spec *specs,
                         const void *const *states, rt_status *st);

/* The metric a sweep ranks by: sweep.metric, else "val_" + first_metric (the first metric of
 * model 0's family), else "train_loss" (first_metric NULL). The one rule of the results' ranking
 * and asha's rungs. */
void rt_sweep_metric_of(const rt_config *cfg, const char *first_metric, char *out, size_t cap);

/* Fills res->sweep_metric, maximize, rank_order and best from the config's sweep metric. */
rt_code rt_results_rank(const rt_config *cfg, rt_run_result *res, rt_status *st);
/* rt_result_metric, rt_model_status_name: include/ringtrain/train.h. */

#endif
