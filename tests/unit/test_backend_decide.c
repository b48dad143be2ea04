/* The backend decision (src/engine/backend_decide.h): the whole table of run.backend x facts, the
 * list of features the CUDA engine lacks read from real configs (each one alone, the first of
 * several named), and the decision ringtrain check previews on this machine
 * (src/engine/backend_select.h). */
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

static rt_code decide(const char *want, int built, const char *missing, const char *problem,
                      int *use_cuda, char *note, rt_status *st) {
  const rt_backend_facts f = {.config_path = "sweep.yaml",
                              .want = want,
                              .built = built,
                              .missing = missing,
                              .device_problem = problem};
  rt_status_clear(st);
  return rt_backend_decide(&f, use_cuda, note, 256, st);
}

static void cpu_is_always_the_cpu(void **state) {
  (void)state;
  rt_status st;
  char note[256];
  int use = -1;
  for (int built = 0; built < 2; ++built) {
    assert_int_equal(
        decide("cpu", built, "run.eval_every_pass", "rank 1 cannot use CUDA: x", &use, note, &st),
        RT_OK);
    assert_int_equal(use, 0);
    assert_string_equal(note, "");
  }
}

static void without_the_backend(void **state) {
  (void)state;
  rt_status st;
  char note[256];
  int use = -1;
  assert_int_equal(decide("auto", 0, NULL, NULL, &use, note, &st), RT_OK);
  assert_int_equal(use, 0);
  assert_string_equal(note, ""); /* a CPU-only build says nothing about CUDA */
  assert_int_equal(decide("cuda", 0, NULL, NULL, &use, note, &st), RT_ERR_CONFIG);
  assert_int_equal(use, 0);
  assert_string_equal(
      st.message,
      "sweep.yaml: run.backend is cuda, but this ringtrain was built without "
      "the CUDA backend (configure with -DRINGTRAIN_CUDA=ON where nvcc and NCCL exist)");
}

static void cuda_refuses_what_it_cannot_do(void **state) {
  (void)state;
  rt_status st;
  char note[256];
  int use = -1;
  assert_int_equal(decide("cuda", 1, NULL, NULL, &use, note, &st), RT_OK);
  assert_int_equal(use, 1);
  assert_string_equal(note, "");
  /* The feature comes first: it does not depend on the machine. */
  assert_int_equal(decide("cuda", 1, "sweep.early_terminate", "rank 0 cannot use CUDA: no driver",
                          &use, note, &st),
                   RT_ERR_CONFIG);
  assert_int_equal(use, 0);
  assert_string_equal(st.message,
                      "sweep.yaml: run.backend is cuda, but sweep.early_terminate is not supported "
                      "on CUDA yet; use run.backend: cpu (or auto)");
  assert_int_equal(
      decide("cuda", 1, NULL, "node gpu07 runs 4 ranks and rank 2 sees 2 CUDA devices, ...", &use,
             note, &st),
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
  assert_int_equal(decide("auto", 1, NULL, NULL, &use, note, &st), RT_OK);
  assert_int_equal(use, 1);
  assert_string_equal(note, "");
  assert_int_equal(decide("auto", 1, "run.eval_every_pass", NULL, &use, note, &st), RT_OK);
  assert_int_equal(use, 0);
  assert_string_equal(
      note, "backend auto: run.eval_every_pass is not supported on CUDA yet; training on the CPU");
  /* A device problem comes first: without a usable GPU the feature is beside the point. */
  assert_int_equal(decide("auto", 1, "--resume",
                          "rank 3 cannot use CUDA: the NVIDIA driver (CUDA 13.0) sees no device",
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

static const char *missing_of(const char *text, int resuming, char *buf) {
  rt_config cfg;
  parse(text, &cfg);
  const char *m = rt_cuda_missing_feature(&cfg, resuming, buf, 160);
  static char out[160];
  snprintf(out, sizeof out, "%s", m ? m : "(none)");
  rt_config_free(&cfg);
  return out;
}

#define DATA "data: {train: d.csv}\n"
#define ONE_MODEL "models: [{kind: logistic}]\n"

static void the_features_cuda_lacks(void **state) {
  (void)state;
  char buf[160];
  assert_string_equal(missing_of(DATA ONE_MODEL, 0, buf), "(none)");
  assert_string_equal(missing_of(DATA ONE_MODEL, 1, buf), "--resume");
  assert_string_equal(missing_of(DATA "run: {checkpoint_every: 2}\n" ONE_MODEL, 0, buf),
                      "run.checkpoint_every");
  assert_string_equal(missing_of(DATA "run: {eval_every_pass: true}\n" ONE_MODEL, 0, buf),
                      "run.eval_every_pass");
  assert_string_equal(
      missing_of(DATA "sweep: {early_terminate: {type: median}}\n" ONE_MODEL, 0, buf),
      "sweep.early_terminate");
  assert_string_equal(
      missing_of(DATA "models:\n  - {kind: linear, alpha: 0.1}\n  - {kind: logistic}\n"
                      "  - {kind: linear, alpha: 2}\n",
                 0, buf),
      "a shared statistics pass (exact linear models 0 and 2 differ only in alpha)");
  /* Models that cannot share a pass are not one. */
  assert_string_equal(missing_of(DATA "models:\n  - {kind: linear, alpha: 0.1}\n"
                                      "  - {kind: linear, alpha: 2, batch_size: 7}\n"
                                      "  - {kind: linear, solver: sgd, alpha: 2}\n",
                                 0, buf),
                      "(none)");
  /* Several: the first in the list's order. */
  assert_string_equal(
      missing_of(DATA "run: {checkpoint_every: 1, eval_every_pass: true}\n" ONE_MODEL, 1, buf),
      "--resume");
  assert_string_equal(
      missing_of(DATA "run: {checkpoint_every: 1, eval_every_pass: true}\n" ONE_MODEL, 0, buf),
      "run.checkpoint_every");
}

/* ringtrain check's preview: on a CPU-only build auto is the CPU without a word; with the CUDA
 * backend built, on this machine (a GPU or none), auto never fails and names a reason when it
 * falls back, and a feature CUDA lacks is named whatever the machine. */
static void preview_decides_like_train(void **state) {
  (void)state;
  rt_status st;
  rt_status_clear(&st);
  rt_config cfg;
  rt_backend_choice choice;
  parse(DATA "run: {eval_every_pass: true}\n" ONE_MODEL, &cfg);
  assert_int_equal(rt_backend_preview(&cfg, &choice, &st), RT_OK);
  assert_int_equal(choice.use_cuda, 0);
  assert_int_equal(choice.device, -1);
#if RINGTRAIN_WITH_CUDA
  assert_non_null(strstr(choice.note, "backend auto: "));
  assert_non_null(strstr(choice.note, "; training on the CPU"));
#else
  assert_string_equal(choice.note, "");
#endif
  assert_int_equal(rt_config_set(&cfg, "run.backend=cuda", &st), RT_OK);
  assert_int_equal(rt_backend_preview(&cfg, &choice, &st), RT_ERR_CONFIG);
#if RINGTRAIN_WITH_CUDA
  assert_string_equal(st.message,
                      "c.yaml: run.backend is cuda, but run.eval_every_pass is not supported on "
                      "CUDA yet; use run.backend: cpu (or auto)");
#else
  assert_non_null(strstr(st.message, "built without the CUDA backend"));
#endif
  rt_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cpu_is_always_the_cpu),
      cmocka_unit_test(without_the_backend),
      cmocka_unit_test(cuda_refuses_what_it_cannot_do),
      cmocka_unit_test(auto_falls_back_with_a_note),
      cmocka_unit_test(the_features_cuda_lacks),
      cmocka_unit_test(preview_decides_like_train),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
