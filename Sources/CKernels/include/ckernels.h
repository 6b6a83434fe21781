#ifndef EAGLED_CKERNELS_H
#define EAGLED_CKERNELS_H

#include <stdint.h>

/* The engine's own kernels: linear layers over BF16 or FP32 weights for 1…64 rows, and
 * attention over the KV cache, on a persistent worker pool.
 *
 * Batch invariance (the property everything here is built for): every output element is
 * computed by one thread with one fixed sequence of floating-point operations that depends
 * only on that element's inputs — never on the number of rows in the pass, on the other
 * rows, on the mask of other rows, on how the work was split across threads, or on which
 * instruction set ran it. Dot products use a canonical order: 16 lanes, lane l summing
 * elements k ≡ l (mod 16) with fused multiply-adds in increasing k, then the lanes reduced
 * pairwise (l + l+8, l + l+4, l + l+2, 0 + 1), then the K mod 16 tail added with fused
 * multiply-adds. The portable C path computes exactly that with fmaf, so AVX-512F, AVX2 and C
 * agree bit for bit (tested); the BF16_DOT order below likewise on AVX-512 BF16 and C. */

/* ---- dispatch.c: instruction-set selection ---- */

enum eagle_isa { EAGLE_ISA_C = 0, EAGLE_ISA_AVX2 = 1, EAGLE_ISA_AVX512 = 2, EAGLE_ISA_AVX512_BF16 = 3 };

/// The best path this CPU supports (decided once from CPUID).
int eagle_isa_best(void);
/// The path in use (the best one unless forced with `eagle_isa_force` or EAGLE_KERNELS=c).
int eagle_isa_current(void);
/// Selects `isa` if the CPU supports it; returns 0, or -1 (nothing changed). For tests and
/// benchmarks; not thread-safe against running kernels.
int eagle_isa_force(int isa);
/// "avx512-bf16", "avx512f", "avx2+fma" or "c".
const char *eagle_isa_name(int isa);

/* ---- pool.c: persistent worker pool ---- */

/// Runs task(context, t, worker) for t in [0, tasks) across the pool's threads (the caller
/// is worker 0) and returns when all are done. If the pool is busy with another caller's job
/// the tasks run on the calling thread alone (same results: tasks never depend on threads).
void eagle_pool_run(void (*task)(void *context, int t, int worker), void *context, int tasks);
/// Threads that may run tasks at once, the caller included (EAGLE_THREADS, else online CPUs).
int eagle_pool_threads(void);

/* ---- linear.c: y[n × N] (+)= x[n × K] · Wᵀ ---- */

/// F32 and BF16 weights are multiplied with FP32 activations in the canonical order;
/// BF16_DOT weights (stored as BF16) with activations rounded to BF16, in vdpbf16ps's order
/// (lanes.h): twice the multiply-adds per instruction on AVX-512 BF16, not the reference's bits.
enum eagle_dtype { EAGLE_F32 = 0, EAGLE_BF16 = 1, EAGLE_BF16_DOT = 2 };

/// A weight matrix [N × K], row-major (the Hugging Face layout), stored as up to four
/// consecutive row blocks that may live apart (q, k, v used in place from a checkpoint).
typedef struct {
    const void *data[4];  ///< each [rows[i] × K] of `dtype`, rows K elements apart
    int32_t rows[4];
    int32_t segments;
    int32_t dtype;        ///< enum eagle_dtype
    int32_t K;            ///< inputs
    int32_t N;            ///< outputs: the sum of rows[0..<segments]
} eagle_matrix;

/// y[i·ldy + o] = Σ_k x[i·K + k] · W[o, k] (+ y[i·ldy + o] when accumulate), for rows
/// i < n and outputs o < N, in the canonical order above, split across the pool.
/// Bound: max(N·K·bytes ÷ memory bandwidth, 2·n·N·K ÷ FMA peak); see docs/engine.md.
void eagle_linear(const eagle_matrix *W, const float *x, int n, float *y, int ldy, int accumulate);

/// Same on the calling thread only, over outputs [o_begin, o_end), on instruction set `isa`
/// (which the CPU must support): for tests that compare paths and thread splits.
void eagle_linear_range(const eagle_matrix *W, const float *x, int n, float *y, int ldy, int accumulate,
                        int o_begin, int o_end, int isa);

/// The canonical 16-lane dot product of a float vector with an F32 or BF16 weight row.
float eagle_dot(const float *x, const void *w, int dtype, int K);

/* ---- convert.c ---- */

/// Widens BF16 to FP32 (exact).
void eagle_bf16_to_f32(const uint16_t *src, float *dst, int64_t count);
/// Rounds FP32 to BF16, to nearest with ties to even (as torch's .to(torch.bfloat16)); NaN stays NaN.
void eagle_f32_to_bf16(const float *src, uint16_t *dst, int64_t count);

/* ---- select.c: top k and log-partition of a logits row (draft selection) ---- */

/// The min(k, count) largest entries of `row`, best first, ties to the lower index, NaN
/// ranked as −∞ (and written as −∞): their indices and values. Returns how many.
int eagle_top_k(const float *row, int64_t count, int k, int32_t *indices, float *values);
/// log Σᵢ exp(row[i]), NaN counted as −∞: −∞ when no entry is above −∞, +∞ when one is +∞.
/// Within a few ulp of the double-precision value; the same bits on every path.
float eagle_log_sum_exp(const float *row, int64_t count);
/// How many entries are NaN or +∞ (a logits row no distribution can be made of).
int64_t eagle_count_unsamplable(const float *row, int64_t count);
/// The same on instruction set `isa` (which the CPU must support): for tests that compare paths.
int eagle_top_k_on(int isa, const float *row, int64_t count, int k, int32_t *indices, float *values);
float eagle_log_sum_exp_on(int isa, const float *row, int64_t count);

/* ---- stream.c: a memory-read probe for benchmarks ---- */

/// Reads `bytes` of `data` (whole 64-bit words) once, on the pool's threads when `pooled`,
/// else on the calling thread; returns a checksum so the reads cannot be elided.
uint64_t eagle_read_memory(const void *data, int64_t bytes, int pooled);

/* ---- attention.c: softmax(q·Kᵀ·scale) · V over a KV cache ---- */

/// One layer's attention for `n` new tokens whose keys and values are already in the cache
/// at rows past…past+n-1.
typedef struct {
    const float *q;            ///< [n × q_stride], query head h at q + i·q_stride + h·head_dim (roped)
    int32_t q_stride;
    float *out;                ///< [n × out_stride], head h written at out + i·out_stride + h·head_dim
    int32_t out_stride;
    const float *keys;         ///< [kv_heads × capacity × head_dim]
    const float *values;       ///< [kv_heads × capacity × head_dim]
    int32_t capacity;
    int32_t n, past, heads, kv_heads, head_dim;
    float scale;
    /// Visibility: NULL = causal (new token i sees rows 0…past+i). Otherwise rows < mask_start
    /// are visible to all and allowed[i·mask_columns + (j − mask_start)] != 0 decides the rest.
    const uint8_t *allowed;
    int32_t mask_start, mask_columns;
    float *scratch;            ///< [eagle_pool_threads() × stride] scores, one row per worker
    int32_t scratch_stride;    ///< floats between workers' score rows (≥ past + n); 0 = capacity
} eagle_attention;

/// Runs every (token, head) pair as one pool task. Keys are visited in cache order and masked
/// keys are skipped (never multiplied by zero), so a token's output does not depend on the
/// other tokens of the pass.
void eagle_attention_run(const eagle_attention *a);

/// Runs `count` attentions (the sequences of one batched pass, each over its own cache) as
/// one pool job of every (sequence, token, head) triple. Each triple computes exactly what
/// `eagle_attention_run` computes for it alone. Workers share scratch rows, so sequences
/// whose scratch is the same buffer must give a `scratch_stride` no smaller than any of
/// their `past + n`.
void eagle_attention_run_batch(const eagle_attention *a, int count);

#endif
