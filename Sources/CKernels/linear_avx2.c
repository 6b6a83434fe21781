/* AVX2 + FMA linear kernel: register blocks of 3 rows × 2 outputs and 2 × 2 (12 and 8 of the
 * 16 ymm registers hold accumulators, two 8-lane halves of the canonical 16 lanes each),
 * 1 × 4 for a single row, and one-output remainders.
 *
 * Bound: max(N·K·bytes ÷ bandwidth, 2·n·N·K ÷ (2 FMA pipes × 8 lanes × 2 FLOPs × clock ×
 * cores)); widening BF16 costs two instructions per 8 weights.
 *
 * Invariance: the register block only decides which (row, output) dot products run side by
 * side; each one's operation sequence is the canonical one in every block shape. */
#include "lanes.h"
#include "linear_paths.h"

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
                lo[r][o] = _mm256_fmadd_ps(wl, _mm256_loadu_ps(x + (long)r * X_STRIDE(K) + k), lo[r][o]);
                hi[r][o] = _mm256_fmadd_ps(wh, _mm256_loadu_ps(x + (long)r * X_STRIDE(K) + k + 8), hi[r][o]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            const float *xr = x + (long)r * X_STRIDE(K);
            const void *wo = w + o * row_bytes;
            float s = reduce16_avx2(lo[r][o], hi[r][o]);
            for (int k = K16; k < K; k++) s = fmaf(weight_at(wo, dtype, k), xr[k], s);
            store_output(y + (long)r * ldy + o, s, accumulate);
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

void eagle_range_avx2(const void *w, int dtype, int K, const float *x, int n, float *y, int ldy,
                       int accumulate, int o_begin, int o_end) {
    const long row_bytes = (long)K * (dtype == EAGLE_BF16 ? 2 : 4);
    const char *base = w;
    for (int i = 0; i < n;) {
        const int R = n - i >= 3 ? 3 : n - i, O = R == 1 ? 4 : 2;
        const block_fn wide = wide_blocks[dtype][R - 1], single = single_blocks[dtype][R - 1];
        const float *xi = x + (long)i * X_STRIDE(K);
        float *yi = y + (long)i * ldy;
        int o = o_begin;
        for (; o + O <= o_end; o += O) wide(xi, K, base + o * row_bytes, row_bytes, yi + o, ldy, accumulate);
        for (; o < o_end; o++) single(xi, K, base + o * row_bytes, row_bytes, yi + o, ldy, accumulate);
        i += R;
    }
}
#endif
