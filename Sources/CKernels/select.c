/* Selection over a logits row: the top k entries, and the log-partition of softmax(row).
 *
 * Both run once per expanded draft node over the whole (draft) vocabulary, so they are
 * written to vectorize: the top-k scan tests 16 entries at a time against the current k-th
 * value and looks at single entries only in a chunk that holds a better one (after the first
 * few hundred entries almost none does); the log-sum-exp keeps 16 partial maxima and sums in
 * fixed lanes and evaluates exp with a branch-free polynomial. The lanes are fixed, so the
 * result does not depend on the vector width the compiler chose.
 *
 * Bounds: the top-k scan reads the row once (4·V bytes from L1/L2: ~0.05 ns an entry) and
 * runs at ~0.1 ns; the log-sum-exp is compute-bound, ~30 vector operations per 16 entries
 * (≈ 0.25–0.5 ns an entry at one or two 512-bit operations a cycle on Zen 4), and runs at
 * ~0.47 ns (AVX-512), 0.7 (AVX2), 1.2 (SSE2) — `eagle-bench select`, docs/engine.md.
 *
 * NaN ranks as −∞ everywhere: an overflowing or corrupt checkpoint yields a poor draft, and
 * verification keeps the output the target's. */
#include "ckernels.h"
#include "lanes.h"

#include <math.h>
#include <string.h>

enum { LANES = 16 };

static inline __attribute__((always_inline)) int top_k(const float *row, int64_t count, int k, int32_t *indices, float *values) {
    if (k <= 0 || count <= 0) return 0;
    if ((int64_t)k > count) k = (int)count;
    int n = 0;
    float kth = -INFINITY; /* the k-th best so far, once n == k */
    for (int64_t i = 0; i < count; i += LANES) {
        const int64_t end = i + LANES <= count ? i + LANES : count;
        if (n == k && end - i == LANES) {
            int better = 0;
            for (int j = 0; j < LANES; j++) better |= row[i + j] > kth;
            if (!better) continue;
        }
        for (int64_t j = i; j < end; j++) {
            float v = row[j];
            if (v != v) v = -INFINITY;
            /* Full: only a strictly better entry enters (ties stay with the lower index). */
            if (n == k && !(v > kth)) continue;
            int at = n < k ? n++ : k - 1;
            while (at > 0 && v > values[at - 1]) {
                values[at] = values[at - 1];
                indices[at] = indices[at - 1];
                at--;
            }
            values[at] = v;
            indices[at] = (int32_t)j;
            if (n == k) kth = values[k - 1];
        }
    }
    return n;
}

/* 16 lanes as one value (clang splits them into the registers the target has). They never
 * cross a call (everything below is inlined into the per-ISA entry points), so the vector
 * ABI warning does not apply. */
#pragma clang diagnostic ignored "-Wpsabi"
typedef float lanes_f __attribute__((vector_size(64)));
typedef int32_t lanes_i __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) lanes_f load_lanes(const float *p) {
    lanes_f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) lanes_f select_lanes(lanes_i mask, lanes_f yes, lanes_f no) {
    return (lanes_f)(((lanes_i)yes & mask) | ((lanes_i)no & ~mask));
}

/* exp(x) for x ≤ 0, lane-wise (NaN and x < −87.3 give 0): x = n·ln2 + r with |r| ≲ ln2/2,
 * exp(r) by the Cephes single-precision polynomial, 2ⁿ from the exponent bits. Within 2 ulp
 * of expf. */
static inline __attribute__((always_inline)) lanes_f exp_nonpositive(lanes_f x) {
    const lanes_i keep = x >= -87.3f; /* false for NaN */
    const lanes_f c = select_lanes(keep, x, (lanes_f){0});
    const lanes_i n = __builtin_convertvector(c * 1.44269504088896341f - 0.5f, lanes_i); /* nearest, c ≤ 0 */
    const lanes_f fn = __builtin_convertvector(n, lanes_f);
    lanes_f r = c - fn * 0.693359375f;
    r = r + fn * 2.12194440e-4f;
    lanes_f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const lanes_f e = p * (r * r) + r + 1.0f;
    const lanes_f scale = (lanes_f)((n + 127) << 23);
    return select_lanes(keep, e * scale, (lanes_f){0});
}

static inline __attribute__((always_inline)) float log_sum_exp(const float *row, int64_t count) {
    const int64_t whole = count - count % LANES;
    float tail[LANES];
    for (int j = 0; j < LANES; j++) tail[j] = whole + j < count ? row[whole + j] : -INFINITY;
    const lanes_f last = load_lanes(tail);

    lanes_f lane_max = last; /* NaN never wins a comparison, so it never becomes the max */
    for (int64_t i = 0; i < whole; i += LANES) {
        const lanes_f v = load_lanes(row + i);
        lane_max = select_lanes(v > lane_max, v, lane_max);
    }
    float m = -INFINITY;
    for (int j = 0; j < LANES; j++) m = lane_max[j] > m ? lane_max[j] : m;
    if (m == -INFINITY || m == INFINITY) return m;

    lanes_f lane_sum = exp_nonpositive(last - m);
    for (int64_t i = 0; i < whole; i += LANES) lane_sum += exp_nonpositive(load_lanes(row + i) - m);
    /* Pairwise, in a fixed order. */
    float sums[LANES];
    memcpy(sums, &lane_sum, sizeof sums);
    for (int width = LANES / 2; width > 0; width /= 2)
        for (int j = 0; j < width; j++) sums[j] += sums[j + width];
    return m + logf(sums[0]);
}

int64_t eagle_count_unsamplable(const float *row, int64_t count) {
    int64_t bad = 0;
    for (int64_t i = 0; i < count; i++) bad += !(row[i] < INFINITY); /* NaN or +∞ */
    return bad;
}

/* The same code compiled for each instruction set: the lanes are fixed at 16, so every path
 * gives the same bits (no FMA: the package builds with -ffp-contract=off). */
#if defined(__x86_64__)
AVX2 static int top_k_avx2(const float *row, int64_t count, int k, int32_t *indices, float *values) {
    return top_k(row, count, k, indices, values);
}
AVX512 static int top_k_avx512(const float *row, int64_t count, int k, int32_t *indices, float *values) {
    return top_k(row, count, k, indices, values);
}
AVX2 static float log_sum_exp_avx2(const float *row, int64_t count) { return log_sum_exp(row, count); }
AVX512 static float log_sum_exp_avx512(const float *row, int64_t count) { return log_sum_exp(row, count); }
#endif

int eagle_top_k_on(int isa, const float *row, int64_t count, int k, int32_t *indices, float *values) {
#if defined(__x86_64__)
    if (isa >= EAGLE_ISA_AVX512) return top_k_avx512(row, count, k, indices, values);
    if (isa == EAGLE_ISA_AVX2) return top_k_avx2(row, count, k, indices, values);
#endif
    return top_k(row, count, k, indices, values);
}

float eagle_log_sum_exp_on(int isa, const float *row, int64_t count) {
#if defined(__x86_64__)
    if (isa >= EAGLE_ISA_AVX512) return log_sum_exp_avx512(row, count);
    if (isa == EAGLE_ISA_AVX2) return log_sum_exp_avx2(row, count);
#endif
    return log_sum_exp(row, count);
}

int eagle_top_k(const float *row, int64_t count, int k, int32_t *indices, float *values) {
    return eagle_top_k_on(eagle_isa_current(), row, count, k, indices, values);
}

float eagle_log_sum_exp(const float *row, int64_t count) { return eagle_log_sum_exp_on(eagle_isa_current(), row, count); }
