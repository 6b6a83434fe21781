#include "malloc_tuning.h"

#include <limits.h>
#include <malloc.h>

int eagled_fix_mmap_threshold(size_t bytes) {
    return bytes <= INT_MAX && mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1;
}
