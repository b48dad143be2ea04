/* e^x over an array of floats, the one exponential of the softmax (src/models/classify.c). */
#ifndef RINGTRAIN_EXP_FLOATS_H
#define RINGTRAIN_EXP_FLOATS_H

#include <stddef.h>

/* x[i] = e^x[i] for i < n. Every element goes through the same function whatever n and its place
 * in x, so a value's result depends on the value alone: on x86-64 CPUs with AVX2 (and FMA) glibc's
 * vector expf (libmvec, 8 lanes, at most a few ulp from expf), elsewhere expf. On one machine the
 * bits are fixed; two machines of which only one has AVX2 differ in the last bits, as their BLAS
 * kernels do. */
void rt_exp_floats(float *x, size_t n);

#endif
