/* rt_fail_watch_probe SCENARIO [RANK]: drives src/engine/fail_watch.h on the ranks it runs on and
 * prints one line per rank, "rank R: CODE_NAME: message", for tests/mpi/test_fail_watch.sh.
 * Scenarios:
 *   none       nobody fails;
 *   runtime R  rank R fails (RT_ERR_INTERNAL) while the others poll for notices, as a rank
 *              waiting for a transfer from it would;
 *   config R   the same with an input error (RT_ERR_CONFIG);
 *   two        rank 1 and the last rank fail (runtime) at about the same time;
 *   late R     rank R fails after the others have stopped polling and entered the agreement.
 * A polling rank that sees no notice within 20 s says so (the agreement then still ends it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "fail_watch.h"

static void sleep_seconds(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Polls like a rank waiting on a peer: until a notice arrives (RT_ERR_PEER) or 20 s pass. */
static rt_code wait_for_notice(rt_fail_watch *w, rt_status *st) {
  const double start = MPI_Wtime();
  while (MPI_Wtime() - start < 20.0) {
    const rt_code rc = rt_fail_watch_poll(w, st);
    if (rc != RT_OK) return rc;
    sleep_seconds(0.001);
  }
  return rt_fail(st, RT_ERR_TIMEOUT, "no failure notice arrived within 20 s");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: rt_fail_watch_probe none|runtime R|config R|two|late R\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const char *scenario = argv[1];
  const int who = argc > 2 ? atoi(argv[2]) : -1;
  rt_status st;
  rt_status_clear(&st);
  rt_fail_watch w;
  rt_code rc = rt_fail_watch_open(&w, MPI_COMM_WORLD, &st);
  if (rc != RT_OK) {
    printf("rank %d: open: %s: %s\n", rank, rt_code_name(rc), st.message);
    MPI_Finalize();
    return 1;
  }
  /* Before anything fails, polls find nothing. */
  if ((rc = rt_fail_watch_poll(&w, &st)) != RT_OK)
    printf("rank %d: early poll: %s\n", rank, st.message);
  MPI_Barrier(MPI_COMM_WORLD);
  const int failing = strcmp(scenario, "two") == 0 ? (rank == 1 || rank == ranks - 1) : rank == who;
  if (strcmp(scenario, "none") == 0) {
    rc = RT_OK;
  } else if (strcmp(scenario, "late") == 0) {
    if (failing) {
      sleep_seconds(0.3); /* the others are in the agreement by now */
      rc = rt_fail(&st, RT_ERR_INTERNAL, "late failure on rank %d", rank);
    }
  } else if (failing) {
    sleep_seconds(0.2); /* the others are polling by now */
    rc = strcmp(scenario, "config") == 0
             ? rt_fail(&st, RT_ERR_CONFIG, "bad input on rank %d", rank)
             : rt_fail(&st, RT_ERR_INTERNAL, "failure on rank %d", rank);
    rt_fail_watch_raise(&w); /* what rt_nccl_fail does first */
  } else {
    rc = wait_for_notice(&w, &st);
    if (rc != RT_ERR_PEER) printf("rank %d: waiting: %s: %s\n", rank, rt_code_name(rc), st.message);
  }
  rc = rt_fail_watch_agree(&w, rc, &st);
  const rt_code closed = rt_fail_watch_close(&w, &st);
  printf("rank %d: %s: %s\n", rank, rt_code_name(rc), rc == RT_OK ? "" : st.message);
  if (closed != RT_OK) printf("rank %d: close: %s\n", rank, st.message);
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
