/* Test tool: loads a config's data as the engine does and prints, for every shard this rank owns,
 * its row counts and the SHA-256 of its training and validation rows, plus the rows this rank
 * holds in all. Used to show that shard contents depend only on the file and S, never on the
 * number of ranks, and that no rank holds the whole dataset. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "ringtrain/hash.h"
#include "schedule.h"

static void digest(const rt_shard *sh, char hex[65]) {
  uint8_t d[32];
  rt_status st;
  size_t n = sh->rows * sh->features * sizeof(float), m = sh->y ? sh->rows * sizeof(float) : 0;
  unsigned char *buf = malloc(n + m + 1);
  if (!buf) abort();
  if (n) memcpy(buf, sh->x, n);
  if (m) memcpy(buf + n, sh->y, m);
  if (rt_sha256(buf, n + m, d, &st) != RT_OK) abort();
  free(buf);
  rt_hex(d, 32, hex);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  rt_config cfg;
  rt_config_defaults(&cfg);
  rt_status st;
  rt_dataset ds;
  if (argc != 2 || rt_config_load(argv[1], &cfg, &st) != RT_OK ||
      rt_config_validate(&cfg, &st) != RT_OK ||
      rt_dataset_load(&cfg, 1, MPI_COMM_WORLD, &ds, &st) != RT_OK) {
    fprintf(stderr, "shard_digest: %s\n", argc == 2 ? st.message : "usage: shard_digest CONFIG");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  unsigned long long held = 0, total = 0;
  for (size_t s = 0; s < ds.shards; ++s) {
    total += ds.train_rows[s] + ds.val_rows[s];
    if (rt_shard_owner(s, ds.shards, ds.ranks) != rank) {
      if (ds.train[s].rows || ds.val[s].rows)
        printf("ERROR rank %d holds rows of shard %zu\n", rank, s);
      continue;
    }
    char a[65], b[65];
    digest(&ds.train[s], a);
    digest(&ds.val[s], b);
    held += ds.train[s].rows + ds.val[s].rows;
    printf("shard %zu train %zu %s validation %zu %s\n", s, ds.train[s].rows, a, ds.val[s].rows, b);
  }
  fprintf(stderr, "rank %d holds %llu of %llu rows\n", rank, held, total);
  rt_dataset_free(&ds);
  rt_config_free(&cfg);
  MPI_Finalize();
  return 0;
}
