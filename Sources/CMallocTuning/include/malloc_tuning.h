/* glibc malloc tuning for eagled (Swift's Glibc module does not export mallopt). */
#ifndef EAGLED_MALLOC_TUNING_H
#define EAGLED_MALLOC_TUNING_H

#include <stddef.h>

/// Fixes glibc's mmap threshold at `bytes` (which also turns off its dynamic adjustment), so
/// allocations at least that large always get their own mapping and go back to the system
/// when freed. Returns 1 on success, 0 otherwise.
int eagled_fix_mmap_threshold(size_t bytes);

#endif
