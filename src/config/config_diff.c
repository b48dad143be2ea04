/* rt_config_diff: the keys that differ between two configs, for resuming from a checkpoint. Values
 * compare as text, except data paths, which compare as the files they name: a checkpointed config
 * holds them absolute, the resuming one as the user wrote them (relative to the config's folder,
 * from whatever working directory). */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

/* Keys that do not change what is trained: where it goes, how often it is saved, what is
 * recorded about it, where the data is held (the same bytes from memory, a stream or a cache),
 * and the backend: states are host-format on both, so a checkpoint the CPU wrote resumes on CUDA
 * (a job moved to GPU nodes) and the reverse; the models then agree with either backend's
 * uninterrupted run to rounding, not to the byte (`run.backend: auto` never compared anyway). */
static int results_neutral(const rt_config_key *key) {
  /* A written config has its sweep expanded into the models (compared one by one instead). */
  if (key->section == RT_SECTION_SWEEP && strcmp(key->name, "expanded") == 0) return 1;
  static const char *const data_neutral[] = {"cache", "residency", "memory_budget"};
  if (key->section == RT_SECTION_DATA)
    for (size_t i = 0; i < sizeof data_neutral / sizeof data_neutral[0]; ++i)
      if (strcmp(key->name, data_neutral[i]) == 0) return 1;
  static const char *const neutral[] = {
      "output", "checkpoint_every", "keep_checkpoints", "timeout",
      "trace",  "trace_events",     "profile_passes",   "backend"};
  if (key->section != RT_SECTION_RUN) return 0;
  for (size_t i = 0; i < sizeof neutral / sizeof neutral[0]; ++i)
    if (strcmp(key->name, neutral[i]) == 0) return 1;
  return 0;
}

/* Appends "name (checkpoint: a, now: b)" to buf, separated by "; ". */
static void append(char *buf, size_t size, size_t *used, const char *name, const char *was,
                   const char *now) {
  if (*used >= size) return;
  int n = snprintf(buf + *used, size - *used, "%s%s (checkpoint: %s, now: %s)", *used ? "; " : "",
                   name, was, now);
  if (n < 0) return;
  *used += (size_t)n < size - *used ? (size_t)n : size - *used - 1;
}

/* Do paths a and b name the same file? When they do not and b is relative, b becomes
 * "b (= where it resolves)" for the message. */
static int same_file(const char *a, const char *b, char *shown, size_t shown_size) {
  char ra[RT_PATH_MAX], rb[RT_PATH_MAX];
  if (!a[0] || !b[0] || rt_path_resolved(a, ra, sizeof ra) || rt_path_resolved(b, rb, sizeof rb))
    return 0;
  if (strcmp(ra, rb) == 0) return 1;
  if (b[0] != '/') {
    char text[RT_PATH_MAX + 64]; /* b may be shown itself */
    if (snprintf(text, sizeof text, "%s = %s", b, rb) < (int)sizeof text)
      snprintf(shown, shown_size, "%s", text);
  }
  return 0;
}

size_t rt_config_diff(const rt_config *was, const rt_config *now, char *buf, size_t size) {
  size_t count = 0, used = 0;
  if (size) buf[0] = '\0';
  char a[RT_PATH_MAX + 64], b[RT_PATH_MAX + 64], name[128];
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section == RT_SECTION_MODEL || results_neutral(key)) continue;
    rt_config_key_format(key, was, a, sizeof a);
    rt_config_key_format(key, now, b, sizeof b);
    if (strcmp(a, b) == 0) continue;
    if (key->type == RT_KEY_PATH && same_file(a, b, b, sizeof b)) continue;
    snprintf(name, sizeof name, "%s.%s", rt_section_name(key->section), key->name);
    append(buf, size, &used, name, a, b);
    count++;
  }
  if (was->model_count != now->model_count) {
    snprintf(a, sizeof a, "%zu", was->model_count);
    snprintf(b, sizeof b, "%zu", now->model_count);
    append(buf, size, &used, "models (count)", a, b);
    return count + 1;
  }
  for (size_t j = 0; j < was->model_count; ++j) {
    /* seed, data_order and start_shard by the numbers they stand for: a checkpoint's config
     * carries them resolved, the resuming one may say auto. An auto one resolves under the
     * checkpoint's run.seed: a run.seed that differs is reported once, above, not per model. */
    rt_model_config x = was->models[j], y = now->models[j];
    rt_model_config_pin(&x, was->run.seed, j);
    rt_model_config_pin(&y, was->run.seed, j);
    for (size_t k = 0; k < rt_model_key_count(); ++k) {
      rt_model_key_text(&x, k, a, sizeof a);
      rt_model_key_text(&y, k, b, sizeof b);
      if (strcmp(a, b) == 0) continue;
      snprintf(name, sizeof name, "models.%zu.%s", j, rt_model_key_name(k));
      append(buf, size, &used, name, a, b);
      count++;
    }
  }
  return count;
}
