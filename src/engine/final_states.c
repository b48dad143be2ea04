/* Final states on the move (final_states.h): non-blocking sends to every other rank as a model
 * finishes, probed receives wherever a rank polls. */
#include "final_states.h"

#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "model.h"

rt_code rt_final_states_open(rt_final_states *f, MPI_Comm comm, size_t count, rt_status *st) {
  memset(f, 0, sizeof *f);
  f->comm = MPI_COMM_NULL;
  f->count = count;
  const size_t n = count ? count : 1;
  f->want = calloc(n, sizeof *f->want);
  f->from = calloc(n, sizeof *f->from);
  f->in = calloc(n, sizeof *f->in);
  if (!f->want || !f->from || !f->in)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the final-state tables of %zu models",
                      count);
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &f->rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &f->ranks));
  RT_MPI_CHECK(st, MPI_Comm_dup(comm, &f->comm));
  return RT_OK;
}

/* In flight: receiving when its buffer is there but the transfer is not complete. A model's
 * entry in req_model is j for its receive and count + j for one of its sends. */
static int arriving(const rt_final_states *f, size_t j) {
  for (size_t i = 0; i < f->len; ++i)
    if (f->req_model[i] == j) return 1;
  return 0;
}

void rt_final_states_expect(rt_final_states *f, size_t j, int from, size_t bytes) {
  if (f->want[j] == 0 && bytes > 0) f->expected++;
  f->want[j] = bytes;
  f->from[j] = from;
}

rt_code rt_final_states_forget(rt_final_states *f, size_t j, rt_status *st) {
  if (f->want[j] == 0) return RT_OK;
  if (f->in[j])
    return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "the final state of model %zu came from rank %d, but it did not finish", j,
                      f->from[j]);
  f->want[j] = 0;
  f->expected--;
  return RT_OK;
}

static rt_code push(rt_final_states *f, MPI_Request req, size_t model, rt_status *st) {
  if (f->len == f->cap) {
    const size_t cap = f->cap ? 2 * f->cap : 64;
    MPI_Request *r = realloc(f->req, cap * sizeof *r);
    if (r) f->req = r;
    size_t *m = r ? realloc(f->req_model, cap * sizeof *m) : NULL;
    if (m) f->req_model = m;
    int *d = m ? realloc(f->done, cap * sizeof *d) : NULL;
    if (d) f->done = d;
    if (!d) {
      (void)MPI_Request_free(&req); /* the job is ending: this is an out-of-memory error */
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot track %zu final-state transfers", cap);
    }
    f->cap = cap;
  }
  f->req[f->len] = req;
  f->req_model[f->len] = model;
  f->len++;
  return RT_OK;
}

rt_code rt_final_states_send(rt_final_states *f, size_t j, const void *state, size_t bytes,
                             rt_status *st) {
  for (int r = 0; r < f->ranks; ++r) {
    if (r == f->rank) continue;
    MPI_Request req;
    RT_MPI_CHECK(st, MPI_Isend(state, (int)bytes, MPI_BYTE, r, (int)j, f->comm, &req));
    rt_code rc;
    RT_TRY(rc, push(f, req, f->count + j, st));
    f->states_sent++;
    f->bytes_sent += (double)bytes;
  }
  return RT_OK;
}

/* Starts receiving every final state that has come. */
static rt_code receive_arrivals(rt_final_states *f, int *progressed, rt_status *st) {
  for (;;) {
    int flag = 0, bytes = 0;
    MPI_Message msg;
    MPI_Status status;
    RT_MPI_CHECK(st, MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, f->comm, &flag, &msg, &status));
    if (!flag) return RT_OK;
    RT_MPI_CHECK(st, MPI_Get_count(&status, MPI_BYTE, &bytes));
    const size_t j = (size_t)status.MPI_TAG;
    if (j >= f->count || f->want[j] == 0 || f->in[j] || f->from[j] != status.MPI_SOURCE ||
        (size_t)bytes != f->want[j])
      return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                        "rank %d got an unexpected final state: model %d from rank %d, %d bytes",
                        f->rank, status.MPI_TAG, status.MPI_SOURCE, bytes);
    void *buf = aligned_alloc(RT_STATE_ALIGN,
                              (f->want[j] + RT_STATE_ALIGN - 1) / RT_STATE_ALIGN * RT_STATE_ALIGN);
    if (!buf)
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes for model %zu", f->want[j], j);
    MPI_Request req;
    const int mrc = MPI_Imrecv(buf, bytes, MPI_BYTE, &msg, &req);
    if (mrc != MPI_SUCCESS) {
      free(buf);
      return rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Imrecv(final state)");
    }
    f->in[j] = buf;
    rt_code rc;
    RT_TRY(rc, push(f, req, j, st));
    if (progressed) *progressed = 1;
  }
}

rt_code rt_final_states_poll(rt_final_states *f, int *progressed, rt_status *st) {
  rt_code rc = receive_arrivals(f, progressed, st);
  if (rc || f->len == 0) return rc;
  int n = 0;
  RT_MPI_CHECK(st, MPI_Testsome((int)f->len, f->req, &n, f->done, MPI_STATUSES_IGNORE));
  if (n == MPI_UNDEFINED || n == 0) return RT_OK;
  for (int i = 0; i < n; ++i) {
    const size_t m = f->req_model[f->done[i]];
    if (m < f->count) { /* a receive: the state is complete */
      f->expected--;
      f->states_received++;
      f->bytes_received += (double)f->want[m];
    }
  }
  size_t k = 0; /* keep the transfers still in flight, in order */
  for (size_t i = 0; i < f->len; ++i)
    if (f->req[i] != MPI_REQUEST_NULL) {
      f->req[k] = f->req[i];
      f->req_model[k++] = f->req_model[i];
    }
  f->len = k;
  if (progressed) *progressed = 1;
  return RT_OK;
}

int rt_final_states_complete(const rt_final_states *f) { return f->expected == 0 && f->len == 0; }

void *rt_final_states_take(rt_final_states *f, size_t j) {
  if (!f->in[j] || arriving(f, j)) return NULL;
  void *p = f->in[j];
  f->in[j] = NULL;
  return p;
}

size_t rt_final_states_awaited(const rt_final_states *f, int *from) {
  for (size_t j = 0; j < f->count; ++j)
    if (f->want[j] > 0 && (!f->in[j] || arriving(f, j))) {
      *from = f->from[j];
      return j;
    }
  return f->count;
}

void rt_final_states_close(rt_final_states *f) {
  for (size_t i = 0; i < f->len; ++i) {
    if (f->req_model[i] < f->count) f->in[f->req_model[i]] = NULL; /* MPI may still write into it */
    (void)MPI_Request_free(&f->req[i]);
  }
  for (size_t j = 0; f->in && j < f->count; ++j) free(f->in[j]);
  free(f->want);
  free(f->from);
  free(f->in);
  free(f->req);
  free(f->req_model);
  free(f->done);
  if (f->comm != MPI_COMM_NULL) (void)MPI_Comm_free(&f->comm);
  memset(f, 0, sizeof *f);
  f->comm = MPI_COMM_NULL;
}
