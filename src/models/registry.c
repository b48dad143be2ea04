/* The model side of model.h: the one registry of families (rt_family_at / rt_family_find, which
 * the CUDA backend uses too), the state layout, header and creation of a model, and a spec as
 * the text a model file carries and back (the model keys by walking the key table,
 * src/config/config_schema.c). The file format around that text is src/io/rtm_file.c, loading a
 * model from a file src/io/rtm_load.c. */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "normalize.h"
#include "rng.h"
#include "view.h"

/* Each family lives in its own file (src/models/family_<kind>.c). The references are strong: the
 * library is static, and only a referenced object is linked into a program. */
extern const rt_family rt_family_logistic;
extern const rt_family rt_family_kmeans;
extern const rt_family rt_family_linear;
extern const rt_family rt_family_mlp;

/* The one registry of families, by rt_family_id (each family's `id` is its position here). */
static const rt_family *const families[RT_FAMILY_COUNT] = {
    [RT_FAMILY_LOGISTIC] = &rt_family_logistic,
    [RT_FAMILY_KMEANS] = &rt_family_kmeans,
    [RT_FAMILY_LINEAR] = &rt_family_linear,
    [RT_FAMILY_MLP] = &rt_family_mlp,
};

const rt_family *rt_family_at(size_t id) { return id < RT_FAMILY_COUNT ? families[id] : NULL; }

const rt_family *rt_family_find(const char *kind) {
  for (size_t i = 0; i < RT_FAMILY_COUNT; ++i)
    if (families[i] && strcmp(families[i]->kind, kind) == 0) return families[i];
  return NULL;
}

size_t rt_family_metric_names(const rt_family *fam, const rt_model_spec *spec,
                              const char *const **names) {
  if (fam->metric_names_of) return fam->metric_names_of(spec, names);
  *names = fam->metric_names;
  return fam->metric_count;
}

rt_task rt_model_config_task(const rt_model_config *hp) {
  const rt_family *fam = rt_family_find(hp->kind);
  rt_model_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.hp = *hp;
  return fam ? fam->task(&spec) : RT_TASK_CLASSIFICATION;
}

static size_t align_up(size_t n) {
  return (n + RT_STATE_ALIGN - 1) / RT_STATE_ALIGN * RT_STATE_ALIGN;
}

rt_state_layout rt_state_layout_of(const rt_model_spec *spec) {
  rt_state_layout l;
  const rt_family *fam = rt_family_find(spec->hp.kind);
  l.param_count = fam ? fam->param_count(spec) : 0;
  l.aux_count =
      fam && fam->aux_floats ? fam->aux_floats(spec) : rt_optimizer_aux_count(spec, l.param_count);
  l.history_offset = align_up(sizeof(rt_state_header));
  l.val_history_offset = align_up(l.history_offset + spec->passes * sizeof(double));
  l.val_history_doubles = spec->eval_every_pass ? spec->passes * (RT_EVAL_SUMS + 1) : 0;
  l.params_offset = align_up(l.val_history_offset + l.val_history_doubles * sizeof(double));
  l.aux_offset = align_up(l.params_offset + l.param_count * sizeof(float));
  l.total_bytes = align_up(l.aux_offset + l.aux_count * sizeof(float));
  return l;
}

void rt_state_header_init(const rt_model_spec *spec, rt_state_header *h) {
  const rt_state_layout l = rt_state_layout_of(spec);
  memset(h, 0, sizeof *h);
  h->magic = RT_STATE_MAGIC;
  h->model_id = spec->id;
  h->rng_key = spec->hp.seed; /* model key seed: by default rt_model_seed_auto(run seed, id) */
  h->param_count = l.param_count;
  h->aux_count = l.aux_count;
  h->history_count = spec->passes;
}

void rt_state_header_advance(rt_state_header *h, uint64_t rows, uint64_t batch, uint64_t shards) {
  h->step += (rows + batch - 1) / batch;
  h->samples += rows;
  h->pass_loss_rows += rows;
  if (++h->position == shards) {
    h->position = 0;
    h->pass += 1;
    h->pass_loss_rows = 0;
  }
}

rt_code rt_state_create(const rt_model_spec *spec, void **state, size_t *bytes, rt_status *st) {
  const rt_family *fam = rt_family_find(spec->hp.kind);
  if (!fam) return rt_fail(st, RT_ERR_CONFIG, "unknown model kind '%s'", spec->hp.kind);
  rt_state_layout l = rt_state_layout_of(spec);
  void *s = aligned_alloc(RT_STATE_ALIGN, l.total_bytes);
  if (!s)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes for model %" PRIu64 " state",
                      l.total_bytes, spec->id);
  memset(s, 0, l.total_bytes);
  rt_state_header *h = rt_state_head(s);
  rt_state_header_init(spec, h);
  fam->init_params(spec, h->rng_key, rt_state_params(s, &l));
  *state = s;
  *bytes = l.total_bytes;
  return RT_OK;
}

void rt_state_free(void *state) { free(state); }

int rt_metric_higher_is_better(const char *name) {
  return strcmp(name, "accuracy") == 0 || strcmp(name, "r2") == 0;
}

/* The model keys of the spec text: table order, kind (the first line) and swept (not a model
 * file's business) left out; a key marked RT_SPEC_KINDS only for the kinds it names. */
static int spec_line(const rt_config_key *key, const char *kind) {
  return key->section == RT_SECTION_MODEL && key->spec != RT_SPEC_NONE &&
         (key->spec == RT_SPEC_ALL || rt_config_key_names_kind(key, kind));
}

/* A model key's line name in the spec text: its name, except `features` (the view), whose line
 * is "view" (the spec's "features" line is the model's input width). */
static const char *spec_line_name(const rt_config_key *key) {
  return strcmp(key->name, "features") == 0 ? "view" : key->name;
}

char *rt_spec_to_text(const rt_model_spec *spec) {
  const rt_model_config *hp = &spec->hp;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  fprintf(f,
          "kind=%s\nid=%" PRIu64 "\nfeatures=%zu\nclasses=%zu\nlabel_column=%d\nrun_seed=%" PRIu64
          "\npasses=%" PRIu64 "\nshards=%" PRIu64 "\ntotal_batches=%" PRIu64 "\n",
          hp->kind, spec->id, spec->problem.features, spec->problem.classes, spec->label_column,
          spec->seed, spec->passes, spec->shards, spec->total_batches);
  int ok = 1;
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (!spec_line(key, hp->kind)) continue;
    /* Without a view the line is left out: such files stay as they were before views. */
    if (strcmp(key->name, "features") == 0 && hp->view_count == 0) continue;
    /* normalize's line comes with the scaling it names, at the end (as before it was a key). */
    if (strcmp(key->name, "normalize") == 0) continue;
    char value[512];
    ok &= rt_config_key_plain(key, hp, ',', value, sizeof value);
    fprintf(f, "%s=%s\n", spec_line_name(key), value);
  }
  fprintf(f, "eval_every_pass=%d\nshards_used=%" PRIu64 "\nsuccession=%d\n", spec->eval_every_pass,
          spec->shards_used, spec->succession);
  /* A view picks its columns from rows this wide (the scaling below covers all of them). */
  if (!rt_view_all(hp)) fprintf(f, "data_features=%zu\n", spec->problem.data_features);
  /* LIBSVM rows number their columns from 0 or 1: predict must read them the same way. */
  if (spec->problem.libsvm_base > 0) fprintf(f, "libsvm_base=%d\n", spec->problem.libsvm_base - 1);
  rt_scaling_write(spec->scaling, hp->normalize, f); /* the model key normalize's line */
  if (fclose(f) != 0 || !ok) {
    free(text);
    return NULL;
  }
  return text;
}

/* Finds "key=" at a line start; copies the value into buf. */
static int spec_value(const char *text, const char *key, char *buf, size_t cap) {
  const size_t klen = strlen(key);
  for (const char *line = text; line && *line;) {
    const char *nl = strchr(line, '\n');
    const size_t llen = nl ? (size_t)(nl - line) : strlen(line);
    if (llen > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
      const size_t vlen = llen - klen - 1;
      if (vlen + 1 > cap) return 0;
      memcpy(buf, line + klen + 1, vlen);
      buf[vlen] = '\0';
      return 1;
    }
    line = nl ? nl + 1 : NULL;
  }
  return 0;
}

/* The value text of `key` (an error naming the file when it is missing). */
static rt_code spec_field(const char *text, const char *file, const char *key, char *buf,
                          size_t cap, rt_status *st) {
  if (!spec_value(text, key, buf, cap))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks '%s'", file, key);
  errno = 0;
  return RT_OK;
}

static rt_code spec_u64(const char *text, const char *file, const char *key, uint64_t *out,
                        rt_status *st) {
  char buf[64], *end;
  rt_code rc;
  RT_TRY(rc, spec_field(text, file, key, buf, sizeof buf, st));
  const unsigned long long v = strtoull(buf, &end, 10);
  if (errno || end == buf || *end || buf[0] == '-')
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' is not a whole number: '%s'", file, key,
                   buf);
  *out = v;
  return RT_OK;
}

static rt_code spec_long(const char *text, const char *file, const char *key, long *out,
                         rt_status *st) {
  char buf[64], *end;
  rt_code rc;
  RT_TRY(rc, spec_field(text, file, key, buf, sizeof buf, st));
  const long v = strtol(buf, &end, 10);
  if (errno || end == buf || *end)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' is not an integer: '%s'", file, key, buf);
  *out = v;
  return RT_OK;
}

/* The model keys, each from its line with the key table's types and ranges. `old`: a file written
 * before the model keys seed, data_order and start_shard (its "seed" line is the run seed): they
 * are left auto, for the caller to resolve as those files were trained. */
static rt_code spec_model_keys(const char *text, const char *file, int old, rt_model_config *hp,
                               rt_status *st) {
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section != RT_SECTION_MODEL || key->spec == RT_SPEC_NONE) continue;
    char buf[512], why[256];
    const char *value = buf;
    if (old && (key->store == RT_STORE_U64_AUTO || key->store == RT_STORE_LONG_AUTO)) {
      value = "auto";
    } else if (!spec_value(text, spec_line_name(key), buf, sizeof buf)) {
      if (key->spec == RT_SPEC_ALL)
        return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks '%s'", file, key->name);
      value = key->default_text; /* a file written before the key existed */
    }
    if (rt_config_key_apply_plain(key, hp, value, ',', why, sizeof why) != RT_APPLY_OK)
      return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' %s", file, key->name, why);
  }
  return RT_OK;
}

rt_code rt_spec_from_text(const char *text, const char *file, rt_model_spec *spec, rt_status *st) {
  memset(spec, 0, sizeof *spec);
  rt_model_config *hp = &spec->hp;
  if (!spec_value(text, "kind", hp->kind, sizeof hp->kind))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks 'kind'", file);
  if (!rt_family_find(hp->kind))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: unknown model kind '%s'", file, hp->kind);
  uint64_t features = 0, classes = 0;
  long label = 0;
  rt_code rc;
  char probe[64];
  /* Files written before the model key seed carry the run seed as "seed". */
  const int old = !spec_value(text, "run_seed", probe, sizeof probe);
  if ((rc = spec_u64(text, file, "id", &spec->id, st)) ||
      (rc = spec_u64(text, file, "features", &features, st)) ||
      (rc = spec_u64(text, file, "classes", &classes, st)) ||
      (rc = spec_long(text, file, "label_column", &label, st)) ||
      (rc = spec_u64(text, file, old ? "seed" : "run_seed", &spec->seed, st)) ||
      (rc = spec_u64(text, file, "passes", &spec->passes, st)) ||
      (rc = spec_u64(text, file, "shards", &spec->shards, st)) ||
      (rc = spec_u64(text, file, "total_batches", &spec->total_batches, st)))
    return rc;
  if (features == 0 || features > (1u << 30) || classes > (1u << 24) || spec->passes == 0 ||
      spec->passes > (1u << 30) || spec->shards == 0)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec dimensions out of range", file);
  spec->problem.features = (size_t)features;
  spec->problem.classes = (size_t)classes;
  if (label < -1 || label > (1L << 30))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec label_column out of range", file);
  spec->label_column = (int)label;
  RT_TRY(rc, spec_model_keys(text, file, old, hp, st));
  if (old) { /* trained when every auto start_shard was the model id */
    rt_model_config_resolve(hp, spec->seed, spec->id);
    hp->start_shard = (long)spec->id;
  }
  uint64_t every = 0;
  RT_TRY(rc, spec_u64(text, file, "eval_every_pass", &every, st));
  if (every > 1)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec eval_every_pass must be 0 or 1", file);
  spec->eval_every_pass = (int)every;
  uint64_t used = 0, succession = 0;
  if ((rc = spec_u64(text, file, "shards_used", &used, st)) ||
      (rc = spec_u64(text, file, "succession", &succession, st)))
    return rc;
  if (used > spec->shards || succession > 2)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec shards_used or succession out of range", file);
  spec->shards_used = used;
  spec->succession = (int)succession;
  spec->problem.data_features = spec->problem.features;
  char base_text[16];
  if (spec_value(text, "libsvm_base", base_text, sizeof base_text)) {
    if (strcmp(base_text, "0") != 0 && strcmp(base_text, "1") != 0)
      return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec libsvm_base must be 0 or 1", file);
    spec->problem.libsvm_base = base_text[0] - '0' + 1;
  }
  if (!rt_view_all(hp)) {
    uint64_t data_features = 0;
    RT_TRY(rc, spec_u64(text, file, "data_features", &data_features, st));
    if (data_features == 0 || data_features > (1u << 30) ||
        rt_view_check(hp, (size_t)data_features, "", NULL) != RT_OK ||
        rt_view_width(hp, (size_t)data_features) != spec->problem.features)
      return rt_fail(st, RT_ERR_MODEL_FILE,
                     "%s: spec view does not fit its data_features and features", file);
    spec->problem.data_features = (size_t)data_features;
  }
  return RT_OK;
}
