/* One check for every command: whether a resolved config can train on the given data and backend,
 * with every refusal (not just the first) as a status. `ringtrain check` calls it with what the
 * data headers say (rt_check_probe), `ringtrain train` (rt_train) with the loaded data, so the two
 * refuse the same configs with the same words. The rules themselves live where their concept
 * lives: the key table and rt_config_validate (src/config/config*.c), each family's check
 * (src/models/family_*.c, on the shared rules of src/models/family_rules.h, which the CUDA families
 * call too) and the CUDA backend's own limits (rt_cuda_check_spec, cuda/); this file is the one
 * place that runs them all in one order. */
#ifndef RINGTRAIN_CHECK_H
#define RINGTRAIN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/config.h"
#include "ringtrain/data.h"
#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the data fixes about a run, as far as the checks need it. */
typedef struct rt_check_facts {
  size_t features;     /* feature columns of the training data */
  size_t classes;      /* classes of the label column; 0 when no model of the run classifies */
  uint64_t train_rows; /* rows trained on (after any validation split); 0 = not known */
  size_t shards;       /* shards of the training data; 0 = not known yet (data.shards auto) */
  /* data.residency as train applies it when one rank owns every training shard: */
  uint64_t budget;         /* bytes of rows in memory allowed (data.memory_budget, or auto) */
  size_t streamed;         /* training shards that would stream */
  uint64_t held_bytes;     /* feature rows held in memory */
  uint64_t streamed_bytes; /* feature rows streamed */
} rt_check_facts;

#define RT_CHECK_MAX 16 /* refusals kept; past it they are only counted */

typedef struct rt_check_report {
  size_t count;   /* refusals kept, in check order */
  size_t dropped; /* refusals past RT_CHECK_MAX */
  rt_status refusals[RT_CHECK_MAX];
} rt_check_report;

/* Runs every check of cfg against `data` for `backend` ("cpu" or "cuda": the backend chosen, see
 * rt_check_backend) and records each refusal in `report` (may be NULL). Returns RT_OK when there
 * is none, else the first refusal's code with its message in st. Order: the config alone
 * (rt_config_validate; when it refuses nothing else is checked), the config against the data
 * (run.shards_in_use), then model by model its family's check and, on cuda, the CUDA backend's
 * limits. No file is opened; no MPI. */
rt_code rt_check_run(const rt_config *cfg, const rt_check_facts *data, const char *backend,
                     rt_check_report *report, rt_status *st);

/* The training rows of a run (rt_check_facts.train_rows), the one rule that train and check
 * share: the rows of the shards in use (the first run.shards_in_use of them, else all), where
 * shard_rows[shards] are each shard's training rows, after any validation split
 * (rt_validation_split_rows, include/ringtrain/data.h). */
uint64_t rt_check_train_rows(const rt_config *cfg, const uint64_t *shard_rows, size_t shards);

/* One data file as `ringtrain check` describes it. */
typedef struct rt_check_file {
  const char *path;  /* "" when absent (no validation file) */
  rt_data_info info; /* with the label column resolved */
  int label_column;  /* as resolved against the file */
  uint64_t rows;
} rt_check_file;

/* What the data headers say, read without loading the data: the training file (and its classes
 * when a model classifies, scanning the labels as training does), the validation file if any, and
 * the facts for rt_check_run (train_rows counted shard by shard as train splits and counts them,
 * with data.shards, or as one rank when it is auto; at least 1). Data
 * errors (a missing file, a feature count that differs, fewer rows than shards) are returned as
 * RT_ERR_DATA with the words training uses. */
rt_code rt_check_probe(const rt_config *cfg, rt_check_file *train, rt_check_file *validation,
                       rt_check_facts *facts, rt_status *st);

/* The plan of a sweep that decides as it goes (asha, hyperband, tpe, pbt), as train runs it:
 * rungs[0..rung_count) are bracket 0's rung passes (none: tpe without early_terminate asha),
 * bracket b has those from the b-th on; places: models training at once; tpe: the first
 * tpe_random drawn at random, then tpe_rounds rounds of suggestions (of `places` models each, the
 * last one maybe fewer); max_work: the most model-passes it can spend. */
typedef struct rt_check_halving {
  size_t brackets, rung_count;
  uint64_t rungs[64];
  size_t places;
  size_t tpe_random, tpe_rounds;
  uint64_t pbt_steps; /* pbt: after passes interval, 2 interval, ... */
  size_t pbt_copies;  /* pbt: models that copy another per step */
  uint64_t max_work;
} rt_check_halving;
void rt_check_halving_plan(const rt_config *cfg, rt_check_halving *out);

/* The model groups train forms for cfg on `data` (models that share every batch travel and
 * integrate together, src/engine/groups.h: the same rule, on the same specs), with run.fuse;
 * numbered by their first member, members ascending. Call after rt_check_run accepted cfg.
 * When data->shards is 0 (data.shards auto: one per rank) they are formed as for one rank. */
typedef struct rt_check_groups {
  size_t count;          /* groups */
  size_t *first;         /* [count + 1]: group g's members are members[first[g] .. first[g + 1]) */
  size_t *members;       /* [models]: model ids, group by group */
  size_t *group_of;      /* [models]: the group of model j */
  uint64_t *first_shard; /* [count]: the shard of group g's first visit (pass 0; route.h) */
} rt_check_groups;
rt_code rt_check_groups_form(const rt_config *cfg, const rt_check_facts *data, rt_check_groups *g,
                             rt_status *st);
void rt_check_groups_free(rt_check_groups *g);

/* 1 when some model of cfg classifies (the labels must then be class indices). */
int rt_config_needs_classes(const rt_config *cfg);

/* The BLAS core this process runs ("SkylakeX", "Haswell", ...) and whether a fused group's products
 * are fused on it (1) or computed member by member (0), on the CPU backend
 * (src/models/fused_gemm.h has the rule). */
const char *rt_check_blas_core(void);
int rt_check_blas_fuses(void);

/* The backend train would choose on this machine as one rank (run.backend, what this build has,
 * what the run needs, which device): "cpu" or "cuda" in backend, the device (or -1) and a one-line
 * note for the user (or ""). A run.backend that cannot be had here is RT_ERR_CONFIG with the same
 * words as train's. */
typedef struct rt_check_backend {
  char backend[8];
  int device;
  char note[256];
} rt_check_backend;
rt_code rt_check_backend_preview(const rt_config *cfg, rt_check_backend *out, rt_status *st);

#ifdef __cplusplus
}
#endif
#endif
