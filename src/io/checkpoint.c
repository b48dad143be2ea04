/* Checkpoint folders: writing (atomic, checksummed, pruned), finding and verified reading. */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtrain/atomic_file.h"
#include "ringtrain/hash.h"
#include "ringtrain/modelfile.h"
#include "route.h"

#define MANIFEST_NAME "MANIFEST"
#define MANIFEST_MAGIC "ringtrain-checkpoint 1"
#define SEQ_MAX 999999999ULL

/* "ckpt-000012" -> 12; 0 for anything else. */
static uint64_t sequence_of(const char *name) {
  if (strncmp(name, "ckpt-", 5) != 0 || !name[5]) return 0;
  uint64_t v = 0;
  for (const char *p = name + 5; *p; ++p) {
    if (*p < '0' || *p > '9' || v > SEQ_MAX) return 0;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  return v;
}

/* The checkpoint numbers in dir, ascending; *n = 0 when dir does not exist. */
static rt_code list_sequences(const char *dir, uint64_t **seqs, size_t *n, rt_status *st) {
  *seqs = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT
               ? RT_OK
               : rt_fail(st, RT_ERR_OUTPUT, "%s: cannot list: %s", dir, strerror(errno));
  size_t cap = 0;
  rt_code rc = RT_OK;
  for (struct dirent *e; (e = readdir(d));) {
    const uint64_t v = sequence_of(e->d_name);
    if (!v) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      uint64_t *grown = realloc(*seqs, cap * sizeof *grown);
      if (!grown) {
        rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot list checkpoints");
        break;
      }
      *seqs = grown;
    }
    (*seqs)[(*n)++] = v;
  }
  closedir(d);
  for (size_t i = 1; rc == RT_OK && i < *n; ++i) /* insertion sort: a handful of entries */
    for (size_t k = i; k > 0 && (*seqs)[k - 1] > (*seqs)[k]; --k) {
      const uint64_t t = (*seqs)[k];
      (*seqs)[k] = (*seqs)[k - 1];
      (*seqs)[k - 1] = t;
    }
  if (rc) {
    free(*seqs);
    *seqs = NULL;
    *n = 0;
  }
  return rc;
}

/* Removes a checkpoint folder: its plain files, then the folder. Missing is fine. */
static rt_code remove_folder(const char *dir, rt_status *st) {
  DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT
               ? RT_OK
               : rt_fail(st, RT_ERR_OUTPUT, "%s: cannot open: %s", dir, strerror(errno));
  char path[RT_PATH_MAX];
  rt_code rc = RT_OK;
  for (struct dirent *e; rc == RT_OK && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if ((rc = rt_path_join(path, sizeof path, dir, e->d_name, st))) break;
    if (unlink(path) != 0 && errno != ENOENT)
      rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot remove: %s", path, strerror(errno));
  }
  closedir(d);
  if (rc == RT_OK && rmdir(dir) != 0 && errno != ENOENT)
    rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot remove: %s", dir, strerror(errno));
  return rc;
}

static void folder_name(char *out, size_t cap, uint64_t seq, int tmp) {
  snprintf(out, cap, tmp ? ".ckpt-%06" PRIu64 ".tmp" : "ckpt-%06" PRIu64, seq);
}

rt_code rt_checkpointer_init(rt_checkpointer *c, const char *run_dir, long keep, int ranks,
                             int fresh, rt_status *st) {
  memset(c, 0, sizeof *c);
  const int n = snprintf(c->run_dir, sizeof c->run_dir, "%s", run_dir);
  if (n < 0 || (size_t)n >= sizeof c->run_dir)
    return rt_fail(st, RT_ERR_OUTPUT, "%s: path too long", run_dir);
  c->keep = keep > 0 ? keep : 1;
  c->ranks = ranks;
  c->next_sequence = 1;
  rt_code rc;
  RT_TRY(rc, rt_fault_from_env(&c->fault, st));
  char dir[RT_PATH_MAX], path[RT_PATH_MAX], name[48];
  RT_TRY(rc, rt_path_join(dir, sizeof dir, run_dir, RT_CHECKPOINT_DIR, st));
  uint64_t *seqs = NULL;
  size_t count = 0;
  RT_TRY(rc, list_sequences(dir, &seqs, &count, st));
  for (size_t i = 0; i < count && fresh; ++i) {
    folder_name(name, sizeof name, seqs[i], 0);
    if ((rc = rt_path_join(path, sizeof path, dir, name, st)) || (rc = remove_folder(path, st)))
      break;
  }
  if (rc == RT_OK && !fresh && count > 0) {
    c->next_sequence = seqs[count - 1] + 1;
    folder_name(c->last, sizeof c->last, seqs[count - 1], 0);
  }
  free(seqs);
  return rc;
}

/* SHA-256 as hex of bytes. */
static rt_code hex_digest(const void *data, size_t len, char hex[65], rt_status *st) {
  uint8_t d[RT_SHA256_LEN];
  rt_code rc = rt_sha256(data, len, d, st);
  if (rc == RT_OK) rt_hex(d, sizeof d, hex);
  return rc;
}

/* One file of the folder, committed into the folder's batch (one directory fsync at the end). */
static rt_code write_one(rt_atomic_batch *batch, const char *dir, const char *name,
                         const void *data, size_t len, char hex[65], rt_status *st) {
  char path[RT_PATH_MAX];
  rt_code rc = rt_path_join(path, sizeof path, dir, name, st);
  if (rc == RT_OK) rc = hex_digest(data, len, hex, st);
  if (rc == RT_OK) rc = rt_write_file_atomic_in(batch, path, data, len, st);
  return rc;
}

static rt_code write_folder(rt_checkpointer *c, const char *tmp, const rt_config *cfg,
                            const rt_model_spec *specs, size_t n, void *const *states,
                            const char *reason, rt_atomic_batch *batch, rt_status *st) {
  char *yaml = NULL, *manifest = NULL;
  size_t yaml_len = 0, manifest_len = 0;
  FILE *f = open_memstream(&yaml, &yaml_len);
  if (!f) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the config");
  rt_code rc = rt_config_write_yaml(cfg, f, st);
  if (fclose(f) != 0 && rc == RT_OK) rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the config");
  char hex[65];
  if (rc == RT_OK) rc = write_one(batch, tmp, "config.yaml", yaml, yaml_len, hex, st);
  free(yaml);
  FILE *m = rc == RT_OK ? open_memstream(&manifest, &manifest_len) : NULL;
  if (rc == RT_OK && !m) rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the manifest");
  if (rc == RT_OK)
    fprintf(m, "%s\nsequence %" PRIu64 "\nreason %s\nranks %d\nmodels %zu\nconfig %s\n",
            MANIFEST_MAGIC, c->next_sequence, reason, c->ranks, cfg->model_count, hex);
  for (size_t k = 0; rc == RT_OK && k < n; ++k) {
    if (c->fault.action == RT_FAULT_ENOSPC && c->fault.rank == 0 && c->fault.at == c->written + 1 &&
        k == n / 2) {
      char path[RT_PATH_MAX + 64];
      snprintf(path, sizeof path, "%s/model-%" PRIu64 ".rtm", tmp, specs[k].id);
      rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot write: %s (injected by %s)", path,
                   strerror(ENOSPC), RT_FAULT_ENV);
      break;
    }
    char *spec_text = rt_spec_to_text(&specs[k]);
    void *bytes = NULL;
    size_t len = 0;
    const rt_state_layout l = rt_state_layout_of(&specs[k]);
    rc = spec_text ? rt_model_file_encode(spec_text, states[k], l.total_bytes, &bytes, &len, st)
                   : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the spec of model %" PRIu64,
                                specs[k].id);
    free(spec_text);
    char name[64];
    snprintf(name, sizeof name, "model-%" PRIu64 ".rtm", specs[k].id);
    if (rc == RT_OK) rc = write_one(batch, tmp, name, bytes, len, hex, st);
    free(bytes);
    if (rc) break;
    const rt_state_header *h = rt_state_head(states[k]);
    fprintf(m, "model %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", specs[k].id, h->pass,
            h->position, h->batch_cursor, hex);
  }
  if (m) {
    if (rc == RT_OK) fputs("end\n", m);
    if (fclose(m) != 0 && rc == RT_OK)
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the manifest");
  }
  if (rc == RT_OK) rc = write_one(batch, tmp, MANIFEST_NAME, manifest, manifest_len, hex, st);
  free(manifest);
  return rc;
}

rt_code rt_checkpoint_write(rt_checkpointer *c, const rt_config *cfg, const rt_model_spec *specs,
                            size_t n, void *const *states, const char *reason, rt_status *st) {
  char dir[RT_PATH_MAX], tmp[RT_PATH_MAX], final[RT_PATH_MAX], name[48], path[RT_PATH_MAX];
  rt_code rc = rt_path_join(dir, sizeof dir, c->run_dir, RT_CHECKPOINT_DIR, st);
  if (rc == RT_OK) rc = rt_mkdir_p(dir, st);
  folder_name(name, sizeof name, c->next_sequence, 1);
  if (rc == RT_OK) rc = rt_path_join(tmp, sizeof tmp, dir, name, st);
  folder_name(name, sizeof name, c->next_sequence, 0);
  if (rc == RT_OK) rc = rt_path_join(final, sizeof final, dir, name, st);
  if (rc == RT_OK) rc = remove_folder(tmp, st); /* a leftover of a crash */
  if (rc == RT_OK && mkdir(tmp, 0777) != 0)
    rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot create directory: %s", tmp, strerror(errno));
  /* Every file fsync'ed, the folder fsync'ed once, then renamed into view and its parent synced. */
  rt_atomic_batch *batch = NULL;
  if (rc == RT_OK) rc = rt_atomic_batch_begin(&batch, st);
  if (rc == RT_OK) rc = write_folder(c, tmp, cfg, specs, n, states, reason, batch, st);
  if (rc == RT_OK) rc = rt_atomic_batch_finish(&batch, st);
  rt_atomic_batch_free(&batch);
  if (rc == RT_OK && rename(tmp, final) != 0)
    rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot rename to %s: %s", tmp, name, strerror(errno));
  if (rc == RT_OK) rc = rt_sync_dir(dir, st);
  c->written++; /* the injected fault counts write attempts, failed ones too */
  if (rc) {
    rt_status ignored;
    (void)remove_folder(tmp, &ignored);
    char msg[RT_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s", st->message);
    if (c->last[0])
      rt_fail(st, rc, "checkpoint %s not written: %s; the last complete checkpoint is %s/%s/%s",
              name, msg, c->run_dir, RT_CHECKPOINT_DIR, c->last);
    else
      rt_fail(st, rc, "checkpoint %s not written: %s; no checkpoint of this run is complete", name,
              msg);
    return rc;
  }
  snprintf(c->last, sizeof c->last, "%s", name);
  c->next_sequence++;
  /* Prune: the oldest first, keeping `keep`. */
  uint64_t *seqs = NULL;
  size_t count = 0;
  RT_TRY(rc, list_sequences(dir, &seqs, &count, st));
  for (size_t i = 0; rc == RT_OK && count > (size_t)c->keep && i < count - (size_t)c->keep; ++i) {
    folder_name(name, sizeof name, seqs[i], 0);
    if ((rc = rt_path_join(path, sizeof path, dir, name, st)) == RT_OK)
      rc = remove_folder(path, st);
  }
  free(seqs);
  return rc;
}

rt_code rt_checkpoint_find(const char *path, char *dir, size_t size, rt_status *st) {
  char probe[RT_PATH_MAX], ckpts[RT_PATH_MAX];
  struct stat sb;
  rt_code rc;
  RT_TRY(rc, rt_path_join(probe, sizeof probe, path, MANIFEST_NAME, st));
  if (stat(probe, &sb) == 0) {
    snprintf(dir, size, "%s", path);
    return RT_OK;
  }
  if (stat(path, &sb) != 0)
    return rt_fail(st, RT_ERR_USAGE, "--resume %s: %s", path, strerror(errno));
  RT_TRY(rc, rt_path_join(ckpts, sizeof ckpts, path, RT_CHECKPOINT_DIR, st));
  uint64_t *seqs = NULL;
  size_t count = 0;
  if ((rc = list_sequences(ckpts, &seqs, &count, st)))
    return rt_fail(st, RT_ERR_USAGE, "--resume %s: %s", path, st->message);
  if (count == 0) {
    free(seqs);
    return rt_fail(st, RT_ERR_USAGE,
                   "--resume %s: no checkpoint to resume from (expected %s/ckpt-NNNNNN/%s)", path,
                   ckpts, MANIFEST_NAME);
  }
  char name[48];
  folder_name(name, sizeof name, seqs[count - 1], 0);
  free(seqs);
  const int n = snprintf(dir, size, "%s/%s", ckpts, name);
  if (n < 0 || (size_t)n >= size)
    return rt_fail(st, RT_ERR_USAGE, "%s/%s: path too long", ckpts, name);
  return RT_OK;
}

/* Reads a whole file (at most 1 GiB); errors are RT_ERR_MODEL_FILE naming the file. */
static rt_code read_all(const char *path, char **data, size_t *len, rt_status *st) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return rt_fail(st, RT_ERR_MODEL_FILE, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || sb.st_size < 0 || sb.st_size > (1LL << 30)) {
    fclose(f);
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: not a readable file of at most 1 GiB", path);
  }
  char *buf = malloc((size_t)sb.st_size + 1);
  if (!buf) {
    fclose(f);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %lld bytes for %s", (long long)sb.st_size,
                      path);
  }
  const size_t got = fread(buf, 1, (size_t)sb.st_size, f);
  const int err = ferror(f);
  fclose(f);
  if (err || got != (size_t)sb.st_size) {
    free(buf);
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: read %zu of %lld bytes", path, got,
                   (long long)sb.st_size);
  }
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return RT_OK;
}

typedef struct manifest_model {
  uint64_t id, pass, position, batch;
  char sha[65];
} manifest_model;

typedef struct manifest {
  uint64_t sequence, models;
  char config_sha[65];
  manifest_model *entries;
  size_t count;
} manifest;

static int is_hex64(const char *s) {
  if (strlen(s) != 64) return 0;
  for (const char *p = s; *p; ++p)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

/* Parses MANIFEST strictly; errors are "DIR/MANIFEST:LINE: expected ...". */
static rt_code read_manifest(const char *dir, manifest *m, rt_status *st) {
  memset(m, 0, sizeof *m);
  char path[RT_PATH_MAX];
  rt_code rc = rt_path_join(path, sizeof path, dir, MANIFEST_NAME, st);
  char *text = NULL;
  size_t len = 0;
  if (rc == RT_OK) rc = read_all(path, &text, &len, st);
  if (rc) return rc;
  if (strlen(text) != len) {
    free(text);
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: contains a NUL byte: not a checkpoint manifest",
                   path);
  }
  size_t line_no = 0, cap = 0;
  int ended = 0, have_seq = 0, have_models = 0, have_config = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line && rc == RT_OK;
       line = strtok_r(NULL, "\n", &save)) {
    ++line_no;
    char word[16], sha[80];
    unsigned long long a = 0, b = 0, c = 0, d = 0;
    int used = 0;
    if (ended) {
      rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s:%zu: expected nothing after 'end'", path, line_no);
    } else if (line_no == 1) {
      if (strcmp(line, MANIFEST_MAGIC) != 0)
        rc =
            rt_fail(st, RT_ERR_MODEL_FILE,
                    "%s:1: expected '%s' (not a ringtrain checkpoint manifest, or another version)",
                    path, MANIFEST_MAGIC);
    } else if (strcmp(line, "end") == 0) {
      ended = 1;
    } else if (sscanf(line, "%15s%n", word, &used) != 1) {
      rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s:%zu: expected a record", path, line_no);
    } else if (strcmp(word, "sequence") == 0 && sscanf(line + used, "%llu", &a) == 1) {
      m->sequence = a, have_seq = 1;
    } else if (strcmp(word, "models") == 0 && sscanf(line + used, "%llu", &a) == 1) {
      m->models = a, have_models = 1;
    } else if (strcmp(word, "reason") == 0 || strcmp(word, "ranks") == 0) {
      /* for the record */
    } else if (strcmp(word, "config") == 0 && sscanf(line + used, "%79s", sha) == 1 &&
               is_hex64(sha)) {
      memcpy(m->config_sha, sha, 65), have_config = 1; /* is_hex64: 64 digits and the NUL */
    } else if (strcmp(word, "model") == 0 &&
               sscanf(line + used, "%llu %llu %llu %llu %79s", &a, &b, &c, &d, sha) == 5 &&
               is_hex64(sha)) {
      if (m->count == cap) {
        cap = cap ? 2 * cap : 16;
        manifest_model *grown = realloc(m->entries, cap * sizeof *grown);
        if (!grown) {
          rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot read %s", path);
          break;
        }
        m->entries = grown;
      }
      manifest_model *e = &m->entries[m->count++];
      e->id = a, e->pass = b, e->position = c, e->batch = d;
      memcpy(e->sha, sha, 65);
    } else {
      rc = rt_fail(
          st, RT_ERR_MODEL_FILE,
          "%s:%zu: expected 'sequence N', 'reason R', 'ranks R', 'models M', 'config SHA256', "
          "'model ID PASS POSITION BATCH SHA256' or 'end'",
          path, line_no);
    }
  }
  free(text);
  if (rc == RT_OK && (!ended || !have_seq || !have_models || !have_config))
    rc = rt_fail(st, RT_ERR_MODEL_FILE,
                 "%s: incomplete manifest (truncated?): expected sequence, models, config and "
                 "a final 'end' line",
                 path);
  if (rc) {
    free(m->entries);
    memset(m, 0, sizeof *m);
  }
  return rc;
}

/* Reads dir/name and checks it against the SHA-256 the manifest recorded. */
static rt_code read_verified(const char *dir, const char *name, const char *sha, char **data,
                             size_t *len, rt_status *st) {
  char path[RT_PATH_MAX], hex[65];
  rt_code rc = rt_path_join(path, sizeof path, dir, name, st);
  if (rc == RT_OK) rc = read_all(path, data, len, st);
  if (rc == RT_OK) rc = hex_digest(*data, *len, hex, st);
  if (rc == RT_OK && strcmp(hex, sha) != 0)
    rc = rt_fail(st, RT_ERR_MODEL_FILE,
                 "%s: checksum mismatch with %s/%s: the file was altered or damaged", path, dir,
                 MANIFEST_NAME);
  if (rc) {
    free(*data);
    *data = NULL;
  }
  return rc;
}

rt_code rt_checkpoint_load_config(const char *dir, rt_config *cfg, rt_status *st) {
  manifest m;
  rt_code rc;
  RT_TRY(rc, read_manifest(dir, &m, st));
  char *text = NULL, path[RT_PATH_MAX];
  size_t len = 0;
  rc = read_verified(dir, "config.yaml", m.config_sha, &text, &len, st);
  free(m.entries);
  if (rc == RT_OK) rc = rt_path_join(path, sizeof path, dir, "config.yaml", st);
  if (rc == RT_OK) rc = rt_config_parse(text, len, path, cfg, st);
  free(text);
  return rc;
}

static rt_code read_states(const char *dir, const rt_model_spec *specs, size_t n,
                           size_t model_count, int started_only, char **texts, void **states,
                           rt_status *st);

rt_code rt_checkpoint_read(const char *dir, const rt_model_spec *specs, size_t n,
                           size_t model_count, void **states, rt_status *st) {
  return read_states(dir, specs, n, model_count, 0, NULL, states, st);
}

rt_code rt_checkpoint_read_started(const char *dir, const rt_model_spec *specs, size_t n,
                                   size_t model_count, void **states, rt_status *st) {
  return read_states(dir, specs, n, model_count, 1, NULL, states, st);
}

rt_code rt_checkpoint_read_texts(const char *dir, const rt_model_spec *specs, size_t n,
                                 size_t model_count, char **texts, void **states, rt_status *st) {
  for (size_t k = 0; k < n; ++k) texts[k] = NULL;
  return read_states(dir, specs, n, model_count, 0, texts, states, st);
}

static rt_code read_states(const char *dir, const rt_model_spec *specs, size_t n,
                           size_t model_count, int started_only, char **texts, void **states,
                           rt_status *st) {
  manifest m;
  rt_code rc;
  RT_TRY(rc, read_manifest(dir, &m, st));
  if (m.models != model_count)
    rc = rt_fail(st, RT_ERR_MODEL_FILE,
                 "%s/%s: the checkpoint has %" PRIu64 " models, the config %zu", dir, MANIFEST_NAME,
                 m.models, model_count);
  for (size_t k = 0; rc == RT_OK && k < n; ++k) {
    const rt_model_spec *spec = &specs[k];
    const manifest_model *e = NULL;
    for (size_t i = 0; i < m.count && !e; ++i)
      if (m.entries[i].id == spec->id) e = &m.entries[i];
    char name[64];
    snprintf(name, sizeof name, "model-%" PRIu64 ".rtm", spec->id);
    if (!e) {
      rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s/%s: no entry for model %" PRIu64 " (%s)", dir,
                   MANIFEST_NAME, spec->id, name);
      break;
    }
    if (started_only && e->pass == 0 && e->position == 0 && e->batch == 0) {
      states[k] = NULL; /* not started: it starts afresh, with the spec it has then */
      continue;
    }
    char *bytes = NULL, path[RT_PATH_MAX + 64];
    size_t len = 0;
    if ((rc = read_verified(dir, name, e->sha, &bytes, &len, st))) break;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rt_model_file mf;
    rc = rt_model_file_decode(bytes, len, path, &mf, st);
    free(bytes);
    if (rc) break;
    char *want = rt_spec_to_text(spec);
    const rt_state_layout l = rt_state_layout_of(spec);
    if (!want)
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the spec of model %" PRIu64, spec->id);
    else if (texts && !(texts[k] = strdup(mf.spec_text)))
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot copy the spec of model %" PRIu64, spec->id);
    else if (!texts && strcmp(want, mf.spec_text) != 0) {
      /* Name the first line that differs: the problem or a hyper-parameter changed. */
      const char *a = mf.spec_text, *b = want;
      while (*a && *a == *b) ++a, ++b;
      while (a > mf.spec_text && a[-1] != '\n') --a;
      const char *eol = strchr(a, '\n');
      rc = rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: written for a different model or data: its spec has '%.*s'", path,
                   (int)(eol ? eol - a : (long)strlen(a)), a);
    } else if (mf.state_len != l.total_bytes)
      rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s: state of %zu bytes, expected %zu", path,
                   mf.state_len, l.total_bytes);
    free(want);
    if (rc == RT_OK) {
      const rt_state_header *h = rt_state_head(mf.state);
      const uint64_t nb = spec->total_batches; /* an upper bound of any one shard's batches */
      if (h->magic != RT_STATE_MAGIC || h->model_id != spec->id)
        rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s: damaged state header (magic or model id)", path);
      else if (h->pass != e->pass || h->position != e->position || h->batch_cursor != e->batch)
        rc = rt_fail(st, RT_ERR_MODEL_FILE,
                     "%s: cursor (pass %" PRIu64 ", position %" PRIu64 ", batch %" PRIu64
                     ") differs from %s",
                     path, h->pass, h->position, h->batch_cursor, MANIFEST_NAME);
      else if (h->pass > spec->passes || h->position >= rt_route_length(spec) ||
               h->batch_cursor > nb ||
               (h->pass == spec->passes && (h->position || h->batch_cursor)))
        rc = rt_fail(st, RT_ERR_MODEL_FILE,
                     "%s: cursor (pass %" PRIu64 ", position %" PRIu64 ", batch %" PRIu64
                     ") is outside a run of %" PRIu64 " passes",
                     path, h->pass, h->position, h->batch_cursor, spec->passes);
    }
    if (rc == RT_OK) {
      states[k] = aligned_alloc(
          RT_STATE_ALIGN, (l.total_bytes + RT_STATE_ALIGN - 1) / RT_STATE_ALIGN * RT_STATE_ALIGN);
      if (!states[k]) rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", l.total_bytes);
      else memcpy(states[k], mf.state, l.total_bytes);
    }
    rt_model_file_free(&mf);
  }
  free(m.entries);
  return rc;
}
