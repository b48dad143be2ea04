/* The NCCL transport (cuda/rt_nccl.cu) on one process (the ctest entry: an MPI singleton, one GPU)
 * or on one rank per GPU (tests/gpu/test_gpu_nccl_2gpu.sh):
 *  1. ring hand-off: every rank builds the state of model `rank` (values each rank can compute for
 *     any model id), sends it to the next rank and receives from the previous one inside one group,
 *     on communicator 1 of 2, then checks that it holds exactly the state of model `rank - 1` (on
 *     one process a send to self);
 *  2. watchdog: a stream held busy by a host function for 3 s; rt_nccl_wait_stream with a 0.5 s
 *     watchdog gives RT_ERR_TIMEOUT naming the wait, and rt_nccl_close agrees on it (the other
 *     ranks get RT_ERR_PEER naming rank 0) without waiting for the stream;
 *  3. (2 ranks or more) a failing peer: rank 0 waits for a receive from the last rank, which fails
 *     instead of sending. Rank 0's wait must end with RT_ERR_PEER within seconds, every rank must
 *     leave rt_nccl_close (abort first, then the agreement) with the failing rank's error (its own
 *     code there, RT_ERR_PEER naming it elsewhere), and rank 0's stream must drain once its
 *     communicator is aborted.
 * Exits 77 (ctest: skipped) when no CUDA device is usable; the device check comes before MPI_Init,
 * so a machine without a GPU needs no working MPI either. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <mpi.h>

#include "backend_select.h"
#include "gpu_test.h"
#include "model.h"
#include "rt_cuda.h"

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != RT_OK) {                                                       \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, st.message); \
      failed = 1;                                                                \
      goto done;                                                                 \
    }                                                                            \
  } while (0)

#define EXPECT(cond, ...)                                            \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                                  \
      fputc('\n', stderr);                                           \
      failed = 1;                                                    \
    }                                                                \
  } while (0)

static rt_model_spec make_spec(uint64_t id) {
  rt_model_spec s = gt_spec("logistic", id, 300, 7, 8, 2, 10, 5, 3);
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.01;
  return s;
}

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Keeps a stream busy: a host function in it that sleeps. */
static void CUDART_CB hold_stream(void *seconds) { sleep_seconds(*(const double *)seconds); }

static int ring(int rank, int ranks, int device) {
  rt_status st;
  rt_status_clear(&st);
  int failed = 0;
  rt_nccl *nccl = NULL;
  rt_cuda_slot *a = NULL, *b = NULL;
  void *state = NULL, *expected = NULL, *back = NULL;
  size_t bytes = 0;
  const int next = (rank + 1) % ranks, prev = (rank + ranks - 1) % ranks;
  const rt_model_spec spec = make_spec((uint64_t)rank), prev_spec = make_spec((uint64_t)prev);
  CHECK(rt_nccl_init(MPI_COMM_WORLD, 2, 0.0, &nccl, &st));
  if (rt_nccl_comms(nccl) != 2) {
    fprintf(stderr, "rt_nccl_comms: %d, expected 2\n", rt_nccl_comms(nccl));
    failed = 1;
    goto done;
  }
  CHECK(rt_state_create(&spec, &state, &bytes, &st));
  CHECK(rt_state_create(&prev_spec, &expected, &bytes, &st));
  back = calloc(1, bytes);
  if (!back) {
    fprintf(stderr, "out of memory\n");
    failed = 1;
    goto done;
  }
  CHECK(rt_cuda_slot_create(bytes, 8, 300, 7, rt_cuda_work_floats(&spec, 8), &a, &st));
  CHECK(rt_cuda_slot_create(bytes, 8, 300, 7, rt_cuda_work_floats(&spec, 8), &b, &st));
  CHECK(rt_cuda_state_upload(a, state, bytes, &st));
  /* Slot a's state to the next rank's slot b, through communicator 1, on slot a's stream. */
  CHECK(rt_nccl_handoff(nccl, 1, rt_cuda_slot_state(a), bytes, next, rt_cuda_slot_state(b), bytes,
                        prev, rt_cuda_slot_stream(a), &st));
  CHECK(rt_nccl_wait_stream(nccl, rt_cuda_slot_stream(a), "the ring hand-off", &st));
  CHECK(rt_nccl_poll(nccl, &st));
  CHECK(rt_cuda_state_adopt(b, bytes, &st));
  if (memcmp(rt_cuda_slot_header(b), expected, sizeof(rt_state_header)) != 0) {
    fprintf(stderr, "the adopted header differs from the one sent\n");
    failed = 1;
    goto done;
  }
  CHECK(rt_cuda_state_download(b, back, bytes, &st));
  CHECK(rt_cuda_slot_sync(b, &st));
  if (memcmp(back, expected, bytes) != 0) {
    fprintf(stderr,
            "rank %d: the state received from rank %d differs from model %d's (%zu bytes)\n", rank,
            prev, prev, bytes);
    failed = 1;
    goto done;
  }
  /* On one rank a lone send to self is refused by NCCL, so the one-sided forms are exercised only
   * as far as argument checks and the empty hand-off. */
  if (rt_nccl_handoff(nccl, 2, NULL, 0, -1, NULL, 0, -1, rt_cuda_slot_stream(a), &st) !=
      RT_ERR_INTERNAL) {
    fprintf(stderr, "communicator index 2 of 2 was accepted\n");
    failed = 1;
    goto done;
  }
  CHECK(rt_nccl_handoff(nccl, 0, NULL, 0, -1, NULL, 0, -1, rt_cuda_slot_stream(a), &st));
  CHECK(rt_cuda_slot_sync(a, &st));
  printf("rank %d: NCCL ring hand-off of %zu bytes from rank %d on device %d: ok\n", rank, bytes,
         prev, device);
done:
  rt_cuda_slot_free(a);
  rt_cuda_slot_free(b);
  {
    const rt_code closed = rt_nccl_close(nccl, failed ? RT_ERR_INTERNAL : RT_OK, &st);
    if (!failed && closed != RT_OK) {
      fprintf(stderr, "rank %d: rt_nccl_close: %s\n", rank, st.message);
      failed = 1;
    }
  }
  rt_state_free(state);
  rt_state_free(expected);
  free(back);
  return failed;
}

static int watchdog(int rank) {
  rt_status st;
  rt_status_clear(&st);
  int failed = 0;
  rt_nccl *nccl = NULL;
  void *stream = NULL;
  static const double held = 3.0;
  CHECK(rt_nccl_init(MPI_COMM_WORLD, 1, 0.5, &nccl, &st));
  CHECK(rt_cuda_stream_create(&stream, &st));
  rt_code rc = RT_OK;
  const double t0 = MPI_Wtime();
  if (rank == 0) {
    if (cudaLaunchHostFunc((cudaStream_t)stream, hold_stream, (void *)&held) != cudaSuccess) {
      fprintf(stderr, "cudaLaunchHostFunc failed\n");
      failed = 1;
    }
    rc = rt_nccl_wait_stream(nccl, stream, "a stream held by a host function", &st);
    EXPECT(rc == RT_ERR_TIMEOUT, "the wait ended with %s (%s), expected RT_ERR_TIMEOUT",
           rt_code_name(rc), st.message);
    EXPECT(strstr(st.message, "watchdog: rank 0 waited") &&
               strstr(st.message, "a stream held by a host function"),
           "watchdog message: %s", st.message);
    EXPECT(MPI_Wtime() - t0 < held - 1.0, "the watchdog fired after %.1f s", MPI_Wtime() - t0);
  }
  rc = rt_nccl_close(nccl, rc, &st);
  nccl = NULL;
  if (rank == 0) EXPECT(rc == RT_ERR_TIMEOUT, "close gave %s: %s", rt_code_name(rc), st.message);
  else
    EXPECT(rc == RT_ERR_PEER && strstr(st.message, "rank 0 failed: watchdog"), "close gave %s: %s",
           rt_code_name(rc), st.message);
  if (!failed) printf("rank %d: watchdog and its agreement: ok\n", rank);
done:
  (void)rt_nccl_close(nccl, RT_ERR_INTERNAL, &st);
  if (stream) {
    (void)rt_cuda_stream_sync(stream, &st); /* the host function ends on its own */
    rt_cuda_stream_destroy(stream);
  }
  return failed;
}

static int failing_peer(int rank, int ranks) {
  rt_status st;
  rt_status_clear(&st);
  int failed = 0;
  rt_nccl *nccl = NULL;
  void *stream = NULL;
  unsigned char *buf = NULL;
  const int failing = ranks - 1; /* rank 0's ring neighbour: the warmed-up path */
  CHECK(rt_nccl_init(MPI_COMM_WORLD, 1, 60.0, &nccl, &st));
  CHECK(rt_cuda_stream_create(&stream, &st));
  if (cudaMalloc((void **)&buf, 64) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    failed = 1;
    goto done;
  }
  const double t0 = MPI_Wtime();
  rt_code rc = RT_OK;
  if (rank == 0) {
    rc = rt_nccl_handoff(nccl, 0, NULL, 0, -1, buf, 64, failing, stream, &st);
    if (rc == RT_OK) rc = rt_nccl_wait_stream(nccl, stream, "a receive whose sender fails", &st);
    EXPECT(rc == RT_ERR_PEER, "rank 0's wait ended with %s (%s), expected RT_ERR_PEER",
           rt_code_name(rc), st.message);
  } else if (rank == failing) {
    sleep_seconds(1.0); /* rank 0 is waiting by now */
    rc = rt_fail(&st, RT_ERR_INTERNAL, "injected failure on rank %d", rank);
  }
  rc = rt_nccl_close(nccl, rc, &st);
  nccl = NULL;
  const double took = MPI_Wtime() - t0;
  char expected[64];
  snprintf(expected, sizeof expected, "rank %d failed: injected failure on rank %d", failing,
           failing);
  if (rank == failing)
    EXPECT(rc == RT_ERR_INTERNAL && strstr(st.message, "injected failure"), "close gave %s: %s",
           rt_code_name(rc), st.message);
  else
    EXPECT(rc == RT_ERR_PEER && strstr(st.message, expected), "close gave %s: %s", rt_code_name(rc),
           st.message);
  EXPECT(took < 30.0, "the error path took %.1f s", took);
  /* The aborted receive no longer holds the stream. */
  CHECK(rt_cuda_stream_sync(stream, &st));
  if (!failed) printf("rank %d: failure of rank %d agreed in %.1f s: ok\n", rank, failing, took);
done:
  (void)rt_nccl_close(nccl, RT_ERR_INTERNAL, &st);
  if (buf) (void)cudaFree(buf);
  rt_cuda_stream_destroy(stream);
  return failed;
}

int main(int argc, char **argv) {
  const int start = gpu_test_start();
  if (start != 0) return start;
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "MPI_Init failed\n");
    return 1;
  }
  rt_status st;
  rt_status_clear(&st);
  int rank = -1, ranks = 1, device = -1, failed = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  char problem[512];
  if (rt_cuda_choose_device(MPI_COMM_WORLD, &device, problem, sizeof problem, &st) != RT_OK) {
    fprintf(stderr, "rank %d: rt_cuda_choose_device: %s\n", rank, st.message);
    failed = 1;
  } else if (problem[0]) {
    fprintf(stderr, "%s\n", problem);
    failed = 1;
  }
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (!any) {
    failed |= ring(rank, ranks, device);
    failed |= watchdog(rank);
    if (ranks >= 2) failed |= failing_peer(rank, ranks);
    else printf("rank 0: the failing-peer check needs 2 GPUs (one rank each): not run\n");
  }
  MPI_Finalize();
  return failed || any;
}
