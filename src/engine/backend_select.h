/* Which backend trains: run.backend = auto | cpu | cuda, decided the same way on every rank, and on
 * the CUDA path the device each rank trains on. The decision itself is src/engine/backend_decide.h;
 * this file gathers the facts it needs (what the run asks for, which devices each rank sees, which
 * ranks share a node) and makes the chosen device current. */
#ifndef RINGTRAIN_BACKEND_SELECT_H
#define RINGTRAIN_BACKEND_SELECT_H

#include <stddef.h>

#include <mpi.h>

#include "ringtrain/config.h"

typedef struct rt_backend_choice {
  int use_cuda; /* 1: the CUDA backend trains */
  int device;   /* the CUDA device this rank trains on (current for the calling thread), else -1 */
  char note[256]; /* one line for the user (why auto chose the CPU), or "" */
} rt_backend_choice;

/* Collective over comm. auto takes CUDA when this build has it and every rank gets a usable device
 * of its own (rt_cuda_choose_device); otherwise the CPU with the reason in out->note. cuda where
 * CUDA cannot train here is RT_ERR_CONFIG with the same reason. Every rank gets the same
 * decision. Both backends run every feature (the one engine, src/engine/engine.c). */
rt_code rt_backend_select(const rt_config *cfg, MPI_Comm comm, rt_backend_choice *out,
                          rt_status *st);

/* The decision rt_backend_select would take for this process as a one-rank run, without MPI
 * (ringtrain check). */
rt_code rt_backend_preview(const rt_config *cfg, rt_backend_choice *out, rt_status *st);

#if RINGTRAIN_WITH_CUDA
/* Collective over comm (MPI_COMM_NULL: this process alone, no MPI). Gathers, per node
 * (MPI_COMM_TYPE_SHARED), the PCI bus id of every device each rank sees, gives every rank a device
 * of its own (src/engine/device_assign.h), makes it current (rt_cuda_use_device) and sets *device.
 * When this rank cannot train on CUDA, *device is -1 and `problem` says why, naming the rank ("rank
 * 3 cannot use CUDA: ...", "node gpu07 runs 4 ranks and rank 2 sees 2 CUDA devices, ...");
 * otherwise problem is "". Not agreed: each rank learns its own. Errors: MPI failures only. */
rt_code rt_cuda_choose_device(MPI_Comm comm, int *device, char *problem, size_t cap, rt_status *st);
#endif

#endif
