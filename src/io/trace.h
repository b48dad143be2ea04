/* The trace recorder behind run.trace (`ringtrain train --trace`): a profiling sink
 * (include/ringtrain/profile.h) that keeps every rank's events in a bounded ring buffer, gathers
 * them to rank 0 with the ranks' clocks aligned, pairs the hand-offs, and writes
 * RUN_DIR/trace.json in the Chrome trace event format (Perfetto, chrome://tracing,
 * scripts/plot.py --timeline).
 *
 * Recording. Each rank keeps up to `events_per_rank` events (24 bytes each) in a ring buffer
 * allocated at the start. When it is full the OLDEST event is overwritten: the trace keeps the
 * most recent events (the end of the run is always there), and every overwritten event is
 * counted as dropped; nothing fails and nothing grows. Recording costs one clock_gettime and a
 * 24-byte store per event; with tracing off no sink is installed and the call sites cost the
 * flag check of profile.h only. Events may come from any thread (the slot is claimed with an
 * atomic add), but ranges pair per rank, so only one thread per rank should emit ranges (both
 * engines emit from the training thread).
 *
 * Clocks. The events carry CLOCK_MONOTONIC nanoseconds of their rank. At the start and at every
 * collection rank 0 measures each rank's offset with 10 MPI ping-pongs (rank 0's clock before
 * and after, the rank's clock in between) and keeps the sample with the smallest round trip:
 * offset = t_rank - (t0_before + rtt / 2), off by at most rtt / 2. An event's time on rank 0's
 * clock is its time minus the offset, interpolated linearly between the measurements (drift
 * between nodes), held constant before the first and after the last. A measurement whose round
 * trip is over twice the best one of that rank plus 10 us is left out (a rank descheduled during
 * the ping-pong on a loaded node: its offset is off by up to half that round trip).
 *
 * Hand-offs. The CPU engine marks RT_PHASE_SEND on the sender just before MPI_Isend and
 * RT_PHASE_RECEIVE on the receiver when it sees the model arrive, both with the model, the
 * 1-based pass and the shard the model travels to. Rank 0 pairs them by (model, pass, shard),
 * in time order within equal keys: a model visits each shard once per pass, so this is the k-th
 * send of model j with the k-th receive of model j, and it stays right when the oldest events of
 * one rank were dropped. A pair's latency is receive time - send time on the aligned clocks
 * (clamped at 0): time on the wire plus the receiver's delay in noticing (it polls between shard
 * visits). Marks whose other end was dropped are counted as unpaired and get no flow.
 *
 * trace.json: {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}.
 *  - pid = rank, with process_name "rank N" (and process_sort_index N); within it one track per
 *    model, tid = model id (the index in the config's models list), thread_name "model N", and
 *    one track for what the rank does for no model in particular, tid = the number of models,
 *    thread_name "rank N".
 *  - Complete events ("ph": "X"; ts and dur in microseconds, 3 decimals, from the earliest
 *    event), name = cat = the phase: "load", "integrate", "evaluate", "checkpoint", "write" from
 *    the ranges, "receive-wait" for the RT_PHASE_RECEIVE range of an idle rank (model -1), and
 *    from the marks: "send" on the sender's model track, from the send to the paired receive
 *    (the hand-off latency; 0 long when unpaired), args "to"; "receive" on the receiver's model
 *    track, from the model's arrival to its next range on that rank (queued until integrated),
 *    args "from". args carry "model", "pass" (1-based) and "shard" where they apply. An
 *    "integrate" slice is a group visit (rt_prof_begin_group): the members of a model group
 *    integrating every batch together, on the track of the first member in the visit ("model"),
 *    with args "members" (the count; 1 for a group of one, every visit with run.fuse off; the
 *    other members' tracks have no slice for it). "final"
 *    is a range on the rank's track (waiting for final states after its last visit) and an
 *    instant ("ph": "i") on a model's track where the model finished and its final state left.
 *  - One flow per paired hand-off: "ph": "s" on the sender (inside its "send" slice) and
 *    "ph": "f", "bp": "e" on the receiver (inside its "receive" slice), "cat": "handoff", the same
 *    "id", "name": "model N".
 *  - otherData: version, clock method, ranks, models, events (kept, all ranks), events_dropped
 *    and events_dropped_per_rank, events_per_rank_cap, overflow_policy "drop_oldest", handoffs
 *    (flows), handoffs_unpaired, ranges_unpaired (an end whose begin was dropped, or the
 *    reverse), clock_offsets_ns and clock_rtt_ns per rank (first and last measurement).
 * Rank 0 holds every collected event until the trace is written: ranks x events x 24 bytes. */
#ifndef RINGTRAIN_TRACE_H
#define RINGTRAIN_TRACE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtrain/status.h"

typedef struct rt_trace rt_trace;

/* Totals over what rank 0 has collected. */
typedef struct rt_trace_totals {
  uint64_t events;   /* kept, all ranks */
  uint64_t dropped;  /* overwritten (or cut to fit the gather), all ranks */
  uint64_t handoffs; /* paired send and receive marks: the flows */
  uint64_t unpaired; /* send or receive marks without their other end */
} rt_trace_totals;

/* Collective over comm. Allocates this rank's ring of events_per_rank events (agreed: an
 * allocation failure on any rank fails every rank), duplicates comm, measures the clock offsets
 * and installs the sink. model_count: the models of the run (model ids are below it). On
 * failure *out is NULL and no sink is installed. */
rt_code rt_trace_start(MPI_Comm comm, size_t events_per_rank, size_t model_count, rt_trace **out,
                       rt_status *st);

/* Collective. Measures the clock offsets again and moves every rank's events recorded since the
 * start or the last collection to rank 0 (MPI_Gatherv), emptying the rings. Call it while no
 * thread emits events. */
rt_code rt_trace_collect(rt_trace *t, rt_status *st);

/* Rank 0: the hand-off latencies of what has been collected, in seconds: model_wire[id] += each
 * paired hand-off of model id (model_count entries), and per sending rank (ranks entries) the
 * count, sum and maximum. Any pointer may be NULL. totals gets the counts. */
rt_code rt_trace_latencies(const rt_trace *t, double *model_wire, uint64_t *rank_count,
                           double *rank_sum, double *rank_max, rt_trace_totals *totals,
                           rt_status *st);

/* Rank 0: writes trace.json to path atomically (rt_atomic_*); totals (may be NULL) as above. */
rt_code rt_trace_write(const rt_trace *t, const char *path, rt_trace_totals *totals, rt_status *st);

/* The cap given to rt_trace_start. */
size_t rt_trace_capacity(const rt_trace *t);

/* Uninstalls the sink and frees everything (local; t may be NULL). */
void rt_trace_free(rt_trace *t);

#endif
