/* One benchmark test on a session, as llama-bench runs it: fill the cache to the depth, one
 * untimed warm-up, then repetitions that each start again from the depth. Token ids are random:
 * the speed of a dense model does not depend on them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/error.h"
#include "bench.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* The timed part: a prompt batch, then generated tokens one at a time, each with its logits. */
static int run_once(slm_session *s, const slm_bench_test *t, const int *tokens, float *logits) {
    if (t->n_prompt > 0 && slm_eval(s, tokens, t->n_prompt, logits, 0)) return -1;
    for (int i = 0; i < t->n_gen; i++)
        if (slm_eval(s, tokens + t->n_prompt + i, 1, logits, 0)) return -1;
    return 0;
}

int slm_bench_run(slm_session *s, const slm_bench_test *t, uint64_t seed, double *tps) {
    const slm_config *c = slm_model_config(slm_session_model(s));
    int need = t->depth + t->n_prompt + t->n_gen;
    if (t->n_prompt + t->n_gen <= 0) return slm_fail("bench: a test needs -p or -n tokens");
    if (need > slm_session_ctx(s)) return slm_fail("bench: the test needs %d positions, the session has %d", need, slm_session_ctx(s));
    int n = t->depth > t->n_prompt + t->n_gen ? t->depth : t->n_prompt + t->n_gen;
    int *tokens = malloc((size_t)n * sizeof *tokens);
    float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
    if (!tokens || !logits) {
        free(tokens);
        free(logits);
        return slm_fail("bench: out of memory");
    }
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 7;
    for (int i = 0; i < n; i++) tokens[i] = (int)(next(&rng) % (uint64_t)c->vocab_size);
    int rc = -1;
    slm_session_reset(s);
    if (t->depth > 0 && slm_eval(s, tokens, t->depth, NULL, 0)) goto out;
    /* warm-up: a prompt of the test's length, or one generated token */
    slm_bench_test warm = *t;
    if (warm.n_gen > 0) warm.n_gen = 1;
    if (run_once(s, &warm, tokens, logits)) goto out;
    for (int r = 0; r < t->reps; r++) {
        slm_session_rewind(s, t->depth);
        double t0 = now();
        if (run_once(s, t, tokens, logits)) goto out;
        double dt = now() - t0;
        tps[r] = (t->n_prompt + t->n_gen) / dt;
    }
    rc = 0;
out:
    free(tokens);
    free(logits);
    return rc;
}

/* A "Vm...:   123 kB" line of /proc/self/status in bytes. */
static size_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t len = strlen(key), kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, len) && line[len] == ':') {
            kb = strtoull(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

size_t slm_bench_peak_rss(void) { return status_kb("VmHWM"); }

void slm_bench_reset_peak_rss(void) {
    /* "5" resets the peak resident set size to the current one (Linux 4.0+); ignored where refused */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

size_t slm_bench_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "MemAvailable:", 13)) {
            kb = strtoull(line + 13, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}
