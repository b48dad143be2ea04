/* Node-local assignment of CUDA devices to ranks by physical identity (device_assign.h). */
#include "device_assign.h"

#include <stdio.h>
#include <string.h>

/* 1 when device `id` was taken by one of the first `upto` ranks of the node. */
static int taken(const rt_rank_devices *node, const int *choice, int upto, const char *id) {
  for (int r = 0; r < upto; ++r)
    if (choice[r] >= 0 && strncmp(node[r].ids[choice[r]], id, RT_DEVICE_ID_MAX) == 0) return 1;
  return 0;
}

int rt_device_assign(const rt_rank_devices *node, int local_ranks, int *choice) {
  int failed = -1;
  for (int r = 0; r < local_ranks; ++r) {
    choice[r] = -1;
    const int n = node[r].count < RT_NODE_DEVICES_MAX ? node[r].count : RT_NODE_DEVICES_MAX;
    if (n <= 0) continue;
    const int preferred = r % n;
    if (!taken(node, choice, r, node[r].ids[preferred])) {
      choice[r] = preferred;
      continue;
    }
    for (int i = 0; i < n && choice[r] < 0; ++i)
      if (!taken(node, choice, r, node[r].ids[i])) choice[r] = i;
    if (choice[r] < 0 && failed < 0) failed = r;
  }
  return failed;
}

void rt_device_conflict_text(const char *node_name, const rt_rank_devices *node, int local_ranks,
                             int failed, char *buf, size_t cap) {
  /* Distinct physical devices the node's ranks see between them: the most ranks it can run. */
  int distinct = 0;
  for (int r = 0; r < local_ranks; ++r)
    for (int i = 0; i < node[r].count && i < RT_NODE_DEVICES_MAX; ++i) {
      int seen = 0;
      for (int q = 0; q <= r && !seen; ++q)
        for (int k = 0; k < (q == r ? i : node[q].count) && k < RT_NODE_DEVICES_MAX && !seen; ++k)
          seen = strncmp(node[q].ids[k], node[r].ids[i], RT_DEVICE_ID_MAX) == 0;
      distinct += !seen;
    }
  const int n = node[failed].count;
  char advice[96];
  if (distinct < local_ranks)
    snprintf(advice, sizeof advice, "run at most %d rank%s per node or make more devices visible",
             distinct, distinct == 1 ? "" : "s");
  else
    snprintf(advice, sizeof advice,
             "let each rank of the node see a different device (CUDA_VISIBLE_DEVICES)");
  snprintf(
      buf, cap,
      "node %s runs %d ranks and rank %d sees %d CUDA device%s, %s (NCCL needs a GPU of its own "
      "for each rank): %s",
      node_name, local_ranks, node[failed].rank, n, n == 1 ? "" : "s",
      n == 1 ? "already taken by another rank of the node" : "all taken by other ranks of the node",
      advice);
}
