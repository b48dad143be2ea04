/* The run directory: resolved config, results.csv, results.jsonl, history.csv, models/<id>.rtm.
 * Every file is written atomically (temp file + rename); results.csv goes last. */
#ifndef RINGTRAIN_RESULTS_H
#define RINGTRAIN_RESULTS_H

#include "model.h"
#include "ringtrain/config.h"
#include "ringtrain/train.h"

rt_code rt_results_write(const rt_config *cfg, const rt_run_result *res, const rt_model_spec *specs,
                         const void *const *states, rt_status *st);

/* Fills res->sweep_metric, maximize, rank_order and best from the config's sweep metric. */
rt_code rt_results_rank(const rt_config *cfg, rt_run_result *res, rt_status *st);
/* rt_result_metric, rt_model_status_name: include/ringtrain/train.h. */

#endif
