/* Writing float32 .npy files: the header every writer of the library uses (convert, the CSV
 * cache). */
#ifndef RINGTRAIN_NPY_WRITER_H
#define RINGTRAIN_NPY_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* Every header written here is this long (a multiple of 64, as the format asks), whatever the
 * shape, so a writer can put a provisional header first and the final one over it. */
#define RT_NPY_HEADER_BYTES 128

/* Fills out[RT_NPY_HEADER_BYTES] with a version 1.0 header of a C-order little-endian float32
 * array of shape (rows, columns). */
void rt_npy_f32_header(uint64_t rows, uint64_t columns, unsigned char out[RT_NPY_HEADER_BYTES]);

#endif
