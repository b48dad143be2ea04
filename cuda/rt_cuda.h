/* CUDA backend: devices, device-resident shards, per-slot contexts that integrate and evaluate
 * model states with kernels and cuBLAS, and the NCCL hand-off transport.
 *
 * Plain C interface, no CUDA types: streams travel as `void *` (a cudaStream_t), contexts are
 * opaque. Every function returns an rt_code and fills an rt_status; CUDA, cuBLAS and NCCL failures
 * name the source file:line and the failing call.
 *
 * Threading: one host thread drives a slot at a time. All work of a slot is issued on the slot's
 * own stream, so slots overlap on the device; nothing here synchronises the whole device.
 *
 * State ownership while a model sits in a slot:
 *  - the device state buffer is the model (header, history, parameters, optimizer state);
 *  - the slot keeps a host mirror of the 128-byte header. The host owns pass, position, step,
 *    samples and pass_loss_rows (it needs them to launch batches and advances them as it issues
 *    work); the device owns diverged and pass_loss_sum (set by kernels, never read back per
 *    batch). rt_cuda_integrate_shard / rt_cuda_finish_visit write the host-owned fields into the
 *    device header at the end of what they issue, so the device header is complete in stream
 *    order; the mirror's diverged / pass_loss_sum are fresh only after rt_cuda_header_refresh.
 * States move between host and device through each slot's pinned staging buffer. */
#ifndef RINGTRAIN_RT_CUDA_H
#define RINGTRAIN_RT_CUDA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mpi.h>

#include "ringtrain/config.h"
#include "ringtrain/data.h"
#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* src/models/model.h has no C++ guards of its own. */
#include "model.h"

/* ---- Devices and memory ---------------------------------------------------------------------- */

/* Number of visible CUDA devices. No driver, a driver too old for this build's CUDA runtime, the
 * toolkit's stub driver, no device, or any other start-up failure is *count = 0 and RT_OK (the
 * CPU backend is then the answer, not an error); rt_cuda_no_device_reason says which, with the
 * driver's and the runtime's CUDA versions (src/engine/cuda_health.h). */
rt_code rt_cuda_device_count(int *count, rt_status *st);

/* Why the last rt_cuda_device_count found no device, in words ("the NVIDIA driver supports CUDA
 * 12.4, this ringtrain needs CUDA 13.0: update the driver (cudaErrorInsufficientDriver)"). */
const char *rt_cuda_no_device_reason(void);

/* The PCI bus id of visible device `device` ("0000:3B:00.0"): the physical identity NCCL compares
 * to refuse two ranks on one GPU (MIG instances of one GPU share it). Creates no context. */
rt_code rt_cuda_device_bus_id(int device, char *buf, size_t cap, rt_status *st);

/* Makes visible device `device` current for the calling thread and checks that it can run this
 * build's kernels (a GPU older than the architectures built for cannot). problem gets "" when it
 * can, otherwise why not ("device 0 (Tesla V100-SXM2-16GB, compute capability 7.0) cannot run this
 * ringtrain's kernels: ..."). Device selection for a run: rt_cuda_choose_device
 * (src/engine/backend_select.h). */
void rt_cuda_use_device(int device, char *problem, size_t cap);

/* Kernel launches and cuBLAS/cuSPARSE compute calls (each counted as one) issued by this process
 * so far, all devices and slots together: the difference over a piece of work divided by its
 * batches is the launches per batch. A CUDA Graph launch counts as one (the default for fused
 * visits): for per-batch counts, turn graphs off (RINGTRAIN_CUDA_GRAPHS=0,
 * rt_cuda_group_use_graphs). Memory copies and NCCL transfers are not counted. */
uint64_t rt_cuda_launch_count(void);

/* A non-blocking stream of its own (for hand-offs), its synchronisation and destruction. */
rt_code rt_cuda_stream_create(void **stream, rt_status *st);
rt_code rt_cuda_stream_sync(void *stream, rt_status *st);
void rt_cuda_stream_destroy(void *stream);
/* Work issued on to_stream after this call waits for all work issued on from_stream before it
 * (an event recorded on one and waited on by the other; the host does not block). */
rt_code rt_cuda_stream_order(void *from_stream, void *to_stream, rt_status *st);

/* Free and total memory of the current device, in bytes. */
rt_code rt_cuda_mem_info(size_t *free_b, size_t *total_b, rt_status *st);

/* RT_OK when need_bytes fit in the current device's free memory; otherwise RT_ERR_NOMEM
 * "device 0 has 1.2 GiB free, <what> needs 3.4 GiB: 2.2 GiB missing". */
rt_code rt_cuda_check_fits(size_t need_bytes, const char *what, rt_status *st);

/* ---- Device shards --------------------------------------------------------------------------- */

struct rt_scaling; /* src/data/normalize.h */
typedef struct rt_cuda_shard rt_cuda_shard;

/* Copies a host shard to the current device (features and, when present, labels) through
 * pinned staging buffers, on `stream` (a cudaStream_t; NULL = the legacy default stream). Returns
 * once the copy has finished and the staging memory is freed (load time, not the hot path).
 * A shard with 0 rows gives a valid empty device shard. A streamed host shard (host->source)
 * gets its labels only: its rows are read batch by batch (cuda/feed.cu) from `host`, which must
 * then outlive the device shard. */
rt_code rt_cuda_shard_upload(const rt_shard *host, void *stream, rt_cuda_shard **out,
                             rt_status *st);
void rt_cuda_shard_free(rt_cuda_shard *shard);
size_t rt_cuda_shard_rows(const rt_cuda_shard *shard);
/* Records the scaling the shard's rows hold (rt_dataset.scaled; NULL: none): models with another
 * scaling scale their own batches (rt_cuda_own_input). */
void rt_cuda_shard_set_scaled(rt_cuda_shard *shard, const struct rt_scaling *scaled);
size_t rt_cuda_shard_features(const rt_cuda_shard *shard);
/* Device bytes a shard of this shape takes (for rt_cuda_check_fits before loading); a sparse
 * (LIBSVM) shard's, which holds its rows as CSR. */
size_t rt_cuda_shard_bytes(size_t rows, size_t features, int has_labels);
size_t rt_cuda_sparse_shard_bytes(size_t rows, size_t nnz, int has_labels);

/* ---- A model's own input ----------------------------------------------------------------------- */

/* 1 when the model's batches are not the device shard's rows as they are: a `features` view, or a
 * scaling of its own (spec->scaling, unless the shards hold it: shards_scaled, rt_dataset.scaled).
 * Such a model's rows are gathered (and scaled) batch by batch into its slot's input buffer, one
 * kernel per batch (cuda/input.cu); the data is never copied per model. */
int rt_cuda_own_input(const rt_model_spec *spec, const struct rt_scaling *shards_scaled);
/* Device bytes of that buffer and its map for batches of max_rows rows (0 when not needed), beyond
 * rt_cuda_slot_bytes: allocated at the slot's first such model. */
size_t rt_cuda_input_bytes(const rt_model_spec *spec, const struct rt_scaling *shards_scaled,
                           size_t max_rows);

/* Device bytes of a slot's feed (cuda/feed.cu: a streamed shard's batches, double-buffered, with
 * as many pinned host bytes; a sparse shard's batches, made dense in the same buffers or handed
 * on as CSR with their transposes, batch_nnz: the most non-zeros a training batch holds, 0 for
 * none), beyond rt_cuda_slot_bytes: made at the slot's first fed visit. */
size_t rt_cuda_feed_bytes(size_t max_rows, size_t features, size_t batch_nnz);

/* 1 when a sparse batch of `rows` rows and `nnz` non-zeros over `features` columns goes to the
 * fused groups' sparse products as CSR (at most half dense, and within cuSPARSE's 32-bit
 * indices); 0 when the feed makes it dense. Depends on the batch alone, so the same on every run.
 * The feed's hand-out, its CSR buffers and the device-memory check all ask this. */
int rt_cuda_batch_as_csr(size_t rows, size_t features, size_t nnz);

/* ---- Slots ----------------------------------------------------------------------------------- */

/* One model-in-flight context on the current device: its own stream, device state buffer, a
 * pinned host staging buffer of the same size for state copies, and a device workspace sized for
 * the largest model / batch it will hold (linear exact's includes cuBLAS's workspace; its cuBLAS
 * handle, bound to the stream, atomics off, no TF32, is made at its first batch). No other family
 * uses cuBLAS (cuda/gemm.h). */
typedef struct rt_cuda_slot rt_cuda_slot;

/* Device workspace floats a slot needs to integrate batches of up to max_rows rows of this model
 * and to evaluate it in chunks of max_rows rows (gradient and every family scratch included);
 * 0 for a kind without CUDA kernels. Pass the largest over the models a slot will hold as
 * work_floats of rt_cuda_slot_create / rt_cuda_slot_bytes. */
size_t rt_cuda_work_floats(const rt_model_spec *spec, size_t max_rows);

/* What only the CUDA backend limits about a model, beyond its family's own rules (src/models/model.h
 * check, which must hold first): kernels for its kind and 32-bit product dimensions for its
 * features, batches and layers. RT_ERR_CONFIG "model N (kind): ..." as the families word theirs.
 * No device needed: rt_check_run (include/ringtrain/check.h) calls it for backend cuda. */
rt_code rt_cuda_check_spec(const rt_model_spec *spec, rt_status *st);

/* max_batch_rows also bounds the rows evaluated per chunk by rt_cuda_evaluate_shard;
 * max_features / max_classes bound the models the slot accepts (max_classes may be 0 for models
 * that do not classify); work_floats is the workspace (rt_cuda_work_floats). Checks the total
 * against free device memory first (rt_cuda_check_fits). */
rt_code rt_cuda_slot_create(size_t max_state_bytes, size_t max_batch_rows, size_t max_features,
                            size_t max_classes, size_t work_floats, rt_cuda_slot **out,
                            rt_status *st);
void rt_cuda_slot_free(rt_cuda_slot *slot);

/* Device bytes a slot created with these arguments takes. */
size_t rt_cuda_slot_bytes(size_t max_state_bytes, size_t max_batch_rows, size_t max_features,
                          size_t max_classes, size_t work_floats);

void *rt_cuda_slot_stream(rt_cuda_slot *slot); /* the slot's cudaStream_t */
void *rt_cuda_slot_state(rt_cuda_slot *slot);  /* device pointer to the state buffer */
size_t rt_cuda_slot_state_capacity(const rt_cuda_slot *slot);
/* 1 when a slot created with these arguments' values or smaller ones would do: the slot holds such
 * a model (0 for NULL). */
int rt_cuda_slot_fits(const rt_cuda_slot *slot, size_t state_bytes, size_t batch_rows,
                      size_t features, size_t classes, size_t work_floats);
/* Device bytes the slot's input buffer (rt_cuda_own_input) still has to grow by before it serves this model (0 when
 * the model needs none or the buffer it holds will do): what a respec that keeps the slot counts. */
size_t rt_cuda_input_missing_bytes(const rt_cuda_slot *slot, const rt_model_spec *spec,
                                   const struct rt_scaling *shards_scaled);
size_t rt_cuda_slot_state_bytes(const rt_cuda_slot *slot); /* bytes of the model held now */
/* Host mirror of the header (see the top of this file for which fields are current). */
const rt_state_header *rt_cuda_slot_header(const rt_cuda_slot *slot);

/* Copies a host state into the slot and sets the header mirror from it: the host bytes go into the
 * slot's pinned staging buffer at once, then to the device asynchronously on the slot's stream, so
 * the host buffer may be reused or freed as soon as this returns. */
rt_code rt_cuda_state_upload(rt_cuda_slot *slot, const void *host_state, size_t bytes,
                             rt_status *st);
/* Copies the slot's state (rt_cuda_slot_state_bytes bytes) to host_state, asynchronously on the
 * slot's stream, through the pinned staging buffer (a device-to-host copy into pageable memory
 * would block the host until the stream drains); host_state holds the state once the slot has
 * been synchronised (rt_cuda_slot_sync, rt_nccl_wait_stream, or rt_cuda_slot_query reporting
 * done) and must stay valid until then. Uploads and downloads of one slot share the staging
 * buffer; neither ever waits for it: an upload while an earlier copy of the slot is still in
 * flight, or a download while an earlier download is, is RT_ERR_INTERNAL (synchronise the slot in
 * between). A download right after an upload or after work on the slot needs no synchronisation. */
rt_code rt_cuda_state_download(rt_cuda_slot *slot, void *host_state, size_t bytes, rt_status *st);
/* The state was written into rt_cuda_slot_state() by someone else (an NCCL receive issued on the
 * slot's stream): records its size and reloads the header mirror (synchronises the stream). */
rt_code rt_cuda_state_adopt(rt_cuda_slot *slot, size_t bytes, rt_status *st);
/* Like rt_cuda_state_adopt without the wait: the caller knows the host-owned header fields the
 * arriving state carries (the engine derives them from the schedule) and sets the mirror from
 * `expected`. Nothing is read back; later work on the slot's stream must be ordered after the
 * receive (rt_cuda_stream_order). */
rt_code rt_cuda_state_arrive(rt_cuda_slot *slot, size_t bytes, const rt_state_header *expected,
                             rt_status *st);
/* Reloads the header mirror from the device (synchronises the stream). */
rt_code rt_cuda_header_refresh(rt_cuda_slot *slot, rt_status *st);

/* Waits for everything issued on the slot so far. */
rt_code rt_cuda_slot_sync(rt_cuda_slot *slot, rt_status *st);
/* Non-blocking: *done = 1 when everything issued on the slot so far has finished. */
rt_code rt_cuda_slot_query(rt_cuda_slot *slot, int *done, rt_status *st);

/* ---- Compute --------------------------------------------------------------------------------- */

/* The CUDA equivalent of rt_cpu_integrate_shard: the batches of `shard` (logical index
 * shard_index) in the order rt_batch_order_key gives, from the header's batch_cursor on (a visit
 * a stop cut on the CPU continues there; the cursor is 0 afterwards), asynchronously on the
 * slot's stream: one
 * optimizer step each for the gradient families (logistic, mlp, linear with solver sgd), the
 * family's own update for kmeans (Sculley's mini-batch update, dead-centre re-seeding) and linear
 * exact (sufficient statistics in double, in the CPU's aux layout; the solve, the family's
 * `finish`, stays on the host). Same semantics as the CPU, divergence included: a non-finite
 * batch loss sets the header's diverged flag on the device and every later update is skipped;
 * pass_loss_sum becomes NaN. Does not touch position / pass (see rt_cuda_finish_visit). A kind
 * without CUDA kernels: RT_ERR_CONFIG, nothing issued. */
rt_code rt_cuda_integrate_shard(rt_cuda_slot *slot, const rt_model_spec *spec,
                                const rt_cuda_shard *shard, uint64_t shard_index, rt_status *st);
/* The same for the members of a group visit, each on its own slot (their streams overlap): a
 * streamed shard's batches are read from the host and copied to the device once for all of them
 * (the feed of slots[0], cuda/feed.cu), so the members must share the batch order and cursor. */
rt_code rt_cuda_integrate_members(rt_cuda_slot *const *slots, const rt_model_spec *const *specs,
                                  size_t m, const rt_cuda_shard *shard, uint64_t shard_index,
                                  rt_status *st);
/* A hook the slot's feed calls, with user, before each batch it reads (a streamed or LIBSVM
 * shard: the host waits there for the device), so that the caller's engine can answer the
 * watchdog meanwhile; its result is ignored. NULL: none (the default). */
void rt_cuda_slot_between(rt_cuda_slot *slot, int (*between)(void *), void *user);

/* The header bookkeeping the engine does after a visit (src/engine/engine.c serve()), on the device and
 * in the mirror: position += 1; when it reaches `shards`, history[pass] = pass_loss_sum /
 * pass_loss_rows (0 when no rows), the pass sums are reset, position = 0 and pass += 1, and
 * the family's pass end (kmeans Lloyd steps) runs on the device. *model_done = 1 when pass
 * reached spec->passes. */
rt_code rt_cuda_finish_visit(rt_cuda_slot *slot, const rt_model_spec *spec, uint64_t shards,
                             int *model_done, rt_status *st);

/* Adds the family's evaluation sums of the slot's state over a device shard into
 * sums[RT_EVAL_SUMS]: exactly the sums the CPU's eval_rows produces (logistic / mlp
 * classification: log-loss, correct predictions; linear / mlp regression: sum of squared errors,
 * of absolute errors, of y, of y^2; kmeans: squared distances to the nearest centre, rows), in
 * chunks of the slot's max_batch_rows rows with a fixed reduction order, so the result is
 * reproducible (it agrees with the CPU's row-order sums to rounding). Synchronous. */
rt_code rt_cuda_evaluate_shard(rt_cuda_slot *slot, const rt_model_spec *spec,
                               const rt_cuda_shard *shard, double *sums, rt_status *st);

/* ---- Fused groups ---------------------------------------------------------------------------- */

/* The members of a group visit (src/engine/groups.h) integrated together, with a constant number
 * of launches per batch whatever the group size (cuda/group.cu says how): logistic, linear with
 * solver sgd, k-means and MLP. */
typedef struct rt_cuda_group rt_cuda_group;

/* The most members one context holds: its kernels put the members on the grid's y dimension,
 * which CUDA limits to 65,535 blocks. A larger group is split into parts of at most this many
 * (src/engine/cuda_parts.c). */
#define RT_CUDA_GROUP_MAX_MEMBERS ((size_t)65535)

/* 1 when the kind of `spec` has fused group kernels. */
int rt_cuda_group_fusable(const rt_model_spec *spec);
/* 1 when specs[0..m) can share a context: one fusable kind, the same parameter layout (a config
 * group's members, unless linear ones differ in fit_intercept or k-means ones in k or in having
 * Lloyd passes). */
int rt_cuda_group_uniform(const rt_model_spec *const *specs, size_t m);

/* Device bytes of a context for the group specs[0..m) (members of one config group, fusable) whose
 * visits have at most max_batches batches (rt_cuda_check_fits before creating it). */
size_t rt_cuda_group_bytes(const rt_model_spec *const *specs, size_t m, size_t max_batches);
rt_code rt_cuda_group_create(const rt_model_spec *const *specs, size_t m, size_t max_batches,
                             rt_cuda_group **out, rt_status *st);
void rt_cuda_group_free(rt_cuda_group *g);
/* 1 when context g serves visits of the group specs[0..m) (uniform, as rt_cuda_group_create needs)
 * of at most max_batches batches: as many members or fewer than it was made for, the same batch
 * size, features and outputs, member states no larger than its stride. 0 for NULL. */
int rt_cuda_group_fits(const rt_cuda_group *g, const rt_model_spec *const *specs, size_t m,
                       size_t max_batches);
/* rt_cuda_input_missing_bytes of the context's input buffer for the group whose first member is
 * `lead` (the members share their view and scaling). */
size_t rt_cuda_group_input_missing_bytes(const rt_cuda_group *g, const rt_model_spec *lead,
                                         const struct rt_scaling *shards_scaled);

/* One visit of m members (any members of the group it was created for, at most that many, at the
 * same cursor: pass, position, batch_cursor) over the device shard `shard` (logical index
 * shard_index), from the cursor on, in the order rt_batch_order_key gives: the host states go to
 * the device through pinned staging (one copy for all), every batch is a constant number of
 * launches for the whole group (logistic: two product launches, four kernels; k-means 5
 * to 7), and the states come back. Synchronous: on
 * return states[] hold the result, cursor 0, with the CPU's semantics (divergence, counters). */
rt_code rt_cuda_group_integrate(rt_cuda_group *g, const rt_model_spec *const *specs,
                                void *const *states, size_t m, const rt_cuda_shard *shard,
                                uint64_t shard_index, rt_status *st);
/* The same in two halves: start issues everything (the host states are read at once; they must
 * stay valid and untouched until query has said done), query looks without waiting and, once the
 * device is done, writes the states back (*done = 1). One visit in flight per context. */
rt_code rt_cuda_group_start(rt_cuda_group *g, const rt_model_spec *const *specs,
                            void *const *states, size_t m, const rt_cuda_shard *shard,
                            uint64_t shard_index, rt_status *st);
rt_code rt_cuda_group_query(rt_cuda_group *g, int *done, rt_status *st);
/* Waits for the visit in flight on g, if any, and writes its states back as query does (the
 * device work only: no peer is involved). *waited = 1 when there was one. With a hook set
 * (rt_cuda_group_between) it polls and calls the hook between polls instead of blocking. */
rt_code rt_cuda_group_wait(rt_cuda_group *g, int *waited, rt_status *st);
/* Whether a visit's batches go to the device as one CUDA Graph (captured, then updated in place
 * from visit to visit when the shape allows) instead of one launch at a time. Default: on, unless
 * the environment variable RINGTRAIN_CUDA_GRAPHS is 0, off, false or no at creation (an H200 ran
 * the 64-softmax sweep 1.6x faster with graphs, the same model files: docs/BENCHMARKS.md). Never
 * for a visit over a streamed or LIBSVM shard (issued batch by batch). A context whose capture
 * fails goes on launch by launch. Both give the same bytes (tests/gpu/test_gpu_groups.c). */
void rt_cuda_group_use_graphs(rt_cuda_group *g, int on);
/* rt_cuda_slot_between for the context's slot (its fed visits, and rt_cuda_group_wait's polls). */
void rt_cuda_group_between(rt_cuda_group *g, int (*between)(void *), void *user);

/* ---- NCCL transport -------------------------------------------------------------------------- */

/* NCCL communicators spanning the ranks of an MPI communicator, and the failure handling around
 * them; the design (non-blocking communicators, failure notices, abort before agreement) is at the
 * top of rt_nccl.cu. Not yet a transport of the one engine (src/engine/engine.c hands states off
 * with MPI from host memory); tests/gpu/test_gpu_nccl.c exercises it. */
typedef struct rt_nccl rt_nccl;

/* Collective over `comm`: `comms` non-blocking NCCL communicators, all spanning the ranks of comm,
 * then a warm-up exchange with the ring neighbours on each (connection setup happens here, not in
 * the first timed hand-off). The caller has made this rank's device current (each rank a different
 * physical GPU: rt_cuda_choose_device). watchdog_s > 0: a wait of this layer that sees no progress
 * for that long fails with RT_ERR_TIMEOUT (run.timeout). Every rank gets the same outcome: a
 * failing rank aborts its communicators and tells the others, who stop waiting, and the error of
 * the lowest failing rank is agreed (src/engine/fail_watch.h). */
rt_code rt_nccl_init(MPI_Comm comm, int comms, double watchdog_s, rt_nccl **out, rt_status *st);

/* One hand-off on communicator `comm_index`, issued on `stream` (a cudaStream_t): send send_bytes
 * of send_buf to rank `to` and receive recv_bytes into recv_buf from rank `from`, both inside one
 * ncclGroupStart/End. to / from = -1: that side is absent. The peer must issue the matching call on
 * the same communicator index, and every rank must issue the operations of one communicator in
 * the same order. Asynchronous: the data is there when the stream has reached this point. Outside
 * an outer group (rt_nccl_group_start) it returns once NCCL has enqueued the transfers. */
rt_code rt_nccl_handoff(rt_nccl *nccl, int comm_index, void *send_buf, size_t send_bytes, int to,
                        void *recv_buf, size_t recv_bytes, int from, void *stream, rt_status *st);

/* An outer NCCL group around several hand-offs (groups nest): nothing is launched before
 * rt_nccl_group_end, which returns once NCCL has enqueued everything (polling: the host never
 * blocks inside NCCL); work that must follow the transfers in stream order is issued after it. */
rt_code rt_nccl_group_start(rt_status *st);
rt_code rt_nccl_group_end(rt_nccl *nccl, rt_status *st);

/* Non-blocking: an asynchronous NCCL error of any communicator (a network failure) or a failure
 * notice from another rank (RT_ERR_PEER). */
rt_code rt_nccl_poll(rt_nccl *nccl, rt_status *st);

/* Waits until everything issued on `stream` so far has finished, polling meanwhile for NCCL
 * errors, the other ranks' failure notices and the watchdog (`what` names the wait in its
 * message: "the hand-offs after round 3"): a cudaStreamSynchronize could wait forever for a
 * transfer whose peer failed. nccl NULL (one rank): a plain synchronisation. */
rt_code rt_nccl_wait_stream(rt_nccl *nccl, void *stream, const char *what, rt_status *st);

int rt_nccl_comms(const rt_nccl *nccl);

/* The first step of a failing rank's error path, before anything waits for its streams: tells the
 * other ranks (unless rc is RT_ERR_PEER: then it only learnt of another rank's failure) and aborts
 * the communicators, so that NCCL's kernels on this rank quit and its streams drain. Later calls do
 * nothing; nccl may be NULL. */
void rt_nccl_fail(rt_nccl *nccl, rt_code rc);

/* Collective end of the NCCL phase, reached by every rank (also after errors): rt_nccl_fail when rc
 * is an error, then the agreement on the outcome (a failing rank's own error; RT_ERR_PEER naming it
 * on the others, or the same input error everywhere), then finalize and destroy the communicators
 * (agreed success) or abort them (failure), and free. Returns the agreed code. nccl NULL: rc. */
rt_code rt_nccl_close(rt_nccl *nccl, rt_code rc, rt_status *st);

#ifdef __cplusplus
}
#endif
#endif
