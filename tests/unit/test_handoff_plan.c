/* The NCCL ordering rule, checked by simulation. Each rank executes its hand-offs one at a time
 * as blocking rendezvous (a send completes only together with the matching receive, the worst
 * case for NCCL point-to-point); a rank that waits at a hand-off whose peer is elsewhere is
 * stuck. The plan's order (round, then model id) must always run to completion; a plausible
 * local order ("receive first") must deadlock somewhere, which shows the simulator can tell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "handoff_plan.h"
#include "schedule.h"

#define MAX_RANKS 8

typedef struct ops {
  size_t *idx; /* indices into the plan, in this rank's issue order */
  size_t n, head;
} ops;

/* Runs the ranks' op lists; returns 1 when every hand-off completed, 0 on a deadlock. */
static int simulate(const rt_handoff *plan, ops *per_rank, int ranks) {
  for (;;) {
    int progressed = 0, pending = 0;
    for (int r = 0; r < ranks; ++r) {
      ops *o = &per_rank[r];
      if (o->head == o->n) continue;
      pending = 1;
      const size_t k = o->idx[o->head];
      const int peer = plan[k].from == r ? plan[k].to : plan[k].from;
      ops *p = &per_rank[peer];
      if (p->head < p->n && p->idx[p->head] == k) { /* both sides are at hand-off k */
        o->head++;
        p->head++;
        progressed = 1;
      }
    }
    if (!pending) return 1;
    if (!progressed) return 0;
  }
}

static rt_model_spec *make_specs(size_t count, uint64_t passes, uint64_t shards) {
  rt_model_spec *specs = calloc(count, sizeof *specs);
  for (size_t j = 0; j < count; ++j) {
    specs[j].id = j;
    specs[j].hp.start_shard = (long)j;  /* as start_shard auto resolves */
    specs[j].passes = passes + (j % 2); /* models of different lengths, too */
    specs[j].shards = shards;
  }
  return specs;
}

/* Builds every rank's list from the plan: in plan order, or receives before sends per round. */
static void build_ops(const rt_handoff *plan, size_t n, int ranks, int receive_first,
                      ops *per_rank) {
  for (int r = 0; r < ranks; ++r) {
    per_rank[r].idx = malloc((n ? n : 1) * sizeof(size_t));
    per_rank[r].n = per_rank[r].head = 0;
  }
  for (size_t round_start = 0; round_start < n;) {
    size_t round_end = round_start;
    while (round_end < n && plan[round_end].round == plan[round_start].round) ++round_end;
    for (int pass = 0; pass < (receive_first ? 2 : 1); ++pass)
      for (size_t k = round_start; k < round_end; ++k)
        for (int r = 0; r < ranks; ++r) {
          const int involved = plan[k].from == r || plan[k].to == r;
          const int wanted = !receive_first || (pass == 0) == (plan[k].to == r);
          if (involved && wanted) per_rank[r].idx[per_rank[r].n++] = k;
        }
    round_start = round_end;
  }
}

static int run_case(size_t models, uint64_t passes, uint64_t shards, int ranks, int receive_first) {
  rt_model_spec *specs = make_specs(models, passes, shards);
  const size_t n = rt_handoff_plan(specs, models, shards, ranks, NULL);
  rt_handoff *plan = malloc((n ? n : 1) * sizeof *plan);
  assert_int_equal(rt_handoff_plan(specs, models, shards, ranks, plan), n);
  ops per_rank[MAX_RANKS];
  build_ops(plan, n, ranks, receive_first, per_rank);
  const int ok = simulate(plan, per_rank, ranks);
  for (int r = 0; r < ranks; ++r) free(per_rank[r].idx);
  free(plan);
  free(specs);
  return ok;
}

static void plan_order_never_deadlocks(void **state) {
  (void)state;
  size_t cases = 0;
  for (int ranks = 1; ranks <= 6; ++ranks)
    for (uint64_t shards = (uint64_t)ranks; shards <= 7; ++shards)
      for (size_t models = 1; models <= 9; ++models)
        for (uint64_t passes = 1; passes <= 3; ++passes) {
          if (!run_case(models, passes, shards, ranks, 0))
            fail_msg("deadlock: %zu models, %llu passes, %llu shards, %d ranks", models,
                     (unsigned long long)passes, (unsigned long long)shards, ranks);
          ++cases;
        }
  assert_int_equal(cases, 729); /* 27 (ranks, shards) pairs x 9 model counts x 3 pass counts */
}

static void receive_first_order_can_deadlock(void **state) {
  (void)state;
  /* Two models swapping between two ranks: each rank waits to receive first. */
  assert_int_equal(run_case(2, 1, 2, 2, 1), 0);
}

static void plan_matches_the_schedule(void **state) {
  (void)state;
  rt_model_spec *specs = make_specs(3, 2, 4);
  const size_t n = rt_handoff_plan(specs, 3, 4, 4, NULL);
  rt_handoff *plan = malloc(n * sizeof *plan);
  rt_handoff_plan(specs, 3, 4, 4, plan);
  /* With one shard per rank every step is a hand-off: rounds - 1 per model. */
  size_t expected = 0;
  for (size_t j = 0; j < 3; ++j) expected += specs[j].passes * 4 - 1;
  assert_int_equal(n, expected);
  for (size_t k = 0; k < n; ++k) {
    assert_int_not_equal(plan[k].from, plan[k].to);
    if (k)
      assert_true(plan[k - 1].round < plan[k].round ||
                  (plan[k - 1].round == plan[k].round && plan[k - 1].model < plan[k].model));
    const uint64_t shard =
        rt_succession_shard(plan[k].model, plan[k].round / 4, plan[k].round % 4, 4);
    assert_int_equal(plan[k].from, rt_shard_owner(shard, 4, 4));
  }
  /* One rank: nothing moves. */
  assert_int_equal(rt_handoff_plan(specs, 3, 4, 1, NULL), 0);
  free(plan);
  free(specs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plan_order_never_deadlocks),
      cmocka_unit_test(receive_first_order_can_deadlock),
      cmocka_unit_test(plan_matches_the_schedule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
