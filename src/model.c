/* Family registry, state layout and creation, spec <-> model-file text. */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"
#include "numfmt.h"
#include "rng.h"

/* Each family lives in its own file (src/family_<kind>.c). The references are strong: the
 * library is static, and only a referenced object is linked into a program. */
extern const rt_family rt_family_logistic;
extern const rt_family rt_family_kmeans;
extern const rt_family rt_family_linear;
extern const rt_family rt_family_mlp;

const rt_family *rt_family_find(const char *kind) {
  const rt_family *const families[] = {&rt_family_logistic, &rt_family_kmeans, &rt_family_linear,
                                       &rt_family_mlp};
  for (size_t i = 0; i < sizeof families / sizeof families[0]; ++i)
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

static size_t align_up(size_t n) { return (n + RT_STATE_ALIGN - 1) / RT_STATE_ALIGN * RT_STATE_ALIGN; }

rt_state_layout rt_state_layout_of(const rt_model_spec *spec) {
  rt_state_layout l;
  const rt_family *fam = rt_family_find(spec->hp.kind);
  l.param_count = fam ? fam->param_count(spec) : 0;
  l.aux_count = fam && fam->aux_floats ? fam->aux_floats(spec) : rt_optimizer_aux_count(spec, l.param_count);
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
  h->rng_key = rt_key_push(rt_key_push(spec->seed, 0x6d6f64656cULL /* "model" */), spec->id);
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

char *rt_spec_to_text(const rt_model_spec *spec) {
  const rt_model_config *hp = &spec->hp;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  char b[8][RT_NUMFMT_MAX];
  fprintf(f,
          "kind=%s\nid=%" PRIu64 "\nfeatures=%zu\nclasses=%zu\nlabel_column=%d\nseed=%" PRIu64
          "\npasses=%" PRIu64 "\nshards=%" PRIu64 "\ntotal_batches=%" PRIu64
          "\noptimizer=%s\nlearning_rate=%s\nmomentum=%s\nl2=%s\nbeta1=%s\nbeta2=%s\nepsilon=%s"
          "\nschedule=%s\ndecay=%s\nbatch_size=%ld\n",
          hp->kind, spec->id, spec->problem.features, spec->problem.classes, spec->label_column,
          spec->seed, spec->passes, spec->shards, spec->total_batches,
          rt_optimizer_name(hp->optimizer), rt_format_double(hp->learning_rate, b[0]),
          rt_format_double(hp->momentum, b[1]), rt_format_double(hp->l2, b[2]),
          rt_format_double(hp->beta1, b[3]), rt_format_double(hp->beta2, b[4]),
          rt_format_double(hp->epsilon, b[5]), rt_schedule_name(hp->schedule),
          rt_format_double(hp->decay, b[6]), hp->batch_size);
  fprintf(f, "k=%ld\ninit_sample=%ld\n", hp->k, hp->init_sample);
  /* kmeans only, so that the spec text of the other families stays what it was. */
  if (strcmp(hp->kind, "kmeans") == 0)
    fprintf(f, "init_trials=%ld\nalgorithm=%s\nlloyd_passes=%ld\n", hp->init_trials,
            rt_kmeans_algorithm_name(hp->algorithm), hp->lloyd_passes);
  fprintf(f, "solver=%s\nalpha=%s\nfit_intercept=%d\nhidden=", rt_solver_name(hp->solver),
          rt_format_double(hp->alpha, b[7]), hp->fit_intercept);
  for (int i = 0; i < hp->hidden_count; ++i) fprintf(f, "%s%ld", i ? "," : "", hp->hidden[i]);
  fprintf(f, "\nactivation=%s\noutput=%s\ninit=%s\n", rt_activation_name(hp->activation),
          rt_mlp_output_name(hp->output), rt_init_scheme_name(hp->init));
  fprintf(f, "eval_every_pass=%d\nshards_used=%" PRIu64 "\nsuccession=%d\n", spec->eval_every_pass,
          spec->shards_used, spec->succession);
  rt_scaling_write(spec->scaling, f);
  if (fclose(f) != 0) {
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
  rt_code rc = spec_field(text, file, key, buf, sizeof buf, st);
  if (rc) return rc;
  const unsigned long long v = strtoull(buf, &end, 10);
  if (errno || end == buf || *end || buf[0] == '-')
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' is not a whole number: '%s'", file, key, buf);
  *out = v;
  return RT_OK;
}

static rt_code spec_long(const char *text, const char *file, const char *key, long *out,
                         rt_status *st) {
  char buf[64], *end;
  rt_code rc = spec_field(text, file, key, buf, sizeof buf, st);
  if (rc) return rc;
  const long v = strtol(buf, &end, 10);
  if (errno || end == buf || *end)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' is not an integer: '%s'", file, key, buf);
  *out = v;
  return RT_OK;
}

static rt_code spec_f64(const char *text, const char *file, const char *key, double *out,
                        rt_status *st) {
  char buf[64], *end;
  rt_code rc = spec_field(text, file, key, buf, sizeof buf, st);
  if (rc) return rc;
  const double v = strtod(buf, &end);
  if (errno || end == buf || *end)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' is not a number: '%s'", file, key, buf);
  *out = v;
  return RT_OK;
}

/* Finds the enum value whose name is `text` (names from `name_of`, values 0..count-1). */
static int enum_from_name(const char *text, const char *(*name_of)(int), int count, int *out) {
  for (int v = 0; v < count; ++v)
    if (strcmp(name_of(v), text) == 0) return *out = v, 1;
  return 0;
}
static const char *solver_name(int v) { return rt_solver_name((rt_solver)v); }
static const char *activation_name(int v) { return rt_activation_name((rt_activation)v); }
static const char *output_name(int v) { return rt_mlp_output_name((rt_mlp_output)v); }
static const char *init_name(int v) { return rt_init_scheme_name((rt_init_scheme)v); }
static const char *algorithm_name(int v) { return rt_kmeans_algorithm_name((rt_kmeans_algorithm)v); }

static rt_code spec_enum(const char *text, const char *file, const char *key,
                         const char *(*name_of)(int), int count, int *out, rt_status *st) {
  char buf[64];
  rt_code rc = spec_field(text, file, key, buf, sizeof buf, st);
  if (rc) return rc;
  if (!enum_from_name(buf, name_of, count, out))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' has an unknown value '%s'", file, key, buf);
  return RT_OK;
}

/* The hyper-parameters of the kmeans, linear and mlp families. */
static rt_code spec_family_fields(const char *text, const char *file, rt_model_config *hp,
                                  rt_status *st) {
  uint64_t k = 0, sample = 0, intercept = 0;
  int solver = 0, activation = 0, output = 0, init = 0;
  rt_code rc;
  if ((rc = spec_u64(text, file, "k", &k, st)) || (rc = spec_u64(text, file, "init_sample", &sample, st)) ||
      (rc = spec_f64(text, file, "alpha", &hp->alpha, st)) ||
      (rc = spec_u64(text, file, "fit_intercept", &intercept, st)) ||
      (rc = spec_enum(text, file, "solver", solver_name, 2, &solver, st)) ||
      (rc = spec_enum(text, file, "activation", activation_name, 3, &activation, st)) ||
      (rc = spec_enum(text, file, "output", output_name, 2, &output, st)) ||
      (rc = spec_enum(text, file, "init", init_name, 3, &init, st)))
    return rc;
  if (k > (1u << 24) || sample > (1u << 30) || intercept > 1)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec k, init_sample or fit_intercept out of range", file);
  hp->k = (long)k;
  hp->init_sample = (long)sample;
  /* kmeans keys that model files written before them lack: their defaults. */
  char buf[64];
  if (spec_value(text, "init_trials", buf, sizeof buf)) {
    uint64_t trials = 0;
    if ((rc = spec_u64(text, file, "init_trials", &trials, st))) return rc;
    if (trials > 1024) return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec init_trials out of range", file);
    hp->init_trials = (long)trials;
  }
  if (spec_value(text, "algorithm", buf, sizeof buf)) {
    int algorithm = 0;
    if ((rc = spec_enum(text, file, "algorithm", algorithm_name, 2, &algorithm, st))) return rc;
    hp->algorithm = (rt_kmeans_algorithm)algorithm;
  }
  if (spec_value(text, "lloyd_passes", buf, sizeof buf)) {
    uint64_t lloyd = 0;
    if ((rc = spec_u64(text, file, "lloyd_passes", &lloyd, st))) return rc;
    if (lloyd > (1u << 30)) return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lloyd_passes out of range", file);
    hp->lloyd_passes = (long)lloyd;
  }
  hp->fit_intercept = (int)intercept;
  hp->solver = (rt_solver)solver;
  hp->activation = (rt_activation)activation;
  hp->output = (rt_mlp_output)output;
  hp->init = (rt_init_scheme)init;
  char list[RT_HIDDEN_MAX * 12 + 1];
  if (!spec_value(text, "hidden", list, sizeof list))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks 'hidden'", file);
  hp->hidden_count = 0;
  for (char *p = list; *p;) {
    char *end;
    errno = 0;
    long w = strtol(p, &end, 10);
    if (errno || end == p || w < 1 || w > (1L << 20) || hp->hidden_count == RT_HIDDEN_MAX ||
        (*end && *end != ','))
      return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec 'hidden' is not a list of widths: '%s'", file, list);
    hp->hidden[hp->hidden_count++] = w;
    p = *end ? end + 1 : end;
  }
  return RT_OK;
}

rt_code rt_spec_from_text(const char *text, const char *file, rt_model_spec *spec, rt_status *st) {
  memset(spec, 0, sizeof *spec);
  rt_model_config *hp = &spec->hp;
  char buf[64];
  if (!spec_value(text, "kind", hp->kind, sizeof hp->kind))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks 'kind'", file);
  if (!rt_family_find(hp->kind))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: unknown model kind '%s'", file, hp->kind);
  uint64_t features = 0, classes = 0, batch = 0;
  long label = 0;
  rt_code rc;
  if ((rc = spec_u64(text, file, "id", &spec->id, st)) ||
      (rc = spec_u64(text, file, "features", &features, st)) ||
      (rc = spec_u64(text, file, "classes", &classes, st)) ||
      (rc = spec_long(text, file, "label_column", &label, st)) ||
      (rc = spec_u64(text, file, "seed", &spec->seed, st)) ||
      (rc = spec_u64(text, file, "passes", &spec->passes, st)) ||
      (rc = spec_u64(text, file, "shards", &spec->shards, st)) ||
      (rc = spec_u64(text, file, "total_batches", &spec->total_batches, st)) ||
      (rc = spec_f64(text, file, "learning_rate", &hp->learning_rate, st)) ||
      (rc = spec_f64(text, file, "momentum", &hp->momentum, st)) ||
      (rc = spec_f64(text, file, "l2", &hp->l2, st)) ||
      (rc = spec_f64(text, file, "beta1", &hp->beta1, st)) ||
      (rc = spec_f64(text, file, "beta2", &hp->beta2, st)) ||
      (rc = spec_f64(text, file, "epsilon", &hp->epsilon, st)) ||
      (rc = spec_f64(text, file, "decay", &hp->decay, st)) ||
      (rc = spec_u64(text, file, "batch_size", &batch, st)))
    return rc;
  if (features == 0 || features > (1u << 30) || classes > (1u << 24) || batch == 0 ||
      batch > (1u << 30) || spec->passes == 0 || spec->passes > (1u << 30) || spec->shards == 0)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec dimensions out of range", file);
  spec->problem.features = (size_t)features;
  spec->problem.classes = (size_t)classes;
  if (label < -1 || label > (1L << 30))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec label_column out of range", file);
  spec->label_column = (int)label;
  hp->batch_size = (long)batch;
  if (!spec_value(text, "optimizer", buf, sizeof buf))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks 'optimizer'", file);
  if (strcmp(buf, "adam") == 0) hp->optimizer = RT_OPT_ADAM;
  else if (strcmp(buf, "sgd") == 0) hp->optimizer = RT_OPT_SGD;
  else return rt_fail(st, RT_ERR_MODEL_FILE, "%s: unknown optimizer '%s'", file, buf);
  if ((rc = spec_family_fields(text, file, hp, st))) return rc;
  uint64_t every = 0;
  if ((rc = spec_u64(text, file, "eval_every_pass", &every, st))) return rc;
  if (every > 1) return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec eval_every_pass must be 0 or 1", file);
  spec->eval_every_pass = (int)every;
  uint64_t used = 0, succession = 0;
  if ((rc = spec_u64(text, file, "shards_used", &used, st)) ||
      (rc = spec_u64(text, file, "succession", &succession, st)))
    return rc;
  if (used > spec->shards || succession > 2)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec shards_used or succession out of range", file);
  spec->shards_used = used;
  spec->succession = (int)succession;
  if (!spec_value(text, "schedule", buf, sizeof buf))
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks 'schedule'", file);
  if (strcmp(buf, "constant") == 0) hp->schedule = RT_SCHED_CONSTANT;
  else if (strcmp(buf, "inverse_time") == 0) hp->schedule = RT_SCHED_INVERSE_TIME;
  else if (strcmp(buf, "cosine") == 0) hp->schedule = RT_SCHED_COSINE;
  else return rt_fail(st, RT_ERR_MODEL_FILE, "%s: unknown schedule '%s'", file, buf);
  return RT_OK;
}
