/* NCCL ring hand-off. Every rank builds the state of model `rank` (values each rank can compute
 * for any model id), sends it to the next rank and receives from the previous one inside one
 * group, then checks that it holds exactly the state of model `rank - 1`. On one process (an MPI
 * singleton, the ctest entry) that is a send to self; tests/gpu/test_gpu_nccl_ring.sh runs it on
 * one rank per GPU. Exits 77 (ctest: skipped) when no CUDA device is visible; the device check
 * comes before MPI_Init, so a machine without a GPU needs no working MPI either. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "model.h"
#include "rt_cuda.h"

#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != RT_OK) {                                                     \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, st.message); \
      failed = 1;                                                              \
      goto done;                                                               \
    }                                                                          \
  } while (0)

static rt_model_spec make_spec(uint64_t id) {
  rt_model_spec s;
  memset(&s, 0, sizeof s);
  strcpy(s.hp.kind, "logistic");
  s.id = id;
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.01;
  s.hp.beta1 = 0.9;
  s.hp.beta2 = 0.999;
  s.hp.epsilon = 1e-8;
  s.hp.batch_size = 8;
  s.problem.features = 300;
  s.problem.classes = 7;
  s.seed = 5;
  s.passes = 3;
  s.shards = 2;
  s.total_batches = 10;
  return s;
}

int main(int argc, char **argv) {
  rt_status st;
  rt_status_clear(&st);
  int count = 0;
  if (rt_cuda_device_count(&count, &st) != RT_OK) {
    fprintf(stderr, "rt_cuda_device_count: %s\n", st.message);
    return 1;
  }
  if (count == 0) {
    printf("SKIPPED: no CUDA device visible\n");
    return 77;
  }
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "MPI_Init failed\n");
    return 1;
  }
  int failed = 0, rank = -1, ranks = 1, device = -1, local_rank = -1;
  rt_nccl *nccl = NULL;
  rt_cuda_slot *a = NULL, *b = NULL;
  void *state = NULL, *expected = NULL, *back = NULL;
  size_t bytes = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const int next = (rank + 1) % ranks, prev = (rank + ranks - 1) % ranks;
  const rt_model_spec spec = make_spec((uint64_t)rank), prev_spec = make_spec((uint64_t)prev);
  CHECK(rt_cuda_local_rank(MPI_COMM_WORLD, &local_rank, &st));
  CHECK(rt_cuda_select_device(local_rank, &device, &st));
  CHECK(rt_nccl_init(MPI_COMM_WORLD, 2, &nccl, &st));
  if (rt_nccl_slots(nccl) != 2) {
    fprintf(stderr, "rt_nccl_slots: %d, expected 2\n", rt_nccl_slots(nccl));
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
  /* Slot a's state to the next rank's slot b, through slot 1's communicator, on slot a's stream. */
  CHECK(rt_nccl_handoff(nccl, 1, rt_cuda_slot_state(a), bytes, next, rt_cuda_slot_state(b), bytes,
                        prev, rt_cuda_slot_stream(a), &st));
  CHECK(rt_cuda_slot_sync(a, &st));
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
    fprintf(stderr, "rank %d: the state received from rank %d differs from model %d's (%zu bytes)\n",
            rank, prev, prev, bytes);
    failed = 1;
    goto done;
  }
  /* On one rank a lone send to self would wait forever for its receive, so the one-sided forms
   * are exercised only as far as argument checks and the empty hand-off. */
  if (rt_nccl_handoff(nccl, 2, NULL, 0, -1, NULL, 0, -1, rt_cuda_slot_stream(a), &st) != RT_ERR_INTERNAL) {
    fprintf(stderr, "slot index 2 of 2 was accepted\n");
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
  rt_nccl_free(nccl);
  rt_state_free(state);
  rt_state_free(expected);
  free(back);
  MPI_Finalize();
  return failed;
}
