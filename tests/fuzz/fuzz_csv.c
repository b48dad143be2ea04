/* libFuzzer target: the CSV (and whitespace-separated) data reader, through a .csv file.
 * See fuzz_data_common.h; run with scripts/test.sh --fuzz N. */
#define _GNU_SOURCE /* mkstemps */
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write_file(".csv", data, size);
  fuzz_read_file();
  return 0;
}
