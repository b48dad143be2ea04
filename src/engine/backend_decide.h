/* The backend decision as a pure function of facts every rank agrees on (no MPI, no CUDA), so that
 * train (src/engine/backend_select.c, collective) and check (one process) decide alike and the
 * table can be tested on any machine (tests/unit/test_backend_decide.c).
 *
 *   run.backend  facts                                   decision
 *   cpu          anything                                CPU, no note
 *   cuda         built without the CUDA backend          RT_ERR_CONFIG "...built without the CUDA backend..."
 *   cuda         a feature the CUDA engine lacks          RT_ERR_CONFIG "run.backend is cuda, but F is not supported on CUDA yet..."
 *   cuda         a device problem on some rank            RT_ERR_CONFIG "run.backend is cuda, but PROBLEM"
 *   cuda         none of these                            CUDA
 *   auto         built without the CUDA backend          CPU, no note
 *   auto         a device problem                         CPU, note "backend auto: PROBLEM; training on the CPU"
 *   auto         a feature the CUDA engine lacks          CPU, note "backend auto: F is not supported on CUDA yet; training on the CPU"
 *   auto         none of these                            CUDA
 * With cuda the missing feature is named before any device problem (it does not depend on the
 * machine, so check on a login node says the same as train on a GPU node); with auto a device
 * problem is named first (on a machine without a GPU a remark about CUDA features would mislead). */
#ifndef RINGTRAIN_BACKEND_DECIDE_H
#define RINGTRAIN_BACKEND_DECIDE_H

#include <stddef.h>

#include "ringtrain/config.h"
#include "ringtrain/status.h"

/* The first feature of this run that the CUDA engine lacks, in the user's words ("--resume",
 * "run.checkpoint_every", "run.eval_every_pass", "sweep.early_terminate", or the shared statistics
 * pass of exact linear models naming two of them), or NULL when it has them all. The one list of
 * what CUDA lacks: backend selection, train and check all ask it. buf holds composed texts. */
const char *rt_cuda_missing_feature(const rt_config *cfg, int resuming, char *buf, size_t cap);

typedef struct rt_backend_facts {
  const char *config_path;    /* for error messages */
  const char *want;           /* run.backend: "auto", "cpu" or "cuda" */
  int built;                  /* 1: this ringtrain has the CUDA backend */
  const char *missing;        /* rt_cuda_missing_feature(), or NULL */
  const char *device_problem; /* why some rank cannot train on CUDA (the same text on every rank),
                                 or NULL when every rank has a usable device of its own */
} rt_backend_facts;

/* *use_cuda and a one-line note for the user (empty when there is nothing to say), or
 * RT_ERR_CONFIG with the reason (run.backend is cuda and CUDA cannot train this run here). */
rt_code rt_backend_decide(const rt_backend_facts *f, int *use_cuda, char *note, size_t note_cap,
                          rt_status *st);

#endif
