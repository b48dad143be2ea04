/* Which CUDA device each rank of a node takes. NCCL refuses two ranks of one communicator on the
 * same physical GPU ("Duplicate GPU detected": it compares the host and the PCI bus id), so the
 * ranks of a node must end up on distinct physical devices. Each rank sees its own list of devices
 * (CUDA_VISIBLE_DEVICES may differ per rank: Slurm's --gpus-per-task=1 gives every rank one device,
 * index 0, each a different GPU), so devices are compared by PCI bus id, never by index. A pure
 * function of what the node's ranks gathered (src/engine/backend_select.c), tested on any machine
 * (tests/unit/test_device_assign.c). */
#ifndef RINGTRAIN_DEVICE_ASSIGN_H
#define RINGTRAIN_DEVICE_ASSIGN_H

#include <stddef.h>

#define RT_DEVICE_ID_MAX 32    /* a PCI bus id ("00000000:3B:00.0") and its NUL */
#define RT_NODE_DEVICES_MAX 64 /* visible devices per rank that are considered */

/* What one rank of a node sees; gathered over the node as plain bytes. */
typedef struct rt_rank_devices {
  int rank;  /* rank in the job */
  int count; /* visible devices considered (0: none usable), at most RT_NODE_DEVICES_MAX */
  char ids[RT_NODE_DEVICES_MAX][RT_DEVICE_ID_MAX]; /* physical identity of visible device i */
} rt_rank_devices;

/* Gives every rank of the node (node[0..local_ranks), in node-local rank order) a visible device
 * that no other rank of the node takes: local rank r takes its visible device r % count when that
 * one is still free (with every device visible to every rank, rank r gets device r), otherwise its
 * first free one; a rank that finds all of its devices taken then gets one by moving other
 * ranks to other devices of theirs (an augmenting path of a bipartite matching), so a rank is
 * left without a device only when no assignment gives every rank one. choice[r]: the index among
 * rank r's visible devices, -1 for a rank without any; scratch: local_ranks bytes of working
 * space (the caller's, so that every rank of the node computes the same answer or none). Returns
 * -1 when every rank with devices got one, else the local index of the first rank left without a
 * device. */
int rt_device_assign(const rt_rank_devices *node, int local_ranks, int *choice,
                     unsigned char *scratch);

/* The line that names the conflict of rt_device_assign's `failed` rank, e.g.
 * "node gpu07 runs 4 ranks and rank 2 sees 2 CUDA devices, all taken by other ranks of the node
 * (NCCL needs a GPU of its own for each rank): run at most 2 ranks per node or make more devices
 * visible". */
void rt_device_conflict_text(const char *node_name, const rt_rank_devices *node, int local_ranks,
                             int failed, char *buf, size_t cap);

#endif
