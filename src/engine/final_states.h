/* Final states on the move: when a model finishes its last visit of an engine call, the rank
 * where it finished sends its state to every other rank at once (non-blocking), and every rank
 * receives the states it expects whenever it polls, while other models still train.
 *
 * The messages travel on a duplicate of the ring's communicator (tag = the model's index in the
 * call), so they can never match a hand-off or a stop notice. A receiver does not post receives
 * ahead: it probes (MPI_Improbe) and receives what has come (MPI_Imrecv) into a fresh buffer of
 * the size it expects from that rank, so a poll costs one probe plus a test of the transfers in
 * flight, whatever the number of models. A state and its buffer belong to the sender until
 * every send of it has completed (rt_final_states_complete). */
#ifndef RINGTRAIN_FINAL_STATES_H
#define RINGTRAIN_FINAL_STATES_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtrain/status.h"

typedef struct rt_final_states {
  MPI_Comm comm; /* final states only; MPI_COMM_NULL until opened */
  int rank, ranks;
  size_t count;
  size_t *want;    /* [count]: bytes of model j's state expected from rank from[j]; 0: none */
  int *from;       /* [count] */
  void **in;       /* [count]: states received (complete), NULL until then */
  size_t expected; /* states this rank still expects (want > 0, not yet complete) */
  /* transfers in flight: receives (model < count) and sends (model + count) */
  MPI_Request *req;
  size_t *req_model;
  int *done; /* scratch for MPI_Testsome */
  size_t len, cap;
  uint64_t states_sent, states_received;
  double bytes_sent, bytes_received;
} rt_final_states;

/* Collective over comm (it duplicates it). count: the models of the call. */
rt_code rt_final_states_open(rt_final_states *f, MPI_Comm comm, size_t count, rt_status *st);

/* Model j will finish on rank `from` (not this one) with a state of `bytes` bytes. */
void rt_final_states_expect(rt_final_states *f, size_t j, int from, size_t bytes);

/* Model j will not send its state after all (a stop cut the call short). RT_ERR_INTERNAL when it
 * has arrived or is arriving. */
rt_code rt_final_states_forget(rt_final_states *f, size_t j, rt_status *st);

/* Model j finished here: its state starts towards every other rank. state must stay untouched
 * until rt_final_states_complete. */
rt_code rt_final_states_send(rt_final_states *f, size_t j, const void *state, size_t bytes,
                             rt_status *st);

/* Receives what has come and completes what has gone; *progressed (may be NULL) is set when a
 * transfer started or completed. Errors: a message this rank does not expect (RT_ERR_INTERNAL),
 * MPI failures, no memory. */
rt_code rt_final_states_poll(rt_final_states *f, int *progressed, rt_status *st);

/* Every expected state is here and every send has completed. */
int rt_final_states_complete(const rt_final_states *f);

/* Model j's received state (the caller owns it now, RT_STATE_ALIGN-aligned; free()), or NULL. */
void *rt_final_states_take(rt_final_states *f, size_t j);

/* The earliest model still expected (count when none), and the rank it comes from: what a
 * watchdog names. */
size_t rt_final_states_awaited(const rt_final_states *f, int *from);

/* Releases everything. Transfers still in flight (only after an error, when the job is being
 * ended) are left to MPI with their buffers, which are not freed. */
void rt_final_states_close(rt_final_states *f);

#endif
