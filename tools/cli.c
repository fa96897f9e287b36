#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("slm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

int cli_int(const char *opt, const char *val, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end) die("option %s: '%s' is not an integer", opt, val);
    if (v < lo || v > hi) die("option %s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    return (int)v;
}

double cli_float(const char *opt, const char *val, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || isnan(v)) die("option %s: '%s' is not a number", opt, val);
    if (v < lo || v > hi) die("option %s: %g is out of range [%g, %g]", opt, v, lo, hi);
    return v;
}

unsigned long long cli_u64(const char *opt, const char *val) {
    char *end;
    errno = 0;
    if (val[0] == '-') die("option %s: '%s' must not be negative", opt, val);
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end) die("option %s: '%s' is not a non-negative integer", opt, val);
    return v;
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die("option %s needs a value", argv[*i]);
    return argv[++*i];
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) die("%s: cannot read: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *g = realloc(buf, cap *= 2);
            if (!g) free(buf);
            buf = g;
        }
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf) die("%s: out of memory", path);
    if (err) die("%s: read error", path);
    buf[n] = 0;
    *len = n;
    return buf;
}
