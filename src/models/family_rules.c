/* The shared rules and wording of the model families' checks (src/models/family_rules.h). */
#include "family_rules.h"

#include <stdarg.h>
#include <stdio.h>

rt_code rt_model_refuse(rt_status *st, rt_code code, const rt_model_spec *spec, const char *fmt,
                        ...) {
  char text[RT_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  return rt_fail(st, code, "model %llu (%s): %s", (unsigned long long)spec->id, spec->hp.kind,
                 text);
}

rt_code rt_rule_features(const rt_model_spec *spec, rt_status *st) {
  if (spec->problem.features >= 1) return RT_OK;
  return rt_model_refuse(st, RT_ERR_CONFIG, spec, "data has no feature columns");
}

rt_code rt_rule_classes(const rt_model_spec *spec, rt_status *st) {
  if (spec->problem.classes >= 2) return RT_OK;
  return rt_model_refuse(st, RT_ERR_CONFIG, spec, "needs at least 2 classes, data has %zu",
                         spec->problem.classes);
}
