/* Attention of new tokens over a layer's KV cache: softmax(q·kⱼ·scale) · vⱼ over the visible
 * rows j, one pool task per (token, query head).
 *
 * Bound: reads each visible key and value row once per query head (2·visible·head_dim floats)
 * and does 4·visible·head_dim FLOPs; small next to the linear layers until the context runs
 * into thousands of tokens.
 *
 * Invariance: keys are visited in cache order and masked ones skipped; scores use the
 * canonical dot product, the softmax sums in key order, and the weighted sum accumulates
 * vⱼ in key order with one fused multiply-add per lane. Nothing depends on the other tokens
 * of the pass, their masks, or the thread. */
#include "lanes.h"

enum { max_head_dim = 512 };

static inline int visible(const eagle_attention *a, int i, int j) {
    if (!a->allowed) return j <= a->past + i;
    if (j < a->mask_start) return 1;
    return a->allowed[(long)i * a->mask_columns + (j - a->mask_start)] != 0;
}

#if defined(__x86_64__)
AVX2 static void axpy_avx2(float *out, float p, const float *v, int hd) {
    const __m256 pp = _mm256_set1_ps(p);
    for (int d = 0; d < hd; d += 8)
        _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pp, _mm256_loadu_ps(v + d), _mm256_loadu_ps(out + d)));
}

AVX512 static void axpy_avx512(float *out, float p, const float *v, int hd) {
    const __m512 pp = _mm512_set1_ps(p);
    for (int d = 0; d < hd; d += 16)
        _mm512_storeu_ps(out + d, _mm512_fmadd_ps(pp, _mm512_loadu_ps(v + d), _mm512_loadu_ps(out + d)));
}
#endif

/// out += p·v, one fused multiply-add per lane (the same on every path).
static void weighted_sum(float *out, float p, const float *v, int hd, int isa) {
#if defined(__x86_64__)
    if (isa >= EAGLE_ISA_AVX512 && hd % 16 == 0) {
        axpy_avx512(out, p, v, hd);
        return;
    }
    if (isa >= EAGLE_ISA_AVX2 && hd % 8 == 0) {
        axpy_avx2(out, p, v, hd);
        return;
    }
#endif
    for (int d = 0; d < hd; d++) out[d] = fmaf(p, v[d], out[d]);
}

static void attend_one(const eagle_attention *a, int t, int worker) {
    const int i = t / a->heads, h = t % a->heads, hd = a->head_dim;
    const int g = h / (a->heads / a->kv_heads);
    const int total = a->past + a->n;
    const float *q = a->q + (long)i * a->q_stride + (long)h * hd;
    const float *keys = a->keys + (long)g * a->capacity * hd;
    const float *values = a->values + (long)g * a->capacity * hd;
    float *scores = a->scratch + (long)worker * (a->scratch_stride > 0 ? a->scratch_stride : a->capacity);
    float *out = a->out + (long)i * a->out_stride + (long)h * hd;

    float qs[max_head_dim];
    for (int d = 0; d < hd; d++) qs[d] = q[d] * a->scale;

    const int isa = eagle_isa_current();
    float top = -INFINITY;
    for (int j = 0; j < total; j++) {
        if (!visible(a, i, j)) continue;
        const float s = dot_on(isa, qs, keys + (long)j * hd, EAGLE_F32, hd);
        scores[j] = s;
        if (s > top) top = s;
    }
    float sum = 0;
    for (int j = 0; j < total; j++) {
        if (!visible(a, i, j)) continue;
        const float e = expf(scores[j] - top);
        scores[j] = e;
        sum += e;
    }
    const float inverse = 1 / sum;
    for (int d = 0; d < hd; d++) out[d] = 0;
    for (int j = 0; j < total; j++) {
        if (!visible(a, i, j)) continue;
        weighted_sum(out, scores[j] * inverse, values + (long)j * hd, hd, isa);
    }
}

static void attention_task(void *context, int t, int worker) { attend_one(context, t, worker); }

/* Too little work to be worth waking the pool. */
static int is_small(long tasks, long keys, int head_dim) { return tasks * keys * head_dim < (1 << 15); }

void eagle_attention_run(const eagle_attention *a) {
    const int tasks = a->n * a->heads;
    if (a->head_dim > max_head_dim || a->head_dim <= 0) return; /* refused at load (ModelConfig) */
    if (is_small(tasks, a->past + a->n, a->head_dim)) {
        for (int t = 0; t < tasks; t++) attend_one(a, t, 0);
        return;
    }
    eagle_pool_run(attention_task, (void *)a, tasks);
}

enum { max_batch = 1024 };

typedef struct {
    const eagle_attention *a;
    int count;
    int first[max_batch + 1]; /* first[s]: the first task of sequence s; first[count] = all tasks */
} batch_job;

static void batch_task(void *context, int t, int worker) {
    const batch_job *job = context;
    int lo = 0, hi = job->count - 1; /* the sequence s with first[s] <= t < first[s + 1] */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (job->first[mid] <= t) lo = mid; else hi = mid - 1;
    }
    attend_one(&job->a[lo], t - job->first[lo], worker);
}

void eagle_attention_run_batch(const eagle_attention *a, int count) {
    if (count > max_batch) {
        for (int s = 0; s < count; s += max_batch) eagle_attention_run_batch(a + s, count - s < max_batch ? count - s : max_batch);
        return;
    }
    batch_job job = { .a = a, .count = count };
    long work = 0;
    job.first[0] = 0;
    for (int s = 0; s < count; s++) {
        if (a[s].head_dim > max_head_dim || a[s].head_dim <= 0) return; /* refused at load (ModelConfig) */
        job.first[s + 1] = job.first[s] + a[s].n * a[s].heads;
        work += (long)a[s].n * a[s].heads * (a[s].past + a[s].n) * a[s].head_dim;
    }
    const int tasks = job.first[count];
    if (tasks == 0) return;
    if (is_small(1, work, 1)) {
        for (int t = 0; t < tasks; t++) batch_task(&job, t, 0);
        return;
    }
    eagle_pool_run(batch_task, &job, tasks);
}
