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

#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bf16,avx2,fma")))

/// Sixteen BF16 weights widened to FP32.
AVX512 static inline __m512 load16_bf16(const uint16_t *p) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

/// Sixteen weights from k on, widened to FP32.
AVX512 static inline __m512 load16_weights(const void *w, int dtype, long k) {
    return dtype == EAGLE_BF16 ? load16_bf16((const uint16_t *)w + k) : _mm512_loadu_ps((const float *)w + k);
}

/// All 16 lanes reduced exactly as reduce16_c (the low and high halves first).
AVX512 static inline float reduce16_avx512(__m512 v) {
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return reduce16_avx2(lo, hi);
}

AVX512 static inline float dot_avx512(const float *x, const void *w, int dtype, int K) {
    __m512 acc = _mm512_setzero_ps();
    const int K16 = K & ~15;
    for (int k = 0; k < K16; k += 16) acc = _mm512_fmadd_ps(load16_weights(w, dtype, k), _mm512_loadu_ps(x + k), acc);
    float s = reduce16_avx512(acc);
    for (int k = K16; k < K; k++) s = fmaf(weight_at(w, dtype, k), x[k], s);
    return s;
}
#endif

/* ---- the BF16 dot-product order (dtype EAGLE_BF16_DOT) ----
 * Activations rounded to BF16; 16 lanes, lane l adding, for each block of 32 elements j,
 * the product of elements 32j+2l+1 and then of 32j+2l, each with one rounding, BF16 inputs
 * that are subnormal read as zero and subnormal results flushed to zero: exactly what
 * AVX-512 BF16's vdpbf16ps does (Intel's definition; checked bit for bit on AMD Zen 4). The
 * lanes are then reduced as reduce16_c and the K mod 32 tail added with fmaf. */

/// A BF16 value as FP32, subnormals read as (signed) zero.
static inline float bf16_daz(uint16_t h) {
    return (h & 0x7f80u) == 0 ? ((h & 0x8000u) ? -0.0f : 0.0f) : bf16_value(h);
}

/// Subnormal results flushed to (signed) zero.
static inline float ftz(float v) {
    return fpclassify(v) == FP_SUBNORMAL ? copysignf(0.0f, v) : v;
}

static inline float dotbf_c(const uint16_t *x, const uint16_t *w, int K) {
    float acc[16] = {0};
    const int K32 = K & ~31;
    for (int k = 0; k < K32; k += 32)
        for (int l = 0; l < 16; l++) {
            const int odd = k + 2 * l + 1, even = k + 2 * l;
            /* acc[l] is never subnormal: it is 0 or a flushed result */
            acc[l] = ftz(fmaf(bf16_daz(w[odd]), bf16_daz(x[odd]), acc[l]));
            acc[l] = ftz(fmaf(bf16_daz(w[even]), bf16_daz(x[even]), acc[l]));
        }
    float s = reduce16_c(acc);
    for (int k = K32; k < K; k++) s = fmaf(bf16_value(w[k]), bf16_value(x[k]), s);
    return s;
}

/// The canonical dot product on instruction set `isa` (which the CPU must support).
static inline float dot_on(int isa, const float *x, const void *w, int dtype, int K) {
#if defined(__x86_64__)
    if (isa >= EAGLE_ISA_AVX512) return dot_avx512(x, w, dtype, K);
    if (isa == EAGLE_ISA_AVX2) return dot_avx2(x, w, dtype, K);
#endif
    (void)isa;
    return dot_c(x, w, dtype, K);
}

#endif
