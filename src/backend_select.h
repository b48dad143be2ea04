/* Which backend trains: run.backend = auto | cpu | cuda, decided the same way on every rank. */
#ifndef RINGTRAIN_BACKEND_SELECT_H
#define RINGTRAIN_BACKEND_SELECT_H

#include <mpi.h>

#include "ringtrain/config.h"

/* Collective. *use_cuda = 1 when the CUDA backend trains. auto takes CUDA when this build has it
 * and every rank sees a device, else the CPU with a one-line note for the user in `note` (empty
 * otherwise). cuda without a device (or without the backend in this build) is RT_ERR_CONFIG
 * naming the rank and the CUDA error string. */
rt_code rt_backend_select(const rt_config *cfg, MPI_Comm comm, int *use_cuda, char *note,
                          size_t note_cap, rt_status *st);

#endif
