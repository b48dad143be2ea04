/* Checkpoints of a run: RUN_DIR/checkpoints/ckpt-NNNNNN/, one per save, numbered from 1.
 *
 *   config.yaml        the resolved config of the run (as RUN_DIR/config.yaml)
 *   model-<id>.rtm     one per model that travels the ring: a model file (modelfile.h) whose
 *                      state holds the cursor (pass, position, batch_cursor in its header)
 *   MANIFEST           written last: what the checkpoint holds and the SHA-256 of every file
 *
 * MANIFEST is text, one record per line:
 *   ringtrain-checkpoint 1
 *   sequence N
 *   reason every|signal|request
 *   ranks R                       ranks of the run that wrote it (resuming may use others)
 *   models M                      models of the config (those with a file are listed below)
 *   config SHA256                 of config.yaml
 *   model ID PASS POSITION BATCH SHA256     one per model file, in id order
 *   end
 *
 * A checkpoint is written into checkpoints/.ckpt-NNNNNN.tmp (every file fsync'ed, the folder
 * fsync'ed once after its last file: an rt_atomic_batch) and renamed to ckpt-NNNNNN, then the
 * checkpoints directory is fsync'ed: it appears complete or not at all. A failure
 * removes the temporary folder and leaves earlier checkpoints as they were. */
#ifndef RINGTRAIN_CHECKPOINT_H
#define RINGTRAIN_CHECKPOINT_H

#include <stdint.h>

#include "fault.h"
#include "model.h"
#include "ringtrain/config.h"

#define RT_CHECKPOINT_DIR "checkpoints"

typedef struct rt_checkpointer {
  char run_dir[RT_PATH_MAX];
  uint64_t next_sequence; /* the number the next checkpoint gets */
  long keep;              /* run.keep_checkpoints */
  int ranks;
  rt_fault fault;   /* enospc:0:N: the N-th write fails as if the disk were full */
  uint64_t written; /* checkpoints written by this process */
  char last[48];    /* name of the newest complete checkpoint, "" when none */
} rt_checkpointer;

/* Rank 0, at the start of a run. fresh: removes the checkpoints of an earlier run in run_dir
 * (that directory's results are being replaced) and numbers from 1; else (resume) numbers after
 * the newest present. */
rt_code rt_checkpointer_init(rt_checkpointer *c, const char *run_dir, long keep, int ranks,
                             int fresh, rt_status *st);

/* Rank 0: writes one checkpoint of the n travelling models (specs[k], states[k]; the config's
 * model count is cfg->model_count), then prunes to `keep`. reason: "every", "signal" or
 * "request". Errors name the file and say which checkpoint is still the last good one. */
rt_code rt_checkpoint_write(rt_checkpointer *c, const rt_config *cfg, const rt_model_spec *specs,
                            size_t n, void *const *states, const char *reason, rt_status *st);

/* Finds the checkpoint to resume from: `path` is a run directory (its newest checkpoint) or a
 * checkpoint folder itself. Fills dir (the checkpoint folder). RT_ERR_USAGE when there is none. */
rt_code rt_checkpoint_find(const char *path, char *dir, size_t size, rt_status *st);

/* Loads the resolved config a checkpoint was written with (its config.yaml, verified). */
rt_code rt_checkpoint_load_config(const char *dir, rt_config *cfg, rt_status *st);

/* Loads and verifies the states of the n travelling models (specs[k]) from a checkpoint:
 * the manifest, every file's SHA-256, each model file (magic, version, sizes, checksum), that its
 * spec text equals this run's spec (same problem and hyper-parameters) and that its cursor is
 * inside the run. states[k] get fresh aligned buffers. Errors (RT_ERR_MODEL_FILE) name the file
 * and what is wrong. */
rt_code rt_checkpoint_read(const char *dir, const rt_model_spec *specs, size_t n,
                           size_t model_count, void **states, rt_status *st);
/* The same, except that a model the checkpoint holds at pass 0 with no visit done (not started:
 * asha, hyperband and tpe write such placeholders) is not read: states[k] = NULL, whatever its
 * spec (tpe decides a model's hyper-parameters when it starts). */
rt_code rt_checkpoint_read_started(const char *dir, const rt_model_spec *specs, size_t n,
                                   size_t model_count, void **states, rt_status *st);
/* The same, except that each file's spec text is not compared but returned in texts[k]
 * (malloc'd; the caller frees them, also after an error): pbt's specs follow from the states, so
 * it compares once it has replayed them. The states must have the layout of specs[k]. */
rt_code rt_checkpoint_read_texts(const char *dir, const rt_model_spec *specs, size_t n,
                                 size_t model_count, char **texts, void **states, rt_status *st);

#endif
