/* A line chart of tokens/s, written as plain SVG: against context depth when the results span
 * several depths, otherwise against threads. One line per model, format, test and (for depth
 * charts) thread count. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/error.h"
#include "bench.h"

enum { W = 720, H = 440, LEFT = 70, RIGHT = 230, TOP = 40, BOTTOM = 60, MAX_SERIES = 32 };

static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* The series a result belongs to: everything but the x value. */
static void series_key(const slm_bench_result *r, int by_depth, char *buf, size_t size) {
    char kind[64];
    slm_bench_test_kind(&r->test, kind, sizeof kind);
    if (by_depth) snprintf(buf, size, "%s %s kv %s %s t%d", r->model, r->type, r->kv_type, kind, r->threads);
    else snprintf(buf, size, "%s %s kv %s %s d%d", r->model, r->type, r->kv_type, kind, r->test.depth);
}

/* Plot coordinates of a data point. */
static double px(double x, double xmax) { return LEFT + x / xmax * (W - LEFT - RIGHT); }
static double py(double y, double ymax) { return TOP + (H - TOP - BOTTOM) * (1 - y / ymax); }

static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else fputc(*s, f);
    }
}

static double x_of(const slm_bench_result *r, int by_depth) { return by_depth ? r->test.depth : r->threads; }

/* A round step for about 5 ticks over [0, hi]. */
static double tick_step(double hi) {
    double raw = hi / 5, p = pow(10, floor(log10(raw > 0 ? raw : 1))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

int slm_bench_svg(const char *path, const slm_bench_result *r, int n) {
    if (n < 1) return slm_fail("--svg: no results to draw");
    int by_depth = 0;
    for (int i = 1; i < n; i++) by_depth |= r[i].test.depth != r[0].test.depth;
    double xmax = 0, ymax = 0;
    for (int i = 0; i < n; i++) {
        if (x_of(&r[i], by_depth) > xmax) xmax = x_of(&r[i], by_depth);
        if (r[i].mean + r[i].sd > ymax) ymax = r[i].mean + r[i].sd;
    }
    if (xmax <= 0) xmax = 1;
    if (ymax <= 0) ymax = 1;
    double xs = tick_step(xmax), ys = tick_step(ymax);
    xmax = ceil(xmax / xs) * xs;
    ymax = ceil(ymax / ys) * ys;
    FILE *f = fopen(path, "w");
    if (!f) return slm_fail("--svg: cannot write '%s'", path);
    double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\">slm bench: tokens/s against %s</text>\n", LEFT,
            by_depth ? "context depth" : "threads");
    for (double y = 0; y <= ymax + 1e-9; y += ys) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, py(y, ymax), LEFT + pw, py(y, ymax));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, py(y, ymax) + 4, y);
    }
    for (double x = 0; x <= xmax + 1e-9; x += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(x, xmax), TOP + ph + 18, x);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n", LEFT, TOP, LEFT, TOP + ph);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", LEFT, TOP + ph, LEFT + pw,
            TOP + ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", LEFT + pw / 2, H - 18,
            by_depth ? "context depth (tokens)" : "threads");
    fprintf(f, "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" text-anchor=\"middle\">tokens/s</text>\n",
            TOP + ph / 2, TOP + ph / 2);

    char keys[MAX_SERIES][160];
    int nkeys = 0;
    for (int i = 0; i < n; i++) {
        char key[160];
        series_key(&r[i], by_depth, key, sizeof key);
        int k = 0;
        while (k < nkeys && strcmp(keys[k], key)) k++;
        if (k < nkeys || nkeys == MAX_SERIES) continue;
        snprintf(keys[nkeys++], sizeof keys[0], "%s", key);
        const char *col = colors[k % (sizeof colors / sizeof colors[0])];
        /* the series' points in order of x */
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        double last = -1;
        for (;;) {
            int best = -1;
            for (int j = 0; j < n; j++) {
                char kj[160];
                series_key(&r[j], by_depth, kj, sizeof kj);
                if (strcmp(kj, key) || x_of(&r[j], by_depth) <= last) continue;
                if (best < 0 || x_of(&r[j], by_depth) < x_of(&r[best], by_depth)) best = j;
            }
            if (best < 0) break;
            last = x_of(&r[best], by_depth);
            fprintf(f, "%.1f,%.1f ", px(last, xmax), py(r[best].mean, ymax));
        }
        fprintf(f, "\"/>\n");
        for (int j = 0; j < n; j++) {
            char kj[160];
            series_key(&r[j], by_depth, kj, sizeof kj);
            if (strcmp(kj, key)) continue;
            double x = px(x_of(&r[j], by_depth), xmax);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, py(r[j].mean, ymax), col);
            if (r[j].sd > 0)
                fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x,
                        py(r[j].mean - r[j].sd, ymax), x, py(r[j].mean + r[j].sd, ymax), col);
        }
        double ly = TOP + 10 + k * 18;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                LEFT + pw + 12, ly, LEFT + pw + 30, ly, col);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">", LEFT + pw + 34, ly + 4);
        put_escaped(f, key);
        fputs("</text>\n", f);
    }
    fprintf(f, "</svg>\n");
    if (fclose(f)) return slm_fail("--svg: cannot write '%s'", path);
    return 0;
}
