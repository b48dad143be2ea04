/* What the model key `start_shard: auto` resolves to: models that cost the same per batch are
 * spread over the start shards, so that the models starting at one shard (and so the ranks at a
 * hand-off) do not wait for a dearer set starting at another.
 *
 * A model's cost class is its values of the keys that set the work of a batch (cost_keys below:
 * kind, optimizer, batch size, the MLP's widths and activation, the view, ...) and whether sgd's
 * momentum is on; numbers such as the learning rate or L2 do not change the work. Classes are numbered in the order of their first
 * model (the first model of the config is in class 0), and auto = the class's number + the count
 * of earlier models in the same class. So:
 *  - a sweep of one class (a learning-rate grid) gets the model ids, as before this rule;
 *  - a grid whose fastest-varying key changes the cost (activation [relu, tanh] listed last) no
 *    longer puts every relu model at shard 0 and every tanh model at shard 1: each class is dealt
 *    over the shards in turn, whatever the shard count (the value is taken mod the shards in use);
 *  - it is prefix-stable: appending models to a config never moves the earlier ones.
 * Every model counts (a given start_shard too); only the auto ones take the value. Resolved once
 * per config (rt_config_parse, rt_config_set), from the config alone, and written as numbers into
 * a run's config.yaml like seed and data_order. A model tpe suggests keeps the start shard of the
 * model drawn at its place (src/config/sweep.c, rt_sweep_point_apply), so it too depends on the
 * config alone. Model files written before the key existed started at their id (registry.c). */
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "rng.h"

/* The model keys whose values set the work of one batch. A key a kind does not read holds its
 * default, the same for every model of that kind. Not normalize: scaling a batch costs little
 * next to its products, and a model's scaling should not move it. Numbers make no class, but
 * whether sgd's momentum is on does (cost_class). */
static const char *const cost_keys[] = {
    "kind",   "optimizer",     "batch_size", "k",          "algorithm", "lloyd_passes",
    "solver", "fit_intercept", "hidden",     "activation", "output",    "features",
};

size_t rt_start_shard_cost_key_count(void) { return sizeof cost_keys / sizeof *cost_keys; }

const char *rt_start_shard_cost_key(size_t i) {
  return i < rt_start_shard_cost_key_count() ? cost_keys[i] : NULL;
}

/* A 64-bit digest of the model's cost class: its cost keys' texts, mixed 8 bytes at a time by the
 * RNG's key mixer. Two classes that collide share their numbering: balance, not correctness, is
 * what a collision costs (the rule stays a function of the config). */
static uint64_t cost_class(const rt_model_config *model, const size_t *index) {
  uint64_t h = 0x636f7374ULL; /* "cost" */
  for (size_t i = 0; i < rt_start_shard_cost_key_count(); ++i) {
    char text[2048]; /* the longest: 32 column ranges of `features` */
    if (!rt_model_key_text(model, index[i], text, sizeof text)) text[0] = 0;
    const size_t len = strlen(text);
    h = rt_key_push(h, (uint64_t)len);
    for (size_t at = 0; at < len; at += 8) {
      uint64_t word = 0;
      memcpy(&word, text + at, len - at < 8 ? len - at : 8);
      h = rt_key_push(h, word);
    }
  }
  /* sgd with momentum keeps and streams a velocity per weight (and gives up lazy sparse updates):
   * dearer than without, whatever its value. */
  return rt_key_push(h, model->optimizer == RT_OPT_SGD && model->momentum > 0.0);
}

typedef struct class_of {
  uint64_t hash;
  size_t id;
} class_of;

static int by_class_then_id(const void *pa, const void *pb) {
  const class_of *a = pa, *b = pb;
  if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

static int begins_class(const class_of *order, size_t i) {
  return i == 0 || order[i].hash != order[i - 1].hash;
}

rt_code rt_start_shards_resolve(rt_model_config *models, size_t count, rt_status *st) {
  if (count == 0 || !models) return RT_OK;
  const uint64_t bit = UINT64_C(1)
                       << rt_model_key_index(rt_config_key_find(RT_SECTION_MODEL, "start_shard"));
  class_of *order = malloc(count * sizeof *order);
  size_t *number = calloc(count, sizeof *number); /* per model: classes begun before it */
  if (!order || !number) {
    free(order), free(number);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "allocating %zu models' cost classes failed", count);
  }
  size_t index[sizeof cost_keys / sizeof *cost_keys]; /* the cost keys' model key positions */
  for (size_t i = 0; i < rt_start_shard_cost_key_count(); ++i)
    index[i] = rt_model_key_index(rt_config_key_find(RT_SECTION_MODEL, cost_keys[i]));
  for (size_t j = 0; j < count; ++j) order[j] = (class_of){cost_class(&models[j], index), j};
  /* By class, then id: a class's first model heads its run. */
  qsort(order, count, sizeof *order, by_class_then_id);
  for (size_t i = 0; i < count; ++i)
    if (begins_class(order, i)) number[order[i].id] = 1;
  for (size_t j = 0, begun = 0; j < count; ++j) {
    const size_t here = number[j];
    number[j] = begun; /* classes begun by the models before j */
    begun += here;
  }
  /* The k-th model of a class starts at (the class's number + k). */
  for (size_t i = 0, k = 0, head = 0; i < count; ++i, ++k) {
    if (begins_class(order, i)) k = 0, head = order[i].id;
    const size_t j = order[i].id;
    if (!(models[j].given & bit)) models[j].start_shard = (long)(number[head] + k);
  }
  free(order), free(number);
  return RT_OK;
}
