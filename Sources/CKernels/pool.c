/* A persistent worker pool: threads start once and wait for jobs, spinning briefly (a decode
 * step issues a job every few hundred microseconds) and then sleeping on a condition
 * variable. One job at a time; a caller that finds the pool busy runs its tasks alone.
 *
 * Tasks are claimed from one 64-bit word (job number | tasks | next task), so a helper that
 * wakes late — descheduled on a loaded machine — claims nothing from a finished job, and the
 * caller waits only for tasks that were claimed, never for a helper that has not shown up:
 * the caller runs whatever nobody else took. Results never depend on who ran a task. */
#define _GNU_SOURCE
#include "ckernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { max_threads = 256, spin_rounds = 20000 };

/* claim word: bits 48–63 job number, 24–47 task count, 0–23 next task. */
#define JOB(w) ((uint32_t)((w) >> 48))
#define TASKS(w) ((uint32_t)(((w) >> 24) & 0xffffff))
#define NEXT(w) ((uint32_t)((w) & 0xffffff))
enum { max_tasks = 0xffffff };

static struct {
    int threads;                       /* including the caller */
    pthread_mutex_t busy;              /* held by the caller whose job runs */
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    _Atomic uint64_t claim;
    atomic_int sleepers;
    atomic_int done;                   /* tasks of the current job finished */
    void (*task)(void *, int, int);    /* stable while any task of the job is unfinished */
    void *context;
} pool = { .busy = PTHREAD_MUTEX_INITIALIZER, .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
           .wake = PTHREAD_COND_INITIALIZER };

static pthread_once_t started = PTHREAD_ONCE_INIT;

/* Claims and runs tasks of job `job` until none are left. */
static void run_tasks(uint32_t job, int worker) {
    uint64_t w = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        if (JOB(w) != job || NEXT(w) >= TASKS(w)) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &w, w + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        pool.task(pool.context, (int)NEXT(w), worker);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        w = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
}

static void *helper_main(void *arg) {
    int worker = (int)(intptr_t)arg;
    uint32_t seen = 0;
    for (;;) {
        uint32_t job = JOB(atomic_load_explicit(&pool.claim, memory_order_acquire));
        for (int i = 0; job == seen && i < spin_rounds; i++) {
            cpu_relax();
            job = JOB(atomic_load_explicit(&pool.claim, memory_order_acquire));
        }
        if (job == seen) {
            pthread_mutex_lock(&pool.sleep_lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((job = JOB(atomic_load(&pool.claim))) == seen) pthread_cond_wait(&pool.wake, &pool.sleep_lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.sleep_lock);
        }
        seen = job;
        run_tasks(job, worker);
    }
    return NULL;
}

static int thread_count(void) {
    const char *env = getenv("EAGLE_THREADS");
    if (env) {
        int n = atoi(env);
        if (n >= 1) return n < max_threads ? n : max_threads;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n >= 1) return n < max_threads ? n : max_threads;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n < max_threads ? (int)n : max_threads);
}

static void start_pool(void) {
    int n = thread_count();
    pool.threads = 1;
    for (int i = 1; i < n; i++) {
        pthread_t id;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&id, &attr, helper_main, (void *)(intptr_t)pool.threads) == 0) pool.threads++;
        pthread_attr_destroy(&attr);
    }
}

int eagle_pool_threads(void) {
    pthread_once(&started, start_pool);
    return pool.threads;
}

void eagle_pool_run(void (*task)(void *, int, int), void *context, int tasks) {
    pthread_once(&started, start_pool);
    if (tasks <= 0) return;
    if (tasks == 1 || tasks > max_tasks || pool.threads == 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int t = 0; t < tasks; t++) task(context, t, 0);
        return;
    }
    pool.task = task;
    pool.context = context;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    uint32_t job = (JOB(atomic_load_explicit(&pool.claim, memory_order_relaxed)) + 1) & 0xffff;
    if (job == 0) job = 1;  /* helpers start having seen job 0 */
    atomic_store_explicit(&pool.claim, ((uint64_t)job << 48) | ((uint64_t)tasks << 24), memory_order_seq_cst);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
    run_tasks(job, 0);
    for (int i = 0; atomic_load_explicit(&pool.done, memory_order_acquire) != tasks; i++) {
        if (i < spin_rounds) cpu_relax(); else sched_yield();
    }
    pthread_mutex_unlock(&pool.busy);
}
