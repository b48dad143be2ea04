/* The shards a rank owns, loaded once and resident for the run, plus the global per-shard row
 * counts every rank knows. */
#ifndef RINGTRAIN_DATASET_H
#define RINGTRAIN_DATASET_H

#include <mpi.h>

#include "ringtrain/config.h"
#include "ringtrain/data.h"

typedef struct rt_dataset {
  size_t shards;
  int ranks, rank;
  size_t features, classes;
  int label_column; /* resolved column of the label in the training file */
  rt_data_options train_opt, val_opt;
  rt_data_info train_info, val_info;
  int has_validation;   /* a validation file or fraction */
  uint64_t *train_rows; /* [shards], global */
  uint64_t *val_rows;   /* [shards], global */
  rt_shard *train;      /* [shards]; only owned shards hold rows */
  rt_shard *val;        /* [shards]; only owned shards hold rows */
} rt_dataset;

/* Collective: every rank returns the same code; messages name the file and row. With
 * need_classes the label column must hold class indices (checked, and `classes` found); without,
 * it holds regression targets (any finite number) or is ignored. */
rt_code rt_dataset_load(const rt_config *cfg, int need_classes, MPI_Comm comm, rt_dataset *ds,
                        rt_status *st);
void rt_dataset_free(rt_dataset *ds);

/* Checks that every label of a shard is a class index in [0, classes) (classes == 0: only that it
 * is a non-negative integer); the message names the file and line (CSV) or row (npy). */
rt_code rt_labels_check(const rt_data_options *opt, const rt_data_info *info, const rt_shard *sh,
                        size_t classes, rt_status *st);

/* Describes where row `row` of a shard sits in its file: "line 17" (CSV) or "row 16" (npy). */
void rt_shard_row_location(const rt_data_options *opt, const rt_data_info *info, const rt_shard *sh,
                           size_t row, char *buf, size_t cap);

#endif
