/* Workers spin briefly on a generation counter and then sleep on it with a futex: decode runs a
 * few hundred short parallel loops per token, so a sleep and wake-up each time would cost more
 * than the work, while a worker that spun forever would take the core from everyone else when the
 * machine is busy. The caller waits for the last worker the same way. Workers are pinned to
 * distinct CPUs so their caches stay warm. */
#include "threadpool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

struct slm_pool {
    int n;
    pthread_t *threads;
    atomic_int generation;   /* bumped for every job; sleeping workers wait on it */
    atomic_int pending;      /* workers still running the current job; a sleeping caller waits on it */
    atomic_int sleepers;     /* workers asleep (or about to be) on generation */
    atomic_int caller_sleeps;
    atomic_int quit;
    slm_pool_fn fn;
    void *ctx;
    int pinned;         /* the caller was pinned to one CPU ...              */
    pthread_t caller;   /* ... and gets back the set it had when it made the pool */
    cpu_set_t caller_set;
};

typedef struct {
    slm_pool *p;
    int index;
} worker_arg;

/* About 50 microseconds of pause instructions: longer than the gap between the parallel loops of
 * a decode step, short enough not to matter to other processes when the pool is idle. */
enum { SPIN_ROUNDS = 1 << 12 };

static void futex_wait(atomic_int *addr, int expected) {
    syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(atomic_int *addr, int count) { syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0); }

static void *worker(void *arg) {
    worker_arg *wa = arg;
    slm_pool *p = wa->p;
    int me = wa->index;
    free(wa);
    int seen = 0;
    for (;;) {
        int spins = 0, gen;
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_ROUNDS) {
                __builtin_ia32_pause();
                continue;
            }
            /* announce the sleep before checking once more, so a job posted meanwhile is seen or wakes us */
            atomic_fetch_add(&p->sleepers, 1);
            if (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) futex_wait(&p->generation, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            spins = 0;
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = gen;
        p->fn(p->ctx, me, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeps)) futex_wake(&p->pending, 1);
    }
}

/* Pins thread t to the index-th CPU of the set the process started with; skips when there are fewer.
 * The set is read before any pinning: a thread created after the caller is pinned inherits the caller's
 * single CPU, so asking the calling thread for it then would put every worker on one core. */
static void pin(pthread_t t, int index, const cpu_set_t *allowed) {
    cpu_set_t one;
    int seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, allowed)) continue;
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
    cpu_set_t allowed;
    int can_pin = nthreads > 1 && sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) >= nthreads;
    if (can_pin) {
        p->pinned = 1;
        p->caller = pthread_self();
        p->caller_set = allowed;
        pin(p->caller, 0, &allowed);
    }
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
        if (can_pin) pin(p->threads[i], i, &allowed);
    }
    return p;
}

void slm_pool_destroy(slm_pool *p) {
    if (!p) return;
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->generation, 1);
    futex_wake(&p->generation, INT_MAX);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    /* Left on one CPU, the caller would hand that single CPU to every thread it starts later, and the
     * next pool (a bench at another thread count, after the bandwidth probe) could not pin at all. */
    if (p->pinned) pthread_setaffinity_np(p->caller, sizeof p->caller_set, &p->caller_set);
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
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers) > 0) futex_wake(&p->generation, INT_MAX);
    fn(ctx, 0, p->n);
    int spins = 0, left;
    while ((left = atomic_load_explicit(&p->pending, memory_order_acquire)) > 0) {
        if (++spins < SPIN_ROUNDS) {
            __builtin_ia32_pause();
            continue;
        }
        atomic_store(&p->caller_sleeps, 1);
        if ((left = atomic_load(&p->pending)) > 0) futex_wait(&p->pending, left);
        atomic_store(&p->caller_sleeps, 0);
        spins = 0;
    }
}

void slm_split(int total, int align, int i, int n, int *begin, int *end) {
    if (align < 1) align = 1;
    int units = (total + align - 1) / align;
    int b = (int)((long long)units * i / n) * align;
    int e = (int)((long long)units * (i + 1) / n) * align;
    *begin = b < total ? b : total;
    *end = e < total ? e : total;
}
