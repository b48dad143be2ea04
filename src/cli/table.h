/* The CLI's printed tables: the run header, the model table of `check` (one row per model with
 * its hyper-parameters) and the results table after training. */
#ifndef RINGTRAIN_CLI_TABLE_H
#define RINGTRAIN_CLI_TABLE_H

#include <stdio.h>

#include "ringtrain/config.h"
#include "ringtrain/train.h"

void rt_print_run_header(FILE *out, const rt_config *cfg, int ranks);
/* The model table of `check`: one row per model with its hyper-parameters. */
void rt_print_model_table(FILE *out, const rt_config *cfg);
/* The results table after training, ranked as listed, with the best model named. */
void rt_print_results_table(FILE *out, const rt_run_result *res);

#endif
