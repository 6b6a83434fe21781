/* The canonical 16-lane dot product shared by every kernel, one inline function per ISA.
 * See ckernels.h for the order; every path here must follow it exactly. */
#ifndef EAGLED_LANES_H
#define EAGLED_LANES_H

#include "ckernels.h"

#include <math.h>
#include <string.h>

static inline float bf16_value(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// Element k of a weight row of `dtype`.
static inline float weight_at(const void *w, int dtype, long k) {
    return dtype == EAGLE_BF16 ? bf16_value(((const uint16_t *)w)[k]) : ((const float *)w)[k];
}

/// Lanes reduced pairwise: l + l+8, then l + l+4, l + l+2, 0 + 1.
static inline float reduce16_c(float *acc) {
    for (int l = 0; l < 8; l++) acc[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) acc[l] = acc[l] + acc[l + 4];
    for (int l = 0; l < 2; l++) acc[l] = acc[l] + acc[l + 2];
    return acc[0] + acc[1];
}

static inline float dot_c(const float *x, const void *w, int dtype, int K) {
    float acc[16] = {0};
    const int K16 = K & ~15;
    for (int k = 0; k < K16; k += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(weight_at(w, dtype, k + l), x[k + l], acc[l]);
    float s = reduce16_c(acc);
    for (int k = K16; k < K; k++) s = fmaf(weight_at(w, dtype, k), x[k], s);
    return s;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 load8_bf16(const uint16_t *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

/// Eight weights from k on, widened to FP32.
AVX2 static inline __m256 load8_weights(const void *w, int dtype, long k) {
    return dtype == EAGLE_BF16 ? load8_bf16((const uint16_t *)w + k) : _mm256_loadu_ps((const float *)w + k);
}

/// lo holds lanes 0–7, hi lanes 8–15; reduced exactly as reduce16_c.
AVX2 static inline float reduce16_avx2(__m256 lo, __m256 hi) {
    __m256 v = _mm256_add_ps(lo, hi);
    __m128 u = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    u = _mm_add_ps(u, _mm_movehl_ps(u, u));
    u = _mm_add_ss(u, _mm_shuffle_ps(u, u, 1));
    return _mm_cvtss_f32(u);
}

AVX2 static inline float dot_avx2(const float *x, const void *w, int dtype, int K) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    const int K16 = K & ~15;
    for (int k = 0; k < K16; k += 16) {
        lo = _mm256_fmadd_ps(load8_weights(w, dtype, k), _mm256_loadu_ps(x + k), lo);
        hi = _mm256_fmadd_ps(load8_weights(w, dtype, k + 8), _mm256_loadu_ps(x + k + 8), hi);
    }
    float s = reduce16_avx2(lo, hi);
    for (int k = K16; k < K; k++) s = fmaf(weight_at(w, dtype, k), x[k], s);
    return s;
}
#endif

#endif
