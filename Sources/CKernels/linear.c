/* Linear layers, y[n × N] (+)= x[n × K] · Wᵀ, for weights in the Hugging Face layout, 1…64
 * rows, in the canonical order of the matrix's dtype (lanes.h): the portable C path, the
 * dispatch to the instruction-set paths (linear_avx2.c, linear_avx512.c, linear_bf16dot.c),
 * and the split of outputs into pool tasks.
 *
 * Bound: a pass streams the weights once (N·K·bytes ÷ memory bandwidth) and does 2·n·N·K
 * FLOPs (÷ the path's multiply-add peak). The outputs are cut into tasks whose weights fit
 * in L2; inside a task, a block of a few input rows (in L1) meets every weight row, so
 * weights come from DRAM once per pass and from L2 once per row block.
 *
 * Invariance: which path runs, how outputs are split into tasks and which thread runs a task
 * never change an element's operation sequence. */
#include "lanes.h"
#include "linear_paths.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void eagle_range_c(const void *w, int dtype, int K, const float *x, int n, float *y, int ldy,
                   int accumulate, int o_begin, int o_end) {
    const long row_bytes = (long)K * (dtype == EAGLE_BF16 ? 2 : 4);
    for (int i = 0; i < n; i++)
        for (int o = o_begin; o < o_end; o++)
            store_output(y + (long)i * ldy + o, dot_c(x + (long)i * X_STRIDE(K), (const char *)w + o * row_bytes, dtype, K), accumulate);
}

/* The per-thread buffer, freed when its thread exits (a pthread key's destructor: worker
 * threads come and go in tests and sanitizer runs). */
typedef struct {
    void *data;
    long bytes;
} staging;

static pthread_key_t staging_key;
static pthread_once_t staging_once = PTHREAD_ONCE_INIT;

static void free_staging(void *p) {
    staging *s = p;
    free(s->data);
    free(s);
}

static void make_staging_key(void) {
    if (pthread_key_create(&staging_key, free_staging) != 0) abort();
}

static void *staging_buffer(long bytes) {
    pthread_once(&staging_once, make_staging_key);
    staging *s = pthread_getspecific(staging_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(staging_key, s) != 0) abort(); /* as Swift's own allocations do */
    }
    if (bytes > s->bytes) {
        free(s->data);
        s->data = NULL;
        if (posix_memalign(&s->data, 64, (size_t)bytes) != 0) abort();
        s->bytes = bytes;
    }
    return s->data;
}

/// The activations of a pass as the kernels read them: copied into the thread's staging
/// buffer with rows X_STRIDE(K) elements apart — FP32, or rounded to BF16 for
/// EAGLE_BF16_DOT (the matrix's dtype says which). The copy is n·K elements against the
/// n·N·K of the product.
static const void *prepare(const eagle_matrix *W, const float *x, int n) {
    const int K = W->K;
    if (W->dtype == EAGLE_BF16_DOT) {
        uint16_t *rows = staging_buffer((long)n * X_STRIDE(K) * 2);
        for (int i = 0; i < n; i++) eagle_f32_to_bf16(x + (long)i * K, rows + i * X_STRIDE(K), K);
        return rows;
    }
    float *rows = staging_buffer((long)n * X_STRIDE(K) * 4);
    for (int i = 0; i < n; i++) memcpy(rows + i * X_STRIDE(K), x + (long)i * K, (size_t)K * sizeof *rows);
    return rows;
}

/* One stored block's local output range. */
static void segment_range(const eagle_matrix *W, const void *w, const void *a, int n, float *y, int ldy,
                          int accumulate, int o_begin, int o_end, int isa) {
    if (W->dtype == EAGLE_BF16_DOT) {
        dot_range_fn *path = eagle_dot_range_c;
#if defined(__x86_64__)
        if (isa >= EAGLE_ISA_AVX512_BF16) path = eagle_dot_range_avx512bf16;
#endif
        path(w, W->K, a, n, y, ldy, accumulate, o_begin, o_end);
        return;
    }
    linear_range_fn *path = eagle_range_c;
#if defined(__x86_64__)
    if (isa >= EAGLE_ISA_AVX512) path = eagle_range_avx512;
    else if (isa == EAGLE_ISA_AVX2) path = eagle_range_avx2;
#endif
    path(w, W->dtype, W->K, a, n, y, ldy, accumulate, o_begin, o_end);
}

static void range(const eagle_matrix *W, const void *a, int n, float *y, int ldy, int accumulate,
                  int o_begin, int o_end, int isa) {
    int first = 0; /* global index of the segment's first output */
    for (int s = 0; s < W->segments && first < o_end; s++) {
        const int rows = W->rows[s];
        const int b = o_begin > first ? o_begin - first : 0;
        const int e = o_end - first < rows ? o_end - first : rows;
        if (b < e) segment_range(W, W->data[s], a, n, y + first, ldy, accumulate, b, e, isa);
        first += rows;
    }
}

void eagle_linear_range(const eagle_matrix *W, const float *x, int n, float *y, int ldy, int accumulate,
                        int o_begin, int o_end, int isa) {
    range(W, prepare(W, x, n), n, y, ldy, accumulate, o_begin, o_end, isa);
}

float eagle_dot(const float *x, const void *w, int dtype, int K) {
    return dot_on(eagle_isa_current(), x, w, dtype, K);
}

typedef struct {
    const eagle_matrix *W;
    const void *a; /* staged activations (prepare) */
    float *y;
    int n, ldy, accumulate, chunk, isa;
} linear_job;

static void linear_task(void *context, int t, int worker) {
    (void)worker;
    const linear_job *j = context;
    const int b = t * j->chunk, e = b + j->chunk < j->W->N ? b + j->chunk : j->W->N;
    range(j->W, j->a, j->n, j->y, j->ldy, j->accumulate, b, e, j->isa);
}

/* Outputs per task: their weights fill about 128 KiB (L2 holds them across row blocks),
 * a multiple of 8 (the widest register block). */
enum { task_bytes = 128 << 10, small_work = 1 << 16 };

void eagle_linear(const eagle_matrix *W, const float *x, int n, float *y, int ldy, int accumulate) {
    if (n <= 0 || W->N <= 0) return;
    linear_job job = {W, prepare(W, x, n), y, n, ldy, accumulate, 0, eagle_isa_current()};
    const long row_bytes = (long)W->K * (W->dtype == EAGLE_F32 ? 4 : 2);
    int chunk = (int)(task_bytes / (row_bytes > 0 ? row_bytes : 1));
    job.chunk = chunk < 8 ? 8 : chunk & ~7;
    const int tasks = (W->N + job.chunk - 1) / job.chunk;
    if ((long)W->N * W->K * n < small_work) {
        range(W, job.a, n, y, ldy, accumulate, 0, W->N, job.isa);
        return;
    }
    eagle_pool_run(linear_task, &job, tasks);
}
