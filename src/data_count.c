#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrain/data.h"

rt_code rt_data_count_rows(const rt_data_options *opt, const rt_data_info *info, uint64_t *rows,
                           rt_status *st) {
  if (info->format == RT_FORMAT_NPY) {
    *rows = info->rows;
    return RT_OK;
  }
  FILE *f = fopen(opt->path, "rb");
  if (!f) return rt_fail(st, RT_ERR_DATA, "%s: cannot open: %s", opt->path, strerror(errno));
  if (fseeko(f, (off_t)info->data_begin, SEEK_SET) != 0) {
    fclose(f);
    return RT_FAIL_AT(st, RT_ERR_IO, "seek %s: %s", opt->path, strerror(errno));
  }
  enum { CHUNK = 1 << 20 };
  char *buf = malloc(CHUNK);
  if (!buf) {
    fclose(f);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %d bytes", CHUNK);
  }
  uint64_t count = 0;
  int content = 0; /* the current line has a non-blank character */
  size_t n;
  while ((n = fread(buf, 1, CHUNK, f)) > 0)
    for (size_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (c == '\n') count += content, content = 0;
      else if (c != ' ' && c != '\t' && c != '\r') content = 1;
    }
  count += content; /* a last line without a newline */
  const int failed = ferror(f);
  free(buf);
  fclose(f);
  if (failed) return RT_FAIL_AT(st, RT_ERR_IO, "read %s: %s", opt->path, strerror(errno));
  *rows = count;
  return RT_OK;
}
