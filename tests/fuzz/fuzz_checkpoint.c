/* libFuzzer target: the checkpoint reader (src/io/checkpoint.h) behind `ringtrain train --resume`.
 * Each input is the MANIFEST of a checkpoint folder that also holds a fixed, valid config.yaml
 * and model-0.rtm (made once per process in a temporary folder). So that mutations get past the
 * checksums, the input's tokens "@C" and "@M" are replaced by the SHA-256 of config.yaml and of
 * model-0.rtm before it is written. Then rt_checkpoint_load_config and rt_checkpoint_read (one
 * model) run on the folder; anything they accept must be what the files hold. Errors must be one
 * non-empty line. Run with scripts/test.sh --fuzz N. */
#define _GNU_SOURCE /* mkdtemp */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "model.h"
#include "ringtrain/atomic_file.h"
#include "ringtrain/config.h"
#include "ringtrain/hash.h"
#include "ringtrain/modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] =
    "data: {train: /fuzz/t.csv}\n"
    "run: {passes: 2, seed: 1}\n"
    "models:\n"
    "  - {kind: logistic, batch_size: 2}\n";

static char dir[64], manifest_path[96], config_sha[65], model_sha[65];
static rt_model_spec spec;
static int ready;

static void check_status(const rt_status *st) {
  if (memchr(st->message, '\n', strnlen(st->message, sizeof st->message))) abort();
  if (st->code != RT_OK && st->message[0] == '\0') abort();
}

static void must(rt_code rc, const rt_status *st) {
  if (rc != RT_OK) {
    fprintf(stderr, "fuzz_checkpoint setup: %s\n", st->message);
    abort();
  }
}

static void cleanup(void) {
  char path[128];
  static const char *const names[] = {"MANIFEST", "config.yaml", "model-0.rtm"};
  for (size_t i = 0; i < 3; ++i) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

static void hex_of(const void *bytes, size_t len, char out[65]) {
  uint8_t d[RT_SHA256_LEN];
  rt_status st;
  must(rt_sha256(bytes, len, d, &st), &st);
  rt_hex(d, sizeof d, out);
}

/* The fixed folder: config.yaml and a fresh model 0 of a 4-feature, 3-class problem. */
static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/ringtrain-fuzz-ckpt-XXXXXX");
  if (!mkdtemp(dir)) abort();
  atexit(cleanup);
  snprintf(manifest_path, sizeof manifest_path, "%s/MANIFEST", dir);
  rt_status st;
  char path[128];
  snprintf(path, sizeof path, "%s/config.yaml", dir);
  must(rt_write_file_atomic(path, config_text, sizeof config_text - 1, &st), &st);
  hex_of(config_text, sizeof config_text - 1, config_sha);
  rt_config cfg;
  rt_config_defaults(&cfg);
  must(rt_config_parse(config_text, sizeof config_text - 1, path, &cfg, &st), &st);
  memset(&spec, 0, sizeof spec);
  spec.hp = cfg.models[0];
  spec.problem.features = 4;
  spec.problem.classes = 3;
  spec.problem.train_rows = 8;
  spec.seed = 1;
  spec.passes = 2;
  spec.shards = 2;
  spec.shards_used = 2;
  spec.total_batches = 4;
  rt_config_free(&cfg);
  void *state = NULL;
  size_t bytes = 0;
  must(rt_state_create(&spec, &state, &bytes, &st), &st);
  char *text = rt_spec_to_text(&spec);
  void *file = NULL;
  size_t len = 0;
  if (!text) abort();
  must(rt_model_file_encode(text, state, bytes, &file, &len, &st), &st);
  snprintf(path, sizeof path, "%s/model-0.rtm", dir);
  must(rt_write_file_atomic(path, file, len, &st), &st);
  hex_of(file, len, model_sha);
  free(text);
  free(file);
  rt_state_free(state);
  ready = 1;
}

/* The input with "@C" and "@M" replaced by the real checksums. */
static char *expand(const uint8_t *data, size_t size, size_t *out_len) {
  char *out = malloc(size * 32 + 1), *o = out;
  if (!out) abort();
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '@' && i + 1 < size && (data[i + 1] == 'C' || data[i + 1] == 'M')) {
      memcpy(o, data[i + 1] == 'C' ? config_sha : model_sha, 64);
      o += 64;
      ++i;
    } else {
      *o++ = (char)data[i];
    }
  }
  *out_len = (size_t)(o - out);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ready) setup();
  size_t len = 0;
  char *text = expand(data, size, &len);
  FILE *f = fopen(manifest_path, "wb");
  if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) abort();
  free(text);
  rt_status st;
  rt_config cfg;
  rt_config_defaults(&cfg);
  rt_code rc = rt_checkpoint_load_config(dir, &cfg, &st);
  check_status(&st);
  if (rc == RT_OK && (cfg.model_count != 1 || cfg.run.passes != 2)) abort(); /* it is config.yaml */
  rt_config_free(&cfg);
  void *state = NULL;
  rc = rt_checkpoint_read(dir, &spec, 1, 1, &state, &st);
  check_status(&st);
  if (rc == RT_OK) {
    const rt_state_header *h = rt_state_head(state);
    if (!state || h->model_id != 0 || h->pass != 0 || h->position != 0) abort(); /* a fresh model */
  }
  rt_state_free(state);
  return 0;
}
