/* rt_config_write_yaml: every key of the table, defaults included, in a form rt_config_parse reads
 * back into the same struct (relative data paths come out absolute: see emit_key). The models are
 * written expanded, under `sweep: expanded: true` (see rt_config_write_yaml in config.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "ringtrain/config.h"

typedef struct writer {
  FILE *out;
  int failed;
  int saved_errno;
} writer;

static void emit(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(writer *w, const char *fmt, ...) {
  if (w->failed) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vfprintf(w->out, fmt, ap);
  va_end(ap);
  if (n < 0) {
    w->failed = 1;
    w->saved_errno = errno;
  }
}

static void emit_char(writer *w, int ch) {
  if (w->failed) return;
  if (fputc(ch, w->out) == EOF) {
    w->failed = 1;
    w->saved_errno = errno;
  }
}

/* Is text valid UTF-8 (what a YAML file can carry)? */
static int valid_utf8(const unsigned char *s) {
  while (*s) {
    unsigned char c = *s;
    size_t extra;
    unsigned long cp;
    if (c < 0x80) {
      ++s;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07u;
    } else {
      return 0;
    }
    for (size_t i = 1; i <= extra; ++i) {
      if ((s[i] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    s += extra + 1;
  }
  return 1;
}

/* A YAML double-quoted scalar. */
static void emit_quoted(writer *w, const char *text) {
  emit_char(w, '"');
  for (const unsigned char *p = (const unsigned char *)text; *p; ++p) {
    switch (*p) {
      case '"': emit(w, "\\\""); break;
      case '\\': emit(w, "\\\\"); break;
      case '\n': emit(w, "\\n"); break;
      case '\t': emit(w, "\\t"); break;
      case '\r': emit(w, "\\r"); break;
      default:
        if (*p < 0x20 || *p == 0x7f) emit(w, "\\x%02x", *p);
        else emit_char(w, *p);
    }
  }
  emit_char(w, '"');
}

/* Plain scalars we write are names and numbers; anything else is quoted. */
static int plain_safe(const char *text) {
  if (!text[0]) return 0;
  for (const char *p = text; *p; ++p)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-", *p)) return 0;
  return 1;
}

/* Writes "INDENT NAME: VALUE" (NAME: the key's name, or the part after the '.' of a nested one). */
static rt_code emit_key(writer *w, const rt_config_key *key, const void *obj, const char *label,
                        const char *indent, rt_status *st) {
  char text[RT_PATH_MAX + 64];
  if (!rt_config_key_format(key, obj, text, sizeof text))
    return rt_fail(st, RT_ERR_CONFIG, "cannot write %s: its value is not valid", label);
  if (key->type == RT_KEY_PATH && text[0] != '\0' && text[0] != '/') {
    /* Relative data paths are relative to the working directory once parsed (joined to the
     * config's folder); written as such they would be re-joined to the folder of the written
     * file. Write them absolute, so the file reads back the same from anywhere. */
    char relative[sizeof text];
    memcpy(relative, text, sizeof text);
    const int err = rt_path_absolute(relative, text, sizeof text);
    if (err == ENAMETOOLONG)
      return rt_fail(st, RT_ERR_CONFIG, "cannot write %s: path too long once made absolute", label);
    if (err) return RT_FAIL_AT(st, RT_ERR_IO, "getcwd failed: %s", strerror(err));
  }
  const char *dot = strchr(key->name, '.');
  emit(w, "%s%s: ", indent, dot ? dot + 1 : key->name);
  if (key->type == RT_KEY_INT_RANGE || key->type == RT_KEY_INT_LIST ||
      key->type == RT_KEY_NAME_LIST || key->type == RT_KEY_COLUMN_LIST) {
    emit(w, "%s", text); /* a flow sequence of integers: "[2, 3]", "[64, 32]" or "[]" */
  } else if (key->type == RT_KEY_PATH || key->type == RT_KEY_STRING || !plain_safe(text)) {
    if (!valid_utf8((const unsigned char *)text))
      return rt_fail(st, RT_ERR_CONFIG, "cannot write %s as YAML: not valid UTF-8", label);
    emit_quoted(w, text);
  } else {
    emit(w, "%s", text);
  }
  emit_char(w, '\n');
  return RT_OK;
}

rt_code rt_config_write_yaml(const rt_config *cfg, FILE *out, rt_status *st) {
  writer w = {out, 0, 0};
  char label[160];
  emit(&w,
       "# ringtrain configuration, resolved: every key with its value, defaults included.\n"
       "# See configs/reference.yaml for what each key means.\n");
  for (int section = RT_SECTION_DATA; section <= RT_SECTION_RUN; ++section) {
    emit(&w, "%s:\n", rt_section_name((rt_section)section));
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      const rt_config_key *key = &rt_config_keys[i];
      if ((int)key->section != section) continue;
      snprintf(label, sizeof label, "%s.%s", rt_section_name(key->section), key->name);
      rt_code rc;
      RT_TRY(rc, emit_key(&w, key, cfg, label, "  ", st));
    }
  }
  /* The models below are the expansion: marked so, they are read back one model per entry. */
  rt_config *expanded = malloc(sizeof *expanded);
  if (!expanded) return RT_FAIL_AT(st, RT_ERR_NOMEM, "malloc(%zu) failed", sizeof *expanded);
  *expanded = *cfg; /* shallow */
  expanded->sweep.expanded = 1;
  emit(&w,
       "sweep:\n"
       "  # The models below are the sweep's models, already expanded (model id = position):\n"
       "  # they are read back as written; method, count and seed are kept for the record.\n");
  const char *nested = NULL;
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section != RT_SECTION_SWEEP) continue;
    const char *dot = strchr(key->name, '.');
    if (dot && (!nested || strncmp(nested, key->name, (size_t)(dot - key->name) + 1) != 0)) {
      emit(&w, "  %.*s:\n", (int)(dot - key->name), key->name);
      nested = key->name;
    } else if (!dot) {
      nested = NULL;
    }
    snprintf(label, sizeof label, "sweep.%s", key->name);
    rt_code rc = emit_key(&w, key, expanded, label, dot ? "    " : "  ", st);
    if (rc != RT_OK) {
      free(expanded);
      return rc;
    }
  }
  free(expanded);
  if (cfg->model_count == 0 || !cfg->models) {
    emit(&w, "models: []\n");
  } else {
    emit(&w, "models:\n");
    for (size_t m = 0; m < cfg->model_count; ++m) {
      int first = 1;
      /* seed, data_order and start_shard as the numbers this model trains with, so that the
       * entry copied alone into another config trains the same model. */
      rt_model_config model = cfg->models[m];
      rt_model_config_pin(&model, cfg->run.seed, m);
      for (size_t i = 0; i < rt_config_key_count; ++i) {
        const rt_config_key *key = &rt_config_keys[i];
        if (key->section != RT_SECTION_MODEL) continue;
        snprintf(label, sizeof label, "models[%zu].%s", m, key->name);
        rt_code rc;
        RT_TRY(rc, emit_key(&w, key, &model, label, first ? "  - " : "    ", st));
        first = 0;
      }
    }
  }
  if (!w.failed && ferror(out)) {
    w.failed = 1;
    w.saved_errno = errno;
  }
  if (w.failed)
    return RT_FAIL_AT(st, RT_ERR_IO, "writing the config as YAML failed: %s",
                      strerror(w.saved_errno ? w.saved_errno : EIO));
  return RT_OK;
}
