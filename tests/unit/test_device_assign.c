/* Device assignment per node (src/engine/device_assign.h): ranks that share a node end up on
 * distinct physical GPUs, compared by PCI bus id whatever index each rank sees them under; the
 * conflicts that would make NCCL refuse the job are named with both counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "device_assign.h"

static const char *const bus[] = {"0000:1B:00.0", "0000:3B:00.0", "0000:5B:00.0", "0000:9B:00.0",
                                  "0000:BB:00.0", "0000:DB:00.0", "0000:E0:00.0", "0000:F0:00.0"};

/* Rank r of the node sees the devices listed in ids (indices into bus), -1 ended. */
static void sees(rt_rank_devices *node, int r, const int *ids) {
  memset(&node[r], 0, sizeof node[r]);
  node[r].rank = 10 + r; /* job ranks differ from local ones */
  for (int i = 0; ids[i] >= 0; ++i) {
    snprintf(node[r].ids[i], RT_DEVICE_ID_MAX, "%s", bus[ids[i]]);
    node[r].count++;
  }
}

/* rt_device_assign with its scratch (at most 8 ranks here). */
static int assign(const rt_rank_devices *node, int local_ranks, int *choice) {
  unsigned char scratch[8];
  assert_true(local_ranks <= 8);
  return rt_device_assign(node, local_ranks, choice, scratch);
}

/* The physical device rank r got. */
static const char *got(const rt_rank_devices *node, const int *choice, int r) {
  return choice[r] < 0 ? "none" : node[r].ids[choice[r]];
}

static void every_rank_sees_every_device(void **state) {
  (void)state;
  rt_rank_devices node[8];
  int choice[8];
  const int all[] = {0, 1, 2, 3, 4, 5, 6, 7, -1};
  for (int r = 0; r < 8; ++r) sees(node, r, all);
  assert_int_equal(assign(node, 8, choice), -1);
  for (int r = 0; r < 8; ++r) assert_int_equal(choice[r], r); /* rank r on device r, as before */
  /* Fewer ranks than devices: still rank r on device r. */
  assert_int_equal(assign(node, 3, choice), -1);
  for (int r = 0; r < 3; ++r) assert_int_equal(choice[r], r);
}

/* Slurm --gpus-per-task=1: every rank sees one device, its own, at index 0. */
static void one_device_each(void **state) {
  (void)state;
  rt_rank_devices node[4];
  int choice[4];
  for (int r = 0; r < 4; ++r) {
    const int mine[] = {3 - r, -1};
    sees(node, r, mine);
  }
  assert_int_equal(assign(node, 4, choice), -1);
  for (int r = 0; r < 4; ++r) {
    assert_int_equal(choice[r], 0);
    assert_string_equal(got(node, choice, r), bus[3 - r]);
  }
}

/* Two ranks see {A, B}, two see {C, D} (CUDA_VISIBLE_DEVICES per pair). */
static void pairs(void **state) {
  (void)state;
  rt_rank_devices node[4];
  int choice[4];
  const int ab[] = {0, 1, -1}, cd[] = {2, 3, -1};
  sees(node, 0, ab);
  sees(node, 1, ab);
  sees(node, 2, cd);
  sees(node, 3, cd);
  assert_int_equal(assign(node, 4, choice), -1);
  const char *seen[4];
  for (int r = 0; r < 4; ++r) seen[r] = got(node, choice, r);
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < r; ++q) assert_string_not_equal(seen[r], seen[q]);
}

/* local rank % count would put rank 1 on A twice over (it sees {B, A}); the first free one is B. */
static void preferred_taken_first_free(void **state) {
  (void)state;
  rt_rank_devices node[2];
  int choice[2];
  const int a[] = {0, -1}, ba[] = {1, 0, -1};
  sees(node, 0, a);
  sees(node, 1, ba);
  assert_int_equal(assign(node, 2, choice), -1);
  assert_string_equal(got(node, choice, 0), bus[0]);
  assert_string_equal(got(node, choice, 1), bus[1]);
}

/* A rank without devices takes none and blocks nobody. */
static void a_rank_without_devices(void **state) {
  (void)state;
  rt_rank_devices node[3];
  int choice[3];
  const int none[] = {-1}, ab[] = {0, 1, -1};
  sees(node, 0, none);
  sees(node, 1, ab);
  sees(node, 2, ab);
  assert_int_equal(assign(node, 3, choice), -1);
  assert_int_equal(choice[0], -1);
  assert_string_equal(got(node, choice, 1), bus[1]);
  assert_string_equal(got(node, choice, 2), bus[0]);
}

static void more_ranks_than_devices(void **state) {
  (void)state;
  rt_rank_devices node[4];
  int choice[4];
  const int ab[] = {0, 1, -1};
  for (int r = 0; r < 4; ++r) sees(node, r, ab);
  assert_int_equal(assign(node, 4, choice), 2); /* local rank 2 is the first left out */
  assert_int_equal(choice[3], -1);
  char text[400];
  rt_device_conflict_text("gpu07", node, 4, 2, text, sizeof text);
  assert_string_equal(
      text,
      "node gpu07 runs 4 ranks and rank 12 sees 2 CUDA devices, all taken by other ranks "
      "of the node (NCCL needs a GPU of its own for each rank): run at most 2 ranks per "
      "node or make more devices visible");
}

/* Every rank restricted to the same one device (CUDA_VISIBLE_DEVICES=0 for all). */
static void everyone_on_one_device(void **state) {
  (void)state;
  rt_rank_devices node[2];
  int choice[2];
  const int a[] = {0, -1};
  sees(node, 0, a);
  sees(node, 1, a);
  assert_int_equal(assign(node, 2, choice), 1);
  char text[400];
  rt_device_conflict_text("n1", node, 2, 1, text, sizeof text);
  assert_string_equal(
      text,
      "node n1 runs 2 ranks and rank 11 sees 1 CUDA device, already taken by another rank "
      "of the node (NCCL needs a GPU of its own for each rank): run at most 1 rank per "
      "node or make more devices visible");
}

/* Greedy choice would leave rank 1 without a device (rank 0 takes A, the only device rank 1
 * sees): rank 0 moves to B. */
static void an_earlier_rank_moves(void **state) {
  (void)state;
  rt_rank_devices node[2];
  int choice[2];
  const int a[] = {0, -1}, ab[] = {0, 1, -1};
  sees(node, 0, ab);
  sees(node, 1, a);
  assert_int_equal(assign(node, 2, choice), -1);
  assert_string_equal(got(node, choice, 0), bus[1]);
  assert_string_equal(got(node, choice, 1), bus[0]);
}

/* A path of two moves: rank 3 sees only A (rank 0's); rank 0 can move only to B (rank 1's),
 * and rank 1 to D. Rank 2 keeps C. */
static void a_path_of_moves(void **state) {
  (void)state;
  rt_rank_devices node[4];
  int choice[4];
  const int ab[] = {0, 1, -1}, db[] = {3, 1, -1}, c[] = {2, -1}, a[] = {0, -1};
  sees(node, 0, ab); /* greedy: A */
  sees(node, 1, db); /* greedy: index 1 = B */
  sees(node, 2, c);  /* C */
  sees(node, 3, a);  /* A, taken */
  assert_int_equal(assign(node, 4, choice), -1);
  assert_string_equal(got(node, choice, 0), bus[1]);
  assert_string_equal(got(node, choice, 1), bus[3]);
  assert_string_equal(got(node, choice, 2), bus[2]);
  assert_string_equal(got(node, choice, 3), bus[0]);
}

/* Enough distinct devices on the node, but two ranks see only the same one: no assignment
 * exists, and the advice is about visibility, not the rank count. */
static void enough_devices_badly_visible(void **state) {
  (void)state;
  rt_rank_devices node[3];
  int choice[3];
  const int a[] = {0, -1}, bc[] = {1, 2, -1};
  sees(node, 0, a);
  sees(node, 1, a);
  sees(node, 2, bc);
  assert_int_equal(assign(node, 3, choice), 1);
  assert_string_equal(got(node, choice, 0), bus[0]);
  assert_int_equal(choice[1], -1);
  char text[400];
  rt_device_conflict_text("n2", node, 3, 1, text, sizeof text);
  assert_non_null(
      strstr(text, "let each rank of the node see a different device (CUDA_VISIBLE_DEVICES)"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_rank_sees_every_device),
      cmocka_unit_test(one_device_each),
      cmocka_unit_test(pairs),
      cmocka_unit_test(preferred_taken_first_free),
      cmocka_unit_test(a_rank_without_devices),
      cmocka_unit_test(more_ranks_than_devices),
      cmocka_unit_test(everyone_on_one_device),
      cmocka_unit_test(an_earlier_rank_moves),
      cmocka_unit_test(a_path_of_moves),
      cmocka_unit_test(enough_devices_badly_visible),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
