/* The backend decision (src/engine/backend_decide.h): the whole table of run.backend x facts, and
 * the decision ringtrain check previews on this machine (src/engine/backend_select.h) for a run
 * that uses every engine feature (none of them steers the choice any more: one engine serves both
 * backends). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backend_decide.h"
#include "backend_select.h"
#include "ringtrain/config.h"

static rt_code decide(const char *want, int built, const char *problem, int *use_cuda, char *note,
                      rt_status *st) {
  const rt_backend_facts f = {
      .config_path = "sweep.yaml", .want = want, .built = built, .device_problem = problem};
  rt_status_clear(st);
  return rt_backend_decide(&f, use_cuda, note, 256, st);
}

static void cpu_is_always_the_cpu(void **state) {
  (void)state;
  rt_status st;
  char note[256];
  int use = -1;
  for (int built = 0; built < 2; ++built) {
    assert_int_equal(decide("cpu", built, "rank 1 cannot use CUDA: x", &use, note, &st), RT_OK);
    assert_int_equal(use, 0);
    assert_string_equal(note, "");
  }
}

static void without_the_backend(void **state) {
  (void)state;
  rt_status st;
  char note[256];
  int use = -1;
  assert_int_equal(decide("auto", 0, NULL, &use, note, &st), RT_OK);
  assert_int_equal(use, 0);
  assert_string_equal(note, ""); /* a CPU-only build says nothing about CUDA */
  assert_int_equal(decide("cuda", 0, NULL, &use, note, &st), RT_ERR_CONFIG);
  assert_int_equal(use, 0);
  assert_string_equal(
      st.message,
      "sweep.yaml: run.backend is cuda, but this ringtrain was built without "
      "the CUDA backend (configure with -DRINGTRAIN_CUDA=ON where nvcc and NCCL exist)");
}

static void cuda_refuses_without_a_device(void **state) {
  (void)state;
  rt_status st;
  char note[256];
  int use = -1;
  assert_int_equal(decide("cuda", 1, NULL, &use, note, &st), RT_OK);
  assert_int_equal(use, 1);
  assert_string_equal(note, "");
  assert_int_equal(decide("cuda", 1, "node gpu07 runs 4 ranks and rank 2 sees 2 CUDA devices, ...",
                          &use, note, &st),
                   RT_ERR_CONFIG);
  assert_int_equal(use, 0);
  assert_string_equal(
      st.message,
      "sweep.yaml: run.backend is cuda, but node gpu07 runs 4 ranks and rank 2 sees "
      "2 CUDA devices, ...");
}

static void auto_falls_back_with_a_note(void **state) {
  (void)state;
  rt_status st;
  char note[256];
  int use = -1;
  assert_int_equal(decide("auto", 1, NULL, &use, note, &st), RT_OK);
  assert_int_equal(use, 1);
  assert_string_equal(note, "");
  assert_int_equal(
      decide("auto", 1, "rank 3 cannot use CUDA: the NVIDIA driver (CUDA 13.0) sees no device",
             &use, note, &st),
      RT_OK);
  assert_int_equal(use, 0);
  assert_string_equal(
      note,
      "backend auto: rank 3 cannot use CUDA: the NVIDIA driver (CUDA 13.0) sees no device; "
      "training on the CPU");
}

/* A config from YAML text, validated; the caller frees it. */
static void parse(const char *text, rt_config *cfg) {
  rt_status st;
  rt_status_clear(&st);
  rt_config_defaults(cfg);
  if (rt_config_parse(text, strlen(text), "c.yaml", cfg, &st) != RT_OK ||
      rt_config_validate(cfg, &st) != RT_OK)
    fail_msg("config: %s", st.message);
}

#define DATA "data: {train: d.csv}\n"
/* Every feature that once kept a run off CUDA: checkpoints, validation along the ring, early
 * termination and a shared statistics pass (exact linear models differing only in alpha). */
#define EVERY_FEATURE                                        \
  DATA "run: {checkpoint_every: 1, eval_every_pass: true}\n" \
       "sweep: {early_terminate: {type: median}}\n"          \
       "models:\n  - {kind: linear, alpha: 0.1}\n  - {kind: linear, alpha: 2}\n"

/* ringtrain check's preview: on a CPU-only build auto is the CPU without a word; with the CUDA
 * backend built, the machine alone decides: a GPU host takes CUDA for this run, a host without one
 * falls back with a note naming the device problem, never a feature. */
static void preview_decides_like_train(void **state) {
  (void)state;
  rt_status st;
  rt_status_clear(&st);
  rt_config cfg;
  rt_backend_choice choice;
  parse(EVERY_FEATURE, &cfg);
  assert_int_equal(rt_backend_preview(&cfg, &choice, &st), RT_OK);
#if RINGTRAIN_WITH_CUDA
  if (choice.use_cuda) {
    assert_true(choice.device >= 0);
    assert_string_equal(choice.note, "");
  } else {
    assert_int_equal(choice.device, -1);
    assert_non_null(strstr(choice.note, "backend auto: "));
    assert_non_null(strstr(choice.note, "; training on the CPU"));
    assert_null(strstr(choice.note, "not supported"));
  }
  const int gpu_host = choice.use_cuda;
#else
  assert_int_equal(choice.use_cuda, 0);
  assert_string_equal(choice.note, "");
#endif
  assert_int_equal(rt_config_set(&cfg, "run.backend=cuda", &st), RT_OK);
  const rt_code rc = rt_backend_preview(&cfg, &choice, &st);
#if RINGTRAIN_WITH_CUDA
  if (gpu_host) {
    assert_int_equal(rc, RT_OK);
    assert_int_equal(choice.use_cuda, 1);
  } else {
    assert_int_equal(rc, RT_ERR_CONFIG);
    assert_non_null(strstr(st.message, "c.yaml: run.backend is cuda, but "));
    assert_null(strstr(st.message, "not supported"));
  }
#else
  assert_int_equal(rc, RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "built without the CUDA backend"));
#endif
  rt_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cpu_is_always_the_cpu),
      cmocka_unit_test(without_the_backend),
      cmocka_unit_test(cuda_refuses_without_a_device),
      cmocka_unit_test(auto_falls_back_with_a_note),
      cmocka_unit_test(preview_decides_like_train),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
