/* AVX-512F linear kernel: one zmm register is exactly the canonical 16-lane accumulator, so
 * each (row, output) dot product is one register and the 32 zmm registers allow blocks of
 * 4 rows × 4 outputs and 2 × 8 (16 accumulators), 3 × 4, and 1 × 8 for a single row, with
 * one-output remainders.
 *
 * Bound: max(N·K·bytes ÷ bandwidth, 2·n·N·K ÷ FMA peak). On AMD Zen 4 a 512-bit FMA issues
 * at one per cycle (two 256-bit pipes), the same FLOPs as AVX2; what AVX-512 saves is half
 * the instructions around the FMAs: one load and two widening instructions per 16 BF16
 * weights instead of per 8, and one x load per 16 lanes.
 *
 * Invariance: as in the AVX2 kernel, blocks only decide which dot products run side by side;
 * each runs the canonical sequence (lanes.h), so AVX-512F, AVX2 and C agree bit for bit. */
#include "lanes.h"
#include "linear_paths.h"

#if defined(__x86_64__)

AVX512 static inline __attribute__((always_inline)) void block_avx512(
    const int R, const int O, const int dtype, const float *x, int K, const char *w, long row_bytes,
    float *y, int ldy, int accumulate, int first) {
    __m512 acc[4][8];
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) acc[r][o] = _mm512_setzero_ps();
    const int K16 = K & ~15;
    /* The next block's weight rows (contiguous after these O rows) are prefetched into L2 while
     * the first row block streams them from memory: the hardware prefetcher stops at 4 KiB
     * pages, and a BF16 row of 2048 is exactly one. (Into L2, not L1: rows K elements apart
     * share L1 sets, and prefetching them into L1 evicted the block's own lines.) */
    const char *next = w + O * row_bytes;
    const int step_bytes = O * 16 * (dtype == EAGLE_BF16 ? 2 : 4);
    for (int k = 0; k < K16; k += 16) {
        if (first)
            for (int b = 0; b < step_bytes; b += 64) _mm_prefetch(next + (long)k / 16 * step_bytes + b, _MM_HINT_T1);
        __m512 wv[8];
        for (int o = 0; o < O; o++) wv[o] = load16_weights(w + o * row_bytes, dtype, k);
        for (int r = 0; r < R; r++) {
            const __m512 xv = _mm512_loadu_ps(x + (long)r * X_STRIDE(K) + k);
            for (int o = 0; o < O; o++) acc[r][o] = _mm512_fmadd_ps(wv[o], xv, acc[r][o]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            const float *xr = x + (long)r * X_STRIDE(K);
            const void *wo = w + o * row_bytes;
            float s = reduce16_avx512(acc[r][o]);
            for (int k = K16; k < K; k++) s = fmaf(weight_at(wo, dtype, k), xr[k], s);
            store_output(y + (long)r * ldy + o, s, accumulate);
        }
}

#define BLOCK(R, O, T)                                                                              \
    AVX512 static void block_##R##x##O##_##T(const float *x, int K, const char *w, long rb, float *y, \
                                             int ldy, int acc, int first) {                          \
        block_avx512(R, O, EAGLE_##T, x, K, w, rb, y, ldy, acc, first);                                     \
    }
#define SHAPES(T)                                                                                   \
    BLOCK(1, 8, T) BLOCK(2, 8, T) BLOCK(3, 4, T) BLOCK(4, 4, T)                                     \
    BLOCK(1, 1, T) BLOCK(2, 1, T) BLOCK(3, 1, T) BLOCK(4, 1, T)
SHAPES(F32)
SHAPES(BF16)

typedef void (*block_fn)(const float *, int, const char *, long, float *, int, int, int);

/* [dtype][rows − 1]: the wide block, its outputs, and its one-output remainder. */
#define WIDE(T) {block_1x8_##T, block_2x8_##T, block_3x4_##T, block_4x4_##T}
#define SINGLE(T) {block_1x1_##T, block_2x1_##T, block_3x1_##T, block_4x1_##T}
static const block_fn wide_blocks[2][4] = {WIDE(F32), WIDE(BF16)};
static const int wide_outputs[4] = {8, 8, 4, 4};
static const block_fn single_blocks[2][4] = {SINGLE(F32), SINGLE(BF16)};

void eagle_range_avx512(const void *w, int dtype, int K, const float *x, int n, float *y, int ldy,
                        int accumulate, int o_begin, int o_end) {
    const long row_bytes = (long)K * (dtype == EAGLE_BF16 ? 2 : 4);
    const char *base = w;
    for (int i = 0; i < n;) {
        const int R = n - i >= 4 ? 4 : n - i, O = wide_outputs[R - 1];
        const block_fn wide = wide_blocks[dtype][R - 1], single = single_blocks[dtype][R - 1];
        const float *xi = x + (long)i * X_STRIDE(K);
        float *yi = y + (long)i * ldy;
        int o = o_begin;
        for (; o + O <= o_end; o += O) wide(xi, K, base + o * row_bytes, row_bytes, yi + o, ldy, accumulate, i == 0);
        for (; o < o_end; o++) single(xi, K, base + o * row_bytes, row_bytes, yi + o, ldy, accumulate, i == 0);
        i += R;
    }
}
#endif
