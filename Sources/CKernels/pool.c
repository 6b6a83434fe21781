/* A persistent worker pool: threads start once and wait for jobs, spinning briefly (a decode
 * step issues a job every few hundred microseconds) and then sleeping on a condition
 * variable. One job at a time; a caller that finds the pool busy runs its tasks alone. */
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

static struct {
    int threads;                       /* including the caller */
    pthread_mutex_t busy;              /* held by the caller whose job runs */
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    atomic_uint generation;            /* bumped per job */
    atomic_int sleepers;
    atomic_int next_task;
    atomic_int unfinished;             /* helper threads still inside the current job */
    int tasks;
    void (*task)(void *, int, int);
    void *context;
} pool = { .busy = PTHREAD_MUTEX_INITIALIZER, .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
           .wake = PTHREAD_COND_INITIALIZER };

static pthread_once_t started = PTHREAD_ONCE_INIT;

static void run_tasks(int worker) {
    int t;
    while ((t = atomic_fetch_add_explicit(&pool.next_task, 1, memory_order_relaxed)) < pool.tasks)
        pool.task(pool.context, t, worker);
}

static void *helper_main(void *arg) {
    int worker = (int)(intptr_t)arg;
    unsigned seen = 0;
    for (;;) {
        unsigned g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        for (int i = 0; g == seen && i < spin_rounds; i++) {
            cpu_relax();
            g = atomic_load_explicit(&pool.generation, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.sleep_lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((g = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.sleep_lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.sleep_lock);
        }
        seen = g;
        run_tasks(worker);
        atomic_fetch_sub_explicit(&pool.unfinished, 1, memory_order_release);
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
    if (tasks == 1 || pool.threads == 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int t = 0; t < tasks; t++) task(context, t, 0);
        return;
    }
    pool.task = task;
    pool.context = context;
    pool.tasks = tasks;
    atomic_store_explicit(&pool.next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.unfinished, pool.threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_seq_cst);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
    run_tasks(0);
    for (int i = 0; atomic_load_explicit(&pool.unfinished, memory_order_acquire) != 0; i++) {
        if (i < spin_rounds) cpu_relax(); else sched_yield();
    }
    pthread_mutex_unlock(&pool.busy);
}
