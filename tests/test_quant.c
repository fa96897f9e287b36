/* Quantized formats: the quantizers against llama.cpp / bitsandbytes fixtures (every code and scale,
 * bit for bit), dequantization, and every matrix-vector variant against the scalar reference.
 * Run from the repository root (fixtures in tests/fixtures/quant, from tools/py/make_quant_fixtures.py). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/matmul.h"
#include "../kernels/cpu/quant.h"
#include "../runtime/error.h"
#include "test.h"

#define FIXTURES "tests/fixtures/quant/"

static void *read_fixture(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%.200s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        CHECK(0, "cannot open %s (run from the repository root)", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    size_t got = fread(p, 1, (size_t)n, f);
    fclose(f);
    CHECK(got == (size_t)n, "short read of %s", path);
    *len = got;
    return p;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Every line of cases.txt: NAME FORMAT N BLOCK. */
typedef struct {
    char name[64], format[16];
    size_t n;
    int block;
} fixture_case;

static int read_cases(fixture_case *out, int max) {
    size_t len;
    char *text = read_fixture("cases.txt", &len);
    if (!text) return 0;
    text = realloc(text, len + 1);
    text[len] = 0;
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        fixture_case *c = &out[n];
        if (sscanf(line, "%63s %15s %zu %d", c->name, c->format, &c->n, &c->block) == 4) n++;
    }
    free(text);
    CHECK(n >= 6, "cases.txt lists %d cases", n);
    return n;
}

static float *load_f32(const char *name, const char *suffix, size_t n) {
    char file[128];
    snprintf(file, sizeof file, "%.100s.%.20s", name, suffix);
    size_t len;
    float *p = read_fixture(file, &len);
    if (p && len != n * sizeof(float)) {
        CHECK(0, "%s has %zu bytes, want %zu", file, len, n * sizeof(float));
        free(p);
        return NULL;
    }
    return p;
}

static void check_block_format(const fixture_case *c) {
    int q8 = strcmp(c->format, "q8_0") == 0;
    size_t nb = c->n / SLM_QK, bsize = q8 ? sizeof(slm_block_q8_0) : sizeof(slm_block_q4_0);
    float *x = load_f32(c->name, "x.f32", c->n), *deq = load_f32(c->name, "deq.f32", c->n);
    char file[128];
    snprintf(file, sizeof file, "%.100s.blocks", c->name);
    size_t len;
    uint8_t *ref = read_fixture(file, &len);
    if (!x || !deq || !ref) goto out;
    CHECK(len == nb * bsize, "%s: %zu bytes of blocks, want %zu", c->name, len, nb * bsize);
    if (len != nb * bsize) goto out;

    void *mine = malloc(nb * bsize);
    float *back = malloc(c->n * sizeof(float));
    if (q8) {
        slm_quantize_q8_0(mine, x, c->n);
        slm_dequantize_q8_0(back, (const slm_block_q8_0 *)ref, c->n);
    } else {
        slm_quantize_q4_0(mine, x, c->n);
        slm_dequantize_q4_0(back, (const slm_block_q4_0 *)ref, c->n);
    }
    int bad = 0;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *m = (const uint8_t *)mine + b * bsize, *r = ref + b * bsize;
        uint16_t dm, dr;
        memcpy(&dm, m, 2);
        memcpy(&dr, r, 2);
        if (dm != dr && bad++ < 5) CHECK(0, "%s block %zu: scale %04x, want %04x", c->name, b, dm, dr);
        for (size_t j = 2; j < bsize; j++)
            if (m[j] != r[j] && bad++ < 5) CHECK(0, "%s block %zu byte %zu: %02x, want %02x", c->name, b, j - 2, m[j], r[j]);
    }
    for (size_t i = 0; i < c->n; i++)
        if (!same_bits(back[i], deq[i]) && bad++ < 5) CHECK(0, "%s dequantized[%zu] = %g, want %g", c->name, i, back[i], deq[i]);
    CHECK(bad == 0, "%s: %d mismatches", c->name, bad);
    free(mine);
    free(back);
out:
    free(x);
    free(deq);
    free(ref);
}

static void check_nf4(const fixture_case *c) {
    size_t nb = (c->n + (size_t)c->block - 1) / (size_t)c->block, nbytes = (c->n + 1) / 2;
    float *x = load_f32(c->name, "x.f32", c->n), *deq = load_f32(c->name, "deq.f32", c->n);
    float *absmax = load_f32(c->name, "absmax.f32", nb);
    char file[128];
    snprintf(file, sizeof file, "%.100s.codes", c->name);
    size_t len;
    uint8_t *codes = read_fixture(file, &len);
    if (!x || !deq || !absmax || !codes) goto out;
    CHECK(len == nbytes, "%s: %zu code bytes, want %zu", c->name, len, nbytes);
    if (len != nbytes) goto out;

    uint8_t *mc = malloc(nbytes);
    float *ma = malloc(nb * sizeof(float)), *back = malloc(c->n * sizeof(float));
    slm_quantize_nf4(mc, ma, x, c->n, c->block);
    int bad = 0;
    for (size_t i = 0; i < nbytes; i++)
        if (mc[i] != codes[i] && bad++ < 5) CHECK(0, "%s code byte %zu: %02x, want %02x", c->name, i, mc[i], codes[i]);
    for (size_t b = 0; b < nb; b++)
        if (!same_bits(ma[b], absmax[b]) && bad++ < 5) CHECK(0, "%s absmax[%zu] = %g, want %g", c->name, b, ma[b], absmax[b]);
    slm_dequantize_nf4(back, codes, absmax, NULL, c->block, 0, c->n);
    for (size_t i = 0; i < c->n; i++)
        if (!same_bits(back[i], deq[i]) && bad++ < 5) CHECK(0, "%s dequantized[%zu] = %g, want %g", c->name, i, back[i], deq[i]);
    /* A window that starts on an odd element and crosses block boundaries. */
    size_t start = 37, count = c->n - 40;
    slm_dequantize_nf4(back, codes, absmax, slm_nf4_code, c->block, start, count);
    for (size_t i = 0; i < count; i++)
        if (!same_bits(back[i], deq[start + i]) && bad++ < 5) CHECK(0, "%s window[%zu] differs", c->name, i);
    CHECK(bad == 0, "%s: %d mismatches", c->name, bad);
    free(mc);
    free(ma);
    free(back);
out:
    free(x);
    free(deq);
    free(absmax);
    free(codes);
}

static void check_double_quant(const fixture_case *c) {
    int nblocks = (int)c->n;
    size_t len, len2;
    uint8_t *q = read_fixture("nf4_dq.absmax.u8", &len);
    float *nested_map = read_fixture("nf4_dq.nested_map.f32", &len2);
    float *want = load_f32("nf4_dq", "absmax.f32", (size_t)nblocks);
    float *offset = load_f32("nf4_dq", "offset.f32", 1);
    float *nested = load_f32("nf4_dq", "nested_absmax.f32", (size_t)((nblocks + c->block - 1) / c->block));
    if (q && nested_map && want && offset && nested && len == (size_t)nblocks && len2 == 256 * sizeof(float)) {
        float *got = malloc((size_t)nblocks * sizeof(float));
        slm_nf4_decode_absmax(got, q, nblocks, nested, nested_map, c->block, *offset);
        int bad = 0;
        for (int b = 0; b < nblocks; b++)
            if (!same_bits(got[b], want[b]) && bad++ < 5) CHECK(0, "absmax[%d] = %.9g, want %.9g", b, got[b], want[b]);
        CHECK(bad == 0, "double quantization: %d mismatches", bad);
        free(got);
    } else {
        CHECK(0, "double-quantization fixture incomplete");
    }
    free(q);
    free(nested_map);
    free(want);
    free(offset);
    free(nested);
}

static void test_fixtures(void) {
    fixture_case cases[16];
    int n = read_cases(cases, 16);
    int seen[4] = {0};
    for (int i = 0; i < n; i++) {
        if (strcmp(cases[i].format, "q8_0") == 0 || strcmp(cases[i].format, "q4_0") == 0) {
            check_block_format(&cases[i]);
            seen[cases[i].format[1] == '8' ? 0 : 1]++;
        } else if (strcmp(cases[i].format, "nf4") == 0) {
            check_nf4(&cases[i]);
            seen[2]++;
        } else if (strcmp(cases[i].format, "dq") == 0) {
            check_double_quant(&cases[i]);
            seen[3]++;
        } else {
            CHECK(0, "unknown fixture format %s", cases[i].format);
        }
    }
    CHECK(seen[0] && seen[1] && seen[2] >= 3 && seen[3], "fixture formats missing");
}

/* ---- matrices for the kernel tests ---- */

typedef struct {
    slm_mat W;
    void *data;
    float *absmax;
    float *deq; /* [rows][cols], the dequantized weights */
} qmat;

/* Random weights with a few awkward rows: an all-zero first block, one large outlier. */
static qmat make_qmat(slm_dtype t, int rows, int cols, int block, const float *code) {
    qmat m = {0};
    size_t n = (size_t)rows * cols;
    float *w = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) w[i] = test_randf() * (0.5f + (float)(i % 7));
    for (int c = 0; c < cols && c < 32; c++) w[c] = 0.0f;
    if (n > 40) w[n / 2 + 3] = 40.0f;
    m.W.type = t;
    m.W.rows = rows;
    m.W.cols = cols;
    if (t == SLM_NF4) {
        m.W.block = block;
        m.W.code = code;
        m.data = calloc((n + 1) / 2, 1);
        m.absmax = malloc(((n + (size_t)block - 1) / (size_t)block) * sizeof(float));
        slm_quantize_nf4(m.data, m.absmax, w, n, block);
        m.W.absmax = m.absmax;
    } else {
        m.data = malloc(slm_dtype_bytes(t, (size_t)rows, (size_t)cols));
        if (t == SLM_Q8_0)
            slm_quantize_q8_0(m.data, w, n);
        else
            slm_quantize_q4_0(m.data, w, n);
    }
    m.W.data = m.data;
    m.deq = malloc(n * sizeof(float));
    if (t == SLM_NF4)
        slm_dequantize_nf4(m.deq, m.data, m.absmax, code, block, 0, n);
    else if (t == SLM_Q8_0)
        slm_dequantize_q8_0(m.deq, m.data, n);
    else
        slm_dequantize_q4_0(m.deq, m.data, n);
    if (t == SLM_Q4_0X8) /* the same blocks, regrouped in place row by row */
        for (int r = 0; r < rows; r++) {
            slm_block_q4_0 *row = (slm_block_q4_0 *)m.data + (size_t)r * (cols / SLM_QK);
            slm_q4_0x8_from_q4_0(row, row, cols / SLM_QK);
        }
    free(w);
    return m;
}

static void free_qmat(qmat *m) {
    free(m->data);
    free(m->absmax);
    free(m->deq);
}

/* An activation row with a zero block and varied block scales. */
static float *make_x(int cols, int n) {
    float *x = malloc((size_t)cols * n * sizeof(float));
    for (int i = 0; i < cols * n; i++) x[i] = test_randf() * (float)(1 + (i / 32) % 5);
    for (int c = 32; c < 64 && c < cols; c++) x[c] = 0.0f;
    return x;
}

/* Two int8 activation rows hold the same scales, sums and values (the padding is not written). */
static int act_equal(const void *a, const void *b, int cols) {
    size_t nb = (size_t)(cols / SLM_QK);
    return memcmp(slm_act_q8_scales(a), slm_act_q8_scales(b), nb * sizeof(float)) == 0 &&
           memcmp(slm_act_q8_sums(a, cols), slm_act_q8_sums(b, cols), nb * sizeof(float)) == 0 &&
           memcmp(slm_act_q8_values(a, cols), slm_act_q8_values(b, cols), (size_t)cols) == 0;
}

static void *prep_buf(const slm_matvec_kernel *k, const float *x, int cols) {
    if (!k->prep_bytes) return NULL;
    size_t bytes = (k->prep_bytes(cols) + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    k->prep(p, x, cols);
    return p;
}

/* Σ|w·x| per row, with x as the integer kernels see it when act is not NULL (the quantized row). */
static void abs_terms(const qmat *m, const float *x, const void *act, double *out) {
    int cols = m->W.cols;
    for (int r = 0; r < m->W.rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++) {
            double xv = act ? (double)slm_act_q8_values(act, cols)[c] * slm_act_q8_scales(act)[c / SLM_QK] : x[c];
            s += fabs((double)m->deq[(size_t)r * cols + c] * xv);
        }
        out[r] = s;
    }
}

static const slm_matvec_kernel *all_variants_of(slm_dtype t, const slm_matvec_kernel **v) {
    int n = slm_matvec_variants(t, v, 3);
    v[n] = NULL;
    if (slm_cpu()->avx512 && t == SLM_Q8_0) v[n++] = &slm_mv_q8_0_avx512bw;
    if (slm_cpu()->avx512 && t == SLM_Q4_0) v[n++] = &slm_mv_q4_0_avx512bw;
    if (slm_cpu()->avx512 && t == SLM_Q4_0X8) v[n++] = &slm_mv_q4_0x8_avx512bw;
    if (slm_cpu()->avx512_vnni && t == SLM_Q4_0X8) v[n++] = &slm_mv_q4_0x8_avx512vnni;
    v[n] = NULL;
    return v[0];
}

/* Runs kernel k on rows [r0, r1) into y, poisoned first, and checks it wrote no row outside them. */
static void run_poisoned(const slm_matvec_kernel *k, const slm_mat *W, const float *x, const void *xp, float *y, int r0, int r1) {
    const float poison = -12345.0f;
    for (int r = 0; r < W->rows; r++) y[r] = poison;
    k->rows(y, W, x, xp, r0, r1);
    for (int r = 0; r < W->rows; r++)
        if (r < r0 || r >= r1) CHECK(y[r] == poison, "%s wrote row %d outside [%d, %d)", k->name, r, r0, r1);
}

/* Every variant against the scalar reference on rows [r0, r1): relative to Σ|w·x| of the row,
 * within 2e-6 (float sums in another order; the integer parts are exact). */
static double compare_variants(const qmat *m, const float *x, int r0, int r1) {
    const slm_matvec_kernel *v[6];
    all_variants_of(m->W.type, v);
    int rows = m->W.rows, cols = m->W.cols;
    float *ref = calloc((size_t)rows, sizeof(float)), *y = calloc((size_t)rows, sizeof(float));
    double *terms = malloc((size_t)rows * sizeof(double));
    void *xp = prep_buf(v[0], x, cols);
    v[0]->rows(ref, &m->W, x, xp, r0, r1);
    abs_terms(m, x, m->W.type == SLM_NF4 ? NULL : xp, terms);
    double worst = 0;
    for (int i = 1; v[i]; i++) {
        void *vp = prep_buf(v[i], x, cols);
        if (m->W.type != SLM_NF4)
            CHECK(act_equal(xp, vp, cols), "%s: prepared activation differs from the scalar's", v[i]->name);
        run_poisoned(v[i], &m->W, x, vp, y, r0, r1);
        for (int r = r0; r < r1; r++) {
            double err = fabs((double)y[r] - ref[r]), tol = 2e-6 * terms[r] + 1e-30;
            if (err / tol > worst) worst = err / tol;
            CHECK(err <= tol, "%s %dx%d block %d row %d: %.9g vs scalar %.9g (|w·x| %.3g)", v[i]->name, rows, cols,
                  m->W.block, r, y[r], ref[r], terms[r]);
        }
        free(vp);
    }
    free(xp);
    free(ref);
    free(y);
    free(terms);
    return worst;
}

static void test_variants_q8_0_q4_0(void) {
    static const int rows[] = {1, 3, 4, 5, 7, 17};
    static const int ks[] = {1, 2, 3, 5, 8, 16, 18, 23, 33};
    const slm_dtype types[3] = {SLM_Q8_0, SLM_Q4_0, SLM_Q4_0X8};
    double worst = 0;
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
            for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
                qmat m = make_qmat(types[t], rows[i], 32 * ks[j], 0, NULL);
                float *x = make_x(m.W.cols, 1);
                double w = compare_variants(&m, x, 0, rows[i]);
                if (rows[i] > 2) w = fmax(w, compare_variants(&m, x, 1, rows[i] - 1));
                worst = fmax(worst, w);
                free(x);
                free_qmat(&m);
            }
    /* Q4_0 rows longer than the 16384 columns q4_0/avx512 takes in one pass, 515 blocks (nb % 8 == 3) */
    qmat m = make_qmat(SLM_Q4_0, 9, 32 * 515, 0, NULL);
    float *x = make_x(m.W.cols, 1);
    worst = fmax(worst, fmax(compare_variants(&m, x, 0, 9), compare_variants(&m, x, 1, 8)));
    free(x);
    free_qmat(&m);
    /* Q4_0X8: 65 runs and 3 blocks after them */
    m = make_qmat(SLM_Q4_0X8, 9, 32 * 523, 0, NULL);
    x = make_x(m.W.cols, 1);
    worst = fmax(worst, fmax(compare_variants(&m, x, 0, 9), compare_variants(&m, x, 1, 8)));
    free(x);
    free_qmat(&m);
    printf("     worst error / bound: %.3f\n", worst);
}

/* NF4: nf4/avx512 takes an int8 path when the CPU has AVX-512 VNNI, cols % 64 == 0 and the block is a
 * multiple of 64; nf4/avx2 when cols % 64 == 0 and the block is a multiple of 64. Both round the code
 * table to round(code·127/max|code|) (step u = max|code|/127) and each 64 values of x to q·s with
 * s = max|x|/127, and multiply exactly in integers. Per 64-value
 * group g with weight scale a_g, |ĉ - c| <= 0.504·u and |x̂ - x| <= 0.504·s_g (half a step, plus the
 * float rounding of code·(127/max) and x·(1/s), far under 0.004 of a step), so against the float product
 *   |y - y_ref| <= Σ_g (0.504·s_g·Σ|w| + 0.504·u·a_g·Σ|x| + 0.26·64·u·a_g·s_g)
 * plus the float rounding of the int32 → float conversion, the scales and the sum (1e-5 of Σ|w·x|
 * covers it for these widths). Every other variant and path is the exact float product in another
 * order: 2e-6 of Σ|w·x|. */
static int nf4_int8_path(const slm_matvec_kernel *k, const slm_mat *W) {
    if (k == &slm_mv_nf4_avx2) return W->cols % 64 == 0 && W->block % 64 == 0;
    return k == &slm_mv_nf4_avx512 && slm_cpu()->avx512_vnni && W->cols % 64 == 0 && W->block % 64 == 0;
}

/* The bound above for x quantized in groups of `group` values (64 in the matvec kernels, 32 in the
 * prompt-batch kernel). */
static double nf4_int8_bound_g(const qmat *m, const float *x, int r, int group) {
    const float *code = m->W.code ? m->W.code : slm_nf4_code;
    int cols = m->W.cols;
    double cmax = 0;
    for (int i = 0; i < 16; i++) cmax = fmax(cmax, fabs(code[i]));
    double u = cmax / 127, bound = 0;
    for (int c0 = 0; c0 < cols; c0 += group) {
        float xmax = 0;
        double wabs = 0, xabs = 0;
        for (int c = c0; c < c0 + group; c++) {
            xmax = fmaxf(xmax, fabsf(x[c]));
            wabs += fabs(m->deq[(size_t)r * cols + c]);
            xabs += fabs(x[c]);
        }
        double s = xmax / 127.0f, a = m->W.absmax[((size_t)r * cols + c0) / (size_t)m->W.block];
        bound += 0.504 * s * wabs + 0.504 * u * a * xabs + 0.26 * group * u * a * s;
    }
    return bound;
}
static double nf4_int8_bound(const qmat *m, const float *x, int r) { return nf4_int8_bound_g(m, x, r, 64); }

/* Every NF4 variant (and nf4/avx512bw, the float path the avx512 variant runs without VNNI) against the
 * scalar reference on rows [r0, r1); worst error / bound into worst[0] (int8 path) and worst[1]. */
static void compare_nf4(const qmat *m, const float *x, int r0, int r1, double worst[2]) {
    const slm_matvec_kernel *v[5];
    int n = slm_matvec_variants(SLM_NF4, v, 4);
    if (slm_cpu()->avx512) v[n++] = &slm_mv_nf4_avx512bw;
    int rows = m->W.rows, cols = m->W.cols;
    float *ref = calloc((size_t)rows, sizeof(float)), *y = calloc((size_t)rows, sizeof(float));
    double *terms = malloc((size_t)rows * sizeof(double));
    v[0]->rows(ref, &m->W, x, NULL, r0, r1);
    abs_terms(m, x, NULL, terms);
    for (int i = 1; i < n; i++) {
        void *vp = prep_buf(v[i], x, cols);
        int int8 = nf4_int8_path(v[i], &m->W);
        run_poisoned(v[i], &m->W, x, vp, y, r0, r1);
        for (int r = r0; r < r1; r++) {
            double err = fabs((double)y[r] - ref[r]), tol;
            if (int8) {
                tol = nf4_int8_bound(m, x, r);
                tol += 1e-5 * (terms[r] + tol) + 1e-30;
            } else {
                tol = 2e-6 * terms[r] + 1e-30;
            }
            worst[!int8] = fmax(worst[!int8], err / tol);
            CHECK(err <= tol, "%s%s %dx%d block %d row %d: %.9g vs scalar %.9g (|w·x| %.3g, bound %.3g)", v[i]->name,
                  int8 ? " (int8)" : "", rows, cols, m->W.block, r, y[r], ref[r], terms[r], tol);
        }
        free(vp);
    }
    free(ref);
    free(y);
    free(terms);
}

/* x from make_x, plus a whole zero group of 64 (scale 0) and one with a lone large value (the rest of
 * its group rounds to a few steps). */
static float *make_x_nf4(int cols) {
    float *x = make_x(cols, 1);
    for (int c = 64; c < 128 && c < cols; c++) x[c] = 0.0f;
    if (cols >= 256) x[200] = 900.0f;
    return x;
}

static void test_variants_nf4(void) {
    /* rows, cols, block. int8 path: cols % 64 == 0 with blocks of 64 (groups of 8 chunks and a
     * partial one), 128, 256, 2048, 4096, odd multiples of 64 (192, 320), rows that start mid-block
     * (block > cols) and a short last block; cols % 128 == 64 (a last chunk of 64 weights: 64, 192, 576,
     * 960, 1088, 320 with a block longer than the row). Float path: blocks of 32 or 16, cols % 64 != 0,
     * ragged rows (odd cols start rows mid-byte). */
    static const int shapes[][3] = {
        {1, 128, 64},  {3, 128, 64},   {4, 256, 64},   {5, 256, 64},    {7, 1024, 64},  {17, 1152, 64}, {33, 2176, 64},
        {5, 256, 128}, {8, 512, 256},  {2, 2048, 2048}, {1, 4096, 4096}, {3, 128, 256}, {5, 384, 192},  {6, 640, 320},
        {9, 128, 1024}, {7, 896, 128}, {4, 256, 32},   {1, 64, 64},     {4, 64, 64},    {17, 192, 64},  {6, 96, 32},
        {3, 96, 64},   {5, 33, 64},    {7, 160, 64},   {4, 100, 64},    {9, 40, 32},    {3, 31, 16},    {9, 576, 64},
        {5, 960, 64},  {6, 1088, 128}, {3, 576, 192},  {4, 320, 1024},
    };
    double worst[2] = {0, 0};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        qmat m = make_qmat(SLM_NF4, shapes[i][0], shapes[i][1], shapes[i][2], NULL);
        float *x = make_x_nf4(m.W.cols);
        compare_nf4(&m, x, 0, m.W.rows, worst);
        if (m.W.rows > 2) compare_nf4(&m, x, 1, m.W.rows - 1, worst);
        free(x);
        free_qmat(&m);
    }
    /* Tables other than the standard one (the quant_map a file carries, e.g. bitsandbytes FP4) must be
     * the ones used, on both paths. */
    static const float fp4[16] = {0.0f,  0.0052083333f,  0.6666667f,  1.0f,  0.33333334f,  0.5f,  0.16666667f,  0.25f,
                                  -0.0f, -0.0052083333f, -0.6666667f, -1.0f, -0.33333334f, -0.5f, -0.16666667f, -0.25f};
    float code[16];
    for (int i = 0; i < 16; i++) code[i] = slm_nf4_code[15 - i] * 0.5f + 0.01f * i;
    const float *tables[2] = {code, fp4};
    static const int tshapes[][3] = {{6, 256, 64}, {5, 1152, 128}, {6, 96, 32}};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 3; i++) {
            int rows = tshapes[i][0], cols = tshapes[i][1];
            qmat m = make_qmat(SLM_NF4, rows, cols, tshapes[i][2], tables[t]);
            float *x = make_x_nf4(cols);
            compare_nf4(&m, x, 0, rows, worst);
            float *y = malloc((size_t)rows * sizeof(float));
            slm_mv_nf4_scalar.rows(y, &m.W, x, NULL, 0, rows);
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int c = 0; c < cols; c++) s += (double)m.deq[(size_t)r * cols + c] * x[c];
                CHECK(fabs(y[r] - s) <= 1e-6 * fabs(s) + 1e-6, "custom code table %d: row %d %.9g vs %.9g", t, r, y[r], s);
            }
            free(y);
            free(x);
            free_qmat(&m);
        }
    /* A NaN in x gives NaN rows on every path (the int8 path must not round it away). */
    {
        qmat m = make_qmat(SLM_NF4, 3, 256, 64, NULL);
        float *x = make_x_nf4(256);
        x[150] = NAN;
        const slm_matvec_kernel *v[5];
        int n = slm_matvec_variants(SLM_NF4, v, 4);
        for (int i = 0; i < n; i++) {
            void *vp = prep_buf(v[i], x, 256);
            float y[3];
            v[i]->rows(y, &m.W, x, vp, 0, 3);
            for (int r = 0; r < 3; r++) CHECK(isnan(y[r]), "%s: NaN in x, row %d gives %g", v[i]->name, r, y[r]);
            free(vp);
        }
        free(x);
        free_qmat(&m);
    }
    if (slm_cpu()->avx512_vnni)
        printf("     worst error / bound: int8 path %.3f, float paths %.3f\n", worst[0], worst[1]);
    else
        printf("     worst error / bound: %.3f (no AVX-512 VNNI: no int8 path)\n", worst[1]);
}

/* n activation rows prepared for the int8 prompt kernel, their block sums, and its scratch. */
typedef struct {
    char *xp;
    size_t pb;
    int32_t *isum;
    void *pack;
} int8_batch;

static int8_batch int8_batch_new(const float *x, int n, int cols) {
    int8_batch b;
    int nb = cols / SLM_QK;
    b.pb = (slm_act_q8_bytes(cols) + 63) & ~(size_t)63;
    b.xp = aligned_alloc(64, b.pb * n);
    b.isum = malloc(sizeof(int32_t) * n * nb);
    b.pack = aligned_alloc(64, (slm_gemm_int8_pack_bytes(cols) + 63) & ~(size_t)63);
    for (int t = 0; t < n; t++) {
        slm_act_q8_quantize(b.xp + (size_t)t * b.pb, x + (size_t)t * cols, cols);
        slm_gemm_int8_sums(b.isum + (size_t)t * nb, b.xp + (size_t)t * b.pb, cols);
    }
    return b;
}

static void int8_batch_free(int8_batch *b) {
    free(b->xp);
    free(b->isum);
    free(b->pack);
}

/* NF4 prompt batches on the int8 kernel (AVX-512 VNNI; cols % 64 == 0, blocks a multiple of 64): every
 * (token, row) within the int8 bound (x quantized per 32 values) of the float product and of the scalar
 * reference kernel; blocks that span rows, a custom code table, a partial group of 16 rows and a
 * sub-range of rows; and slm_matmul takes this path for such a matrix and a batch of 16 or more. */
static void test_gemm_int8_nf4(void) {
    if (!slm_cpu()->avx512_vnni) {
        printf("     skipped: no AVX-512 VNNI\n");
        return;
    }
    static const float fp4[16] = {0.0f,  0.0052083333f,  0.6666667f,  1.0f,  0.33333334f,  0.5f,  0.16666667f,  0.25f,
                                   -0.0f, -0.0052083333f, -0.6666667f, -1.0f, -0.33333334f, -0.5f, -0.16666667f, -0.25f};
    static const int shapes[][4] = {/* rows, cols, block, custom table */
                                    {1, 128, 64, 0}, {17, 256, 64, 0}, {33, 1152, 128, 0}, {64, 384, 64, 1},
                                    {70, 128, 1024, 0}, {5, 2048, 256, 1}, {9, 960, 64, 0}, {12, 576, 64, 1}};
    double worst = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int rows = shapes[si][0], cols = shapes[si][1], n = 5;
        qmat m = make_qmat(SLM_NF4, rows, cols, shapes[si][2], shapes[si][3] ? fp4 : NULL);
        CHECK(slm_gemm_int8_nf4_ok(&m.W), "%dx%d block %d should take the int8 kernel", rows, cols, shapes[si][2]);
        float *x = make_x(cols, n);
        int8_batch b = int8_batch_new(x, n, cols);
        float *out = malloc(sizeof(float) * n * rows), *sc = malloc(sizeof(float) * n * rows);
        for (int t = 0; t < n; t++) slm_mv_nf4_scalar.rows(sc + (size_t)t * rows, &m.W, x + (size_t)t * cols, NULL, 0, rows);
        for (int pass = 0; pass < 2; pass++) {
            /* pass 1: rows [1, rows - 1) only; the first and last stay as they were */
            int r0 = pass && rows > 2 ? 1 : 0, r1 = pass && rows > 2 ? rows - 1 : rows;
            for (int i = 0; i < n * rows; i++) out[i] = 99.0f;
            for (int r = r0; r < r1; r += SLM_GEMM_INT8_ROWS) {
                int e = r + SLM_GEMM_INT8_ROWS < r1 ? r + SLM_GEMM_INT8_ROWS : r1;
                slm_gemm_int8_avx512(out, (size_t)rows, &m.W, b.xp, b.pb, b.isum, n, r, e, b.pack);
            }
            int bad = 0, far = 0, untouched = 1;
            for (int t = 0; t < n; t++)
                for (int r = 0; r < rows; r++) {
                    float y = out[(size_t)t * rows + r];
                    if (r < r0 || r >= r1) {
                        untouched &= y == 99.0f;
                        continue;
                    }
                    double ref = 0, terms = 0;
                    for (int c = 0; c < cols; c++) {
                        double p = (double)m.deq[(size_t)r * cols + c] * x[(size_t)t * cols + c];
                        ref += p;
                        terms += fabs(p);
                    }
                    double tol = nf4_int8_bound_g(&m, x + (size_t)t * cols, r, SLM_QK);
                    tol += 1e-5 * (terms + tol) + 1e-30;
                    worst = fmax(worst, fabs(y - ref) / tol);
                    bad += !(fabs(y - ref) <= tol);
                    /* the scalar reference kernel is the float product up to 2e-6 of Σ|w·x| */
                    far += !(fabs(y - sc[(size_t)t * rows + r]) <= tol + 2e-6 * terms);
                }
            CHECK(bad == 0, "nf4 %dx%d block %d rows [%d, %d): %d outputs beyond the int8 bound", rows, cols, shapes[si][2], r0,
                  r1, bad);
            CHECK(far == 0, "nf4 %dx%d block %d rows [%d, %d): %d outputs beyond the int8 bound of nf4/scalar", rows, cols,
                  shapes[si][2], r0, r1, far);
            CHECK(untouched, "nf4 %dx%d: rows outside [%d, %d) written", rows, cols, r0, r1);
        }
        int8_batch_free(&b);
        free(out);
        free(sc);
        free(x);
        free_qmat(&m);
    }
    /* through slm_matmul: a batch of 17 tokens gives the kernel's figures (when the engine runs AVX-512) */
    if (slm_matvec_best(SLM_NF4) == &slm_mv_nf4_avx512) {
        int rows = 40, cols = 256, n = 17;
        qmat m = make_qmat(SLM_NF4, rows, cols, 64, NULL);
        float *x = make_x(cols, n), *y = malloc(sizeof(float) * n * rows), *want = malloc(sizeof(float) * n * rows);
        void *scratch = malloc(slm_matmul_scratch_bytes(&m.W, n, 1));
        slm_matmul(NULL, y, x, n, &m.W, NULL, scratch);
        int8_batch b = int8_batch_new(x, n, cols);
        slm_gemm_int8_avx512(want, (size_t)rows, &m.W, b.xp, b.pb, b.isum, n, 0, rows, b.pack);
        CHECK(memcmp(y, want, sizeof(float) * n * rows) == 0, "slm_matmul on an NF4 batch of 17 is not the int8 kernel");
        int8_batch_free(&b);
        free(scratch);
        free(y);
        free(want);
        free(x);
        free_qmat(&m);
    }
    printf("     worst error / bound: %.3f\n", worst);
}

/* The integer kernels quantize x: against the float product of the dequantized weights, each
 * block's activation is off by at most half its scale d_a per element, so
 * |y_int - y_float| <= Σ_blocks d_a/2 · Σ|w| (plus float rounding). */
static void test_integer_vs_float(void) {
    const slm_dtype types[3] = {SLM_Q8_0, SLM_Q4_0, SLM_Q4_0X8};
    double rel_sum = 0;
    int rel_n = 0;
    for (int t = 0; t < 3; t++) {
        qmat m = make_qmat(types[t], 33, 32 * 40, 0, NULL);
        int rows = m.W.rows, cols = m.W.cols;
        float *x = make_x(cols, 1);
        const slm_matvec_kernel *v[6];
        all_variants_of(types[t], v);
        for (int i = 0; v[i]; i++) {
            void *xp = prep_buf(v[i], x, cols);
            float *y = malloc((size_t)rows * sizeof(float));
            double *exact = malloc((size_t)rows * sizeof(double));
            v[i]->rows(y, &m.W, x, xp, 0, rows);
            for (int r = 0; r < rows; r++) {
                double s = 0, bound = 0, terms = 0;
                for (int b = 0; b < cols / SLM_QK; b++) {
                    double wabs = 0;
                    for (int c = b * SLM_QK; c < (b + 1) * SLM_QK; c++) {
                        double w = m.deq[(size_t)r * cols + c];
                        s += w * x[c];
                        wabs += fabs(w);
                        terms += fabs(w * x[c]);
                    }
                    bound += 0.5 * slm_act_q8_scales(xp)[b] * wabs;
                }
                exact[r] = s;
                bound = bound * (1 + 1e-5) + 1e-5 * terms;
                CHECK(fabs(y[r] - s) <= bound, "%s row %d: %.9g vs float %.9g, bound %.3g", v[i]->name, r, y[r], s, bound);
            }
            rel_sum += rel_l2(y, exact, (size_t)rows);
            rel_n++;
            free(xp);
            free(y);
            free(exact);
        }
        free(x);
        free_qmat(&m);
    }
    printf("     mean relative L2 error of the int8-activation kernels vs float: %.2e\n", rel_sum / rel_n);
}

/* The SIMD activation quantizers write the scalar's bytes, including halves (round to even). */
static void test_act_quantize(void) {
    int cols = 32 * 9;
    float *x = make_x(cols, 1);
    for (int j = 0; j < 32; j++) x[64 + j] = (float)(j - 16) + 0.5f; /* amax 15.5 */
    x[64] = 127.0f;                                                  /* d = 1: exact halves */
    size_t bytes = slm_act_q8_bytes(cols);
    void *a = aligned_alloc(64, (bytes + 63) & ~(size_t)63), *b = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    slm_act_q8_quantize(a, x, cols);
    CHECK(slm_act_q8_values(a, cols)[64 + 1] == -14, "15 - 0.5 rounds to even (-14), got %d", slm_act_q8_values(a, cols)[65]);
    CHECK(slm_act_q8_scales(a)[1] == 0.0f, "zero block has scale 0");
    for (int b = 0; b < cols / SLM_QK; b++) {
        int s = 0;
        for (int j = 0; j < SLM_QK; j++) s += slm_act_q8_values(a, cols)[b * SLM_QK + j];
        CHECK(slm_act_q8_sums(a, cols)[b] == (float)s * slm_act_q8_scales(a)[b], "block %d sum", b);
    }
    if (slm_cpu()->avx2_fma) {
        slm_act_q8_quantize_avx2(b, x, cols);
        CHECK(act_equal(a, b, cols), "avx2 activation bytes differ");
    }
    if (slm_cpu()->avx512) {
        memset(b, 0, bytes);
        slm_act_q8_quantize_avx512(b, x, cols);
        CHECK(act_equal(a, b, cols), "avx512 activation bytes differ");
    }
    free(a);
    free(b);
    free(x);
}

static void test_mat_row(void) {
    static const int shapes[][4] = {
        {SLM_Q8_0, 5, 96, 0}, {SLM_Q4_0, 5, 96, 0}, {SLM_Q4_0X8, 5, 320, 0}, {SLM_NF4, 5, 128, 64}, {SLM_NF4, 7, 33, 64},
        {SLM_NF4, 4, 100, 32},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        qmat m = make_qmat((slm_dtype)shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], NULL);
        float *row = malloc((size_t)m.W.cols * sizeof(float));
        for (int r = 0; r < m.W.rows; r++) {
            slm_mat_row(&m.W, r, row);
            int bad = 0;
            for (int c = 0; c < m.W.cols; c++) bad += !same_bits(row[c], m.deq[(size_t)r * m.W.cols + c]);
            CHECK(bad == 0, "%s %dx%d row %d: %d values differ from dequantization", slm_dtype_name(m.W.type), m.W.rows,
                  m.W.cols, r, bad);
        }
        free(row);
        free_qmat(&m);
    }
}

/* Q4_0X8 holds the Q4_0 blocks it came from: regrouped rows dequantize to the same floats bit for bit,
 * its scalar kernel gives the Q4_0 scalar kernel's rows bit for bit, regrouping in place writes what
 * regrouping into another buffer writes, and the int8 prompt kernel gives the same outputs in either
 * layout (its integer block products are exact). Rows of 1 to 27 blocks: no run, one, runs and a rest. */
static void test_q4_0x8_layout(void) {
    static const int ks[] = {1, 7, 8, 9, 16, 18, 27};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        int rows = 19, cols = 32 * ks[i], nb = ks[i];
        qmat q = make_qmat(SLM_Q4_0, rows, cols, 0, NULL);
        size_t bytes = slm_dtype_bytes(SLM_Q4_0, (size_t)rows, (size_t)cols);
        CHECK(slm_dtype_bytes(SLM_Q4_0X8, (size_t)rows, (size_t)cols) == bytes, "q4_0x8 %d columns: bytes differ", cols);
        uint8_t *copy = malloc(bytes), *in_place = malloc(bytes);
        memcpy(in_place, q.data, bytes);
        for (int r = 0; r < rows; r++) {
            size_t at = (size_t)r * nb * sizeof(slm_block_q4_0);
            slm_q4_0x8_from_q4_0(copy + at, (const slm_block_q4_0 *)((const uint8_t *)q.data + at), nb);
            slm_q4_0x8_from_q4_0(in_place + at, (const slm_block_q4_0 *)(in_place + at), nb);
        }
        CHECK(memcmp(copy, in_place, bytes) == 0, "q4_0x8 %d columns: in place and copied differ", cols);
        qmat g = {.W = q.W};
        g.W.type = SLM_Q4_0X8;
        g.W.data = in_place;
        CHECK(nb >= 8 || memcmp(copy, q.data, bytes) == 0, "q4_0x8 %d columns: rows of fewer than 8 blocks changed", cols);
        float *a = malloc((size_t)cols * sizeof(float)), *b = malloc((size_t)cols * sizeof(float));
        int bad = 0;
        for (int r = 0; r < rows; r++) {
            slm_dequantize_q4_0(a, (const slm_block_q4_0 *)q.data + (size_t)r * nb, (size_t)cols);
            slm_dequantize_q4_0x8(b, (const slm_block_q4_0 *)g.W.data + (size_t)r * nb, (size_t)cols);
            for (int c = 0; c < cols; c++) bad += !same_bits(a[c], b[c]);
        }
        CHECK(bad == 0, "q4_0x8 %d columns: %d dequantized values differ from q4_0's", cols, bad);
        float *x = make_x(cols, 1), *yq = malloc((size_t)rows * sizeof(float)), *yg = malloc((size_t)rows * sizeof(float));
        void *xp = prep_buf(&slm_mv_q4_0_scalar, x, cols);
        slm_mv_q4_0_scalar.rows(yq, &q.W, x, xp, 0, rows);
        slm_mv_q4_0x8_scalar.rows(yg, &g.W, x, xp, 0, rows);
        bad = 0;
        for (int r = 0; r < rows; r++) bad += !same_bits(yq[r], yg[r]);
        CHECK(bad == 0, "q4_0x8/scalar %d columns: %d rows differ from q4_0/scalar", cols, bad);
        if (slm_cpu()->avx512_vnni) {
            int n = 5;
            float *xs = make_x(cols, n), *oq = malloc(sizeof(float) * n * rows), *og = malloc(sizeof(float) * n * rows);
            int8_batch bt = int8_batch_new(xs, n, cols);
            slm_gemm_int8_avx512(oq, (size_t)rows, &q.W, bt.xp, bt.pb, bt.isum, n, 0, rows, bt.pack);
            slm_gemm_int8_avx512(og, (size_t)rows, &g.W, bt.xp, bt.pb, bt.isum, n, 0, rows, bt.pack);
            CHECK(memcmp(oq, og, sizeof(float) * n * rows) == 0, "int8 prompt kernel, %d columns: q4_0x8 differs from q4_0", cols);
            int8_batch_free(&bt);
            free(xs);
            free(oq);
            free(og);
        }
        free(xp);
        free(x);
        free(yq);
        free(yg);
        free(a);
        free(b);
        free(copy);
        free(in_place);
        free_qmat(&q);
    }
}

/* NF4X8 holds the NF4 matrix it came from (blocks of 64, rows of whole runs of 512 or ending in a shorter
 * run): the same bytes in
 * all, rows that dequantize to the same floats bit for bit (slm_mat_row too), a scalar kernel that gives
 * the NF4 scalar's rows bit for bit, AVX-512 kernels that give nf4/avx512's int8 results (the same rounded
 * codes and activations; only the float sums run in another order: within 1e-5 of Σ|w·x|) and stay within
 * the int8 path's bound of the NF4X8 scalar reference, and an int8
 * prompt kernel whose outputs are identical in both layouts. */
static void test_nf4x8_layout(void) {
    static const int shapes[][2] = {{19, 512}, {9, 1024}, {5, 2048}, {3, 16896}, {13, 64}, {7, 448},
                                    {11, 576}, {6, 960}, {5, 896}, {4, 4864}, {7, 832}, {9, 704}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int rows = shapes[si][0], cols = shapes[si][1];
        qmat q = make_qmat(SLM_NF4, rows, cols, 64, NULL);
        size_t bytes = slm_dtype_bytes(SLM_NF4X8, (size_t)rows, (size_t)cols), row_bytes = bytes / (size_t)rows;
        CHECK(bytes == (size_t)rows * cols / 2 + (size_t)rows * cols / 64 * sizeof(float), "nf4x8 %d columns: %zu bytes", cols, bytes);
        uint8_t *data = malloc(bytes);
        for (int r = 0; r < rows; r++)
            slm_nf4x8_from_nf4(data + (size_t)r * row_bytes, (const uint8_t *)q.data + (size_t)r * cols / 2, q.absmax + (size_t)r * cols / 64, cols);
        slm_mat g = {.type = SLM_NF4X8, .rows = rows, .cols = cols, .data = data, .block = 64};
        CHECK(slm_quant_check(&g, "g") == 0, "nf4x8 %d columns: %s", cols, slm_error());
        float *row = malloc((size_t)cols * sizeof(float));
        int bad = 0;
        for (int r = 0; r < rows; r++) {
            slm_mat_row(&g, r, row);
            for (int c = 0; c < cols; c++) bad += !same_bits(row[c], q.deq[(size_t)r * cols + c]);
        }
        CHECK(bad == 0, "nf4x8 %d columns: %d dequantized values differ from nf4's", cols, bad);
        const size_t nr = (unsigned)rows;
        float *x = make_x_nf4(cols), *yq = malloc(nr * sizeof(float)), *yg = malloc(nr * sizeof(float));
        double *terms = malloc(nr * sizeof(double));
        abs_terms(&q, x, NULL, terms);
        slm_mv_nf4_scalar.rows(yq, &q.W, x, NULL, 0, rows);
        slm_mv_nf4x8_scalar.rows(yg, &g, x, NULL, 0, rows);
        bad = 0;
        for (int r = 0; r < rows; r++) bad += !same_bits(yq[r], yg[r]);
        CHECK(bad == 0, "nf4x8/scalar %d columns: %d rows differ from nf4/scalar", cols, bad);
        if (slm_cpu()->avx512) {
            const slm_matvec_kernel *v[2] = {&slm_mv_nf4x8_avx512, slm_cpu()->avx512_vnni ? &slm_mv_nf4x8_avx512vnni : NULL};
            const slm_matvec_kernel *ref = slm_cpu()->avx512_vnni ? &slm_mv_nf4_avx512 : &slm_mv_nf4_scalar;
            void *xp = prep_buf(&slm_mv_nf4_avx512, x, cols);
            float *ys = malloc(nr * sizeof(float));
            ref->rows(yq, &q.W, x, xp, 0, rows);
            slm_mv_nf4x8_scalar.rows(ys, &g, x, NULL, 0, rows);
            for (int k = 0; k < 2 && v[k]; k++) {
                void *vp = prep_buf(v[k], x, cols);
                run_poisoned(v[k], &g, x, vp, yg, 1, rows);
                free(vp);
                for (int r = 1; r < rows; r++) {
                    CHECK(fabs((double)yg[r] - yq[r]) <= 1e-5 * terms[r], "%s %d columns row %d: %.9g vs %s %.9g", v[k]->name, cols, r,
                          yg[r], ref->name, yq[r]);
                    /* and against its own scalar reference, within the int8 path's bound (the float path's without VNNI) */
                    double tol = slm_cpu()->avx512_vnni ? nf4_int8_bound(&q, x, r) : 0;
                    tol += 1e-5 * (terms[r] + tol) + 1e-30;
                    CHECK(fabs((double)yg[r] - ys[r]) <= tol, "%s %d columns row %d: %.9g vs nf4x8/scalar %.9g (bound %.3g)",
                          v[k]->name, cols, r, yg[r], ys[r], tol);
                }
            }
            free(ys);
            free(xp);
        }
        if (slm_cpu()->avx512_vnni) {
            int n = 5;
            float *xs = make_x(cols, n), *oq = malloc(sizeof(float) * n * rows), *og = malloc(sizeof(float) * n * rows);
            int8_batch bt = int8_batch_new(xs, n, cols);
            slm_gemm_int8_avx512(oq, (size_t)rows, &q.W, bt.xp, bt.pb, bt.isum, n, 0, rows, bt.pack);
            slm_gemm_int8_avx512(og, (size_t)rows, &g, bt.xp, bt.pb, bt.isum, n, 0, rows, bt.pack);
            CHECK(memcmp(oq, og, sizeof(float) * n * rows) == 0, "int8 prompt kernel, %d columns: nf4x8 differs from nf4", cols);
            int8_batch_free(&bt);
            free(xs);
            free(oq);
            free(og);
        }
        free(terms);
        free(x);
        free(yq);
        free(yg);
        free(row);
        free(data);
        free_qmat(&q);
    }
    slm_mat bad_cols = {.type = SLM_NF4X8, .rows = 2, .cols = 480, .data = "", .block = 64};
    CHECK(slm_quant_check(&bad_cols, "w") == -1 && strstr(slm_error(), "64"), "nf4x8 with 480 columns rejected: %s", slm_error());
}

/* slm_matmul over a batch (and over threads) gives each token what a lone matvec gives it. */
static void test_matmul_batch(void) {
    static const int shapes[][4] = {{SLM_Q8_0, 37, 160, 0}, {SLM_Q4_0, 37, 160, 0}, {SLM_Q4_0X8, 37, 288, 0},
                                    {SLM_NF4, 37, 128, 64}, {SLM_NF4, 21, 50, 64}};
    slm_pool *pool = slm_pool_create(2);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        qmat m = make_qmat((slm_dtype)shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], NULL);
        int rows = m.W.rows, cols = m.W.cols;
        for (int n = 2; n <= 5; n += 3) {
            float *x = make_x(cols, n), *bias = malloc((size_t)rows * sizeof(float));
            for (int r = 0; r < rows; r++) bias[r] = test_randf();
            float *out = malloc((size_t)n * rows * sizeof(float)), *one = malloc((size_t)rows * sizeof(float));
            for (int p = 0; p < 2; p++) {
                slm_pool *use = p ? pool : NULL;
                int th = p ? 2 : 1;
                void *scratch = malloc(slm_matmul_scratch_bytes(&m.W, n, th));
                slm_matmul(use, out, x, n, &m.W, bias, scratch);
                free(scratch);
                scratch = malloc(slm_matmul_scratch_bytes(&m.W, 1, th));
                for (int t = 0; t < n; t++) {
                    slm_matmul(use, one, x + (size_t)t * cols, 1, &m.W, bias, scratch);
                    int bad = 0;
                    for (int r = 0; r < rows; r++) bad += !same_bits(one[r], out[(size_t)t * rows + r]);
                    CHECK(bad == 0, "%s batch %d token %d threads %d: %d rows differ from the lone matvec",
                          slm_dtype_name(m.W.type), n, t, th, bad);
                    /* and the lone matvec is the best kernel plus the bias */
                    const slm_matvec_kernel *k = slm_matvec_best(m.W.type);
                    void *xp = prep_buf(k, x + (size_t)t * cols, cols);
                    float *y = malloc((size_t)rows * sizeof(float));
                    k->rows(y, &m.W, x + (size_t)t * cols, xp, 0, rows);
                    for (int r = 0; r < rows; r++) CHECK(same_bits(y[r] + bias[r], one[r]), "%s row %d", k->name, r);
                    free(y);
                    free(xp);
                }
                free(scratch);
            }
            free(x);
            free(bias);
            free(out);
            free(one);
        }
        free_qmat(&m);
    }
    slm_pool_destroy(pool);
}

static void test_check(void) {
    uint8_t data[64] = {0};
    float absmax[4] = {1, 1, 1, 1};
    slm_mat w = {SLM_Q8_0, 2, 64, data, NULL, NULL, 0};
    CHECK(slm_quant_check(&w, "w") == 0, "q8_0 2x64 accepted: %s", slm_error());
    w.cols = 48;
    CHECK(slm_quant_check(&w, "model.layers.0.mlp.up_proj.weight") == -1, "q8_0 with 48 columns rejected");
    CHECK(strstr(slm_error(), "up_proj") && strstr(slm_error(), "48"), "message names tensor and columns: %s", slm_error());
    w.type = SLM_Q4_0;
    CHECK(slm_quant_check(&w, "w") == -1, "q4_0 with 48 columns rejected");
    w.type = SLM_Q4_0X8;
    CHECK(slm_quant_check(&w, "w") == -1, "q4_0x8 with 48 columns rejected");
    slm_mat n = {SLM_NF4, 3, 21, data, absmax, NULL, 64};
    CHECK(slm_quant_check(&n, "w") == 0, "nf4 with a short last block accepted: %s", slm_error());
    n.block = 0;
    CHECK(slm_quant_check(&n, "w") == -1, "nf4 blocksize 0 rejected");
    n.block = 64;
    n.absmax = NULL;
    CHECK(slm_quant_check(&n, "w") == -1, "nf4 without absmax rejected");
    slm_mat f = {SLM_F32, 1, 1, data, NULL, NULL, 0};
    CHECK(slm_quant_check(&f, "w") == -1, "f32 is not quantized");
}

int main(void) {
    RUN(test_fixtures);
    RUN(test_act_quantize);
    RUN(test_mat_row);
    RUN(test_q4_0x8_layout);
    RUN(test_nf4x8_layout);
    RUN(test_variants_q8_0_q4_0);
    RUN(test_variants_nf4);
    RUN(test_gemm_int8_nf4);
    RUN(test_integer_vs_float);
    RUN(test_matmul_batch);
    RUN(test_check);
    return test_summary();
}
