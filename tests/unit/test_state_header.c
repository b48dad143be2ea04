/* The header a model's schedule implies (rt_state_header_advance) must equal what the engine's
 * bookkeeping leaves in a real state, field by field, for models of
 * different batch sizes, passes and starting shards over uneven shards. Runs the CPU engine on
 * one rank (an MPI singleton). */
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine.h"
#include "rng.h"
#include "route.h"
#include "test_util.h"

#define S 3
#define FEATURES 4

static void shadow_matches_cpu_engine(void **unused) {
  (void)unused;
  static const size_t rows[S] = {37, 8, 21};
  rt_dataset ds;
  memset(&ds, 0, sizeof ds);
  ds.shards = S;
  ds.ranks = 1;
  ds.features = FEATURES;
  ds.classes = 3;
  ds.train_rows = calloc(S, sizeof *ds.train_rows);
  ds.val_rows = calloc(S, sizeof *ds.val_rows);
  ds.train = calloc(S, sizeof *ds.train);
  ds.val = calloc(S, sizeof *ds.val);
  for (size_t s = 0; s < S; ++s) {
    rt_shard *sh = &ds.train[s];
    sh->rows = rows[s];
    sh->features = FEATURES;
    sh->x = aligned_alloc(64, 64 * ((rows[s] * FEATURES * sizeof(float) + 63) / 64));
    sh->y = malloc(rows[s] * sizeof(float));
    for (size_t i = 0; i < rows[s] * FEATURES; ++i) sh->x[i] = rt_rng_uniform_f(s, i) - 0.5f;
    for (size_t i = 0; i < rows[s]; ++i) sh->y[i] = (float)rt_rng_below(s + 10, i, 3);
    ds.train_rows[s] = rows[s];
  }
  rt_config cfg;
  rt_config_defaults(&cfg);
  enum { M = 4 };
  static const long batch[M] = {5, 8, 64, 1};
  rt_model_spec specs[M];
  for (size_t j = 0; j < M; ++j) {
    specs[j] = tu_spec_sgd("logistic", FEATURES, 3, batch[j]);
    specs[j].hp.optimizer = j % 2 ? RT_OPT_ADAM : RT_OPT_SGD;
    specs[j].hp.learning_rate = 0.01;
    specs[j].id = j;
    specs[j].passes = 1 + j % 3;
    specs[j].shards = S;
    specs[j].seed = 11;
    specs[j].total_batches = 10;
  }
  void *states[M] = {0};
  rt_model_stats stats[M];
  memset(stats, 0, sizeof stats);
  rt_status st;
  rt_status_clear(&st);
  int stopped = 0;
  rt_backend *backend = NULL;
  if (rt_backend_cpu_open(&ds, &backend, &st) != RT_OK) fail_msg("backend: %s", st.message);
  if (rt_engine_run(&cfg, specs, M, &ds, MPI_COMM_WORLD, states, stats, NULL, NULL, backend, NULL,
                    NULL, &stopped, &st) != RT_OK)
    fail_msg("engine: %s", st.message);
  rt_backend_close(backend);
  for (size_t j = 0; j < M; ++j) {
    rt_state_header shadow;
    rt_state_header_init(&specs[j], &shadow);
    for (uint64_t t = 0; t < specs[j].passes * S; ++t) {
      const uint64_t shard = rt_route_shard(&specs[j], t / S, t % S);
      rt_state_header_advance(&shadow, rows[shard], (uint64_t)batch[j], S);
    }
    const rt_state_header *h = rt_state_head(states[j]);
    assert_int_equal(h->magic, shadow.magic);
    assert_int_equal(h->model_id, shadow.model_id);
    assert_int_equal(h->rng_key, shadow.rng_key);
    assert_int_equal(h->pass, shadow.pass);
    assert_int_equal(h->pass, specs[j].passes);
    assert_int_equal(h->position, shadow.position);
    assert_int_equal(h->step, shadow.step);
    assert_int_equal(h->samples, shadow.samples);
    assert_int_equal(h->pass_loss_rows, shadow.pass_loss_rows);
    assert_int_equal(h->param_count, shadow.param_count);
    assert_int_equal(h->aux_count, shadow.aux_count);
    assert_int_equal(h->history_count, shadow.history_count);
    rt_state_free(states[j]);
  }
  rt_config_free(&cfg);
  rt_dataset_free(&ds);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {cmocka_unit_test(shadow_matches_cpu_engine)};
  const int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
