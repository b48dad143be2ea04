/* Private to the config code: the table of known keys and the helpers that parse, check and
 * format one key's value. The YAML walker (config.c), --set (config.c), the validator and the
 * YAML writer (config_write.c) all go through this one table, so a key added here is parsed,
 * overridable, checked, suggested and written everywhere. */
#ifndef RINGTRAIN_CONFIG_INTERNAL_H
#define RINGTRAIN_CONFIG_INTERNAL_H

#include <stddef.h>

#include "ringtrain/config.h"

typedef enum rt_section {
  RT_SECTION_DATA = 0, /* keys of rt_config.data, stored relative to an rt_config */
  RT_SECTION_RUN,      /* keys of rt_config.run, stored relative to an rt_config */
  RT_SECTION_MODEL,    /* keys of one models[] entry, stored relative to an rt_model_config */
  RT_SECTION_SWEEP,    /* keys of rt_config.sweep, stored relative to an rt_config; a name
                          "metric.name" is the key `name` of the nested mapping `metric:` */
  RT_SECTION_COUNT
} rt_section;

/* What the text of a value must look like. */
typedef enum rt_key_type {
  RT_KEY_INT,        /* decimal integer in [imin, imax], or one of `choices` (named values) */
  RT_KEY_UINT64,     /* decimal integer in [0, 2^64), or one of `choices` */
  RT_KEY_NUMBER,     /* finite decimal number in the range given by dmin/dmax and the open flags */
  RT_KEY_ENUM,       /* one of `choices` */
  RT_KEY_PATH,       /* a path; relative ones are joined to the config's folder */
  RT_KEY_STRING,     /* a non-empty string kept as written */
  RT_KEY_INT_RANGE,  /* a list of two integers [first, last], imin <= first <= last <= imax, or
                      empty ([] or nothing: not set, both stored as 0). YAML gives a sequence
                      (the walker joins its items into "[a, b]"); --set and scalars give the text
                      "[a, b]" or "a,b" */
  RT_KEY_INT_LIST,   /* a list of 1..size integers, each in [imin, imax] ("[a, b, c]", "a,b,c" or
                       one integer "a"; [] or nothing is an error naming `item`). Given like
                       RT_KEY_INT_RANGE */
  RT_KEY_NAME_LIST,  /* a list of model key names, possibly empty ("[a, b]", "a,b", "a", "[]" or
                       nothing). Given like RT_KEY_INT_RANGE */
  RT_KEY_COLUMN_LIST /* column ranges: "all", or a list of 1..size/2 items, each a column "c" or a
                        half-open range "a:b" (a < b), columns in [imin, imax]; stored
                        (RT_STORE_LONG_LIST) as pairs a, b (c as c, c + 1), the count of longs
                        after them (0: all). Given like RT_KEY_INT_RANGE */
} rt_key_type;

/* How the value is stored at `offset`. */
typedef enum rt_key_store {
  RT_STORE_INT,        /* int */
  RT_STORE_LONG,       /* long */
  RT_STORE_U64,        /* uint64_t */
  RT_STORE_DOUBLE,     /* double */
  RT_STORE_CHAR,       /* char (the choice's value) */
  RT_STORE_TEXT,       /* char[size]; enums store the canonical choice name */
  RT_STORE_FORMAT,     /* rt_file_format */
  RT_STORE_OPTIMIZER,  /* rt_optimizer */
  RT_STORE_SCHEDULE,   /* rt_schedule */
  RT_STORE_DATA_SEED,  /* rt_config.data.seed + seed_set: "auto" follows run.seed */
  RT_STORE_LONG_PAIR,  /* two adjacent longs (first, last) starting at offset */
  RT_STORE_LONG_LIST,  /* long[size] at offset, then the int count of entries used right after it */
  RT_STORE_SOLVER,     /* rt_solver */
  RT_STORE_ACTIVATION, /* rt_activation */
  RT_STORE_OUTPUT,     /* rt_mlp_output */
  RT_STORE_INIT,       /* rt_init_scheme */
  RT_STORE_NORMALIZE,  /* rt_normalize */
  RT_STORE_KEY_MASK,   /* uint64_t: bit i = the i-th model key (RT_KEY_NAME_LIST) */
  RT_STORE_SWEEP_SEED, /* rt_config.sweep.seed + seed_set: "auto" follows run.seed */
  RT_STORE_METHOD,     /* rt_sweep_method */
  RT_STORE_GOAL,       /* rt_sweep_goal */
  RT_STORE_TEXT_AUTO,  /* char[size] like RT_STORE_TEXT, but the choice of value 0 ("auto") is
                         stored as "" */
  RT_STORE_ALGORITHM,  /* rt_kmeans_algorithm */
  RT_STORE_U64_AUTO,   /* model keys: uint64_t; the choice "auto" clears the key's bit in
                          rt_model_config.given (the value is then resolved per model:
                          rt_model_config_resolve), a number sets it */
  RT_STORE_LONG_AUTO   /* model keys: long, with "auto" as RT_STORE_U64_AUTO */
} rt_key_store;

/* Model keys: how the spec text of a model file (src/models/registry.c) carries the key. */
typedef enum rt_key_spec {
  RT_SPEC_NONE = 0, /* not a line of its own (other sections; kind, the first line; swept) */
  RT_SPEC_ALL,      /* a line in every model's spec text; required when read */
  RT_SPEC_KINDS     /* a line only for the kinds in `kinds` (keys added after model files had
                       their form, so that the other families' files stay as they were); absent
                       when read = the default */
} rt_key_spec;

/* Model keys: when the one-line summary (rt_model_config_summary) shows the key, for the models
 * that read it (`kinds`, `when`). */
typedef enum rt_key_show {
  RT_SHOW_NEVER = 0,
  RT_SHOW_ALWAYS,
  RT_SHOW_CHANGED, /* when its value differs from the default */
  RT_SHOW_GIVEN /* when it was given (not auto: RT_STORE_U64_AUTO, RT_STORE_LONG_AUTO, model enums) */
} rt_key_show;

/* A named value. Aliases are accepted but neither listed in messages nor written. */
typedef struct rt_key_choice {
  const char *name;
  long long value;
  int alias;
} rt_key_choice;

typedef struct rt_config_key {
  rt_section section;
  const char *name;
  rt_key_type type;
  rt_key_store store;
  size_t offset;                /* into rt_config (data, run) or rt_model_config (models) */
  size_t size;                  /* RT_STORE_TEXT: capacity of the char array;
                                   RT_STORE_LONG_LIST: capacity (entries) of the long array */
  long long imin, imax;         /* RT_KEY_INT, RT_KEY_INT_RANGE, RT_KEY_INT_LIST (each item) */
  double dmin, dmax;            /* RT_KEY_NUMBER (dmax may be HUGE_VAL: no upper bound) */
  int dmin_open, dmax_open;     /* RT_KEY_NUMBER: bound excluded */
  const rt_key_choice *choices; /* ENUM values / named INT and UINT64 values; NULL-name end */
  int required;                 /* must be given (no default) */
  const char *default_text;     /* the default as rt_config_key_apply takes it; NULL: required */
  const char *doc;              /* one line */
  const char *item;             /* RT_KEY_INT_LIST: one entry in messages ("hidden width");
                                   NULL for other types */
  /* The schema: what model files, results.csv and the summary carry. Zero (NO_SCHEMA) for keys
   * of other sections, except `column`. */
  rt_key_spec spec;  /* model keys: the key's line in model-file spec text */
  int column;        /* position among the hyper-parameter columns of results.csv
                                   (1-based; the header's order, new keys at the end); 0: none.
                                   A run key there is a per-model value of the results (passes) */
  const char *kinds; /* model keys: the kinds that read the key, space-separated; a
                                   kind may carry one condition, "linear:solver=sgd"; NULL: every
                                   kind */
  const char *when;  /* model keys: "key=value", read only when that other model key
                                   has that value (for every kind); NULL: always */
  rt_key_show show;  /* model keys: when the summary shows the key */
  const char *label; /* summary: "lr" shows "lr=0.01"; "" the value alone ("adam") */
} rt_config_key;

extern const rt_config_key rt_config_keys[];
extern const size_t rt_config_key_count;

/* "data", "run", "models", "sweep". */
const char *rt_section_name(rt_section section);
/* The key `name` of `section`, or NULL. */
const rt_config_key *rt_config_key_find(rt_section section, const char *name);
/* The key of `section` meant by `name`: a familiar name from other tools ("lr" ->
 * "learning_rate"), else the closest key name within the suggestion distance, or NULL. */
const char *rt_config_key_suggest(rt_section section, const char *name);
/* Writes "a, b, c" (the section's key names; nested "m.x", "m.y" listed once as "m") into buf. */
void rt_config_key_list(rt_section section, char *buf, size_t size);

/* "an integer", "a number", "one of: sgd, adam", "a path", ... (for messages). */
void rt_config_key_expected(const rt_config_key *key, char *buf, size_t size);

/* A value as shown in a message: at most 60 bytes (then "..."), control characters as '?'.
 * size must be at least 8. */
void rt_config_show_value(const char *text, char *buf, size_t size);

typedef enum rt_apply_result {
  RT_APPLY_OK = 0,
  RT_APPLY_TYPE, /* why = "expected an integer, got 'abc'": report as "NAME: why" */
  RT_APPLY_RANGE /* why = "must be >= 1, got 0": report as "NAME why" */
} rt_apply_result;

/* Parses `text` as the value of `key` and stores it into `obj` (an rt_config for data/run keys,
 * an rt_model_config for model keys). Relative paths are joined to `dir` ("" or "." keeps them).
 * On failure nothing is stored and `why` says what was expected. */
rt_apply_result rt_config_key_apply(const rt_config_key *key, void *obj, const char *text,
                                    const char *dir, char *why, size_t why_size);

/* Formats the stored value as the text rt_config_key_apply accepts (canonical names, numbers
 * that parse back to the same double; "auto" for a model key resolved per model and not given). Paths and strings come out unquoted. Returns 0 when the
 * stored value is not representable (an enum value outside the table, unterminated text). */
int rt_config_key_format(const rt_config_key *key, const void *obj, char *buf, size_t size);

/* The stored value in the plain form of model files and results.csv: numbers in their shortest
 * round-trip form (rt_format_double), integers in decimal (never a choice name: init_trials 0),
 * enums by their canonical name, except enums stored as an int or char (true/false) by their
 * value (1/0), list items separated by `list_sep` (',' in model files, ' ' in results.csv),
 * the keys resolved per model always as their number (the caller resolved them).
 * Returns 0 when the value does not fit or is not representable. */
int rt_config_key_plain(const rt_config_key *key, const void *obj, char list_sep, char *buf,
                        size_t size);
/* Parses the plain form back, with the table's types and ranges (rt_config_key_apply). */
rt_apply_result rt_config_key_apply_plain(const rt_config_key *key, void *obj, const char *text,
                                          char list_sep, char *why, size_t why_size);

/* Whether `kind` is named in the model key's `kinds` (conditions not looked at; NULL kinds:
 * every kind). */
int rt_config_key_names_kind(const rt_config_key *key, const char *kind);
/* Whether `model` reads the model key: its kind is named in `kinds` with its condition met, and
 * the `when` condition holds. */
int rt_config_key_read_by(const rt_config_key *key, const rt_model_config *model);

/* The canonical name of `value` among the choices of key `name` of `section`; "unknown" when
 * there is none. What the rt_*_name functions return. */
const char *rt_config_choice_name(rt_section section, const char *name, long long value);

/* The key of results.csv hyper-parameter column `position` (1-based), or NULL past the last. */
const rt_config_key *rt_config_key_column(size_t position);

/* Is `name` a known model kind (aliases excluded: stored kinds are canonical)? */
int rt_model_kind_known(const char *name);

/* rt_model_config_resolve, then marks seed, data_order and start_shard given: what a written
 * config carries (the numbers the model trains with) and what two configs are compared by. The
 * model's start_shard must be resolved already (rt_start_shards_resolve). */
void rt_model_config_pin(rt_model_config *model, uint64_t run_seed, uint64_t id);

/* start_shard: auto for every model of models[0..count) that was not given it: spread over the
 * shards by cost class (src/config/start_shard.c). Fails only on allocation. */
rt_code rt_start_shards_resolve(rt_model_config *models, size_t count, rt_status *st);
/* The model keys that make a cost class, by position (NULL past the end): for the tests. */
size_t rt_start_shard_cost_key_count(void);
const char *rt_start_shard_cost_key(size_t i);

/* Keys that take a YAML list as ONE value (RT_KEY_INT_RANGE, RT_KEY_INT_LIST, RT_KEY_NAME_LIST). */
int rt_config_key_is_list(const rt_config_key *key);
/* The position of model key `key` among the model keys (its bit in rt_model_config.swept). */
size_t rt_model_key_index(const rt_config_key *key);
/* The model key at that position, or NULL. */
const rt_config_key *rt_model_key_at(size_t index);
/* Parses a (possibly signed) decimal integer / a finite number as the table does: 1 parsed, 0 not
 * of that form, -1 integer overflow, 2 not finite. */
int rt_config_parse_int(const char *text, long long *out);
int rt_config_parse_number(const char *text, double *out);
/* Applies again, to `model` (model `id` of cfg), the models.N / models.* --set assignments that
 * name it, in the order given (tpe: a suggested model keeps what the command line fixed). */
rt_code rt_config_reapply_model_overrides(const rt_config *cfg, size_t id, rt_model_config *model,
                                          rt_status *st);

/* Shortest text that reads back as exactly v (at most 17 significant digits); 0 if it does not
 * fit (or v is not finite). */
int rt_config_format_double(double v, char *buf, size_t size);

/* config_path.c. `path` made absolute against the working directory, with "." components and
 * repeated slashes removed (".." and symbolic links kept): what a written config stores. Returns 0,
 * ENAMETOOLONG when it does not fit in cap, or getcwd's errno. */
int rt_path_absolute(const char *path, char *out, size_t cap);
/* The file `path` names, with symbolic links resolved (realpath), or rt_path_absolute when it
 * does not exist: what two configs' paths are compared by. Returns as rt_path_absolute. */
int rt_path_resolved(const char *path, char *out, size_t cap);

#endif
