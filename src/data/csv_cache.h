/* The cache of parsed CSV shards beside the CSV file (csv_cache.c says how it is keyed). */
#ifndef RINGTRAIN_CSV_CACHE_H
#define RINGTRAIN_CSV_CACHE_H

#include <stddef.h>

#include "ringtrain/data.h"

/* Reads shard `shard` of `nshards` from the cache when it holds an entry for the file as it is
 * now: *hit = 1 and *out is what rt_csv_read_shard would return (first_row included). *hit = 0
 * when there is no usable entry. Errors: only running out of memory, or the CSV itself failing
 * to read where the shard starts. */
rt_code rt_csv_cache_read(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, rt_shard *out, int *hit, rt_status *st);

/* The path of shard `shard` of `nshards`'s entry for the file as it is now into path[cap];
 * returns 1 when that entry exists, 0 otherwise. */
int rt_csv_cache_entry(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                       size_t nshards, char *path, size_t cap);

/* Writes a parsed shard's entry (and removes the shard's stale entries). Returns 1 when it was
 * written, 0 when it could not be (never an error: the cache is an optimisation). */
int rt_csv_cache_write(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                       size_t nshards, const rt_shard *sh);

/* Parses shard `shard` of `nshards` piece by piece (bounded memory, whatever the shard's size)
 * into its entry: *written = 1 when the entry is in place, 0 when it could not be written (not
 * an error). The CSV's own errors (file and line) are returned as rt_csv_read_shard would. */
rt_code rt_csv_cache_build(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                           size_t nshards, int *written, rt_status *st);

#endif
