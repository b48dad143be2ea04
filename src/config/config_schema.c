/* The key table as the schema of everything that carries hyper-parameters: the plain value form
 * of model files and results.csv, which kinds read a model key, the results.csv columns, the
 * enum names and the one-line summary of a model's hyper-parameters (train, check and results
 * print it). Everything here walks rt_config_keys[] (config_keys.c): a model key added there is
 * written, read back, listed and summarised without an edit here. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "numfmt.h"

static const rt_key_choice *choice_named(const rt_key_choice *choices, const char *name) {
  for (const rt_key_choice *c = choices; c && c->name; ++c)
    if (strcmp(c->name, name) == 0) return c;
  return NULL;
}

static const rt_key_choice *choice_valued(const rt_key_choice *choices, long long value) {
  for (const rt_key_choice *c = choices; c && c->name; ++c)
    if (!c->alias && c->value == value) return c;
  return NULL;
}

const char *rt_config_choice_name(rt_section section, const char *name, long long value) {
  const rt_config_key *key = rt_config_key_find(section, name);
  const rt_key_choice *c = key ? choice_valued(key->choices, value) : NULL;
  return c ? c->name : "unknown";
}

/* Enums whose choices are stored as their value (true/false as 1/0), not as an enum type. */
static int stored_as_number(const rt_config_key *key) {
  return key->store == RT_STORE_INT || key->store == RT_STORE_CHAR;
}

int rt_config_key_plain(const rt_config_key *key, const void *obj, char list_sep, char *buf,
                        size_t size) {
  if (size == 0) return 0;
  buf[0] = '\0';
  if (key->type == RT_KEY_NUMBER) {
    char text[RT_NUMFMT_MAX];
    const int n =
        snprintf(buf, size, "%s",
                 rt_format_double(*(const double *)((const char *)obj + key->offset), text));
    return n >= 0 && (size_t)n < size;
  }
  int n = 0;
  if (key->store == RT_STORE_U64_AUTO || key->store == RT_STORE_LONG_AUTO) {
    const char *field = (const char *)obj + key->offset;
    n = key->store == RT_STORE_U64_AUTO ? snprintf(buf, size, "%" PRIu64, *(const uint64_t *)field)
                                        : snprintf(buf, size, "%ld", *(const long *)field);
    return n >= 0 && (size_t)n < size;
  }
  char text[512];
  if (!rt_config_key_format(key, obj, text, sizeof text)) return 0;
  if ((key->type == RT_KEY_INT || (key->type == RT_KEY_ENUM && stored_as_number(key))) &&
      choice_named(key->choices, text)) {
    n = snprintf(buf, size, "%lld", choice_named(key->choices, text)->value);
  } else if (key->type == RT_KEY_INT_LIST || key->type == RT_KEY_COLUMN_LIST) {
    /* "[64, 32]" -> "64<sep>32", "[0:128, 300]" -> "0:128<sep>300" */
    size_t used = 0;
    for (const char *p = text; *p; ++p) {
      if (*p == '[' || *p == ']' || *p == ' ') continue;
      if (used + 1 >= size) return 0;
      buf[used++] = *p == ',' ? list_sep : *p;
    }
    buf[used] = '\0';
    return 1;
  } else {
    n = snprintf(buf, size, "%s", text);
  }
  return n >= 0 && (size_t)n < size;
}

rt_apply_result rt_config_key_apply_plain(const rt_config_key *key, void *obj, const char *text,
                                          char list_sep, char *why, size_t why_size) {
  char converted[512];
  if (key->type == RT_KEY_ENUM && stored_as_number(key)) {
    long long v;
    const rt_key_choice *c =
        rt_config_parse_int(text, &v) == 1 ? choice_valued(key->choices, v) : NULL;
    if (c) text = c->name;
  } else if ((key->type == RT_KEY_INT_LIST || key->type == RT_KEY_COLUMN_LIST) && list_sep != ',') {
    const int n = snprintf(converted, sizeof converted, "%s", text);
    if (n < 0 || (size_t)n >= sizeof converted) {
      snprintf(why, why_size, "expected a list of integers, got a value too long");
      return RT_APPLY_TYPE;
    }
    for (char *p = converted; *p; ++p)
      if (*p == list_sep) *p = ',';
    text = converted;
  }
  return rt_config_key_apply(key, obj, text, NULL, why, why_size);
}

/* Whether model key `name` of `model` has the value `value` (config text), the condition
 * "name=value" of length len. */
static int condition_holds(const rt_model_config *model, const char *cond, size_t len) {
  const char *eq = memchr(cond, '=', len);
  if (!eq) return 0;
  char name[64], text[256];
  const size_t nlen = (size_t)(eq - cond);
  if (nlen >= sizeof name) return 0;
  memcpy(name, cond, nlen);
  name[nlen] = '\0';
  const rt_config_key *key = rt_config_key_find(RT_SECTION_MODEL, name);
  if (!key || !rt_config_key_format(key, model, text, sizeof text)) return 0;
  const size_t vlen = len - nlen - 1;
  return strlen(text) == vlen && strncmp(text, eq + 1, vlen) == 0;
}

/* The token of `kinds` naming `kind` ("kind" or "kind:cond"), its length in *len; NULL if none. */
static const char *kind_token(const char *kinds, const char *kind, size_t *len) {
  const size_t klen = strlen(kind);
  for (const char *p = kinds; *p;) {
    while (*p == ' ') ++p;
    const size_t n = strcspn(p, " ");
    const size_t name = strcspn(p, ": ");
    if (n && name == klen && strncmp(p, kind, klen) == 0) {
      *len = n;
      return p;
    }
    p += n;
  }
  return NULL;
}

int rt_config_key_names_kind(const rt_config_key *key, const char *kind) {
  size_t len;
  return !key->kinds || kind_token(key->kinds, kind, &len) != NULL;
}

int rt_config_key_read_by(const rt_config_key *key, const rt_model_config *model) {
  if (key->kinds) {
    size_t len;
    const char *token = kind_token(key->kinds, model->kind, &len);
    if (!token) return 0;
    const char *colon = memchr(token, ':', len);
    if (colon && !condition_holds(model, colon + 1, len - (size_t)(colon + 1 - token))) return 0;
  }
  return !key->when || condition_holds(model, key->when, strlen(key->when));
}

/* A key's value as the summary shows it: the config text, lists without spaces ("[64,32]"),
 * whole numbers in plain digits ("alpha=100", where the shortest text is "1e+02"). */
static int summary_value(const rt_config_key *key, const rt_model_config *model, char *buf,
                         size_t size) {
  if (key->type == RT_KEY_NUMBER) {
    const double v = *(const double *)((const char *)model + key->offset);
    if (v == floor(v) && fabs(v) < 1e15) {
      const int n = snprintf(buf, size, "%.0f", v);
      return n >= 0 && (size_t)n < size;
    }
  }
  if (!rt_config_key_format(key, model, buf, size)) return 0;
  if (key->type == RT_KEY_INT_LIST || key->type == RT_KEY_COLUMN_LIST) {
    char *out = buf;
    for (const char *p = buf; *p; ++p)
      if (*p != ' ') *out++ = *p;
    *out = '\0';
  }
  return 1;
}

/* A key's own (shown first) when its `kinds` names one kind only. */
static int own_key(const rt_config_key *key) { return key->kinds && !strchr(key->kinds, ' '); }

int rt_model_config_summary(const rt_model_config *model, char *buf, size_t size) {
  if (size == 0) return 0;
  buf[0] = '\0';
  rt_model_config defaults;
  rt_model_config_defaults(&defaults);
  size_t used = 0;
  /* The family's own keys first (k, solver, hidden), then the shared ones (optimizer, batch). */
  for (int own = 1; own >= 0; --own) {
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      const rt_config_key *key = &rt_config_keys[i];
      if (key->section != RT_SECTION_MODEL || key->show == RT_SHOW_NEVER || !key->label ||
          own_key(key) != own || !rt_config_key_read_by(key, model))
        continue;
      char value[256], was[256];
      if (!summary_value(key, model, value, sizeof value)) snprintf(value, sizeof value, "?");
      if (key->show == RT_SHOW_GIVEN && !(model->given >> rt_model_key_index(key) & 1)) continue;
      if (key->show == RT_SHOW_CHANGED && summary_value(key, &defaults, was, sizeof was) &&
          strcmp(value, was) == 0)
        continue;
      const int n = snprintf(buf + used, size - used, "%s%s%s%s", used ? " " : "", key->label,
                             key->label[0] ? "=" : "", value);
      if (n < 0 || (size_t)n >= size - used) return 0;
      used += (size_t)n;
    }
  }
  return 1;
}

const rt_config_key *rt_config_key_column(size_t position) {
  for (size_t i = 0; i < rt_config_key_count; ++i)
    if (rt_config_keys[i].column > 0 && (size_t)rt_config_keys[i].column == position)
      return &rt_config_keys[i];
  return NULL;
}

int rt_model_key_field(const rt_model_config *model, size_t index, char *buf, size_t size) {
  const rt_config_key *key = rt_model_key_at(index);
  if (!key) {
    if (size) buf[0] = '\0';
    return 0;
  }
  return rt_config_key_plain(key, model, ' ', buf, size);
}

int rt_model_key_set_field(rt_model_config *model, size_t index, const char *text) {
  const rt_config_key *key = rt_model_key_at(index);
  char why[256];
  return key && rt_config_key_apply_plain(key, model, text, ' ', why, sizeof why) == RT_APPLY_OK;
}
