/* The shards a rank owns, loaded once for the run (held in memory, or streamed from their .npy
 * file batch by batch: data.residency), plus the global per-shard row counts every rank knows. */
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
  int has_validation;              /* a validation file or fraction */
  uint64_t *train_rows;            /* [shards], global */
  uint64_t *val_rows;              /* [shards], global */
  rt_shard *train;                 /* [shards]; only owned shards hold rows */
  rt_shard *val;                   /* [shards]; only owned shards hold rows */
  int residency;                   /* rt_residency (data.residency) */
  uint64_t budget;                 /* bytes of rows this rank may hold in memory (residency auto) */
  uint64_t held;                   /* bytes of rows it holds in memory */
  size_t streamed;                 /* owned shards (training and validation) that stream */
  const struct rt_scaling *scaled; /* the scaling applied to every shard's rows (in place, or by
                                      their streams), NULL: none; models whose scaling differs
                                      scale their batches themselves */
} rt_dataset;

/* The residency rule, for training and `check` alike: shard rows of `bytes` stream under
 * residency stream always; under auto once the rows already held (*held) and these would pass
 * the budget; under memory never. Rows that stay in memory are added to *held. */
static inline int rt_residency_streams(int residency, uint64_t budget, uint64_t *held,
                                       uint64_t bytes) {
  const int stream = residency == RT_RESIDENCY_STREAM ||
                     (residency == RT_RESIDENCY_AUTO && *held + bytes > budget);
  if (!stream) *held += bytes;
  return stream;
}

/* data.memory_budget when set (> 0), else half of this host's memory over local_ranks. */
uint64_t rt_memory_budget_of(long configured, int local_ranks);

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
