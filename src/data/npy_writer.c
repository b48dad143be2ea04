/* The .npy header of the library's float32 outputs (format version 1.0: magic, version, a 16-bit
 * little-endian header length, then a Python dict literal padded with spaces and ending in '\n'). */
#include "npy_writer.h"

#include <stdio.h>
#include <string.h>

void rt_npy_f32_header(uint64_t rows, uint64_t columns, unsigned char out[RT_NPY_HEADER_BYTES]) {
  static const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const size_t dict_bytes = RT_NPY_HEADER_BYTES - 10;
  memcpy(out, magic, sizeof magic);
  out[8] = (unsigned char)(dict_bytes & 0xff);
  out[9] = (unsigned char)(dict_bytes >> 8);
  char *dict = (char *)out + 10;
  /* The longest dict (two 20-digit sizes) is 91 bytes: it always fits. */
  int n = snprintf(dict, dict_bytes,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (%llu, %llu), }",
                   (unsigned long long)rows, (unsigned long long)columns);
  memset(dict + n, ' ', dict_bytes - 1 - (size_t)n);
  dict[dict_bytes - 1] = '\n';
}
