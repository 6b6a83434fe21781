/* A memory-read probe for benchmarks: streams a buffer on the kernels' own pool threads, so
 * "bandwidth bound" means what these threads can read, not what a scalar loop can add up.
 * XOR of 64-bit words (associative: the compiler vectorizes it) in tasks of 1 MiB. */
#include "ckernels.h"

#include <stdatomic.h>

typedef struct {
    const uint64_t *data;
    int64_t words;
    _Atomic uint64_t checksum;
} stream_job;

enum { task_words = (1 << 20) / 8 };

static void stream_task(void *context, int t, int worker) {
    (void)worker;
    stream_job *job = context;
    const int64_t begin = (int64_t)t * task_words;
    const int64_t end = begin + task_words < job->words ? begin + task_words : job->words;
    uint64_t acc[8] = {0};
    int64_t i = begin;
    for (; i + 8 <= end; i += 8)
        for (int l = 0; l < 8; l++) acc[l] ^= job->data[i + l];
    for (; i < end; i++) acc[0] ^= job->data[i];
    uint64_t x = 0;
    for (int l = 0; l < 8; l++) x ^= acc[l];
    atomic_fetch_xor(&job->checksum, x);
}

uint64_t eagle_read_memory(const void *data, int64_t bytes, int pooled) {
    stream_job job = {data, bytes / 8, 0};
    const int tasks = (int)((job.words + task_words - 1) / task_words);
    if (pooled) {
        eagle_pool_run(stream_task, &job, tasks);
    } else {
        for (int t = 0; t < tasks; t++) stream_task(&job, t, 0);
    }
    return atomic_load(&job.checksum);
}
