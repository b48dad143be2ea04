/* Node-local assignment of CUDA devices to ranks by physical identity (device_assign.h). */
#include "device_assign.h"

#include <stdio.h>
#include <string.h>

/* The visible devices of rank r that are considered. */
static int count_of(const rt_rank_devices *node, int r) {
  return node[r].count < RT_NODE_DEVICES_MAX ? node[r].count : RT_NODE_DEVICES_MAX;
}

/* The rank among the first `upto` that took device `id`, -1 when none did. */
static int holder(const rt_rank_devices *node, const int *choice, int upto, const char *id) {
  for (int r = 0; r < upto; ++r)
    if (choice[r] >= 0 && strncmp(node[r].ids[choice[r]], id, RT_DEVICE_ID_MAX) == 0) return r;
  return -1;
}

/* An augmenting path (Kuhn's matching) for rank r: a free device of its own, else a device whose
 * holder can move to another device of its own the same way (holders already on the path, in
 * `visited`, are not asked again). Ranks move only along a successful path. */
static int augment(const rt_rank_devices *node, int local_ranks, int *choice, int r,
                   unsigned char *visited) {
  const int n = count_of(node, r);
  for (int i = 0; i < n; ++i)
    if (holder(node, choice, local_ranks, node[r].ids[i]) < 0) {
      choice[r] = i;
      return 1;
    }
  for (int i = 0; i < n; ++i) {
    const int h = holder(node, choice, local_ranks, node[r].ids[i]);
    if (h < 0 || h == r || visited[h]) continue;
    visited[h] = 1;
    if (augment(node, local_ranks, choice, h, visited)) {
      choice[r] = i;
      return 1;
    }
  }
  return 0;
}

int rt_device_assign(const rt_rank_devices *node, int local_ranks, int *choice,
                     unsigned char *scratch) {
  for (int r = 0; r < local_ranks; ++r) {
    choice[r] = -1;
    const int n = count_of(node, r);
    if (n <= 0) continue;
    const int preferred = r % n;
    if (holder(node, choice, r, node[r].ids[preferred]) < 0) {
      choice[r] = preferred;
      continue;
    }
    for (int i = 0; i < n && choice[r] < 0; ++i)
      if (holder(node, choice, r, node[r].ids[i]) < 0) choice[r] = i;
  }
  /* Ranks left without a device: move other ranks to other devices of theirs where that frees
   * one, so that a rank fails only when no assignment at all gives every rank a device. */
  int failed = -1;
  for (int r = 0; r < local_ranks; ++r) {
    if (choice[r] >= 0 || count_of(node, r) <= 0) continue;
    memset(scratch, 0, (size_t)local_ranks);
    scratch[r] = 1;
    if (!augment(node, local_ranks, choice, r, scratch) && failed < 0) failed = r;
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
