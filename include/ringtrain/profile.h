/* Profiling hooks: ranges and instant markers for the phases of a run, each tagged with a model,
 * a pass and a shard, and the profiler capture window (run.profile_passes).
 *
 * Call sites bracket the work of one phase:
 *   rt_prof_begin(RT_PHASE_INTEGRATE, model_id, pass, shard);
 *   ... gradient steps of model_id on shard ...
 *   rt_prof_end(RT_PHASE_INTEGRATE);
 * and mark moments with rt_prof_mark(...). Pass an argument as -1 where it does not apply
 * (a "write" of the results has no shard). By convention model is the index in the config's
 * models list, pass is 1-based (as run.profile_passes counts), shard is the 0-based shard index.
 * A group visit (the members of a model group integrating every batch together, issue 14) is one
 * range named by its first member, with the group's size in the visit:
 *   rt_prof_begin_group(RT_PHASE_INTEGRATE, lead_id, pass, shard, members);
 * (members >= 1; 1 is a group of one, e.g. every visit with run.fuse off). Other ranges and marks
 * carry no group (members -1).
 * Ranges nest (per thread); every rt_prof_begin needs its rt_prof_end on the same thread.
 *
 * Where the events go:
 *  - CUDA builds (the CUDA backend compiled, RINGTRAIN_NVTX in src/io/profile.c): every range is
 *    also an NVTX range, every mark an NVTX mark, in the domain "ringtrain", with the category
 *    phase + 1 (named after the phase: "load", "integrate", ...), a colour per phase and the
 *    message "integrate model 3 pass 1 shard 2 group of 4" (parts that are -1 left out; the
 *    group part only for group visits). Without a tool
 *    attached NVTX calls return at once; nsys and nvprof show them on the timeline.
 *  - A sink (rt_prof_set_sink): a function that receives every begin, end and mark with a
 *    CLOCK_MONOTONIC timestamp; the hook for trace writers, which plug in here without touching
 *    the call sites: src/io/trace.h (run.trace, `ringtrain train --trace`) records the events of
 *    every rank into RUN_DIR/trace.json (Chrome trace JSON).
 *  - Neither (CPU-only build, no sink): rt_prof_begin / rt_prof_end / rt_prof_mark are inline
 *    here and cost one load of a flag and a branch that is never taken; nothing else runs.
 *
 * Threads: events may come from any thread (the sink is then called from that thread, so it
 * must be thread-safe if several threads emit). Install or clear the sink only while no other
 * thread emits events (before training starts, after it ends). The library never prints. */
#ifndef RINGTRAIN_PROFILE_H
#define RINGTRAIN_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rt_phase {
  RT_PHASE_LOAD,       /* reading data: shards, validation set */
  RT_PHASE_INTEGRATE,  /* a model's gradient steps on a shard */
  RT_PHASE_SEND,       /* a model state leaving for the next rank */
  RT_PHASE_RECEIVE,    /* a model state arriving from the previous rank */
  RT_PHASE_EVALUATE,   /* losses and metrics */
  RT_PHASE_CHECKPOINT, /* saving state to resume from */
  RT_PHASE_WRITE,      /* model files, results, history */
  RT_PHASE_FINAL,      /* a model's final state leaving for every rank; waiting for final states */
  RT_PHASE_COUNT
} rt_phase;

/* "load", "integrate", "send", "receive", "evaluate", "checkpoint", "write", "final"; "unknown"
 * for a value outside the enum. */
const char *rt_phase_name(rt_phase phase);

/* Writes the label of an event, "integrate model 3 pass 1 shard 2 group of 4" (parts that are -1
 * left out, and the group part when members < 1: "write", "send model 3 pass 1"), as NVTX shows
 * it; for trace writers too. Always terminated (truncated to size - 1 bytes); size 0 writes
 * nothing. */
void rt_prof_format(char *buf, size_t size, rt_phase phase, int64_t model, int64_t pass,
                    int64_t shard, int64_t members);

typedef enum rt_prof_event_kind {
  RT_PROF_BEGIN, /* a range starts */
  RT_PROF_END,   /* the innermost open range of this thread ends */
  RT_PROF_MARK   /* an instant */
} rt_prof_event_kind;

typedef struct rt_prof_event {
  rt_prof_event_kind kind;
  rt_phase phase;
  int64_t model, pass, shard; /* as given to begin / mark (-1: not applicable); -1 for END */
  int64_t members;            /* a group visit's range (rt_prof_begin_group): its members, >= 1;
                                 -1 for every other event */
  int64_t time_ns;            /* clock_gettime(CLOCK_MONOTONIC), nanoseconds */
} rt_prof_event;

/* Receives one event; `user` is the pointer given to rt_prof_set_sink. The event is valid for
 * the duration of the call only. */
typedef void (*rt_prof_sink)(const rt_prof_event *event, void *user);

/* Installs the sink (NULL removes it; events then go to NVTX only, or nowhere). */
void rt_prof_set_sink(rt_prof_sink sink, void *user);

/* Out of line part of begin / end / mark: use those. */
void rt_prof_emit_(rt_prof_event_kind kind, rt_phase phase, int64_t model, int64_t pass,
                   int64_t shard, int64_t members);
/* Nonzero while events go somewhere (NVTX compiled in, or a sink installed). */
extern int rt_prof_active_;

/* Do events go anywhere? For call sites that would compute something only to profile it. */
static inline int rt_prof_enabled(void) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_expect(__atomic_load_n(&rt_prof_active_, __ATOMIC_RELAXED) != 0, 0);
#else
  return rt_prof_active_ != 0;
#endif
}

/* Opens a range of `phase`. model, pass, shard: -1 = not applicable. */
static inline void rt_prof_begin(rt_phase phase, int64_t model, int64_t pass, int64_t shard) {
  if (rt_prof_enabled()) rt_prof_emit_(RT_PROF_BEGIN, phase, model, pass, shard, -1);
}

/* Opens the range of a group visit: `members` models (>= 1) integrating together, `model` the
 * first of them (the group's lead in this visit), pass and shard theirs. */
static inline void rt_prof_begin_group(rt_phase phase, int64_t model, int64_t pass, int64_t shard,
                                       int64_t members) {
  if (rt_prof_enabled()) rt_prof_emit_(RT_PROF_BEGIN, phase, model, pass, shard, members);
}

/* Closes the innermost open range of this thread, which `phase` names. */
static inline void rt_prof_end(rt_phase phase) {
  if (rt_prof_enabled()) rt_prof_emit_(RT_PROF_END, phase, -1, -1, -1, -1);
}

/* An instant marker. */
static inline void rt_prof_mark(rt_phase phase, int64_t model, int64_t pass, int64_t shard) {
  if (rt_prof_enabled()) rt_prof_emit_(RT_PROF_MARK, phase, model, pass, shard, -1);
}

/* ---- Capture window (run.profile_passes) ---------------------------------------------------
 *
 * Profilers run with a cudaProfilerApi capture range (scripts/profile.sh: nsys
 * --capture-range=cudaProfilerApi, nvprof --profile-from-start off) record only between
 * cudaProfilerStart and cudaProfilerStop. The engine calls rt_prof_capture(1) when the first
 * model enters pass run.profile_first on this rank and rt_prof_capture(0) when the last one
 * finishes pass run.profile_last, so each rank's profile covers those passes. */

/* Starts (on != 0) or stops (on == 0) the capture: cudaProfilerStart / cudaProfilerStop in CUDA
 * builds (initialising the CUDA runtime on the first start, so call it only when a window is
 * set), nothing in CPU-only builds. Only changes of state reach CUDA: starting twice starts once,
 * stopping without a start does nothing. Errors (no device, no driver) are ignored and cleared:
 * profiling never fails a run. */
void rt_prof_capture(int on);

/* Is 1-based `pass` inside cfg's run.profile_passes [first, last]? 0 when no window is set
 * (profile_first == 0: the profiler captures the whole run on its own, rt_prof_capture need not
 * be called). */
int rt_prof_in_window(const rt_config *cfg, long pass);

/* Called by the engines before each shard visit with its 1-based pass: starts the profiler
 * capture when the pass is inside run.profile_passes and stops it at the first visit past it
 * (nothing when no window is set). Models are staggered, so the window is approximate by a
 * shard visit or so at each edge. */
void rt_prof_window_visit(const rt_config *cfg, long pass);

#ifdef __cplusplus
}
#endif
#endif
