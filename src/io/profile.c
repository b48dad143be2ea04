/* Profiling hooks (profile.h): NVTX ranges in CUDA builds, an optional sink, the capture window.
 * RINGTRAIN_NVTX is defined (to 1) for ringtrain_core by cuda/CMakeLists.txt when the CUDA
 * backend is built, together with the CUDA toolkit's include folder (nvtx3 is header-only);
 * without it nothing here refers to CUDA. */
#include "ringtrain/profile.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#ifndef RINGTRAIN_NVTX
#define RINGTRAIN_NVTX 0
#endif

#if RINGTRAIN_NVTX
#include <nvtx3/nvToolsExt.h>
#include <pthread.h>
#include <string.h>

#include "../cuda/rt_profiler.h"
#endif

enum { ACTIVE_NVTX = 1, ACTIVE_SINK = 2 };

int rt_prof_active_ = RINGTRAIN_NVTX ? ACTIVE_NVTX : 0;

static rt_prof_sink sink_fn;
static void *sink_user;

static const char *const phase_names[RT_PHASE_COUNT] = {
    "load", "integrate", "send", "receive", "evaluate", "checkpoint", "write", "final",
};

const char *rt_phase_name(rt_phase phase) {
  if ((int)phase < 0 || (int)phase >= RT_PHASE_COUNT) return "unknown";
  return phase_names[phase];
}

void rt_prof_format(char *buf, size_t size, rt_phase phase, int64_t model, int64_t pass,
                    int64_t shard, int64_t members) {
  if (size == 0) return;
  int n = snprintf(buf, size, "%s", rt_phase_name(phase));
  const struct {
    const char *name;
    int64_t value;
  } parts[] = {{"model", model}, {"pass", pass}, {"shard", shard}};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; ++i) {
    if (n < 0 || (size_t)n >= size) return; /* truncated (snprintf terminated it) */
    if (parts[i].value < 0) continue;
    int m =
        snprintf(buf + n, size - (size_t)n, " %s %lld", parts[i].name, (long long)parts[i].value);
    if (m < 0) return;
    n += m;
  }
  if (members >= 1 && n >= 0 && (size_t)n < size)
    snprintf(buf + n, size - (size_t)n, " group of %lld", (long long)members);
}

void rt_prof_set_sink(rt_prof_sink sink, void *user) {
  sink_fn = sink;
  sink_user = user;
  int active = (RINGTRAIN_NVTX ? ACTIVE_NVTX : 0) | (sink ? ACTIVE_SINK : 0);
  __atomic_store_n(&rt_prof_active_, active, __ATOMIC_RELEASE);
}

#if RINGTRAIN_NVTX
/* ---- NVTX ------------------------------------------------------------------------------------ */

static nvtxDomainHandle_t nvtx_domain;
static pthread_once_t nvtx_once = PTHREAD_ONCE_INIT;

/* One colour per phase (ARGB), so that the timeline tells them apart at a glance. */
static const uint32_t phase_colors[RT_PHASE_COUNT] = {
    0xff8c8c8cu, /* load: grey */
    0xff2e7d32u, /* integrate: green */
    0xff1565c0u, /* send: blue */
    0xff6a1b9au, /* receive: purple */
    0xffef6c00u, /* evaluate: orange */
    0xffc62828u, /* checkpoint: red */
    0xff795548u, /* write: brown */
    0xff00838fu, /* final: teal */
};

static void nvtx_init(void) {
  nvtx_domain = nvtxDomainCreateA("ringtrain");
  for (int p = 0; p < RT_PHASE_COUNT; ++p)
    nvtxDomainNameCategoryA(nvtx_domain, (uint32_t)p + 1, phase_names[p]);
}

static void nvtx_event(rt_prof_event_kind kind, rt_phase phase, int64_t model, int64_t pass,
                       int64_t shard, int64_t members) {
  (void)pthread_once(&nvtx_once, nvtx_init);
  if (kind == RT_PROF_END) {
    nvtxDomainRangePop(nvtx_domain);
    return;
  }
  char text[128];
  rt_prof_format(text, sizeof text, phase, model, pass, shard, members);
  int known = (int)phase >= 0 && (int)phase < RT_PHASE_COUNT;
  nvtxEventAttributes_t attr;
  memset(&attr, 0, sizeof attr);
  attr.version = NVTX_VERSION;
  attr.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attr.category = known ? (uint32_t)phase + 1 : 0;
  attr.colorType = known ? NVTX_COLOR_ARGB : NVTX_COLOR_UNKNOWN;
  attr.color = known ? phase_colors[phase] : 0;
  attr.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attr.message.ascii = text; /* the tool copies it during the call */
  if (kind == RT_PROF_BEGIN) nvtxDomainRangePushEx(nvtx_domain, &attr);
  else nvtxDomainMarkEx(nvtx_domain, &attr);
}
#endif

/* ---- Events ---------------------------------------------------------------------------------- */

void rt_prof_emit_(rt_prof_event_kind kind, rt_phase phase, int64_t model, int64_t pass,
                   int64_t shard, int64_t members) {
#if RINGTRAIN_NVTX
  nvtx_event(kind, phase, model, pass, shard, members);
#endif
  rt_prof_sink sink = sink_fn;
  if (!sink) return;
  rt_prof_event event;
  event.kind = kind;
  event.phase = phase;
  event.model = model;
  event.pass = pass;
  event.shard = shard;
  event.members = members;
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
    event.time_ns = (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
  else event.time_ns = 0; /* cannot fail with CLOCK_MONOTONIC on Linux */
  sink(&event, sink_user);
}

/* ---- Capture window -------------------------------------------------------------------------- */

void rt_prof_capture(int on) {
#if RINGTRAIN_NVTX
  static int capturing;
  int want = on != 0;
  if (__atomic_exchange_n(&capturing, want, __ATOMIC_ACQ_REL) == want) return;
  rt_cuda_profiler_capture(want);
#else
  (void)on;
#endif
}

int rt_prof_in_window(const rt_config *cfg, long pass) {
  if (!cfg || cfg->run.profile_first <= 0) return 0;
  return pass >= cfg->run.profile_first && pass <= cfg->run.profile_last;
}

void rt_prof_window_visit(const rt_config *cfg, long pass) {
  if (!cfg || cfg->run.profile_first <= 0) return;
  if (rt_prof_in_window(cfg, pass)) rt_prof_capture(1);
  else if (pass > cfg->run.profile_last) rt_prof_capture(0);
}
