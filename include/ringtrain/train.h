/* Training a sweep of models around the ring of MPI ranks. */
#ifndef RINGTRAIN_TRAIN_H
#define RINGTRAIN_TRAIN_H

#include <mpi.h>
#include <stdint.h>

#include "ringtrain/config.h"
#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RT_RESULT_METRICS 4

typedef struct rt_model_result {
  uint64_t id;
  rt_model_config hp;
  uint64_t passes;     /* passes done */
  double *train_loss;  /* [passes]: mean training loss of each pass */
  double *val_history; /* run.eval_every_pass: [passes][RT_RESULT_METRICS], the validation
                              metrics (metric_names order) measured along the ring; else NULL */
  int has_validation;
  uint64_t val_rows;
  /* Validation metrics of the model's family, e.g. logloss and accuracy (classification), rmse,
   * mae and r2 (regression), inertia (clustering); NaN when there is no validation data. */
  size_t metric_count;
  const char *metric_names[RT_RESULT_METRICS];
  double metrics[RT_RESULT_METRICS];
  double train_seconds;  /* time spent integrating, summed over ranks */
  double wire_seconds;   /* on the wire: the sum of its hand-off latencies (the run's
                              latency_source); NaN when not measured */
  double wait_seconds;   /* the rest of the training wall time: train_wall_seconds -
                              train_seconds - wire_seconds (>= 0); NaN when not measured */
  uint64_t pass_source;  /* id of the model whose pass this one used: its own id, or (linear,
                              exact solver, differing only in alpha) the model that travelled */
  uint64_t hops;         /* hand-offs between ranks */
  uint64_t bytes_handed; /* bytes of state sent between ranks */
  int diverged;          /* a training loss was not finite */
  int stopped_early;     /* early termination stopped it; passes = the passes it did */
  char state_sha256[65]; /* SHA-256 of the final state buffer, hex */
  uint64_t group;        /* its model group (src/engine/groups.h, run.fuse): groups are numbered
                              by their first member; results.csv's group column */
} rt_model_result;

/* A model's value of a metric ("val_accuracy", "train_loss"); NaN when it has none. */
double rt_result_metric(const rt_model_result *m, const char *name);

/* Status word of a model in tables: "ok" or "diverged". */
const char *rt_model_status_name(const rt_model_result *m);

/* One rank's share of the training (the utilisation report; measured by the CPU engine). */
typedef struct rt_rank_report {
  double wall_seconds;     /* the training phase on this rank */
  double busy_seconds;     /* integrating shards */
  double idle_seconds;     /* waiting for a model to arrive (MPI_Waitsome) */
  double final_seconds;    /* after its last visit: waiting for the final states still on
                                      the wire (they travel as each model finishes) */
  uint64_t sent, received; /* hand-offs */
  uint64_t bytes_sent, bytes_received;
  double latency_mean, latency_max; /* seconds, of the hand-offs this rank sent, measured as the
                                       run's latency_source says; 0 when it sent none */
} rt_rank_report;

typedef struct rt_run_result {
  size_t model_count;
  rt_model_result *models;
  int ranks;
  size_t shards;
  size_t features, classes;
  uint64_t train_rows, val_rows;
  double wall_seconds;
  double train_wall_seconds;   /* the training phase: the longest of the ranks' */
  rt_rank_report *rank_report; /* [ranks] (rank 0); NULL when the backend does not measure it */
  /* Where the hand-off latencies come from: "trace" (run.trace, nothing dropped: send mark to
   * matching receive mark on the aligned clocks, src/io/trace.h), "engine" (the sender's MPI_Isend
   * until it sees the request complete, polled between shard visits) or "" (not measured). */
  char latency_source[8];
  int traced;              /* run.trace: trace.json was written */
  uint64_t trace_events;   /* events in trace.json, all ranks */
  uint64_t trace_dropped;  /* events dropped by the per-rank cap (run.trace_events) */
  uint64_t trace_handoffs; /* flows (paired hand-offs) in trace.json */
  /* The sweep metric (sweep.metric, or the first metric of model 0's family) and its goal; models
   * ranked by it: rank_order[r] is the id at rank r (models without the metric last), best the
   * id of rank 0, or model_count when no model has a value. */
  char sweep_metric[40];
  int maximize;
  int rank_by_passes; /* asha, hyperband: models that trained further rank first (a finished
                         model before one stopped at a rung), then by the metric */
  size_t *rank_order;
  size_t best;
  char *lineage;   /* pbt (rank 0): lineage.csv's text, a line per copy (src/engine/pbt.h); NULL
                    otherwise */
  char backend[8]; /* "cpu" or "cuda" */
  char note[512];  /* one line for the user (e.g. why auto chose the CPU), or "" */
  char output_dir[RT_PATH_MAX];
} rt_run_result;

/* Progress as rank 0 sees it while training. Under the default rotating succession every model
 * passes through rank 0's shards once per pass, so rank 0's view lags the truth by at most about
 * one pass and needs no extra messages. */
typedef struct rt_progress {
  size_t models;           /* in the run */
  size_t models_done;      /* known to have finished all passes */
  size_t models_in_flight; /* started and not known to be done */
  uint64_t visits_done;    /* shard visits, as last seen */
  uint64_t visits_total;
  uint64_t samples; /* rows integrated over all models, as last seen */
  double elapsed;   /* seconds since training started */
  int final;        /* 1 on the last call, when every model is done */
} rt_progress;

/* Called on rank 0 only, from the training thread, after shard visits; must be cheap. */
typedef void (*rt_progress_fn)(const rt_progress *progress, void *user);

/* Collective over comm. Loads this rank's shards, trains every model of cfg around the ring,
 * evaluates, and (rank 0) writes the run directory. Every rank returns the same code for input
 * errors; a runtime failure on one rank may leave others waiting, so callers abort the job on
 * codes whose rt_exit_code is 1. result is filled on rank 0. */
rt_code rt_train(const rt_config *cfg, MPI_Comm comm, rt_progress_fn progress, void *progress_user,
                 rt_run_result *result, rt_status *st);

/* rt_train continuing from a checkpoint: `resume` is a run directory (its newest checkpoint) or
 * one checkpoint folder (RUN_DIR/checkpoints/ckpt-NNNNNN); NULL starts afresh (and removes the
 * checkpoints an earlier run left in cfg->run.output). Refuses (RT_ERR_CONFIG) when cfg differs
 * from the checkpoint's config in any key that changes what is trained, listing them; damaged or
 * foreign checkpoint files are RT_ERR_MODEL_FILE naming the file. The final model files equal
 * those of an uninterrupted run on the same backend, on any number of ranks (run.backend may
 * differ from the checkpoint's: the models then agree to rounding, not to the byte).
 * Checkpoints are written every cfg->run.checkpoint_every passes and on a stop request
 * (include/ringtrain/stop.h): SIGUSR1 saves and goes on; SIGTERM/SIGINT save and return
 * RT_STOPPED on every rank (exit code 75). */
rt_code rt_train_resume(const rt_config *cfg, const char *resume, MPI_Comm comm,
                        rt_progress_fn progress, void *progress_user, rt_run_result *result,
                        rt_status *st);

void rt_run_result_free(rt_run_result *result);

#ifdef __cplusplus
}
#endif
#endif
