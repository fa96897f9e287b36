/* Lists of option values and the mean ± standard deviation of repeated timings. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "../runtime/error.h"
#include "bench.h"

int slm_bench_parse_ints(const char *opt, const char *s, int *out, int max, long lo, long hi) {
    int n = 0;
    const char *p = s;
    if (!*p) return slm_fail("option %s: empty list", opt);
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ','))
            return slm_fail("option %s: '%s' is not a comma-separated list of integers", opt, s);
        if (v < lo || v > hi) return slm_fail("option %s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
        if (n == max) return slm_fail("option %s: more than %d values", opt, max);
        out[n++] = (int)v;
        if (!*end) break;
        p = end + 1;
        if (!*p) return slm_fail("option %s: '%s' ends with a comma", opt, s);
    }
    return n;
}

void slm_bench_stats(const double *x, int n, double *mean, double *sd) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double m = n > 0 ? s / n : 0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
}
