/* Config: YAML parsing (libyaml document API), --set overrides and validation. Every key goes
 * through the table in config_keys.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "config_internal.h"
#include "edit_distance.h"
#include "ringtrain/config.h"
#include "sweep.h"

#define RT_CONFIG_FILE_MAX (64u << 20) /* a config larger than this is a mistake */

static const char *const section_names[RT_SECTION_COUNT] = {"data", "run", "models", "sweep"};

/* The names of the enums are the canonical names of their keys' choices in the key table. */
const char *rt_optimizer_name(rt_optimizer opt) {
  return rt_config_choice_name(RT_SECTION_MODEL, "optimizer", opt);
}
const char *rt_schedule_name(rt_schedule sched) {
  return rt_config_choice_name(RT_SECTION_MODEL, "schedule", sched);
}
const char *rt_solver_name(rt_solver solver) {
  return rt_config_choice_name(RT_SECTION_MODEL, "solver", solver);
}
const char *rt_kmeans_algorithm_name(rt_kmeans_algorithm algorithm) {
  return rt_config_choice_name(RT_SECTION_MODEL, "algorithm", algorithm);
}
const char *rt_activation_name(rt_activation activation) {
  return rt_config_choice_name(RT_SECTION_MODEL, "activation", activation);
}
const char *rt_mlp_output_name(rt_mlp_output output) {
  return rt_config_choice_name(RT_SECTION_MODEL, "output", output);
}
const char *rt_init_scheme_name(rt_init_scheme init) {
  return rt_config_choice_name(RT_SECTION_MODEL, "init", init);
}
const char *rt_normalize_name(rt_normalize normalize) {
  return rt_config_choice_name(RT_SECTION_DATA, "normalize", normalize);
}
const char *rt_sweep_method_name(rt_sweep_method method) {
  return rt_config_choice_name(RT_SECTION_SWEEP, "method", method);
}
const char *rt_sweep_goal_name(rt_sweep_goal goal) {
  return rt_config_choice_name(RT_SECTION_SWEEP, "metric.goal", goal);
}

rt_sweep_goal rt_sweep_goal_resolve(rt_sweep_goal goal, const char *metric) {
  if (goal == RT_GOAL_MINIMIZE || goal == RT_GOAL_MAXIMIZE) return goal;
  if (metric && (strcmp(metric, "val_accuracy") == 0 || strcmp(metric, "val_r2") == 0 ||
                 strcmp(metric, "accuracy") == 0 || strcmp(metric, "r2") == 0))
    return RT_GOAL_MAXIMIZE;
  return RT_GOAL_MINIMIZE;
}

rt_init_scheme rt_init_scheme_resolve(rt_init_scheme init, rt_activation activation) {
  if (init != RT_INIT_AUTO) return init;
  return activation == RT_ACTIVATION_RELU ? RT_INIT_HE : RT_INIT_XAVIER;
}

/* data.seed and sweep.seed follow run.seed until they are given (an expansion draws with them). */
static void sync_seeds(rt_config *cfg) {
  if (!cfg->data.seed_set) cfg->data.seed = cfg->run.seed;
  if (!cfg->sweep.seed_set) cfg->sweep.seed = cfg->run.seed;
}

/* The seeds, then the models' auto values, once a parse or an assignment is done: seed and
 * data_order per model (rt_model_config_resolve), start_shard for the whole config
 * (src/config/start_shard.c), so it follows a --set that changes a model's cost. Fails only on
 * allocation. */
static rt_code resolve_autos(rt_config *cfg, rt_status *st) {
  sync_seeds(cfg);
  for (size_t j = 0; j < cfg->model_count && cfg->models; ++j)
    rt_model_config_resolve(&cfg->models[j], cfg->run.seed, j);
  return rt_start_shards_resolve(cfg->models, cfg->model_count, st);
}

void rt_config_defaults(rt_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  memcpy(cfg->dir, ".", 2);
  char why[256];
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section == RT_SECTION_MODEL || !key->default_text) continue;
    /* The table's defaults are checked by the unit tests; they cannot fail. */
    (void)rt_config_key_apply(key, cfg, key->default_text, NULL, why, sizeof why);
  }
  sync_seeds(cfg);
}

void rt_config_free(rt_config *cfg) {
  if (!cfg) return;
  free(cfg->models);
  cfg->models = NULL;
  cfg->model_count = 0;
  rt_sweep_plan_free(cfg->sweep_plan);
  cfg->sweep_plan = NULL;
}

/* The config's name in messages. */
static const char *config_where(const rt_config *cfg) {
  return cfg->path[0] ? cfg->path : "<config>";
}

/* Replaces cfg->models with the expansion of cfg->sweep_plan. When the sweep settings do not
 * allow it (a config error), the reason is kept as pending instead: --set sweep.* may still fix
 * it, and rt_config_validate reports it otherwise. */
static rt_code install_expansion(rt_config *cfg, const char *where, rt_status *st) {
  rt_model_config *models = NULL;
  size_t count = 0;
  rt_sweep_plan *plan = cfg->sweep_plan;
  rt_code rc = rt_sweep_expand(cfg, plan, where, &models, &count, st);
  if (rc == RT_ERR_CONFIG) {
    snprintf(plan->pending, sizeof plan->pending, "%s", st->message);
    rt_status_clear(st);
    free(cfg->models);
    cfg->models = NULL;
    cfg->model_count = 0;
    return RT_OK;
  }
  if (rc != RT_OK) return rc;
  plan->pending[0] = '\0';
  free(cfg->models);
  cfg->models = models;
  cfg->model_count = count;
  return RT_OK;
}

/* Formats a full key name: "run.passes", "models[2].learning_rate". */
static void key_label(char *buf, size_t size, rt_section section, size_t model, const char *key) {
  if (section == RT_SECTION_MODEL) snprintf(buf, size, "models[%zu].%s", model, key);
  else snprintf(buf, size, "%s.%s", section_names[section], key);
}

/* Where a key name that is unknown here does belong, e.g. "'passes' belongs in the run section". */
static int key_home(const char *name, rt_section here, char *buf, size_t size) {
  int found[RT_SECTION_COUNT] = {0}, count = 0;
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section == here || strcmp(key->name, name) != 0 || found[key->section]) continue;
    found[key->section] = 1;
    ++count;
  }
  if (count == 0) return 0;
  if (found[RT_SECTION_MODEL] && count == 1) {
    snprintf(buf, size, "'%s' belongs in a models entry", name);
    return 1;
  }
  /* "run", "data or run", "data, run or sweep" */
  static const rt_section order[] = {RT_SECTION_DATA, RT_SECTION_RUN, RT_SECTION_SWEEP};
  int listed = 0, sections = count - found[RT_SECTION_MODEL];
  char where[64] = "";
  for (size_t i = 0; i < sizeof order / sizeof order[0]; ++i) {
    if (!found[order[i]]) continue;
    size_t used = strlen(where);
    ++listed;
    snprintf(where + used, sizeof where - used, "%s%s",
             listed == 1          ? ""
             : listed == sections ? " or "
                                  : ", ",
             section_names[order[i]]);
  }
  snprintf(buf, size, "'%s' belongs in the %s section%s", name, where,
           found[RT_SECTION_MODEL] ? " or a models entry" : "");
  return 1;
}

/* "optimizer:adam" is one plain scalar in YAML: the space after ':' is missing. */
static int missing_space_hint(const char *text, rt_section section, char *buf, size_t size) {
  const char *colon = strchr(text, ':');
  if (!colon || colon == text || (size_t)(colon - text) >= 64) return 0;
  char head[64];
  memcpy(head, text, (size_t)(colon - text));
  head[colon - text] = '\0';
  if (!rt_config_key_find(section, head)) return 0;
  snprintf(buf, size, "a space is missing after ':' (write '%s: %.60s')", head, colon + 1);
  return 1;
}

/* "did you mean 'x'?" / "'x' belongs in ..." / "valid keys: ..." for an unknown key. */
static void unknown_key_hint(const char *name, rt_section section, char *buf, size_t size) {
  if (missing_space_hint(name, section, buf, size)) return;
  /* A key of another section, spelled right, is more likely misplaced than misspelled. */
  if (key_home(name, section, buf, size)) return;
  const char *near = rt_config_key_suggest(section, name);
  if (near) {
    snprintf(buf, size, "did you mean '%s'?", near);
    return;
  }
  char list[512];
  rt_config_key_list(section, list, sizeof list);
  snprintf(buf, size, "valid keys: %s", list);
}

static void unknown_section_hint(const char *name, char *buf, size_t size) {
  if (key_home(name, RT_SECTION_COUNT, buf, size)) return;
  const char *near = rt_suggest(name, section_names, RT_SECTION_COUNT);
  if (near) {
    snprintf(buf, size, "did you mean '%s'?", near);
    return;
  }
  snprintf(buf, size, "valid sections: data, run, models, sweep");
}

/* ---------------------------------------------------------------------------------------------
 * YAML walk
 * ------------------------------------------------------------------------------------------- */

typedef struct parse_ctx {
  const char *path;
  yaml_document_t *doc;
  rt_config *cfg;
  rt_status *st;
  rt_sweep_entry *entry; /* the models entry being walked (its base is the walked object) */
  size_t merged;         /* mappings and their pairs walked through merges so far (walk_merge) */
} parse_ctx;

static rt_code fail_mark(const parse_ctx *ctx, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static rt_code fail_mark(const parse_ctx *ctx, yaml_mark_t mark, const char *fmt, ...) {
  char msg[RT_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return rt_fail(ctx->st, RT_ERR_CONFIG, "%s:%zu:%zu: %s", ctx->path, mark.line + 1,
                 mark.column + 1, msg);
}

static yaml_mark_t start_of_file(void) {
  yaml_mark_t mark = {0, 0, 0};
  return mark;
}

static const char *scalar(const yaml_node_t *node) { return (const char *)node->data.scalar.value; }

static int is_null(const yaml_node_t *node) {
  if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return 0;
  const char *s = scalar(node);
  return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
         strcmp(s, "NULL") == 0;
}

/* "a mapping", "a list", "nothing", "'text'" */
static void describe(const yaml_node_t *node, char *buf, size_t size) {
  if (node->type == YAML_MAPPING_NODE) {
    snprintf(buf, size, "a mapping");
  } else if (node->type == YAML_SEQUENCE_NODE) {
    snprintf(buf, size, "a list");
  } else if (is_null(node)) {
    snprintf(buf, size, "nothing");
  } else {
    char value[80];
    rt_config_show_value(scalar(node), value, sizeof value);
    snprintf(buf, size, "'%s'", value);
  }
}

/* The key of a mapping pair as text; fails for non-scalar keys and NUL bytes. */
static rt_code pair_key(const parse_ctx *ctx, const yaml_node_t *key, const char *where,
                        const char **name) {
  if (!key) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling key node");
  if (key->type != YAML_SCALAR_NODE) {
    char what[96];
    describe(key, what, sizeof what);
    return fail_mark(ctx, key->start_mark, "%s: expected a key name, got %s", where, what);
  }
  if (strlen(scalar(key)) != key->data.scalar.length)
    return fail_mark(ctx, key->start_mark, "%s: key names cannot contain NUL characters", where);
  *name = scalar(key);
  return RT_OK;
}

/* Rejects a key that an earlier pair of the same mapping already has. */
static rt_code check_duplicate(const parse_ctx *ctx, const yaml_node_t *map,
                               const yaml_node_pair_t *pair, const char *name) {
  for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; ++q) {
    yaml_node_t *other = yaml_document_get_node(ctx->doc, q->key);
    if (other && other->type == YAML_SCALAR_NODE && strcmp(scalar(other), name) == 0) {
      yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
      return fail_mark(ctx, key->start_mark, "duplicate key '%s' (first given at line %zu)", name,
                       other->start_mark.line + 1);
    }
  }
  return RT_OK;
}

#define RT_MERGE_DEPTH_MAX 16
/* Aliases let merged mappings merge others many times over ("<<: [*a, *a]" on every level of a
 * chain of anchors), so the work grows exponentially with the depth: a 900-byte config would
 * take hours. The mappings and pairs walked through merges in the whole document are capped. */
#define RT_MERGE_WORK_MAX 1000000

static int is_merge_key(const yaml_node_t *key) {
  return key && key->type == YAML_SCALAR_NODE &&
         key->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(scalar(key), "<<") == 0;
}

static rt_code walk_section(parse_ctx *ctx, rt_section section, size_t model, const char *where,
                            const yaml_node_t *map, void *obj, int depth);

/* A list-valued key (RT_KEY_INT_RANGE, RT_KEY_INT_LIST): its items joined into the text
 * "[a, b]" that rt_config_key_apply takes. Every item must be a scalar without ',', '[' or ']'. */
static rt_code sequence_text(const parse_ctx *ctx, const rt_config_key *k, const char *label,
                             const yaml_node_t *list, char *buf, size_t size) {
  size_t used = 0;
  buf[used++] = '[';
  for (yaml_node_item_t *item = list->data.sequence.items.start;
       item < list->data.sequence.items.top; ++item) {
    yaml_node_t *node = yaml_document_get_node(ctx->doc, *item);
    if (!node) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling item");
    char expected[256], what[96];
    rt_config_key_expected(k, expected, sizeof expected);
    describe(node, what, sizeof what);
    if (node->type != YAML_SCALAR_NODE || is_null(node) ||
        strlen(scalar(node)) != node->data.scalar.length || strpbrk(scalar(node), ",[]"))
      return fail_mark(ctx, node->start_mark, "%s: expected %s, got %s in the list", label,
                       expected, what);
    int n = snprintf(buf + used, size - used, "%s%s",
                     item > list->data.sequence.items.start ? ", " : "", scalar(node));
    if (n < 0 || (size_t)n + 2 > size - used)
      return fail_mark(ctx, list->start_mark, "%s: expected %s, got a longer list", label,
                       expected);
    used += (size_t)n;
  }
  buf[used++] = ']';
  buf[used] = '\0';
  return RT_OK;
}

/* YAML merge keys ("<<: *defaults" or "<<: [*a, *b]"): the merged mappings are applied first, the
 * later ones of a list first, so that the mapping's own keys and the earlier mappings win. */
static rt_code walk_merge(parse_ctx *ctx, rt_section section, size_t model, const char *where,
                          const yaml_node_t *value, void *obj, int depth) {
  if (depth >= RT_MERGE_DEPTH_MAX)
    return fail_mark(ctx, value->start_mark,
                     "%s: merges ('<<') nested too deeply (does an alias refer to itself?)", where);
  if (value->type == YAML_MAPPING_NODE || value->type == YAML_SEQUENCE_NODE) {
    ctx->merged +=
        1 + (size_t)(value->type == YAML_MAPPING_NODE
                         ? value->data.mapping.pairs.top - value->data.mapping.pairs.start
                         : value->data.sequence.items.top - value->data.sequence.items.start);
    if (ctx->merged > RT_MERGE_WORK_MAX)
      return fail_mark(ctx, value->start_mark,
                       "%s: merges ('<<') expand too far: over %d merged mappings and keys (do "
                       "aliases merge each other many times over?)",
                       where, RT_MERGE_WORK_MAX);
  }
  if (value->type == YAML_MAPPING_NODE)
    return walk_section(ctx, section, model, where, value, obj, depth + 1);
  if (value->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *item = value->data.sequence.items.top;
         item > value->data.sequence.items.start; --item) {
      yaml_node_t *merged = yaml_document_get_node(ctx->doc, item[-1]);
      if (!merged) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling item");
      if (merged->type != YAML_MAPPING_NODE)
        return fail_mark(ctx, merged->start_mark, "%s: '<<' expects mappings to merge", where);
      rt_code rc;
      RT_TRY(rc, walk_section(ctx, section, model, where, merged, obj, depth + 1));
    }
    return RT_OK;
  }
  return fail_mark(ctx, value->start_mark,
                   "%s: '<<' expects a mapping or a list of mappings to merge", where);
}

/* Applies one YAML value (a scalar, or a list for list keys) as the value of key k to obj. */
static rt_code apply_node(parse_ctx *ctx, rt_section section, const rt_config_key *k,
                          const char *label, const yaml_node_t *value, void *obj) {
  char list_text[512];
  if (value->type == YAML_SEQUENCE_NODE && rt_config_key_is_list(k)) {
    rt_code rc;
    RT_TRY(rc, sequence_text(ctx, k, label, value, list_text, sizeof list_text));
  } else if (value->type != YAML_SCALAR_NODE) {
    char expected[256], what[96];
    rt_config_key_expected(k, expected, sizeof expected);
    describe(value, what, sizeof what);
    if (section == RT_SECTION_MODEL && value->type == YAML_MAPPING_NODE)
      return fail_mark(ctx, value->start_mark,
                       "%s: expected %s, got a mapping (a swept key takes a list of values, "
                       "{values: [...]} or {distribution: ..., ...})",
                       label, expected);
    return fail_mark(ctx, value->start_mark, "%s: expected %s, got %s", label, expected, what);
  }
  if (value->type == YAML_SCALAR_NODE && strlen(scalar(value)) != value->data.scalar.length)
    return fail_mark(ctx, value->start_mark, "%s: values cannot contain NUL characters", label);
  const char *text = value->type == YAML_SEQUENCE_NODE ? list_text
                     : is_null(value)                  ? ""
                                                       : scalar(value);
  if (k->required && text[0] == '\0')
    return fail_mark(ctx, value->start_mark, "%s is required, got nothing", label);
  char why[512];
  rt_apply_result r = rt_config_key_apply(
      k, obj, text, section == RT_SECTION_DATA ? ctx->cfg->dir : NULL, why, sizeof why);
  if (r == RT_APPLY_TYPE) return fail_mark(ctx, value->start_mark, "%s: %s", label, why);
  if (r == RT_APPLY_RANGE) return fail_mark(ctx, value->start_mark, "%s %s", label, why);
  return RT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Swept model keys: a list of values, {values: [...]} or {distribution: ..., ...}
 * ------------------------------------------------------------------------------------------- */

/* Checks one value text of model key k against the key table (on a copy of the entry's base). */
static rt_code check_value(const parse_ctx *ctx, const rt_config_key *k, const char *label,
                           const char *text, yaml_mark_t mark) {
  rt_model_config scratch = ctx->entry->base;
  char why[512];
  rt_apply_result r = rt_config_key_apply(k, &scratch, text, NULL, why, sizeof why);
  if (r == RT_APPLY_TYPE) return fail_mark(ctx, mark, "%s: %s", label, why);
  if (r == RT_APPLY_RANGE) return fail_mark(ctx, mark, "%s %s", label, why);
  if (k->required && text[0] == '\0')
    return fail_mark(ctx, mark, "%s is required, got nothing", label);
  return RT_OK;
}

/* One value of a swept key as text: a scalar, or (list keys) a YAML list joined as "[a, b]". */
static rt_code value_text(const parse_ctx *ctx, const rt_config_key *k, const char *label,
                          const yaml_node_t *node, char *buf, size_t size) {
  if (node->type == YAML_SEQUENCE_NODE && rt_config_key_is_list(k))
    return sequence_text(ctx, k, label, node, buf, size);
  if (node->type != YAML_SCALAR_NODE || is_null(node)) {
    char expected[256], what[96];
    rt_config_key_expected(k, expected, sizeof expected);
    describe(node, what, sizeof what);
    return fail_mark(ctx, node->start_mark, "%s: expected %s, got %s in the list", label, expected,
                     what);
  }
  if (strlen(scalar(node)) != node->data.scalar.length)
    return fail_mark(ctx, node->start_mark, "%s: values cannot contain NUL characters", label);
  if (node->data.scalar.length + 1 > size)
    return fail_mark(ctx, node->start_mark, "%s: value too long (at most %zu bytes)", label,
                     size - 1);
  memcpy(buf, scalar(node), node->data.scalar.length + 1);
  return RT_OK;
}

/* The items of a YAML list as checked value texts of k, into param->values. */
static rt_code add_values(parse_ctx *ctx, const rt_config_key *k, const char *label,
                          const yaml_node_t *list, rt_sweep_param *param) {
  const size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
  if (n == 0)
    return fail_mark(ctx, list->start_mark,
                     "%s: expected at least one value to sweep, got an "
                     "empty list",
                     label);
  param->values = calloc(n, sizeof *param->values);
  if (!param->values) return RT_FAIL_AT(ctx->st, RT_ERR_NOMEM, "calloc(%zu values) failed", n);
  for (size_t i = 0; i < n; ++i) {
    yaml_node_t *item = yaml_document_get_node(ctx->doc, list->data.sequence.items.start[i]);
    if (!item) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling item");
    char text[RT_PATH_MAX];
    rt_code rc = value_text(ctx, k, label, item, text, sizeof text);
    if (rc == RT_OK) rc = check_value(ctx, k, label, text, item->start_mark);
    if (rc != RT_OK) return rc;
    param->values[i] = strdup(text);
    if (!param->values[i]) return RT_FAIL_AT(ctx->st, RT_ERR_NOMEM, "strdup failed");
    param->value_count = i + 1;
  }
  return RT_OK;
}

static const char *const distribution_names[] = {"uniform", "log_uniform", "int_uniform",
                                                 "categorical"};
static const rt_sweep_dist distribution_values[] = {RT_DIST_UNIFORM, RT_DIST_LOG_UNIFORM,
                                                    RT_DIST_INT_UNIFORM, RT_DIST_CATEGORICAL};

/* min or max of a distribution: a valid value of k, and a number (int_uniform: an integer). */
static rt_code distribution_bound(const parse_ctx *ctx, const rt_config_key *k, const char *label,
                                  const char *which, const yaml_node_t *node, rt_sweep_dist dist,
                                  double *number, long long *integer, char *text, size_t size) {
  char bound_label[200];
  snprintf(bound_label, sizeof bound_label, "%s.%s", label, which);
  if (node->type != YAML_SCALAR_NODE || is_null(node)) {
    char expected[256], what[96];
    rt_config_key_expected(k, expected, sizeof expected);
    describe(node, what, sizeof what);
    return fail_mark(ctx, node->start_mark, "%s: expected %s, got %s", bound_label, expected, what);
  }
  rt_code rc = value_text(ctx, k, bound_label, node, text, size);
  if (rc == RT_OK) rc = check_value(ctx, k, bound_label, text, node->start_mark);
  if (rc != RT_OK) return rc;
  if (dist == RT_DIST_INT_UNIFORM) {
    if (rt_config_parse_int(text, integer) != 1)
      return fail_mark(ctx, node->start_mark, "%s: int_uniform needs an integer, got '%s'",
                       bound_label, text);
    *number = (double)*integer;
    return RT_OK;
  }
  if (rt_config_parse_number(text, number) != 1)
    return fail_mark(ctx, node->start_mark, "%s: expected a finite number, got '%s'", bound_label,
                     text);
  return RT_OK;
}

/* {values: [...]} or {distribution: NAME, min: A, max: B} / {distribution: categorical, values}. */
static rt_code sweep_mapping(parse_ctx *ctx, const rt_config_key *k, const char *label,
                             const yaml_node_t *map, rt_sweep_param *param) {
  const yaml_node_t *values = NULL, *dist = NULL, *min = NULL, *max = NULL;
  for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
       ++pair) {
    yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
    yaml_node_t *value = yaml_document_get_node(ctx->doc, pair->value);
    const char *name = NULL;
    rt_code rc;
    RT_TRY(rc, pair_key(ctx, key, label, &name));
    if (!value) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling value");
    RT_TRY(rc, check_duplicate(ctx, map, pair, name));
    if (strcmp(name, "values") == 0) values = value;
    else if (strcmp(name, "distribution") == 0) dist = value;
    else if (strcmp(name, "min") == 0) min = value;
    else if (strcmp(name, "max") == 0) max = value;
  }
  if (!values && !dist) {
    char expected[256];
    rt_config_key_expected(k, expected, sizeof expected);
    return fail_mark(ctx, map->start_mark,
                     "%s: expected %s, got a mapping (a swept key takes a list of values, "
                     "{values: [...]} or {distribution: ..., ...})",
                     label, expected);
  }
  if (k->type == RT_KEY_NAME_LIST)
    return fail_mark(ctx, map->start_mark, "%s cannot be swept (it records the keys a sweep set)",
                     label);
  /* Unknown keys, now that the mapping is a sweep. */
  static const char *const known[] = {"distribution", "min", "max", "values"};
  for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
       ++pair) {
    yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
    const char *name = scalar(key);
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i) ok |= strcmp(name, known[i]) == 0;
    if (ok) continue;
    char shown[80];
    rt_config_show_value(name, shown, sizeof shown);
    const char *near = rt_suggest(name, known, sizeof known / sizeof known[0]);
    if (near)
      return fail_mark(ctx, key->start_mark, "unknown key '%s' in %s; did you mean '%s'?", shown,
                       label, near);
    return fail_mark(ctx, key->start_mark,
                     "unknown key '%s' in %s; valid keys: distribution, min, max, values", shown,
                     label);
  }
  param->dist = RT_DIST_VALUES;
  if (dist) {
    char dist_label[200];
    snprintf(dist_label, sizeof dist_label, "%s.distribution", label);
    const char *dname = dist->type == YAML_SCALAR_NODE && !is_null(dist) ? scalar(dist) : NULL;
    size_t which = sizeof distribution_names / sizeof distribution_names[0];
    for (size_t i = 0; dname && i < sizeof distribution_names / sizeof distribution_names[0]; ++i)
      if (strcmp(dname, distribution_names[i]) == 0) which = i;
    if (which == sizeof distribution_names / sizeof distribution_names[0]) {
      char what[96], hint[96] = "";
      describe(dist, what, sizeof what);
      const size_t names = sizeof distribution_names / sizeof distribution_names[0];
      const char *near = dname ? rt_suggest(dname, distribution_names, names) : NULL;
      if (near) snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
      return fail_mark(ctx, dist->start_mark,
                       "%s: expected one of: uniform, log_uniform, int_uniform, categorical; got "
                       "%s%s",
                       dist_label, what, hint);
    }
    param->dist = distribution_values[which];
  }
  const char *dname = rt_sweep_dist_name(param->dist);
  if (param->dist == RT_DIST_VALUES || param->dist == RT_DIST_CATEGORICAL) {
    if (min || max)
      return fail_mark(ctx, (min ? min : max)->start_mark,
                       "%s: min and max go with distribution uniform, log_uniform or int_uniform, "
                       "not with %s",
                       label, param->dist == RT_DIST_VALUES ? "values alone" : "categorical");
    if (!values)
      return fail_mark(ctx, map->start_mark, "%s: distribution categorical needs values: [...]",
                       label);
    if (values->type != YAML_SEQUENCE_NODE) {
      char what[96];
      describe(values, what, sizeof what);
      return fail_mark(ctx, values->start_mark, "%s.values: expected a list of values, got %s",
                       label, what);
    }
    return add_values(ctx, k, label, values, param);
  }
  if (values)
    return fail_mark(ctx, values->start_mark,
                     "%s: values goes with distribution categorical; %s takes min and max", label,
                     dname);
  if (k->type != RT_KEY_NUMBER && k->type != RT_KEY_INT)
    return fail_mark(ctx, map->start_mark,
                     "%s: distribution %s needs a numeric key; give values: [...] (or "
                     "distribution: categorical)",
                     label, dname);
  if (!min || !max)
    return fail_mark(ctx, map->start_mark, "%s: distribution %s needs min and max", label, dname);
  char min_text[128], max_text[128];
  rt_code rc = distribution_bound(ctx, k, label, "min", min, param->dist, &param->min, &param->imin,
                                  min_text, sizeof min_text);
  if (rc == RT_OK)
    rc = distribution_bound(ctx, k, label, "max", max, param->dist, &param->max, &param->imax,
                            max_text, sizeof max_text);
  if (rc != RT_OK) return rc;
  if (param->dist == RT_DIST_INT_UNIFORM ? param->imin > param->imax : param->min > param->max)
    return fail_mark(ctx, map->start_mark,
                     "%s: distribution %s needs min <= max, got min %s > max %s", label, dname,
                     min_text, max_text);
  if (param->dist == RT_DIST_LOG_UNIFORM && !(param->min > 0.0))
    return fail_mark(ctx, min->start_mark, "%s.min: log_uniform needs min > 0, got %s", label,
                     min_text);
  return RT_OK;
}

/* A models entry key given as a sweep is recorded in ctx->entry (*swept = 1); one plain value
 * (a scalar; for list keys, a list of scalars) is left to the caller (*swept = 0). */
static rt_code sweep_node(parse_ctx *ctx, const rt_config_key *k, const char *label,
                          const yaml_node_t *value, int *swept) {
  *swept = 0;
  rt_sweep_param param;
  memset(&param, 0, sizeof param);
  param.key = k;
  param.line = (int)value->start_mark.line + 1;
  param.column = (int)value->start_mark.column + 1;
  rt_code rc;
  if (value->type == YAML_SEQUENCE_NODE) {
    if (rt_config_key_is_list(k)) {
      /* [64, 32] is one value of hidden; [[64], [64, 32]] is two. A view is swept as soon as
       * one item is a list: [all, [0:392], 5] is three views. */
      int lists = value->data.sequence.items.top > value->data.sequence.items.start;
      int any_list = 0;
      for (yaml_node_item_t *item = value->data.sequence.items.start;
           item < value->data.sequence.items.top; ++item) {
        yaml_node_t *node = yaml_document_get_node(ctx->doc, *item);
        if (!node || node->type != YAML_SEQUENCE_NODE) lists = 0;
        else any_list = 1;
      }
      if (k->type == RT_KEY_COLUMN_LIST) lists = any_list;
      if (!lists) return RT_OK;
      if (k->type == RT_KEY_NAME_LIST)
        return fail_mark(ctx, value->start_mark,
                         "%s cannot be swept (it records the keys a sweep set)", label);
    }
    param.dist = RT_DIST_VALUES;
    rc = add_values(ctx, k, label, value, &param);
  } else if (value->type == YAML_MAPPING_NODE) {
    rc = sweep_mapping(ctx, k, label, value, &param);
  } else {
    return RT_OK;
  }
  if (rc != RT_OK) {
    rt_sweep_param_clear(&param);
    return rc;
  }
  *swept = 1;
  return rt_sweep_entry_add(ctx->entry, &param, ctx->st);
}

/* A nested mapping of the sweep section: sweep.metric: {name: ..., goal: ...} (or just the
 * name), sweep.early_terminate: {type: ..., min_passes: ...} (or just the type), sweep.asha:
 * {min_passes: ..., eta: ...} (or just min_passes), sweep.tpe: {startup: ..., gamma: ...,
 * candidates: ...} (or just startup), sweep.pbt: {interval: ..., fraction: ..., perturb: ...}
 * (or just interval). */
typedef struct nested_section {
  const char *name;         /* "metric" */
  const char *scalar_key;   /* the key a plain scalar sets: "name" */
  const char *example;      /* shown when the value has the wrong shape */
  const char *const *known; /* its keys */
  size_t known_count;
} nested_section;

static const char *const metric_keys[] = {"name", "goal"};
static const char *const early_keys[] = {"type", "min_passes"};
static const char *const asha_keys[] = {"min_passes", "eta"};
static const char *const tpe_keys[] = {"startup", "gamma", "candidates"};
static const char *const pbt_keys[] = {"interval", "fraction", "perturb"};
static const nested_section nested_sections[] = {
    {"metric", "name", "{name: val_accuracy, goal: maximize}", metric_keys, 2},
    {"early_terminate", "type", "{type: median, min_passes: 2}", early_keys, 2},
    {"asha", "min_passes", "{min_passes: 1, eta: 3}", asha_keys, 2},
    {"tpe", "startup", "{startup: 10, gamma: 0.25, candidates: 24}", tpe_keys, 3},
    {"pbt", "interval", "{interval: 2, fraction: 0.25, perturb: 0.2}", pbt_keys, 3},
};

static const nested_section *find_nested(const char *name) {
  for (size_t i = 0; i < sizeof nested_sections / sizeof nested_sections[0]; ++i)
    if (strcmp(nested_sections[i].name, name) == 0) return &nested_sections[i];
  return NULL;
}

static rt_code walk_nested(parse_ctx *ctx, const nested_section *ns, const yaml_node_t *value) {
  char where[64], full[128];
  snprintf(where, sizeof where, "sweep.%s", ns->name);
  if (is_null(value)) return RT_OK;
  if (value->type == YAML_SCALAR_NODE) {
    char label[160];
    snprintf(full, sizeof full, "%s.%s", ns->name, ns->scalar_key);
    snprintf(label, sizeof label, "sweep.%s", full);
    return apply_node(ctx, RT_SECTION_SWEEP, rt_config_key_find(RT_SECTION_SWEEP, full), label,
                      value, ctx->cfg);
  }
  if (value->type != YAML_MAPPING_NODE) {
    char what[96];
    describe(value, what, sizeof what);
    return fail_mark(ctx, value->start_mark, "%s: expected a mapping such as %s, got %s", where,
                     ns->example, what);
  }
  for (yaml_node_pair_t *pair = value->data.mapping.pairs.start;
       pair < value->data.mapping.pairs.top; ++pair) {
    yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
    yaml_node_t *item = yaml_document_get_node(ctx->doc, pair->value);
    const char *name = NULL;
    rt_code rc;
    RT_TRY(rc, pair_key(ctx, key, where, &name));
    if (!item) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling value");
    RT_TRY(rc, check_duplicate(ctx, value, pair, name));
    char label[160];
    snprintf(full, sizeof full, "%s.%s", ns->name, name);
    const rt_config_key *k = strchr(name, '.') ? NULL : rt_config_key_find(RT_SECTION_SWEEP, full);
    if (!k) {
      char shown[80];
      rt_config_show_value(name, shown, sizeof shown);
      const char *near = rt_suggest(name, ns->known, ns->known_count);
      if (near)
        return fail_mark(ctx, key->start_mark, "unknown key '%s' in %s; did you mean '%s'?", shown,
                         where, near);
      return fail_mark(ctx, key->start_mark, "unknown key '%s' in %s; valid keys: %s, %s", shown,
                       where, ns->known[0], ns->known[1]);
    }
    snprintf(label, sizeof label, "sweep.%s", k->name);
    RT_TRY(rc, apply_node(ctx, RT_SECTION_SWEEP, k, label, item, ctx->cfg));
  }
  return RT_OK;
}

/* Walks the mapping of one section (data, run, sweep or a models entry) into obj. */
static rt_code walk_section(parse_ctx *ctx, rt_section section, size_t model, const char *where,
                            const yaml_node_t *map, void *obj, int depth) {
  if (section != RT_SECTION_MODEL && is_null(map)) return RT_OK; /* "run:" with nothing under it */
  if (map->type != YAML_MAPPING_NODE) {
    char what[96];
    describe(map, what, sizeof what);
    if (section == RT_SECTION_MODEL)
      return fail_mark(
          ctx, map->start_mark,
          "%s: expected a mapping such as {kind: logistic, learning_rate: 0.01}, got %s", where,
          what);
    char hint[256] = "";
    if (map->type == YAML_SCALAR_NODE &&
        missing_space_hint(scalar(map), section, hint + 2, sizeof hint - 2))
      memcpy(hint, "; ", 2);
    return fail_mark(ctx, map->start_mark, "%s: expected a mapping, got %s%s", where, what, hint);
  }
  for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
       ++pair) {
    yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
    yaml_node_t *value = yaml_document_get_node(ctx->doc, pair->value);
    if (!is_merge_key(key)) continue;
    if (!value) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling value");
    rt_code rc = check_duplicate(ctx, map, pair, "<<");
    if (rc == RT_OK) rc = walk_merge(ctx, section, model, where, value, obj, depth);
    if (rc != RT_OK) return rc;
  }
  for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
       ++pair) {
    yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
    yaml_node_t *value = yaml_document_get_node(ctx->doc, pair->value);
    if (is_merge_key(key)) continue;
    const char *name = NULL;
    rt_code rc;
    RT_TRY(rc, pair_key(ctx, key, where, &name));
    if (!value) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling value");
    RT_TRY(rc, check_duplicate(ctx, map, pair, name));
    if (section == RT_SECTION_SWEEP && find_nested(name)) {
      RT_TRY(rc, walk_nested(ctx, find_nested(name), value));
      continue;
    }
    /* Nested keys ("metric.name") are given inside their mapping only. */
    const rt_config_key *k = strchr(name, '.') ? NULL : rt_config_key_find(section, name);
    char label[160];
    if (!k) {
      char hint[700], value_text_shown[80];
      unknown_key_hint(name, section, hint, sizeof hint);
      rt_config_show_value(name, value_text_shown, sizeof value_text_shown);
      return fail_mark(ctx, key->start_mark, "unknown key '%s' in %s; %s", value_text_shown, where,
                       hint);
    }
    key_label(label, sizeof label, section, model, k->name);
    if (section == RT_SECTION_MODEL && ctx->entry) {
      int swept = 0;
      RT_TRY(rc, sweep_node(ctx, k, label, value, &swept));
      if (swept) continue;
      rt_sweep_entry_forget(ctx->entry, k); /* one value replaces a merged sweep of the key */
    }
    RT_TRY(rc, apply_node(ctx, section, k, label, value, obj));
  }
  return RT_OK;
}

static rt_code walk_models(parse_ctx *ctx, const yaml_node_t *list) {
  if (list->type != YAML_SEQUENCE_NODE) {
    char what[96];
    describe(list, what, sizeof what);
    return fail_mark(ctx, list->start_mark, "models: expected a list of models, got %s", what);
  }
  size_t count = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
  if (count == 0)
    return fail_mark(
        ctx, list->start_mark,
        "models: expected a list of models with at least one entry, got an empty list");
  rt_config *cfg = ctx->cfg;
  rt_sweep_plan *plan = rt_sweep_plan_new(count);
  if (!plan)
    return RT_FAIL_AT(ctx->st, RT_ERR_NOMEM, "allocating %zu models entries failed", count);
  rt_sweep_plan_free(cfg->sweep_plan);
  cfg->sweep_plan = plan;
  plan->models_line = (int)list->start_mark.line + 1;
  plan->models_column = (int)list->start_mark.column + 1;
  const rt_config_key *kind = rt_config_key_find(RT_SECTION_MODEL, "kind");
  for (size_t i = 0; i < count; ++i) {
    yaml_node_t *item = yaml_document_get_node(ctx->doc, list->data.sequence.items.start[i]);
    if (!item) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling item");
    rt_sweep_entry *entry = &plan->entries[i];
    rt_model_config *m = &entry->base;
    m->line = (int)item->start_mark.line + 1;
    m->column = (int)item->start_mark.column + 1;
    char where[48];
    snprintf(where, sizeof where, "models[%zu]", i);
    ctx->entry = entry;
    rt_code rc = walk_section(ctx, RT_SECTION_MODEL, i, where, item, m, 0);
    ctx->entry = NULL;
    if (rc != RT_OK) return rc;
    if (m->kind[0] == '\0' && !rt_sweep_entry_find(entry, kind)) {
      char expected[256];
      rt_config_key_expected(kind, expected, sizeof expected);
      return fail_mark(ctx, item->start_mark, "models[%zu].kind is required (%s)", i, expected);
    }
  }
  return RT_OK;
}

static rt_code walk_root(parse_ctx *ctx) {
  yaml_node_t *root = yaml_document_get_root_node(ctx->doc);
  if (!root)
    return fail_mark(ctx, start_of_file(),
                     "empty config: expected a mapping with sections data, run, models");
  if (root->type != YAML_MAPPING_NODE) {
    char what[96];
    describe(root, what, sizeof what);
    return fail_mark(ctx, root->start_mark,
                     "expected a mapping with sections data, run, models, got %s", what);
  }
  const yaml_node_t *data_key = NULL, *models_key = NULL, *sweep_key = NULL;
  for (yaml_node_pair_t *pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top;
       ++pair) {
    yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
    yaml_node_t *value = yaml_document_get_node(ctx->doc, pair->value);
    const char *name = NULL;
    rt_code rc;
    RT_TRY(rc, pair_key(ctx, key, "top level", &name));
    if (!value) return RT_FAIL_AT(ctx->st, RT_ERR_INTERNAL, "libyaml returned a dangling value");
    RT_TRY(rc, check_duplicate(ctx, root, pair, name));
    if (strcmp(name, "data") == 0) {
      data_key = key;
      rc = walk_section(ctx, RT_SECTION_DATA, 0, "data", value, ctx->cfg, 0);
    } else if (strcmp(name, "run") == 0) {
      rc = walk_section(ctx, RT_SECTION_RUN, 0, "run", value, ctx->cfg, 0);
    } else if (strcmp(name, "sweep") == 0) {
      sweep_key = key;
      rc = walk_section(ctx, RT_SECTION_SWEEP, 0, "sweep", value, ctx->cfg, 0);
    } else if (strcmp(name, "models") == 0) {
      models_key = key;
      rc = walk_models(ctx, value);
    } else {
      char hint[700], shown[80];
      unknown_section_hint(name, hint, sizeof hint);
      rt_config_show_value(name, shown, sizeof shown);
      rc = fail_mark(ctx, key->start_mark, "unknown section '%s' at top level; %s", shown, hint);
    }
    if (rc != RT_OK) return rc;
  }
  if (!data_key)
    return fail_mark(ctx, start_of_file(), "data.train is required (there is no data section)");
  if (ctx->cfg->data.train[0] == '\0')
    return fail_mark(ctx, data_key->start_mark, "data.train is required");
  if (!models_key)
    return fail_mark(ctx, start_of_file(),
                     "models is required: a list with at least one entry such as "
                     "{kind: logistic, learning_rate: 0.01}");
  /* The whole file is read: expand the models entries as the sweep section says. */
  rt_sweep_plan *plan = ctx->cfg->sweep_plan;
  if (sweep_key) {
    plan->sweep_line = (int)sweep_key->start_mark.line + 1;
    plan->sweep_column = (int)sweep_key->start_mark.column + 1;
  }
  sync_seeds(ctx->cfg); /* the models' autos are resolved once the parse is done */
  return install_expansion(ctx->cfg, ctx->path, ctx->st);
}

/* libyaml's own error: problem text and position. */
static rt_code yaml_failure(const parse_ctx *ctx, const yaml_parser_t *parser, const char *text,
                            size_t length) {
  if (parser->error == YAML_MEMORY_ERROR)
    return RT_FAIL_AT(ctx->st, RT_ERR_NOMEM, "libyaml ran out of memory");
  yaml_mark_t mark = parser->problem_mark;
  if (parser->error == YAML_READER_ERROR) {
    /* Reader errors carry a byte offset, not a mark. */
    size_t line = 0, column = 0,
           end = parser->problem_offset < length ? parser->problem_offset : length;
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 0;
      } else {
        ++column;
      }
    }
    mark.line = line;
    mark.column = column;
    return fail_mark(ctx, mark, "invalid YAML: %s",
                     parser->problem ? parser->problem : "unreadable");
  }
  const char *problem = parser->problem ? parser->problem : "syntax error";
  if (parser->context)
    return fail_mark(ctx, mark, "invalid YAML: %s (%s started at line %zu, column %zu)", problem,
                     parser->context, parser->context_mark.line + 1,
                     parser->context_mark.column + 1);
  return fail_mark(ctx, mark, "invalid YAML: %s", problem);
}

static rt_code set_path(rt_config *cfg, const char *path, rt_status *st) {
  size_t n = strlen(path);
  if (n + 1 > sizeof cfg->path)
    return rt_fail(st, RT_ERR_CONFIG, "%.200s...: config path too long (at most %zu bytes)", path,
                   sizeof cfg->path - 1);
  memcpy(cfg->path, path, n + 1);
  const char *slash = strrchr(path, '/');
  if (!slash) {
    memcpy(cfg->dir, ".", 2);
    return RT_OK;
  }
  size_t d = (size_t)(slash - path);
  while (d > 0 && path[d - 1] == '/') --d; /* "a//b.yaml" -> "a" */
  if (d == 0) d = 1;                       /* "/b.yaml" -> "/" */
  memcpy(cfg->dir, path, d);
  cfg->dir[d] = '\0';
  return RT_OK;
}

rt_code rt_config_parse(const char *text, size_t length, const char *path, rt_config *cfg,
                        rt_status *st) {
  rt_config_defaults(cfg);
  if (!text) {
    if (length) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_config_parse: NULL text");
    text = "";
  }
  parse_ctx ctx = {path ? path : "<config>", NULL, cfg, st, NULL, 0};
  if (path) {
    rt_code rc;
    RT_TRY(rc, set_path(cfg, path, st));
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "yaml_parser_initialize failed");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, length);
  yaml_document_t doc;
  if (!yaml_parser_load(&parser, &doc)) {
    rt_code rc = yaml_failure(&ctx, &parser, text, length);
    yaml_parser_delete(&parser);
    return rc;
  }
  ctx.doc = &doc;
  rt_code rc = walk_root(&ctx);
  yaml_document_delete(&doc);
  if (rc == RT_OK) {
    /* A second document would be silently ignored: reject it. */
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
      rc = yaml_failure(&ctx, &parser, text, length);
    } else {
      yaml_node_t *root = yaml_document_get_root_node(&extra);
      if (root)
        rc = fail_mark(&ctx, root->start_mark,
                       "expected a single YAML document, found a second one here");
      yaml_document_delete(&extra);
    }
  }
  yaml_parser_delete(&parser);
  if (rc == RT_OK) rc = resolve_autos(cfg, st);
  if (rc != RT_OK) {
    rt_config_free(cfg);
    return rc;
  }
  return RT_OK;
}

rt_code rt_config_load(const char *path, rt_config *cfg, rt_status *st) {
  rt_config_defaults(cfg);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return rt_fail(st, RT_ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    (void)close(fd);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "malloc(%zu) failed", cap);
  }
  rt_code rc = RT_OK;
  for (;;) {
    if (len == cap) {
      if (cap >= RT_CONFIG_FILE_MAX) {
        rc = rt_fail(st, RT_ERR_CONFIG, "%s: too large for a config file (over %u MiB)", path,
                     RT_CONFIG_FILE_MAX >> 20);
        break;
      }
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "realloc(%zu) failed", cap * 2);
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EISDIR)
        rc = rt_fail(st, RT_ERR_CONFIG, "%s: cannot read: %s", path, strerror(errno));
      else rc = RT_FAIL_AT(st, RT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
      break;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  if (close(fd) != 0 && rc == RT_OK)
    rc = RT_FAIL_AT(st, RT_ERR_IO, "%s: close failed: %s", path, strerror(errno));
  if (rc == RT_OK) rc = rt_config_parse(buf, len, path, cfg, st);
  free(buf);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * --set
 * ------------------------------------------------------------------------------------------- */

/* The message reads "--set ASSIGNMENT: ..." with the assignment shortened if very long. */
static rt_code fail_set(rt_status *st, const char *assignment, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static rt_code fail_set(rt_status *st, const char *assignment, const char *fmt, ...) {
  char msg[RT_MESSAGE_MAX], shown_assignment[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rt_config_show_value(assignment, shown_assignment, sizeof shown_assignment);
  return rt_fail(st, RT_ERR_CONFIG, "--set %s: %s", shown_assignment, msg);
}

static rt_code set_one(rt_status *st, const char *assignment, const rt_config_key *key, void *obj,
                       const char *lhs, const char *value) {
  char why[512];
  /* Paths given on the command line are relative to the working directory: no joining. */
  rt_apply_result r = rt_config_key_apply(key, obj, value, NULL, why, sizeof why);
  if (r == RT_APPLY_TYPE) return fail_set(st, assignment, "%s", why);
  if (r == RT_APPLY_RANGE) return fail_set(st, assignment, "%s %s", lhs, why);
  return RT_OK;
}

static rt_code config_set(rt_config *cfg, const char *assignment, int replaying, rt_status *st);

/* Do the expansion's inputs differ (method, count, the seed in effect, expanded)? */
static int expansion_changed(const rt_config *before, const rt_config *after) {
  return before->sweep.method != after->sweep.method || before->sweep.count != after->sweep.count ||
         before->sweep.expanded != after->sweep.expanded ||
         (before->sweep.seed != after->sweep.seed && rt_sweep_method_draws(after->sweep.method) &&
          !after->sweep.expanded);
}

/* Expands the models entries again after a sweep override, then applies the models overrides
 * given so far again, in order. A config error there leaves the expansion pending (see
 * install_expansion), with cfg->models as it was. */
static rt_code reexpand(rt_config *cfg, const char *assignment, rt_status *st) {
  rt_model_config *models = NULL, *old = cfg->models;
  size_t count = 0, old_count = cfg->model_count;
  rt_sweep_plan *plan = cfg->sweep_plan;
  char inner[RT_MESSAGE_MAX], shown[128];
  rt_config_show_value(assignment, shown, sizeof shown);
  rt_code rc = rt_sweep_expand(cfg, plan, config_where(cfg), &models, &count, st);
  if (rc != RT_OK) {
    if (rc != RT_ERR_CONFIG) return rc;
    snprintf(inner, sizeof inner, "%s", st->message);
    snprintf(plan->pending, sizeof plan->pending, "--set %s: %.800s", shown, inner);
    rt_status_clear(st);
    return RT_OK;
  }
  cfg->models = models;
  cfg->model_count = count;
  for (size_t i = 0; i < plan->override_count && rc == RT_OK; ++i)
    rc = config_set(cfg, plan->overrides[i], 1, st);
  if (rc != RT_OK) {
    free(cfg->models);
    cfg->models = old;
    cfg->model_count = old_count;
    if (rc != RT_ERR_CONFIG) return rc;
    snprintf(inner, sizeof inner, "%s", st->message);
    snprintf(plan->pending, sizeof plan->pending,
             "--set %s: applying again (after the new expansion) %.750s", shown, inner);
    rt_status_clear(st);
    return RT_OK;
  }
  plan->pending[0] = '\0';
  free(old);
  return RT_OK;
}

/* data/run/sweep keys; sweep overrides (and run.seed while sweep.seed follows it) expand the
 * models entries again. */
static rt_code set_setting(rt_config *cfg, const char *assignment, rt_section section,
                           const char *section_name, const char *rest, const char *value,
                           rt_status *st) {
  if (section == RT_SECTION_SWEEP && strcmp(rest, "metric") == 0) rest = "metric.name";
  const rt_config_key *key = rt_config_key_find(section, rest);
  if (!key) {
    char hint[700];
    unknown_key_hint(rest, section, hint, sizeof hint);
    return fail_set(st, assignment, "unknown key '%s' in %s; %s", rest, section_name, hint);
  }
  char full[600];
  snprintf(full, sizeof full, "%s.%s", section_name, key->name);
  if (section == RT_SECTION_SWEEP && cfg->sweep.expanded &&
      (strcmp(key->name, "method") == 0 || strcmp(key->name, "count") == 0 ||
       strcmp(key->name, "seed") == 0))
    return fail_set(st, assignment,
                    "the models are already expanded (sweep.expanded: true), so %s changes "
                    "nothing; set models.N.key instead (or sweep.expanded=false first)",
                    full);
  rt_config *before = malloc(sizeof *before);
  if (!before) return RT_FAIL_AT(st, RT_ERR_NOMEM, "malloc(%zu) failed", sizeof *before);
  *before = *cfg; /* shallow: to compare and to restore the settings */
  rt_code rc = set_one(st, assignment, key, cfg, full, value);
  if (rc == RT_OK) sync_seeds(cfg); /* the models' autos: rt_config_set, once done */
  if (rc == RT_OK && cfg->sweep_plan &&
      (cfg->sweep_plan->pending[0] || expansion_changed(before, cfg))) {
    rc = reexpand(cfg, assignment, st);
    if (rc != RT_OK) {
      cfg->data = before->data;
      cfg->run = before->run;
      cfg->sweep = before->sweep;
    }
  }
  free(before);
  return rc;
}

static rt_code config_set(rt_config *cfg, const char *assignment, int replaying, rt_status *st) {
  const char *eq = strchr(assignment, '=');
  if (!eq) return fail_set(st, assignment, "expected section.key=value, e.g. run.passes=3");
  char lhs[256];
  size_t n = (size_t)(eq - assignment);
  if (n + 1 > sizeof lhs) return fail_set(st, assignment, "key too long");
  memcpy(lhs, assignment, n);
  lhs[n] = '\0';
  const char *value = eq + 1;

  char *dot = strchr(lhs, '.');
  if (!dot) {
    /* "passes=3": name the sections that have this key. */
    char hint[256] = "";
    size_t matches = 0, listed = 0;
    for (size_t i = 0; i < rt_config_key_count; ++i)
      matches += strcmp(rt_config_keys[i].name, lhs) == 0;
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      const rt_config_key *key = &rt_config_keys[i];
      if (strcmp(key->name, lhs) != 0) continue;
      size_t used = strlen(hint);
      ++listed;
      snprintf(hint + used, sizeof hint - used, "%s'%s.%s%s'",
               listed == 1         ? "; did you mean "
               : listed == matches ? " or "
                                   : ", ",
               key->section == RT_SECTION_MODEL ? "models" : section_names[key->section],
               key->section == RT_SECTION_MODEL ? "*." : "", key->name);
    }
    if (hint[0]) {
      size_t used = strlen(hint);
      snprintf(hint + used, sizeof hint - used, "?");
    }
    return fail_set(st, assignment, "expected section.key=value%s", hint);
  }
  *dot = '\0';
  const char *section_name = lhs, *rest = dot + 1;
  int section = -1;
  for (int s = 0; s < RT_SECTION_COUNT; ++s)
    if (strcmp(section_name, section_names[s]) == 0) section = s;
  if (section < 0) {
    char hint[700];
    unknown_section_hint(section_name, hint, sizeof hint);
    return fail_set(st, assignment, "unknown section '%s'; %s", section_name, hint);
  }
  if (section != RT_SECTION_MODEL)
    return set_setting(cfg, assignment, (rt_section)section, section_name, rest, value, st);

  /* models.N.key or models.*.key: N is a position in the expanded list */
  char full[600];
  const char *index_text = rest;
  char *dot2 = strchr(rest, '.');
  if (!dot2) return fail_set(st, assignment, "expected models.N.key=value or models.*.key=value");
  *dot2 = '\0';
  const char *name = dot2 + 1;
  const int all = strcmp(index_text, "*") == 0;
  size_t index = 0;
  if (!all) {
    int digits = 0;
    for (const char *p = index_text; *p; ++p, ++digits) {
      if (*p < '0' || *p > '9' || index > (SIZE_MAX - 9) / 10)
        return fail_set(st, assignment, "expected a model index or '*' after 'models.', got '%s'",
                        index_text);
      index = index * 10 + (size_t)(*p - '0');
    }
    if (!digits) return fail_set(st, assignment, "expected a model index or '*' after 'models.'");
  }
  const rt_config_key *key = rt_config_key_find(RT_SECTION_MODEL, name);
  if (!key) {
    char hint[700];
    unknown_key_hint(name, RT_SECTION_MODEL, hint, sizeof hint);
    return fail_set(st, assignment, "unknown key '%s' in models; %s", name, hint);
  }
  if (!replaying && cfg->sweep_plan && cfg->sweep_plan->pending[0]) {
    /* Not expanded (yet): check the value now, apply it once the expansion succeeds. */
    rt_model_config scratch;
    rt_model_config_defaults(&scratch);
    snprintf(full, sizeof full, "models[%s].%s", index_text, key->name);
    rt_code rc;
    RT_TRY(rc, set_one(st, assignment, key, &scratch, full, value));
    return rt_sweep_plan_record(cfg->sweep_plan, assignment, st);
  }
  if (cfg->model_count == 0) return fail_set(st, assignment, "the config has no models");
  size_t first = 0, last = cfg->model_count - 1;
  if (!all) {
    if (index >= cfg->model_count)
      return fail_set(st, assignment, "there is no model %zu; the config has %zu model%s (0..%zu)",
                      index, cfg->model_count, cfg->model_count == 1 ? "" : "s",
                      cfg->model_count - 1);
    first = last = index;
  }
  for (size_t i = first; i <= last; ++i) {
    snprintf(full, sizeof full, "models[%zu].%s", i, key->name);
    rt_code rc;
    RT_TRY(rc, set_one(st, assignment, key, &cfg->models[i], full, value));
  }
  if (!replaying && cfg->sweep_plan) return rt_sweep_plan_record(cfg->sweep_plan, assignment, st);
  return RT_OK;
}

rt_code rt_config_set(rt_config *cfg, const char *assignment, rt_status *st) {
  const rt_code rc = config_set(cfg, assignment, 0, st);
  /* a new expansion or models.N.seed=auto: resolve again (also after a refused assignment,
   * which may have changed the expansion before it failed) */
  rt_status again;
  const rt_code resolved = resolve_autos(cfg, rc == RT_OK ? st : &again);
  return rc != RT_OK ? rc : resolved;
}

/* ---------------------------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------------------------- */

/* Re-checks one stored value by formatting it and parsing the text again. */
static rt_code check_key(const rt_config_key *key, const void *obj, void *scratch,
                         const char *label, const char *where, rt_status *st) {
  char text[RT_PATH_MAX + 64], why[512];
  if (!rt_config_key_format(key, obj, text, sizeof text))
    return rt_fail(st, RT_ERR_CONFIG, "%s%s has an invalid value", where, label);
  if (key->required && text[0] == '\0')
    return rt_fail(st, RT_ERR_CONFIG, "%s%s is required", where, label);
  rt_apply_result r = rt_config_key_apply(key, scratch, text, NULL, why, sizeof why);
  if (r == RT_APPLY_TYPE) return rt_fail(st, RT_ERR_CONFIG, "%s%s: %s", where, label, why);
  if (r == RT_APPLY_RANGE) return rt_fail(st, RT_ERR_CONFIG, "%s%s %s", where, label, why);
  return RT_OK;
}

rt_code rt_config_validate(const rt_config *cfg, rt_status *st) {
  /* The models entries could not be expanded with the final sweep settings. */
  if (cfg->sweep_plan && cfg->sweep_plan->pending[0])
    return rt_fail(st, RT_ERR_CONFIG, "%s", cfg->sweep_plan->pending);
  char where[RT_PATH_MAX + 48] = "", label[160];
  if (cfg->path[0]) snprintf(where, sizeof where, "%s: ", cfg->path);
  rt_config *scratch = malloc(sizeof *scratch);
  if (!scratch) return RT_FAIL_AT(st, RT_ERR_NOMEM, "malloc(%zu) failed", sizeof *scratch);
  rt_code rc = RT_OK;
  for (size_t i = 0; i < rt_config_key_count && rc == RT_OK; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section == RT_SECTION_MODEL) continue;
    *scratch = *cfg;
    key_label(label, sizeof label, key->section, 0, key->name);
    rc = check_key(key, cfg, scratch, label, where, st);
  }
  free(scratch);
  if (rc != RT_OK) return rc;

  if (cfg->run.profile_first > 0 && cfg->run.profile_last > cfg->run.passes)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%srun.profile_passes [%ld, %ld] ends after the last pass (run.passes is %ld)",
                   where, cfg->run.profile_first, cfg->run.profile_last, cfg->run.passes);
  if (cfg->data.validation[0] && cfg->data.validation_fraction > 0.0)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%sdata.validation and data.validation_fraction exclude each other: give a "
                   "validation file or a fraction, not both",
                   where);
  if (rt_sweep_method_draws(cfg->sweep.method) && !cfg->sweep.expanded && cfg->sweep.count == 0)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.count is required with sweep.method: %s (the number of models to "
                   "draw)",
                   where, rt_sweep_method_name(cfg->sweep.method));
  const rt_sweep_method method = cfg->sweep.method;
  if ((method == RT_SWEEP_ASHA || method == RT_SWEEP_HYPERBAND) && cfg->sweep.early_terminate)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.early_terminate and sweep.method: %s exclude each other (it stops "
                   "models at its rungs)",
                   where, rt_sweep_method_name(method));
  if (method == RT_SWEEP_TPE && cfg->sweep.early_terminate == RT_EARLY_MEDIAN)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.method: tpe takes sweep.early_terminate: asha or none, not median",
                   where);
  if (method != RT_SWEEP_TPE && cfg->sweep.early_terminate == RT_EARLY_ASHA)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.early_terminate: asha goes with sweep.method: tpe (random draws "
                   "stopped at rungs are sweep.method: asha)",
                   where);
  if (method == RT_SWEEP_TPE && !cfg->sweep.expanded && !cfg->sweep_plan)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.method: tpe suggests from the models entries of a config file; this "
                   "config has none (built in code)",
                   where);
  if (method == RT_SWEEP_TPE && !cfg->sweep.expanded && cfg->sweep.parallel == 0)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.method: tpe suggests in rounds of sweep.parallel models: give "
                   "sweep.parallel (the models training at once, e.g. the number of ranks)",
                   where);
  if (rt_sweep_decides(cfg) && strcmp(cfg->sweep.metric, "train_loss") != 0 &&
      !cfg->data.validation[0] && !(cfg->data.validation_fraction > 0.0))
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.method: %s ranks the models as it goes by %s, which needs "
                   "validation rows: give data.validation_fraction or data.validation (or "
                   "sweep.metric: train_loss)",
                   where, rt_sweep_method_name(method),
                   cfg->sweep.metric[0] ? cfg->sweep.metric : "each family's first metric");
  if (method == RT_SWEEP_PBT && cfg->sweep.early_terminate)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.early_terminate and sweep.method: pbt exclude each other (its bottom "
                   "models copy better ones instead of stopping)",
                   where);
  if (method == RT_SWEEP_PBT && cfg->sweep.parallel > 0)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.parallel does not apply to sweep.method: pbt (the population trains "
                   "together); leave it at all",
                   where);
  if (method == RT_SWEEP_PBT && cfg->sweep.pbt_interval >= cfg->run.passes)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.pbt.interval (%ld) must be below run.passes (%ld): the first "
                   "exploit/explore step comes before the last pass",
                   where, cfg->sweep.pbt_interval, cfg->run.passes);
  if (rt_sweep_halves(cfg) && cfg->sweep.asha_min_passes >= cfg->run.passes)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%ssweep.asha.min_passes (%ld) must be below run.passes (%ld): the first rung "
                   "comes before the last pass",
                   where, cfg->sweep.asha_min_passes, cfg->run.passes);
  if (cfg->model_count == 0 || !cfg->models)
    return rt_fail(st, RT_ERR_CONFIG, "%smodels: at least one model is required", where);
  if (cfg->model_count > RT_SWEEP_MODELS_MAX)
    return rt_fail(st, RT_ERR_CONFIG, "%smodels: %zu models, more than the limit of %d", where,
                   cfg->model_count, RT_SWEEP_MODELS_MAX);
  for (size_t m = 0; m < cfg->model_count; ++m) {
    const rt_model_config *model = &cfg->models[m];
    char model_where[RT_PATH_MAX + 48];
    if (cfg->path[0] && model->line > 0)
      snprintf(model_where, sizeof model_where, "%s:%d:%d: ", cfg->path, model->line,
               model->column);
    else snprintf(model_where, sizeof model_where, "%s", where);
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      const rt_config_key *key = &rt_config_keys[i];
      if (key->section != RT_SECTION_MODEL) continue;
      rt_model_config copy = *model;
      key_label(label, sizeof label, RT_SECTION_MODEL, m, key->name);
      RT_TRY(rc, check_key(key, model, &copy, label, model_where, st));
    }
    if (!rt_model_kind_known(model->kind)) {
      char expected[256], kind[80];
      rt_config_key_expected(rt_config_key_find(RT_SECTION_MODEL, "kind"), expected,
                             sizeof expected);
      rt_config_show_value(model->kind, kind, sizeof kind);
      return rt_fail(st, RT_ERR_CONFIG, "%smodels[%zu].kind: expected %s; got '%s'", model_where, m,
                     expected, kind);
    }
    /* kmeans: the Lloyd steps are the last lloyd_passes of the run's passes. */
    if (strcmp(model->kind, "kmeans") == 0 && model->lloyd_passes > cfg->run.passes)
      return rt_fail(st, RT_ERR_CONFIG,
                     "%smodels[%zu].lloyd_passes is %ld, more than run.passes (%ld): the Lloyd "
                     "steps are the last lloyd_passes passes of the run",
                     model_where, m, model->lloyd_passes, cfg->run.passes);
    if (strcmp(model->kind, "kmeans") == 0 && model->algorithm == RT_KMEANS_LLOYD &&
        model->lloyd_passes != 0 && model->lloyd_passes != cfg->run.passes)
      return rt_fail(st, RT_ERR_CONFIG,
                     "%smodels[%zu].lloyd_passes is %ld, but algorithm: lloyd makes every one of "
                     "the %ld passes a Lloyd step; leave lloyd_passes out, or use algorithm: "
                     "minibatch to start with mini-batch passes",
                     model_where, m, model->lloyd_passes, cfg->run.passes);
  }
  return RT_OK;
}

rt_code rt_config_reapply_model_overrides(const rt_config *cfg, size_t id, rt_model_config *model,
                                          rt_status *st) {
  const rt_sweep_plan *plan = cfg->sweep_plan;
  for (size_t i = 0; plan && i < plan->override_count; ++i) {
    const char *a = plan->overrides[i];
    if (strncmp(a, "models.", 7) != 0) continue;
    const char *index_text = a + 7, *dot = strchr(index_text, '.'), *eq = strchr(a, '=');
    if (!dot || !eq || eq < dot) continue; /* recorded only after it was checked */
    if (!(dot - index_text == 1 && index_text[0] == '*')) {
      char *end = NULL;
      const unsigned long long n = strtoull(index_text, &end, 10);
      if (end != dot || n != (unsigned long long)id) continue;
    }
    char name[256];
    const size_t len = (size_t)(eq - dot - 1);
    if (len >= sizeof name) continue;
    memcpy(name, dot + 1, len);
    name[len] = '\0';
    const rt_config_key *key = rt_config_key_find(RT_SECTION_MODEL, name);
    if (!key) continue;
    char full[300];
    snprintf(full, sizeof full, "models[%zu].%s", id, key->name);
    rt_code rc;
    RT_TRY(rc, set_one(st, a, key, model, full, eq + 1));
  }
  return RT_OK;
}
