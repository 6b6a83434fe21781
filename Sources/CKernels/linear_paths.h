/* The per-instruction-set bodies of eagle_linear_range (private to CKernels). Each computes
 * y[i·ldy + o] (+)= x_i · W_o for rows i < n and local outputs o in [o_begin, o_end) of one
 * stored block, in its dtype's canonical order (lanes.h), so every path gives the same bits.
 * Activation rows are X_STRIDE(K) elements apart. */
#ifndef EAGLED_LINEAR_PATHS_H
#define EAGLED_LINEAR_PATHS_H

#include <stdint.h>

/// FP32 or BF16 weights (`dtype`) × FP32 activations.
typedef void linear_range_fn(const void *w, int dtype, int K, const float *x, int n, float *y, int ldy,
                             int accumulate, int o_begin, int o_end);
/// BF16 weights × activations already rounded to BF16 (EAGLE_BF16_DOT).
typedef void dot_range_fn(const uint16_t *w, int K, const uint16_t *x, int n, float *y, int ldy,
                          int accumulate, int o_begin, int o_end);

/// Elements between rows of the staged activations (linear.c): K plus 32, so that rows of a
/// power-of-two width do not all fall into the same L1 set (the weight rows, K elements
/// apart in the checkpoint's layout, already crowd it).
#define X_STRIDE(K) ((long)(K) + 32)

linear_range_fn eagle_range_c, eagle_range_avx2, eagle_range_avx512;
dot_range_fn eagle_dot_range_c, eagle_dot_range_avx512bf16;

static inline void store_output(float *y, float s, int accumulate) {
    *y = accumulate ? *y + s : s;
}

#endif
