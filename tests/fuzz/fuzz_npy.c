/* libFuzzer target: the NumPy .npy data reader, through a .npy file.
 * See fuzz_data_common.h; run with scripts/test.sh --fuzz N. */
#define _GNU_SOURCE /* mkstemps */
#include "fuzz_data_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_write_file(".npy", data, size);
  fuzz_read_file();
  return 0;
}
