/* Workers spin briefly on a generation counter before sleeping on a condition variable:
 * decode runs hundreds of short parallel loops per token, so a futex round-trip each time
 * would cost more than the work. Workers are pinned to distinct CPUs so their caches stay warm. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

struct slm_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_int generation; /* bumped for every job */
    atomic_int pending;    /* workers still running the current job */
    atomic_int quit;
    slm_pool_fn fn;
    void *ctx;
};

typedef struct {
    slm_pool *p;
    int index;
} worker_arg;

enum { SPIN_ROUNDS = 200000 };

static void *worker(void *arg) {
    worker_arg *wa = arg;
    slm_pool *p = wa->p;
    int me = wa->index;
    free(wa);
    int seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_ROUNDS) {
                __builtin_ia32_pause();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = atomic_load(&p->generation);
        p->fn(p->ctx, me, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

/* Pins thread t to the index-th CPU this process may run on; silently skips when there are fewer. */
static void pin(pthread_t t, int index) {
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    int seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        if (seen++ == index) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            pthread_setaffinity_np(t, sizeof one, &one);
            return;
        }
    }
}

slm_pool *slm_pool_create(int nthreads) {
    if (nthreads < 1) nthreads = 1;
    slm_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = nthreads;
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (nthreads > 1) pin(pthread_self(), 0);
    for (int i = 1; i < nthreads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) {
            p->n = i;
            break;
        }
        wa->p = p;
        wa->index = i;
        if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i;
            break;
        }
        pin(p->threads[i], i);
    }
    return p;
}

void slm_pool_destroy(slm_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}

int slm_pool_size(const slm_pool *p) { return p ? p->n : 1; }

void slm_pool_run(slm_pool *p, slm_pool_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) __builtin_ia32_pause();
}

void slm_split(int total, int align, int i, int n, int *begin, int *end) {
    if (align < 1) align = 1;
    int units = (total + align - 1) / align;
    int b = (int)((long long)units * i / n) * align;
    int e = (int)((long long)units * (i + 1) / n) * align;
    *begin = b < total ? b : total;
    *end = e < total ? e : total;
}
