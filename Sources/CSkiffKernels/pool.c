// A persistent thread pool: workers spin briefly on a generation counter, then sleep on a condition
// variable, so a run costs well under a microsecond when busy and nothing when idle.
#include "skiff_kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SKIFF_PAUSE() _mm_pause()
#else
#define SKIFF_PAUSE() ((void)0)
#endif

enum { SPIN_ROUNDS = 1 << 11 };

struct skiff_pool {
    int thread_count;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    _Atomic unsigned generation;   // bumped once per run
    _Atomic int pending;           // workers still running the current task
    _Atomic int sleepers;          // workers waiting on `wake`
    _Atomic int stopping;
    skiff_task task;
    void *context;
};

typedef struct {
    skiff_pool *pool;
    int index;
} worker_start;

static void *worker_main(void *arg) {
    worker_start start = *(worker_start *)arg;
    free(arg);
    skiff_pool *pool = start.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned now = atomic_load_explicit(&pool->generation, memory_order_acquire);
        int spins = 0;
        while (now == seen && !atomic_load_explicit(&pool->stopping, memory_order_relaxed)) {
            if (++spins < SPIN_ROUNDS) {
                SKIFF_PAUSE();
            } else {
                pthread_mutex_lock(&pool->mutex);
                atomic_fetch_add(&pool->sleepers, 1);
                // seq_cst pairs with the runner's increment-then-check, so no wake-up is lost.
                while (atomic_load(&pool->generation) == seen &&
                       !atomic_load_explicit(&pool->stopping, memory_order_relaxed)) {
                    pthread_cond_wait(&pool->wake, &pool->mutex);
                }
                atomic_fetch_sub(&pool->sleepers, 1);
                pthread_mutex_unlock(&pool->mutex);
                spins = 0;
            }
            now = atomic_load_explicit(&pool->generation, memory_order_acquire);
        }
        if (atomic_load_explicit(&pool->stopping, memory_order_relaxed)) return NULL;
        seen = now;
        pool->task(pool->context, start.index, pool->thread_count);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

skiff_pool *skiff_pool_create(int thread_count) {
    if (thread_count < 1) thread_count = 1;
    skiff_pool *pool = calloc(1, sizeof(skiff_pool));
    if (!pool) return NULL;
    pool->thread_count = thread_count;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = calloc((size_t)thread_count, sizeof(pthread_t));
    if (!pool->threads) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < thread_count; i++) {
        worker_start *start = malloc(sizeof(worker_start));
        if (!start) {
            pool->thread_count = i;
            skiff_pool_destroy(pool);
            return NULL;
        }
        start->pool = pool;
        start->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, start) != 0) {
            free(start);
            pool->thread_count = i;
            skiff_pool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void skiff_pool_destroy(skiff_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->thread_count; i++) pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->threads);
    free(pool);
}

int skiff_pool_thread_count(const skiff_pool *pool) { return pool ? pool->thread_count : 1; }

void skiff_pool_run(skiff_pool *pool, skiff_task task, void *context) {
    if (!pool || pool->thread_count == 1) {
        task(context, 0, 1);
        return;
    }
    pool->task = task;
    pool->context = context;
    atomic_store_explicit(&pool->pending, pool->thread_count - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    task(context, 0, pool->thread_count);
    int spins = 0;
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ROUNDS) SKIFF_PAUSE();
        else sched_yield();
    }
}
