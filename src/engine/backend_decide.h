/* The backend decision as a pure function of facts every rank agrees on (no MPI, no CUDA), so that
 * train (src/engine/backend_select.c, collective) and check (one process) decide alike and the
 * table can be tested on any machine (tests/unit/test_backend_decide.c).
 *
 *   run.backend  facts                                   decision
 *   cpu          anything                                CPU, no note
 *   cuda         built without the CUDA backend          RT_ERR_CONFIG "...built without the CUDA backend..."
 *   cuda         a device problem on some rank            RT_ERR_CONFIG "run.backend is cuda, but PROBLEM"
 *   cuda         none of these                            CUDA
 *   auto         built without the CUDA backend          CPU, no note
 *   auto         a device problem                         CPU, note "backend auto: PROBLEM; training on the CPU"
 *   auto         none of these                            CUDA
 * No row depends on the run's features: the one engine (src/engine/engine.c) gives both backends
 * checkpoints, resume, stops, early termination, validation along the ring and shared passes.
 * (What a model needs of CUDA's kernels is rt_check_run's business: unsupported kinds and sizes
 * are refused there, naming the model.) */
#ifndef RINGTRAIN_BACKEND_DECIDE_H
#define RINGTRAIN_BACKEND_DECIDE_H

#include <stddef.h>

#include "ringtrain/config.h"
#include "ringtrain/status.h"

typedef struct rt_backend_facts {
  const char *config_path;    /* for error messages */
  const char *want;           /* run.backend: "auto", "cpu" or "cuda" */
  int built;                  /* 1: this ringtrain has the CUDA backend */
  const char *device_problem; /* why some rank cannot train on CUDA (the same text on every rank),
                                 or NULL when every rank has a usable device of its own */
} rt_backend_facts;

/* *use_cuda and a one-line note for the user (empty when there is nothing to say), or
 * RT_ERR_CONFIG with the reason (run.backend is cuda and CUDA cannot train this run here). */
rt_code rt_backend_decide(const rt_backend_facts *f, int *use_cuda, char *note, size_t note_cap,
                          rt_status *st);

#endif
