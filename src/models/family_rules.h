/* The rules and the wording shared by every model family's check, on the CPU
 * (src/models/family_*.c) and on CUDA (cuda/, which adds only its own limits in the same words): a
 * refusal of a model is one line "model N (kind): what is wrong", code RT_ERR_CONFIG unless said
 * otherwise. */
#ifndef RINGTRAIN_FAMILY_RULES_H
#define RINGTRAIN_FAMILY_RULES_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fails st with `code` and "model N (kind): " followed by the printf-style text; returns code. */
rt_code rt_model_refuse(rt_status *st, rt_code code, const rt_model_spec *spec, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* The data has at least one feature column. */
rt_code rt_rule_features(const rt_model_spec *spec, rt_status *st);
/* A classifier: the data has at least 2 classes. */
rt_code rt_rule_classes(const rt_model_spec *spec, rt_status *st);

#ifdef __cplusplus
}
#endif
#endif
