/* A minimal test harness: each test program runs named cases and ends with
 * "RESULT <passed> <failed>", which tests/run.sh adds up. */
#ifndef SLM_TEST_H
#define SLM_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int test_case_failed, test_passed, test_failed;

static void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    test_case_failed = 1;
}

/* CHECK(cond, "printf format", args...) records a failure with the location when cond is false. */
#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);           \
    } while (0)

static void test_run(const char *name, void (*fn)(void)) {
    test_case_failed = 0;
    fn();
    if (test_case_failed) {
        test_failed++;
        printf("FAIL %s\n", name);
    } else {
        test_passed++;
        printf("ok   %s\n", name);
    }
    fflush(stdout);
}

#define RUN(fn) test_run(#fn, fn)

static int test_summary(void) {
    printf("RESULT %d %d\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* Relative L2 error of a against a reference (double precision). */
static inline double rel_l2(const float *a, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Deterministic pseudo-random floats in [-1, 1). */
static unsigned long long test_rng_state = 0x9e3779b97f4a7c15ull;
static inline float test_randf(void) {
    test_rng_state = test_rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((test_rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* Whitespace-separated integers from a fixture file: the count read, or -1 when it cannot be opened. */
static inline int test_read_ids(const char *path, int *ids, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < max && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

/* n little-endian float32 values from a fixture file (malloc'd), or NULL. */
static inline float *test_read_floats(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *v = malloc(n * sizeof(float));
    if (v && fread(v, sizeof(float), n, f) != n) {
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}

static inline int test_argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

#endif
