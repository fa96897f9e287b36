/* The memory read probe: pinned workers of the engine's own thread pool stream disjoint slices of
 * a buffer much larger than the last-level cache, so the result is the bandwidth a decode step can
 * hope for with that many threads. The best of several passes is kept, as STREAM does. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../kernels/cpu/cpu_features.h"
#include "../runtime/error.h"
#include "../runtime/hugemem.h"
#include "../runtime/order_stats.h"
#include "../runtime/threadpool.h"
#include "bench.h"
#include "membw.h"

enum { MAX_PASSES = 100 };

static uint64_t read_scalar(const void *p, size_t bytes) {
    const uint64_t *v = p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= bytes / 8; i += 4) {
        a += v[i];
        b ^= v[i + 1];
        c += v[i + 2];
        d ^= v[i + 3];
    }
    return a + b + c + d;
}

typedef struct {
    const char *buf;
    size_t bytes;
    uint64_t sink[64];
    int avx2;
} probe_job;

static void probe_worker(void *ctx, int i, int n) {
    probe_job *j = ctx;
    /* slices of whole 4 KiB pages so no two workers share a line */
    size_t pages = j->bytes / 4096, p0 = pages * i / n, p1 = pages * (i + 1) / n;
    const char *p = j->buf + p0 * 4096;
    size_t len = (p1 - p0) * 4096;
    uint64_t s = j->avx2 ? slm_membw_read_avx2(p, len) : read_scalar(p, len);
    j->sink[i % 64] += s;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

size_t slm_membw_default_bytes(void) {
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t want = llc > 0 ? (size_t)llc * 16 : 0, lo = (size_t)256 << 20, hi = (size_t)1 << 30;
    /* capped: some virtual machines report a last-level cache ten times the real one */
    return want < lo ? lo : want > hi ? hi : want;
}

double slm_membw_read(int threads, size_t bytes, int passes, double *median) {
    if (threads < 1) threads = 1;
    if (passes < 1) passes = 1;
    if (passes > MAX_PASSES) passes = MAX_PASSES;
    bytes &= ~(size_t)4095;
    if (bytes < 4096 * (size_t)threads) bytes = 4096 * (size_t)threads;
    /* the 2 MiB pages the weights get (runtime/hugemem.h), so the probe is the bound they can reach */
    char *buf = slm_huge_alloc(bytes);
    if (!buf) {
        slm_fail("--membw: cannot allocate %zu MiB for the read probe", bytes >> 20);
        return -1;
    }
    memset(buf, 1, bytes); /* fault every page in before timing */
    slm_pool *pool = slm_pool_create(threads);
    if (!pool) {
        slm_huge_free(buf, bytes);
        slm_fail("--membw: cannot start %d threads", threads);
        return -1;
    }
    probe_job j = {.buf = buf, .bytes = bytes, .avx2 = slm_cpu()->avx2_fma && slm_isa_best() >= SLM_ISA_AVX2};
    double gbps[MAX_PASSES];
    slm_pool_run(pool, probe_worker, &j); /* warm-up: wakes the workers */
    for (int k = 0; k < passes; k++) {
        double t0 = now();
        slm_pool_run(pool, probe_worker, &j);
        double dt = now() - t0;
        gbps[k] = (double)bytes / dt / 1e9;
    }
    slm_pool_destroy(pool);
    slm_huge_free(buf, bytes);
    slm_sort_doubles(gbps, (size_t)passes);
    if (median) *median = slm_quantile(gbps, (size_t)passes, 0.5);
    return gbps[passes - 1];
}
