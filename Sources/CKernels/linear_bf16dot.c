/* The EAGLE_BF16_DOT linear kernel: BF16 weights × activations rounded to BF16, FP32
 * accumulation, in the order of AVX-512 BF16's vdpbf16ps (lanes.h). Each instruction does
 * 32 multiply-adds where an FP32 FMA does 16, and the weights need no widening: on Zen 4
 * twice the FLOPs per cycle of the FP32 path, for the price of activations rounded to BF16
 * (what llama.cpp's BF16 path does). The portable C path emulates the instruction exactly
 * (subnormal inputs read as zero, subnormal results flushed), so both give the same bits.
 *
 * Bound: max(N·K·2 ÷ bandwidth, 2·n·N·K ÷ (32 lanes × 2 FLOPs × clock × cores)).
 * Blocks: 4 rows × 4 outputs, 2 × 8, 3 × 4, 1 × 8, and one-output remainders. */
#include "lanes.h"
#include "linear_paths.h"

void eagle_dot_range_c(const uint16_t *w, int K, const uint16_t *x, int n, float *y, int ldy,
                       int accumulate, int o_begin, int o_end) {
    for (int i = 0; i < n; i++)
        for (int o = o_begin; o < o_end; o++)
            store_output(y + (long)i * ldy + o, dotbf_c(x + (long)i * X_STRIDE(K), w + (long)o * K, K), accumulate);
}

#if defined(__x86_64__)

AVX512BF16 static inline __attribute__((always_inline)) void block_dot(
    const int R, const int O, const uint16_t *x, int K, const uint16_t *w, float *y, int ldy, int accumulate,
    int first) {
    __m512 acc[4][8];
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) acc[r][o] = _mm512_setzero_ps();
    const int K32 = K & ~31;
    const uint16_t *next = w + (long)O * K; /* the next block's rows, into L2 (as linear_avx512.c) */
    for (int k = 0; k < K32; k += 32) {
        if (first)
            for (int o = 0; o < O; o++) _mm_prefetch((const char *)(next + (long)o * K + k), _MM_HINT_T1);
        __m512bh wv[8];
        for (int o = 0; o < O; o++) wv[o] = (__m512bh)_mm512_loadu_si512(w + (long)o * K + k);
        for (int r = 0; r < R; r++) {
            const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + (long)r * X_STRIDE(K) + k);
            for (int o = 0; o < O; o++) acc[r][o] = _mm512_dpbf16_ps(acc[r][o], wv[o], xv);
        }
    }
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            const uint16_t *xr = x + (long)r * X_STRIDE(K), *wo = w + (long)o * K;
            float s = reduce16_avx512(acc[r][o]);
            for (int k = K32; k < K; k++) s = fmaf(bf16_value(wo[k]), bf16_value(xr[k]), s);
            store_output(y + (long)r * ldy + o, s, accumulate);
        }
}

#define BLOCK(R, O)                                                                           \
    AVX512BF16 static void dot_##R##x##O(const uint16_t *x, int K, const uint16_t *w, float *y, \
                                         int ldy, int acc, int first) {                        \
        block_dot(R, O, x, K, w, y, ldy, acc, first);                                                 \
    }
BLOCK(1, 8) BLOCK(2, 8) BLOCK(3, 4) BLOCK(4, 4) BLOCK(1, 1) BLOCK(2, 1) BLOCK(3, 1) BLOCK(4, 1)

typedef void (*block_fn)(const uint16_t *, int, const uint16_t *, float *, int, int, int);
static const block_fn wide_blocks[4] = {dot_1x8, dot_2x8, dot_3x4, dot_4x4};
static const int wide_outputs[4] = {8, 8, 4, 4};
static const block_fn single_blocks[4] = {dot_1x1, dot_2x1, dot_3x1, dot_4x1};

void eagle_dot_range_avx512bf16(const uint16_t *w, int K, const uint16_t *x, int n, float *y, int ldy,
                                int accumulate, int o_begin, int o_end) {
    for (int i = 0; i < n;) {
        const int R = n - i >= 4 ? 4 : n - i, O = wide_outputs[R - 1];
        const uint16_t *xi = x + (long)i * X_STRIDE(K);
        float *yi = y + (long)i * ldy;
        int o = o_begin;
        for (; o + O <= o_end; o += O) wide_blocks[R - 1](xi, K, w + (long)o * K, yi + o, ldy, accumulate, i == 0);
        for (; o < o_end; o++) single_blocks[R - 1](xi, K, w + (long)o * K, yi + o, ldy, accumulate, i == 0);
        i += R;
    }
}
#endif
