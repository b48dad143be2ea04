/* Levenshtein distance and the "did you mean ...?" suggestion built on it (edit_distance.h):
 * the closest known word to a misspelt key or value, offered only when it is close enough. */
#include "edit_distance.h"

#include <string.h>

size_t rt_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > RT_EDIT_DISTANCE_MAX_LEN || lb > RT_EDIT_DISTANCE_MAX_LEN) return la > lb ? la : lb;
  size_t row[RT_EDIT_DISTANCE_MAX_LEN + 1];
  for (size_t j = 0; j <= lb; ++j) row[j] = j;
  for (size_t i = 1; i <= la; ++i) {
    size_t diag = row[0]; /* row[i-1][j-1] */
    row[0] = i;
    for (size_t j = 1; j <= lb; ++j) {
      size_t up = row[j]; /* row[i-1][j] */
      size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

const char *rt_suggest(const char *word, const char *const *candidates, size_t count) {
  size_t len = strlen(word);
  size_t limit = len / 3 > 2 ? len / 3 : 2;
  const char *best = NULL;
  size_t best_distance = (size_t)-1;
  for (size_t i = 0; i < count; ++i) {
    size_t d = rt_edit_distance(word, candidates[i]);
    if (d < best_distance) {
      best_distance = d;
      best = candidates[i];
    }
  }
  /* Never suggest a word that shares nothing with what was typed ("x" -> "l2"). */
  return best && best_distance <= limit && best_distance < len ? best : NULL;
}
