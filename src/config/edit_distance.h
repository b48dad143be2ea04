/* Levenshtein distance for "did you mean ...?" suggestions. */
#ifndef RINGTRAIN_EDIT_DISTANCE_H
#define RINGTRAIN_EDIT_DISTANCE_H

#include <stddef.h>

/* Levenshtein distance (insertions, deletions, substitutions; bytes). Strings longer than
 * RT_EDIT_DISTANCE_MAX_LEN bytes are not compared: the result is then the larger length, which
 * is never close enough to suggest anything. */
#define RT_EDIT_DISTANCE_MAX_LEN 255
size_t rt_edit_distance(const char *a, const char *b);

/* The candidate closest to `word` when its distance is at most max(2, strlen(word) / 3) and below
 * strlen(word), else NULL. Ties go to the earliest candidate; an exact match is returned as is. */
const char *rt_suggest(const char *word, const char *const *candidates, size_t count);

#endif
