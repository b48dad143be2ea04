/* The compute side of the engine (src/engine/engine.c): a backend integrates one group visit into
 * the members' states and evaluates a state on a validation shard. The engine owns everything else
 * (the schedule, hand-offs, stops, checkpoints, early termination, the trace) and sees the backend
 * only through rt_backend. Two implementations: the CPU (backend_cpu.c, the reference) and CUDA
 * (backend_cuda.c: device-resident shards, the members' states staged to the device for the visit
 * and back, kernels and cuBLAS). */
#ifndef RINGTRAIN_BACKEND_H
#define RINGTRAIN_BACKEND_H

#include "model.h"
#include "dataset.h"
#include "ringtrain/data.h"
#include "ringtrain/status.h"

/* Per-pass batch order inside a shard: a permutation of the shard's batches keyed by
 * (the model key data_order, pass, shard), so it is the same on any rank layout, and the same for
 * every model that shares data_order (what lets them form a group, src/engine/groups.h). */
uint64_t rt_batch_order_key(const rt_model_spec *spec, uint64_t pass, uint64_t shard);

/* Scratch of the CPU backend, grown as needed and kept between visits (one per engine). */
typedef struct rt_cpu_scratch {
  float *f; /* the group buffer (fused families) or one member's gradient and workspace */
  uint64_t *order;
  uint64_t *steps;
  unsigned char *active;
  double *loss;
  float *view; /* a batch of the group's input when it is not the shard's rows as they are (a
                  `features` view, or a scaling the shard does not hold) */
  const struct rt_scaling *scaled;    /* the scaling the shards hold (rt_dataset.scaled); NULL */
  const rt_model_spec **member_specs; /* a fused visit's members in optimizer order */
  void **member_states;
  size_t f_cap, order_cap, steps_cap, active_cap, loss_cap, view_cap, specs_cap, states_cap;
} rt_cpu_scratch;
void rt_cpu_scratch_free(rt_cpu_scratch *s);

/* One group visit as the engine hands it to a backend: m members of family fam that share every
 * batch and stand at the same cursor (pass, position, batch_cursor), integrating the owned
 * training shard `shard`. specs[i]->id is the member's index in the run's model table. */
typedef struct rt_group_visit {
  const rt_model_spec *const *specs;
  const rt_family *fam;
  void *const *states; /* host states: the backend reads and writes them */
  size_t m;
  uint64_t shard;
} rt_group_visit;

struct rt_groups;

/* A backend. Every operation returns an rt_status code; the engine calls them from one thread. */
typedef struct rt_backend rt_backend;
struct rt_backend {
  const char *name; /* "cpu", "cuda" */
  /* A backend has either integrate (synchronous: the CPU) or start and poll (asynchronous: CUDA).
   * integrate: the visit from the members' cursor on (rt_cpu_integrate_group_visit's contract:
   * *complete = 0 when it stopped after a batch because should_stop said so, the cursor then in
   * the headers); on return the members' host states hold the result. */
  rt_code (*integrate)(rt_backend *b, const rt_group_visit *v, int (*should_stop)(void *),
                       void *user, int *complete, rt_status *st);
  /* start takes the visit (the whole visit, from the members' cursor on; the states must stay
   * untouched until it is finished) and returns at once with a ticket; poll reports, without
   * waiting, one finished visit (*done = 1 and its ticket; the members' host states then hold the
   * result, cursor 0) or none (*done = 0). The engine (engine.c) then keeps several visits in
   * flight and goes on with hand-offs meanwhile. A start that must wait for the device between
   * batches (CUDA on streamed or LIBSVM shards: backend_cuda.c says why) calls between(user)
   * (NULL: nothing) before each, so that the engine answers the watchdog and reads stop requests
   * meanwhile; its result is ignored: a started visit is never cut. (CUDA's wait for an earlier
   * visit of the same fused context, backend_cuda.c drain_context, polls and calls it too.) */
  rt_code (*start)(rt_backend *b, const rt_group_visit *v, int (*between)(void *), void *user,
                   uint64_t *ticket, rt_status *st);
  rt_code (*poll)(rt_backend *b, uint64_t *ticket, int *done, rt_status *st);
  /* After an error that poll reported (visits may still be in flight): waits until no started
   * visit can still write a member's host state, errors ignored; the engine frees the states
   * after it. NULL: nothing in flight can (the CPU, the deferred test backend). */
  void (*quiesce)(rt_backend *b);
  /* Adds the family's evaluation sums of `state` over the owned validation shard `shard` into
   * sums[RT_EVAL_SUMS], in chunks of chunk_rows rows (the engine's validation along the ring
   * passes the model's batch size, the final metrics 256 rows). CUDA chunks by the model's batch
   * size whatever chunk_rows says (its slot's workspace is sized for those rows), so its sums
   * agree with the CPU's to rounding, not bit for bit. */
  rt_code (*evaluate)(rt_backend *b, const rt_model_spec *spec, const void *state, uint64_t shard,
                      size_t chunk_rows, double *sums, rt_status *st);
  /* The models' specs or their groups changed between two engine runs, no visit in flight: tpe
   * admits its suggestions, pbt's steps change hyper-parameters and re-form the groups.
   * specs[0..count) (specs[j].id == j) and groups as the engine forms them now; read during the
   * call only. Collective (every rank calls it at the same point, and gets the same outcome).
   * NULL: nothing to do (the CPU reads every spec per visit). */
  rt_code (*respec)(rt_backend *b, const rt_model_spec *specs, size_t count,
                    const struct rt_groups *groups, rt_status *st);
  void (*close)(rt_backend *b); /* frees everything (NULL-safe through rt_backend_close) */
};
void rt_backend_close(rt_backend *b);
/* b->respec when the backend has one, else RT_OK. */
rt_code rt_backend_respec(rt_backend *b, const rt_model_spec *specs, size_t count,
                          const struct rt_groups *groups, rt_status *st);

/* The CPU backend over this rank's shards of ds (ds must outlive it). */
rt_code rt_backend_cpu_open(const rt_dataset *ds, rt_backend **out, rt_status *st);

/* For tests of the engine's asynchronous path on any machine (backend_deferred.c): `inner`'s
 * visits (integrated at once, whole) reported finished only after `polls` to `polls + 2` polls
 * each, so visits finish later and out of order, as a GPU's would; and every visit checked against
 * the models and groups it was told of (here, read during the call, and by respec), as a device
 * backend sizes its buffers by them. With batch_ms > 0 a start also waits that many milliseconds
 * before each call of the engine's between-batches hook (after each batch where the CPU backend
 * polls: most of them), as a fed CUDA visit waits for the device inside start. Owns inner.
 * rt_train uses it around the CPU backend when the environment variable RINGTRAIN_DEFER_VISITS=N
 * (N >= 1) is set (RINGTRAIN_DEFER_BATCH_MS=M for batch_ms): model files must not change. */
rt_code rt_backend_deferred_open(rt_backend *inner, unsigned polls, unsigned batch_ms,
                                 const rt_model_spec *specs, size_t count,
                                 const struct rt_groups *groups, rt_backend **out, rt_status *st);

/* The CUDA backend (CUDA builds; backend_cuda.c): this rank's training and validation shards are
 * uploaded to the current device (rt_backend_select made it current), every model of specs[0..
 * count) gets a slot and every group of `groups` (formed on the same specs; both are read during
 * the call only, as by respec, which follows their changes) whose family has fused CUDA kernels
 * a fused context; the device memory is checked before anything is allocated. Collective over
 * comm (which must outlive the backend): every rank gets the same outcome. */
#if RINGTRAIN_WITH_CUDA
rt_code rt_backend_cuda_open(const rt_dataset *ds, const rt_model_spec *specs, size_t count,
                             const struct rt_groups *groups, MPI_Comm comm, rt_backend **out,
                             rt_status *st);
#endif

/* Integrates one shard visit of a GROUP (src/engine/groups.h): m models of family fam that share
 * every batch and stand at the same cursor (pass, position, batch_cursor), from that cursor on,
 * asking should_stop(user) (when not NULL) before each batch (sparse rows that the family takes
 * as they are: before each settled batch, sparse_rows.h). The batches come in the group's one
 * order; a family with group operations (model.h) integrates each batch for all members at once,
 * others member by member (integrate_batch, or batch_gradient and the optimizer). *complete = 1
 * when the visit is complete (batch_cursor back to 0), 0 when it stopped with batch_cursor batches
 * of this visit done (every member alike), so that a later call continues exactly there. Only
 * the headers' counters and the members' parameters and optimizer state change. A fused group too
 * large for a core's cache integrates in cache chunks of members (backend_cpu.c), with the same
 * bits and the same stops. */
rt_code rt_cpu_integrate_group_visit(const rt_model_spec *const *specs, const rt_family *fam,
                                     void *const *states, size_t m, const rt_shard *shard,
                                     uint64_t shard_index, rt_cpu_scratch *scratch,
                                     int (*should_stop)(void *), void *user, int *complete,
                                     rt_status *st);

/* The same for one model (a group of one). */
rt_code rt_cpu_integrate_visit(const rt_model_spec *spec, const rt_family *fam, void *state,
                               const rt_shard *shard, uint64_t shard_index, rt_cpu_scratch *scratch,
                               int (*should_stop)(void *), void *user, int *complete,
                               rt_status *st);

/* A whole shard visit of one model, not stoppable. */
rt_code rt_cpu_integrate_shard(const rt_model_spec *spec, const rt_family *fam, void *state,
                               const rt_shard *shard, uint64_t shard_index, rt_cpu_scratch *scratch,
                               rt_status *st);

/* Adds the family's evaluation sums over a shard into sums[RT_EVAL_SUMS] (fixed row order, in
 * chunks of ws_rows; ws holds family->workspace_floats(spec, ws_rows) floats). The shard's rows
 * are in memory: dense, or sparse when the family has eval_rows_sparse. */
void rt_cpu_evaluate_shard(const rt_model_spec *spec, const rt_family *fam, const void *state,
                           const rt_shard *shard, float *ws, size_t ws_rows, double *sums);

#endif
