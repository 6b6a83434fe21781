/* Linear layers, y[n × N] (+)= x[n × K] · Wᵀ, for BF16 or FP32 weights in the Hugging Face
 * layout, 1…64 rows, in the canonical 16-lane order (ckernels.h).
 *
 * Bound: a pass streams the weights once (N·K·bytes ÷ memory bandwidth) and does 2·n·N·K
 * FLOPs (÷ FMA peak: 2 cores × 2 FMA pipes × 8 lanes × 2 FLOPs per cycle on AVX2). The
 * outputs are cut into tasks whose weights fit in L2; inside a task, a block of up to three
 * input rows (in L1) meets every weight row, so weights come from DRAM once per pass and
 * from L2 once per row block. Register blocks (rows × outputs, two 8-lane accumulators
 * each): 3×2 and 2×2 (12 and 8 accumulators of the 16 ymm registers), 1×4 for one row.
 *
 * Invariance: the register block only decides which (row, output) dot products run side by
 * side; each one's operation sequence is the same in every block shape, on every thread. */
#include "lanes.h"

static inline void store(float *y, float s, int accumulate) {
    *y = accumulate ? *y + s : s;
}

static void range_c(const void *w, int dtype, int K, const float *x, int n, float *y, int ldy,
                    int accumulate, int o_begin, int o_end) {
    const long row_bytes = (long)K * (dtype == EAGLE_BF16 ? 2 : 4);
    for (int i = 0; i < n; i++)
        for (int o = o_begin; o < o_end; o++)
            store(y + (long)i * ldy + o, dot_c(x + (long)i * K, (const char *)w + o * row_bytes, dtype, K), accumulate);
}

#if defined(__x86_64__)

/// R input rows × O weight rows; R, O and dtype are constants after inlining, so the
/// accumulator arrays live in registers.
AVX2 static inline __attribute__((always_inline)) void block_avx2(
    const int R, const int O, const int dtype, const float *x, int K, const char *w, long row_bytes,
    float *y, int ldy, int accumulate) {
    __m256 lo[3][4], hi[3][4];
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) lo[r][o] = hi[r][o] = _mm256_setzero_ps();
    const int K16 = K & ~15;
    /* The next block's weight rows (contiguous after these O rows) are prefetched as this
     * block runs, spread over its iterations: the hardware prefetcher stops at page
     * boundaries, and a BF16 row of 2048 is exactly one 4 KiB page. */
    const char *next = w + O * row_bytes;
    const int step_bytes = O * 16 * (dtype == EAGLE_BF16 ? 2 : 4);
    for (int k = 0; k < K16; k += 16) {
        for (int b = 0; b < step_bytes; b += 64) _mm_prefetch(next + (long)k / 16 * step_bytes + b, _MM_HINT_T0);
        for (int o = 0; o < O; o++) {
            const __m256 wl = load8_weights(w + o * row_bytes, dtype, k);
            const __m256 wh = load8_weights(w + o * row_bytes, dtype, k + 8);
            for (int r = 0; r < R; r++) {
                lo[r][o] = _mm256_fmadd_ps(wl, _mm256_loadu_ps(x + (long)r * K + k), lo[r][o]);
                hi[r][o] = _mm256_fmadd_ps(wh, _mm256_loadu_ps(x + (long)r * K + k + 8), hi[r][o]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            const float *xr = x + (long)r * K;
            const void *wo = w + o * row_bytes;
            float s = reduce16_avx2(lo[r][o], hi[r][o]);
            for (int k = K16; k < K; k++) s = fmaf(weight_at(wo, dtype, k), xr[k], s);
            store(y + (long)r * ldy + o, s, accumulate);
        }
}

#define BLOCK(R, O, T)                                                                            \
    AVX2 static void block_##R##x##O##_##T(const float *x, int K, const char *w, long rb, float *y, \
                                           int ldy, int acc) {                                     \
        block_avx2(R, O, EAGLE_##T, x, K, w, rb, y, ldy, acc);                                     \
    }
BLOCK(3, 2, F32) BLOCK(2, 2, F32) BLOCK(1, 4, F32) BLOCK(3, 1, F32) BLOCK(2, 1, F32) BLOCK(1, 1, F32)
BLOCK(3, 2, BF16) BLOCK(2, 2, BF16) BLOCK(1, 4, BF16) BLOCK(3, 1, BF16) BLOCK(2, 1, BF16) BLOCK(1, 1, BF16)

typedef void (*block_fn)(const float *, int, const char *, long, float *, int, int);

/* [dtype][rows − 1]: the wide block and its one-output remainder. */
static const block_fn wide_blocks[2][3] = {
    {block_1x4_F32, block_2x2_F32, block_3x2_F32}, {block_1x4_BF16, block_2x2_BF16, block_3x2_BF16}};
static const block_fn single_blocks[2][3] = {
    {block_1x1_F32, block_2x1_F32, block_3x1_F32}, {block_1x1_BF16, block_2x1_BF16, block_3x1_BF16}};

static void range_avx2(const void *w, int dtype, int K, const float *x, int n, float *y, int ldy,
                       int accumulate, int o_begin, int o_end) {
    const long row_bytes = (long)K * (dtype == EAGLE_BF16 ? 2 : 4);
    const char *base = w;
    for (int i = 0; i < n;) {
        const int R = n - i >= 3 ? 3 : n - i, O = R == 1 ? 4 : 2;
        const block_fn wide = wide_blocks[dtype][R - 1], single = single_blocks[dtype][R - 1];
        const float *xi = x + (long)i * K;
        float *yi = y + (long)i * ldy;
        int o = o_begin;
        for (; o + O <= o_end; o += O) wide(xi, K, base + o * row_bytes, row_bytes, yi + o, ldy, accumulate);
        for (; o < o_end; o++) single(xi, K, base + o * row_bytes, row_bytes, yi + o, ldy, accumulate);
        i += R;
    }
}
#endif

/* One segment's local output range. */
static void segment_range(const void *w, int dtype, int K, const float *x, int n, float *y, int ldy,
                          int accumulate, int o_begin, int o_end, int isa) {
#if defined(__x86_64__)
    if (isa == EAGLE_ISA_AVX2) {
        range_avx2(w, dtype, K, x, n, y, ldy, accumulate, o_begin, o_end);
        return;
    }
#endif
    range_c(w, dtype, K, x, n, y, ldy, accumulate, o_begin, o_end);
}

void eagle_linear_range(const eagle_matrix *W, const float *x, int n, float *y, int ldy, int accumulate,
                        int o_begin, int o_end, int isa) {
    int first = 0; /* global index of the segment's first output */
    for (int s = 0; s < W->segments && first < o_end; s++) {
        const int rows = W->rows[s];
        const int b = o_begin > first ? o_begin - first : 0;
        const int e = o_end - first < rows ? o_end - first : rows;
        if (b < e) {
            segment_range(W->data[s], W->dtype, W->K, x, n, y + first, ldy, accumulate, b, e, isa);
        }
        first += rows;
    }
}

float eagle_dot(const float *x, const void *w, int dtype, int K) {
#if defined(__x86_64__)
    if (eagle_isa_current() == EAGLE_ISA_AVX2) return dot_avx2(x, w, dtype, K);
#endif
    return dot_c(x, w, dtype, K);
}

typedef struct {
    const eagle_matrix *W;
    const float *x;
    float *y;
    int n, ldy, accumulate, chunk, isa;
} linear_job;

static void linear_task(void *context, int t, int worker) {
    (void)worker;
    const linear_job *j = context;
    const int b = t * j->chunk, e = b + j->chunk < j->W->N ? b + j->chunk : j->W->N;
    eagle_linear_range(j->W, j->x, j->n, j->y, j->ldy, j->accumulate, b, e, j->isa);
}

/* Outputs per task: their weights fill about 128 KiB (L2 holds them across row blocks),
 * a multiple of 4 (the widest register block). */
enum { task_bytes = 128 << 10, small_work = 1 << 16 };

void eagle_linear(const eagle_matrix *W, const float *x, int n, float *y, int ldy, int accumulate) {
    if (n <= 0 || W->N <= 0) return;
    const long row_bytes = (long)W->K * (W->dtype == EAGLE_BF16 ? 2 : 4);
    int chunk = (int)(task_bytes / (row_bytes > 0 ? row_bytes : 1));
    chunk = chunk < 4 ? 4 : chunk & ~3;
    linear_job job = {W, x, y, n, ldy, accumulate, chunk, eagle_isa_current()};
    const int tasks = (W->N + chunk - 1) / chunk;
    if ((long)W->N * W->K * n < small_work) {
        eagle_linear_range(W, x, n, y, ldy, accumulate, 0, W->N, job.isa);
        return;
    }
    eagle_pool_run(linear_task, &job, tasks);
}
