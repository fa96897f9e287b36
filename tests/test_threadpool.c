/* The thread pool: every worker runs its share once per job, workers sit on distinct CPUs, and a pool
 * leaves the caller's CPU set as it found it, so that a second pool (slm bench runs the bandwidth probe,
 * then the model, at each thread count) can pin its workers again. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "../runtime/threadpool.h"
#include "test.h"

typedef struct {
    atomic_int calls[8];
    int cpu[8];
} job;

static void record(void *ctx, int i, int n) {
    job *j = ctx;
    if (i < 8) {
        atomic_fetch_add(&j->calls[i], 1);
        j->cpu[i] = sched_getcpu();
    }
    (void)n;
}

static int cpus_allowed(void) {
    cpu_set_t s;
    return sched_getaffinity(0, sizeof s, &s) == 0 ? CPU_COUNT(&s) : -1;
}

static int start_cpus; /* read before any pool exists */

static void test_every_worker_runs_once(void) {
    for (int n = 1; n <= 4; n++) {
        slm_pool *p = slm_pool_create(n);
        CHECK(p && slm_pool_size(p) == n, "pool of %d: size %d", n, slm_pool_size(p));
        job j;
        memset(&j, 0, sizeof j);
        for (int k = 0; k < 100; k++) slm_pool_run(p, record, &j);
        for (int i = 0; i < n; i++) CHECK(atomic_load(&j.calls[i]) == 100, "pool of %d: worker %d ran %d times", n, i, atomic_load(&j.calls[i]));
        slm_pool_destroy(p);
        CHECK(cpus_allowed() == start_cpus, "pool of %d: the caller may run on %d CPUs after it, %d before", n, cpus_allowed(),
              start_cpus);
    }
}

static void test_second_pool_pins_again(void) {
    if (start_cpus < 2) {
        printf("     skipped: %d CPU(s) allowed, pinning needs 2\n", start_cpus);
        return;
    }
    for (int round = 0; round < 2; round++) {
        slm_pool *p = slm_pool_create(2);
        job j;
        memset(&j, 0, sizeof j);
        slm_pool_run(p, record, &j);
        CHECK(j.cpu[0] != j.cpu[1], "round %d: both workers on CPU %d", round, j.cpu[0]);
        slm_pool_destroy(p);
        CHECK(cpus_allowed() == start_cpus, "round %d: the caller may run on %d CPUs after the pool, %d before", round,
              cpus_allowed(), start_cpus);
    }
}

int main(void) {
    start_cpus = cpus_allowed();
    RUN(test_every_worker_runs_once);
    RUN(test_second_pool_pins_again);
    return test_summary();
}
