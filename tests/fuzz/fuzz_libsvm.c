/* libFuzzer target: the LIBSVM / SVMlight reader, through a .libsvm file (sparse rows).
 * See fuzz_data_common.h; run with scripts/test.sh --fuzz N. */
#define _GNU_SOURCE /* mkstemps */
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write_file(".libsvm", data, size);
  fuzz_read_file();
  return 0;
}
