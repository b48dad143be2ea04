/* Counter-based random numbers: every draw is a pure function of (key, counter), so the same
 * numbers come out whichever rank (or, later, device) computes them. Keys are derived by hashing
 * the identifiers of what the randomness is for: (seed, model, pass, shard, ...). */
#ifndef RINGTRAIN_RNG_H
#define RINGTRAIN_RNG_H

#include <stdint.h>

#if defined(__CUDACC__)
#define RT_HOST_DEVICE __host__ __device__
#else
#define RT_HOST_DEVICE
#endif

/* SplitMix64 finalizer: a bijective 64-bit mixer with full avalanche. */
static inline RT_HOST_DEVICE uint64_t rt_mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Combines a key with one more identifier (order matters). */
static inline RT_HOST_DEVICE uint64_t rt_key_push(uint64_t key, uint64_t id) {
  return rt_mix64(key ^ rt_mix64(id + 0x632be59bd9b4e019ULL));
}

/* Purpose tags keep streams for different uses apart even when the other ids coincide. */
enum {
  RT_STREAM_VALIDATION_SPLIT = 1,
  RT_STREAM_BATCH_ORDER = 2,
  RT_STREAM_INIT = 3,
  RT_STREAM_SAMPLE = 4,
  RT_STREAM_SUCCESSION = 5
};

/* The i-th 64-bit draw of a stream. */
static inline RT_HOST_DEVICE uint64_t rt_rng_u64(uint64_t key, uint64_t i) {
  return rt_mix64(key ^ rt_mix64(i));
}

/* Uniform float in [0, 1) with 24 random bits (exact in float32). */
static inline RT_HOST_DEVICE float rt_rng_uniform_f(uint64_t key, uint64_t i) {
  return (float)(rt_rng_u64(key, i) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline RT_HOST_DEVICE double rt_rng_uniform(uint64_t key, uint64_t i) {
  return (double)(rt_rng_u64(key, i) >> 11) * (1.0 / 9007199254740992.0);
}

/* Integer in [0, n) by multiply-high (bias below 2^-32 for n < 2^32). */
static inline RT_HOST_DEVICE uint64_t rt_rng_below(uint64_t key, uint64_t i, uint64_t n) {
  return (uint64_t)(((unsigned __int128)rt_rng_u64(key, i) * n) >> 64);
}

/* Fills perm[0..n) with a permutation of 0..n-1 (Fisher-Yates driven by the stream `key`). */
static inline void rt_rng_permutation(uint64_t key, uint64_t *perm, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) perm[i] = i;
  for (uint64_t i = n; i > 1; --i) {
    uint64_t j = rt_rng_below(key, i, i);
    uint64_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}

#endif
