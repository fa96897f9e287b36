/* The CUDA backend against the CPU reference.
 *
 * Without SLM_CUDA (built with CUDA=0 or without nvcc) there is nothing to test. Built with CUDA:
 *   - always: the host emulation of the device layouts and per-unit arithmetic (backend_cuda.h)
 *     against the CPU scalar reference, so layouts are checked on machines without a GPU;
 *   - with a device: every op against the CPU reference on random inputs of several shapes (odd
 *     sizes included), outputs poisoned with NaN first so that unwritten elements are caught; the
 *     whole model on the fixtures against the transformers logits, the greedy tokens and the CPU
 *     path; error reporting.
 * Run from the repository root (fixtures in tests/fixtures, models in ../shared/models). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#ifndef SLM_CUDA

static void skip_no_cuda(void) {
    printf("skip: built without CUDA\n");
    (void)rel_l2;
    (void)test_randf;
    (void)test_fail;
}

int main(void) {
    RUN(skip_no_cuda);
    return test_summary();
}

#else

#include "../kernels/cpu/matmul.h"
#include "../kernels/cpu/norm.h"
#include "../kernels/cpu/quant.h"
#include "../kernels/cpu/rope.h"
#include "../kernels/cuda/backend_cuda.h"
#include "../model/model.h"
#include "../runtime/error.h"

/* ---- matrices in every format ---- */

typedef struct {
    slm_mat W;
    void *data;
    float *absmax;
} test_mat;

/* rows x cols uniform random weights in [-scale, scale), stored as t (NF4: blocks of `block`). */
static test_mat make_mat(slm_dtype t, int rows, int cols, int block, float scale) {
    size_t n = (size_t)rows * cols;
    float *f = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) f[i] = test_randf() * scale;
    test_mat m = {{t, rows, cols, NULL, NULL, NULL, 0}, NULL, NULL};
    switch (t) {
    case SLM_F32: m.data = f; f = NULL; break;
    case SLM_F16:
    case SLM_BF16: {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = t == SLM_F16 ? slm_f32_to_f16(f[i]) : slm_f32_to_bf16(f[i]);
        m.data = h;
        break;
    }
    case SLM_Q8_0:
        m.data = malloc(slm_dtype_bytes(t, rows, cols));
        slm_quantize_q8_0(m.data, f, n);
        break;
    case SLM_Q4_0:
        m.data = malloc(slm_dtype_bytes(t, rows, cols));
        slm_quantize_q4_0(m.data, f, n);
        break;
    case SLM_NF4:
        m.data = calloc(1, slm_dtype_bytes(t, rows, cols) + 1);
        m.absmax = malloc((n + block - 1) / block * sizeof(float));
        slm_quantize_nf4(m.data, m.absmax, f, n, block);
        m.W.absmax = m.absmax;
        m.W.block = block;
        break;
    default: break;
    }
    m.W.data = m.data;
    free(f);
    return m;
}

static void free_mat(test_mat *m) {
    free(m->data);
    free(m->absmax);
}

static const slm_matvec_kernel *scalar_kernel(slm_dtype t) {
    switch (t) {
    case SLM_F32: return &slm_mv_f32_scalar;
    case SLM_F16: return &slm_mv_f16_scalar;
    case SLM_BF16: return &slm_mv_bf16_scalar;
    case SLM_Q8_0: return &slm_mv_q8_0_scalar;
    case SLM_Q4_0: return &slm_mv_q4_0_scalar;
    default: return &slm_mv_nf4_scalar;
    }
}

/* Whether the CUDA backend multiplies this NF4 matrix with int8 activations (slm_cuda_nf4_int8). */
static int nf4_int8(const slm_mat *W) { return W->type == SLM_NF4 && W->cols % 32 == 0 && W->block % 32 == 0; }

/* y = W·x by the CPU scalar reference (Q8_0/Q4_0: with its int8 activations). */
static void ref_matvec(float *y, const slm_mat *W, const float *x) {
    const slm_matvec_kernel *k = scalar_kernel(W->type);
    void *xp = NULL;
    if (k->prep_bytes) {
        xp = malloc(k->prep_bytes(W->cols));
        k->prep(xp, x, W->cols);
    }
    k->rows(y, W, x, xp, 0, W->rows);
    free(xp);
}

/* y = W·x in float64 on the dequantized weights (+ bias). */
static void exact_matvec(double *y, const slm_mat *W, const float *x, const float *bias) {
    float *row = malloc((size_t)W->cols * sizeof(float));
    for (int r = 0; r < W->rows; r++) {
        slm_mat_row(W, r, row);
        double s = 0;
        for (int c = 0; c < W->cols; c++) s += (double)row[c] * x[c];
        y[r] = s + (bias ? bias[r] : 0.0);
    }
    free(row);
}

static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = test_randf() * scale;
    return v;
}

static double rel_f(const float *a, const float *ref, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = ref[i];
    double e = rel_l2(a, d, n);
    free(d);
    return e;
}

typedef struct {
    slm_dtype t;
    int rows, cols, block;
} shape;

/* Shapes for every format: the unit paths and, for the float formats and NF4, odd sizes that take
 * the element-by-element paths (NF4 blocks crossing rows, a short last block, odd element counts). */
static const shape shapes[] = {
    {SLM_F32, 7, 64, 0},     {SLM_F32, 13, 61, 0},    {SLM_F32, 257, 320, 0},  {SLM_F32, 300, 2048, 0},
    {SLM_F16, 7, 64, 0},     {SLM_F16, 13, 61, 0},    {SLM_F16, 257, 324, 0},  {SLM_F16, 300, 2048, 0},
    {SLM_BF16, 7, 64, 0},    {SLM_BF16, 13, 61, 0},   {SLM_BF16, 257, 324, 0}, {SLM_BF16, 300, 2048, 0},
    {SLM_Q8_0, 7, 64, 0},    {SLM_Q8_0, 13, 96, 0},   {SLM_Q8_0, 257, 320, 0}, {SLM_Q8_0, 300, 2048, 0},
    {SLM_Q4_0, 7, 64, 0},    {SLM_Q4_0, 13, 96, 0},   {SLM_Q4_0, 257, 320, 0}, {SLM_Q4_0, 300, 2048, 0},
    {SLM_NF4, 7, 64, 64},    {SLM_NF4, 13, 96, 64},   {SLM_NF4, 13, 61, 64},   {SLM_NF4, 9, 100, 48},
    {SLM_NF4, 5, 128, 40},   {SLM_NF4, 300, 2048, 64},
    /* rows longer than one round of each kernel's unrolled loads, ending part-way into a round */
    {SLM_F32, 9, 4100, 0},   {SLM_BF16, 9, 8200, 0},  {SLM_Q8_0, 9, 4128, 0}, {SLM_Q4_0, 9, 4128, 0},
    {SLM_NF4, 9, 4160, 64},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* ---- host emulation (runs everywhere) ---- */

/* The device layout read back element by element equals the CPU's dequantization bit for bit. */
static void test_emulate_rows(void) {
    for (int s = 0; s < NSHAPES; s++) {
        const shape *sh = &shapes[s];
        test_mat m = make_mat(sh->t, sh->rows, sh->cols, sh->block, 1.0f);
        float *a = malloc((size_t)sh->cols * sizeof(float)), *b = malloc((size_t)sh->cols * sizeof(float));
        for (int r = 0; r < sh->rows; r++) {
            slm_mat_row(&m.W, r, a);
            if (slm_cuda_emulate_row(b, &m.W, r)) {
                CHECK(0, "%s: %s", slm_dtype_name(sh->t), slm_error());
                break;
            }
            if (memcmp(a, b, (size_t)sh->cols * sizeof(float))) {
                CHECK(0, "%s %dx%d: row %d differs from the CPU's", slm_dtype_name(sh->t), sh->rows, sh->cols, r);
                break;
            }
        }
        free(a);
        free(b);
        free_mat(&m);
    }
}

/* The kernels' arithmetic against the CPU scalar reference. Q8_0/Q4_0 share the int8 activations
 * and exact integer dot products, so only float-vs-double summation separates them: bound 1e-5
 * relative L2 (observed below 1e-6), the same for the float formats and NF4 in float. NF4 with
 * int8 activations and codes (rows of whole 32-value blocks) is measured against the float64
 * product instead: each code and activation rounded to 1/127 of its largest, bound 2e-2. */
static void test_emulate_matvec(void) {
    double worst[SLM_NTYPES] = {0}, worst_nf4_i8 = 0;
    for (int s = 0; s < NSHAPES; s++) {
        const shape *sh = &shapes[s];
        test_mat m = make_mat(sh->t, sh->rows, sh->cols, sh->block, 1.0f);
        float *x = rand_vec((size_t)sh->cols, 1.0f);
        float *ref = malloc((size_t)sh->rows * sizeof(float)), *got = malloc((size_t)sh->rows * sizeof(float));
        CHECK(slm_cuda_emulate_matvec(got, &m.W, x) == 0, "%s", slm_error());
        double e, bound = 1e-5;
        if (sh->t == SLM_NF4 && nf4_int8(&m.W)) {
            double *exact = malloc((size_t)sh->rows * sizeof(double));
            exact_matvec(exact, &m.W, x, NULL);
            e = rel_l2(got, exact, (size_t)sh->rows);
            bound = 2e-2;
            if (e > worst_nf4_i8) worst_nf4_i8 = e;
            free(exact);
        } else {
            ref_matvec(ref, &m.W, x);
            e = rel_f(got, ref, (size_t)sh->rows);
            if (e > worst[sh->t]) worst[sh->t] = e;
        }
        CHECK(e < bound, "%s %dx%d (block %d): relative L2 error %.3g", slm_dtype_name(sh->t), sh->rows, sh->cols,
              sh->block, e);
        free(x);
        free(ref);
        free(got);
        free_mat(&m);
    }
    printf("     worst relative L2 error:");
    for (int t = 0; t < SLM_NTYPES; t++) printf(" %s %.1e", slm_dtype_name((slm_dtype)t), worst[t]);
    printf(", nf4 with int8 activations %.1e (against float64)\n", worst_nf4_i8);
}

/* The two-term split of the prompt GEMM keeps about 22 bits (F16) or 16 bits (BF16) of every value:
 * bounds 1e-6 and 2e-5 relative L2 per row, on rows whose magnitudes span 10^-3..10^3. */
static void test_emulate_split(void) {
    enum { COLS = 777 };
    float x[COLS], back[COLS];
    for (int i = 0; i < COLS; i++) x[i] = test_randf() * powf(10.0f, 3.0f * test_randf());
    x[5] = 0.0f;
    double e16 = 1, e_bf = 1;
    CHECK(slm_cuda_emulate_split(back, x, COLS, SLM_F16) == 0, "%s", slm_error());
    e16 = rel_f(back, x, COLS);
    CHECK(slm_cuda_emulate_split(back, x, COLS, SLM_BF16) == 0, "%s", slm_error());
    e_bf = rel_f(back, x, COLS);
    CHECK(e16 < 1e-6, "f16 split: relative L2 error %.3g", e16);
    CHECK(e_bf < 2e-5, "bf16 split: relative L2 error %.3g", e_bf);
    printf("     split: f16 %.1e, bf16 %.1e\n", e16, e_bf);
    /* large activations must not overflow the F16 terms */
    for (int i = 0; i < COLS; i++) x[i] = test_randf() * 3e5f;
    CHECK(slm_cuda_emulate_split(back, x, COLS, SLM_F16) == 0, "%s", slm_error());
    e16 = rel_f(back, x, COLS);
    CHECK(e16 < 1e-6, "f16 split of values up to 3e5: relative L2 error %.3g", e16);
}

/* ---- on the device ---- */

static slm_backend *gpu;

static float *dev_from(const float *h, size_t n) {
    float *d = gpu->alloc(gpu, n * sizeof(float));
    if (d) gpu->upload(gpu, d, h, n * sizeof(float));
    return d;
}

/* n floats of device memory filled with NaN, so that any element an op leaves unwritten shows. */
static float *dev_poison(size_t n) {
    float *h = malloc(n * sizeof(float));
    memset(h, 0xff, n * sizeof(float));
    float *d = dev_from(h, n);
    free(h);
    return d;
}

static float *dev_to_host(const float *d, size_t n) {
    float *h = malloc(n * sizeof(float));
    gpu->download(gpu, h, d, n * sizeof(float));
    return h;
}

static int synced(const char *what) {
    int rc = slm_backend_cuda_sync(gpu);
    CHECK(rc == 0, "%s: %s", what, slm_error());
    return rc == 0;
}

static int count_nan(const float *v, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += v[i] != v[i];
    return k;
}

/* Bounds, relative L2 per case:
 *   n <= 8 (matrix-vector kernels), against the CPU scalar reference: 1e-5 for every format (float
 *     sums against double; Q8_0/Q4_0 share the int8 arithmetic).
 *   n > 8 (cuBLAS), against float64 on the dequantized weights: F32 1e-5; F16 1e-5 and BF16 3e-5
 *     (two-term activations, exact products, FP32 accumulation); Q8_0/Q4_0/NF4 1e-3 (weights rounded
 *     to F16 in the tiles: 2^-12 each, about 1.5e-4 on a sum of random terms). */
static void test_gpu_matmul(void) {
    static const int ns[] = {1, 2, 3, 8, 9, 40};
    for (int s = 0; s < NSHAPES; s++) {
        const shape *sh = &shapes[s];
        test_mat m = make_mat(sh->t, sh->rows, sh->cols, sh->block, 1.0f);
        slm_mat dW;
        if (gpu->upload_mat(gpu, &dW, &m.W)) {
            CHECK(0, "upload_mat %s: %s", slm_dtype_name(sh->t), slm_error());
            free_mat(&m);
            continue;
        }
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            int n = ns[k], with_bias = k % 2;
            size_t nx = (size_t)n * sh->cols, ny = (size_t)n * sh->rows;
            float *x = rand_vec(nx, 1.0f), *bias = rand_vec((size_t)sh->rows, 1.0f);
            float *dx = dev_from(x, nx), *db = dev_from(bias, (size_t)sh->rows), *dy = dev_poison(ny);
            CHECK(gpu->reserve(gpu, &dW, n) == 0, "reserve: %s", slm_error());
            gpu->matmul(gpu, dy, dx, n, &dW, with_bias ? db : NULL);
            float *y = dev_to_host(dy, ny);
            if (synced("matmul")) {
                double bound, worst = 0;
                float *ref = malloc((size_t)sh->rows * sizeof(float));
                double *exact = malloc((size_t)sh->rows * sizeof(double));
                int quant = sh->t == SLM_Q8_0 || sh->t == SLM_Q4_0 || sh->t == SLM_NF4;
                if (n <= 8) bound = 1e-5;
                else if (quant) bound = 1e-3;
                else bound = sh->t == SLM_BF16 ? 3e-5 : 1e-5;
                for (int t = 0; t < n; t++) {
                    double e;
                    if (n <= 8) {
                        /* NF4 with int8 activations: the same arithmetic on the host */
                        if (nf4_int8(&m.W)) slm_cuda_emulate_matvec(ref, &m.W, x + (size_t)t * sh->cols);
                        else ref_matvec(ref, &m.W, x + (size_t)t * sh->cols);
                        if (with_bias)
                            for (int r = 0; r < sh->rows; r++) ref[r] += bias[r];
                        e = rel_f(y + (size_t)t * sh->rows, ref, (size_t)sh->rows);
                    } else {
                        exact_matvec(exact, &m.W, x + (size_t)t * sh->cols, with_bias ? bias : NULL);
                        e = rel_l2(y + (size_t)t * sh->rows, exact, (size_t)sh->rows);
                    }
                    if (e > worst) worst = e;
                }
                CHECK(count_nan(y, ny) == 0, "%s %dx%d n=%d: %d outputs not written", slm_dtype_name(sh->t), sh->rows,
                      sh->cols, n, count_nan(y, ny));
                CHECK(worst < bound, "%s %dx%d n=%d bias=%d: relative L2 error %.3g >= %.3g", slm_dtype_name(sh->t),
                      sh->rows, sh->cols, n, with_bias, worst, bound);
                free(ref);
                free(exact);
            }
            gpu->free(gpu, dx);
            gpu->free(gpu, db);
            gpu->free(gpu, dy);
            free(x);
            free(bias);
            free(y);
        }
        gpu->free_mat(gpu, &dW);
        free_mat(&m);
    }
}

/* Several products of one input in one op (matmuls: one launch for a run of one format and width),
 * one of them adding to its output, against one matmul each and the add done on the host: within
 * 1e-6 relative L2 (the same kernels' arithmetic; cuBLAS may fold the F32 add into its own). Row
 * counts that are not whole blocks of the launch, a set mixing formats, and a batch for cuBLAS. */
static void test_gpu_matmuls(void) {
    static const slm_dtype sets[][3] = {{SLM_F32, SLM_F32, SLM_F32}, {SLM_F16, SLM_F16, SLM_F16},
                                        {SLM_BF16, SLM_BF16, SLM_BF16}, {SLM_Q8_0, SLM_Q8_0, SLM_Q8_0},
                                        {SLM_Q4_0, SLM_Q4_0, SLM_Q4_0}, {SLM_NF4, SLM_NF4, SLM_NF4},
                                        {SLM_BF16, SLM_Q8_0, SLM_BF16}};
    static const int rows[3] = {13, 301, 6}, ns[] = {1, 3, 9};
    const int cols = 320;
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        test_mat m[3];
        slm_mat dW[3];
        int ok = 1;
        for (int j = 0; j < 3; j++) {
            m[j] = make_mat(sets[s][j], rows[j], cols, 64, 1.0f);
            if (gpu->upload_mat(gpu, &dW[j], &m[j].W)) ok = 0;
        }
        CHECK(ok, "upload_mat: %s", slm_error());
        for (size_t k = 0; ok && k < sizeof ns / sizeof ns[0]; k++) {
            const int n = ns[k];
            float *x = rand_vec((size_t)n * cols, 1.0f), *bias = rand_vec(rows[1], 1.0f);
            float *start = rand_vec((size_t)n * rows[1], 1.0f);
            float *dx = dev_from(x, (size_t)n * cols), *db = dev_from(bias, rows[1]), *one[3], *set[3];
            for (int j = 0; j < 3; j++) {
                CHECK(gpu->reserve(gpu, &dW[j], n) == 0, "reserve: %s", slm_error());
                one[j] = dev_poison((size_t)n * rows[j]);
                set[j] = j == 1 ? dev_from(start, (size_t)n * rows[1]) : dev_poison((size_t)n * rows[j]);
                gpu->matmul(gpu, one[j], dx, n, &dW[j], j == 1 ? db : NULL);
            }
            const slm_product p[3] = {{set[0], &dW[0], NULL, 0}, {set[1], &dW[1], db, 1}, {set[2], &dW[2], NULL, 0}};
            gpu->matmuls(gpu, dx, n, p, 3);
            for (int j = 0; j < 3; j++) {
                size_t ny = (size_t)n * rows[j];
                float *want = dev_to_host(one[j], ny), *got = dev_to_host(set[j], ny);
                if (j == 1)
                    for (size_t i = 0; i < ny; i++) want[i] += start[i];
                if (synced("matmuls")) {
                    double e = rel_f(got, want, ny);
                    CHECK(count_nan(got, ny) == 0 && e < 1e-6, "matmuls %s product %d (%d rows) n=%d: %d unwritten, relative L2 %.3g",
                          slm_dtype_name(sets[s][j]), j, rows[j], n, count_nan(got, ny), e);
                }
                free(want);
                free(got);
                gpu->free(gpu, one[j]);
                gpu->free(gpu, set[j]);
            }
            gpu->free(gpu, dx);
            gpu->free(gpu, db);
            free(x);
            free(bias);
            free(start);
        }
        for (int j = 0; j < 3; j++) {
            gpu->free_mat(gpu, &dW[j]);
            free_mat(&m[j]);
        }
    }
}

/* Embedding rows equal the CPU's dequantization bit for bit, in every format. */
static void test_gpu_embed(void) {
    static const int tokens[] = {0, 49, 7, 7, 3, 48};
    enum { NT = sizeof tokens / sizeof tokens[0] };
    for (int s = 0; s < NSHAPES; s++) {
        const shape *sh = &shapes[s];
        test_mat m = make_mat(sh->t, 50, sh->cols, sh->block, 1.0f);
        slm_mat dW;
        if (gpu->upload_mat(gpu, &dW, &m.W)) {
            CHECK(0, "upload_mat: %s", slm_error());
            free_mat(&m);
            continue;
        }
        size_t ny = (size_t)NT * sh->cols;
        float *dy = dev_poison(ny);
        gpu->embed(gpu, dy, &dW, tokens, NT);
        float *y = dev_to_host(dy, ny), *row = malloc((size_t)sh->cols * sizeof(float));
        if (synced("embed")) {
            for (int t = 0; t < NT; t++) {
                slm_mat_row(&m.W, tokens[t], row);
                CHECK(memcmp(row, y + (size_t)t * sh->cols, (size_t)sh->cols * sizeof(float)) == 0,
                      "%s cols %d: token %d's row differs", slm_dtype_name(sh->t), sh->cols, tokens[t]);
            }
        }
        free(row);
        free(y);
        gpu->free(gpu, dy);
        gpu->free_mat(gpu, &dW);
        free_mat(&m);
    }
}

/* RMSNorm, RoPE, SwiGLU and add against kernels/cpu: float against float with the same formulas;
 * bound 2e-6 relative L2 (a few ulps from the order of sums and fused multiply-adds). */
static void test_gpu_rmsnorm(void) {
    static const int dims[] = {64, 1000, 2048, 4097, 12000}, rows[] = {1, 3, 17};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            int n = rows[j], dim = dims[i];
            size_t total = (size_t)n * dim;
            float *x = rand_vec(total, 3.0f), *w = rand_vec((size_t)dim, 1.0f), *ref = malloc(total * sizeof(float));
            slm_rmsnorm(ref, x, w, n, dim, 1e-5f);
            float *dx = dev_from(x, total), *dw = dev_from(w, (size_t)dim), *dy = dev_poison(total);
            gpu->rmsnorm(gpu, dy, dx, dw, n, dim, 1e-5f);
            float *y = dev_to_host(dy, total);
            if (synced("rmsnorm")) {
                double e = rel_f(y, ref, total);
                CHECK(count_nan(y, total) == 0 && e < 2e-6, "rmsnorm n=%d dim=%d: error %.3g, %d unwritten", n, dim, e,
                      count_nan(y, total));
            }
            gpu->free(gpu, dx);
            gpu->free(gpu, dw);
            gpu->free(gpu, dy);
            free(x);
            free(w);
            free(ref);
            free(y);
        }
    }
}

static void test_gpu_rope(void) {
    static const int hds[] = {8, 24, 128}, heads[] = {3, 8}, ns[] = {1, 5};
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 2; b++) {
            for (int c = 0; c < 2; c++) {
                int hd = hds[a], H = heads[b], n = ns[c], half = hd / 2;
                float *inv = malloc((size_t)half * sizeof(float));
                for (int i = 0; i < half; i++) inv[i] = powf(10000.0f, -2.0f * i / hd);
                float *cs = malloc((size_t)n * half * sizeof(float)), *sn = malloc((size_t)n * half * sizeof(float));
                slm_rope_table(cs, sn, inv, hd, 37, n);
                size_t total = (size_t)n * H * hd;
                float *x = rand_vec(total, 2.0f), *ref = malloc(total * sizeof(float));
                memcpy(ref, x, total * sizeof(float));
                slm_rope(ref, cs, sn, n, H, hd, hd);
                float *dx = dev_from(x, total), *dc = dev_from(cs, (size_t)n * half), *ds = dev_from(sn, (size_t)n * half);
                gpu->rope(gpu, dx, dc, ds, n, H, hd, hd);
                float *y = dev_to_host(dx, total);
                if (synced("rope")) {
                    double e = rel_f(y, ref, total);
                    CHECK(e < 2e-6, "rope hd=%d heads=%d n=%d: relative L2 error %.3g", hd, H, n, e);
                }
                gpu->free(gpu, dx);
                gpu->free(gpu, dc);
                gpu->free(gpu, ds);
                free(inv);
                free(cs);
                free(sn);
                free(x);
                free(ref);
                free(y);
            }
        }
    }
}

static void test_gpu_elementwise(void) {
    static const int ns[] = {1, 1001, 65537};
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)ns[i];
        float *g = rand_vec(n, 6.0f), *u = rand_vec(n, 2.0f), *ref = malloc(n * sizeof(float));
        slm_swiglu(ref, g, u, (int)n);
        float *dg = dev_from(g, n), *du = dev_from(u, n), *dy = dev_poison(n);
        gpu->swiglu(gpu, dy, dg, du, (int)n);
        float *y = dev_to_host(dy, n);
        if (synced("swiglu")) {
            double e = rel_f(y, ref, n);
            CHECK(count_nan(y, n) == 0 && e < 2e-6, "swiglu n=%zu: error %.3g", n, e);
        }
        free(y);
        slm_add(g, u, (int)n);
        gpu->add(gpu, dg, du, (int)n);
        y = dev_to_host(dg, n);
        if (synced("add")) CHECK(memcmp(y, g, n * sizeof(float)) == 0, "add n=%zu differs", n);
        gpu->free(gpu, dg);
        gpu->free(gpu, du);
        gpu->free(gpu, dy);
        free(g);
        free(u);
        free(ref);
        free(y);
    }
}

/* out = softmax(scale · q·K[start..end)) · V[start..end) in float64. */
static void ref_attend(float *out, const float *q, const float *K, const float *V, int start, int end, int hd) {
    double *w = malloc((size_t)(end - start) * sizeof(double)), mx = -1e300, sum = 0;
    for (int p = start; p < end; p++) {
        double s = 0;
        for (int d = 0; d < hd; d++) s += (double)q[d] * K[(size_t)p * hd + d];
        w[p - start] = s / sqrt((double)hd);
        if (w[p - start] > mx) mx = w[p - start];
    }
    for (int p = start; p < end; p++) sum += w[p - start] = exp(w[p - start] - mx);
    for (int d = 0; d < hd; d++) {
        double o = 0;
        for (int p = start; p < end; p++) o += w[p - start] * V[(size_t)p * hd + d];
        out[d] = (float)(o / sum);
    }
    free(w);
}

/* Attention: a sequence of calls on layer 1 of a two-layer cache (prompt batches through the tiled
 * kernel, then decoding steps through the split kernel, then more of both), each against float64
 * over a host copy of the cache. Bound 1e-5 relative L2 per call (FP32 on the device). */
typedef struct {
    int heads, kv, hd, window;
    int steps[8]; /* tokens per call, 0-terminated */
} attn_case;

static void run_attn_case(const attn_case *ac) {
    enum { CTX = 1024 };
    slm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.n_layers = 2;
    cfg.n_heads = ac->heads;
    cfg.n_kv_heads = ac->kv;
    cfg.head_dim = ac->hd;
    cfg.sliding_window = ac->window;
    slm_kv *kv = gpu->kv_new(gpu, &cfg, CTX);
    if (!kv) {
        CHECK(0, "kv_new: %s", slm_error());
        return;
    }
    int hd = ac->hd, group = ac->heads / ac->kv, pos = 0;
    float *Kh = calloc((size_t)ac->kv * CTX * hd, sizeof(float)), *Vh = calloc((size_t)ac->kv * CTX * hd, sizeof(float));
    for (int s = 0; ac->steps[s]; s++) {
        int n = ac->steps[s];
        size_t nq = (size_t)n * ac->heads * hd, nk = (size_t)n * ac->kv * hd;
        float *q = rand_vec(nq, 1.5f), *k = rand_vec(nk, 1.5f), *v = rand_vec(nk, 1.0f);
        float *ref = malloc(nq * sizeof(float));
        for (int t = 0; t < n; t++)
            for (int g = 0; g < ac->kv; g++) {
                memcpy(Kh + ((size_t)g * CTX + pos + t) * hd, k + ((size_t)t * ac->kv + g) * hd, hd * sizeof(float));
                memcpy(Vh + ((size_t)g * CTX + pos + t) * hd, v + ((size_t)t * ac->kv + g) * hd, hd * sizeof(float));
            }
        for (int t = 0; t < n; t++) {
            int p = pos + t, start = ac->window > 0 && p + 1 > ac->window ? p + 1 - ac->window : 0;
            for (int h = 0; h < ac->heads; h++) {
                size_t o = ((size_t)t * ac->heads + h) * hd;
                ref_attend(ref + o, q + o, Kh + (size_t)(h / group) * CTX * hd, Vh + (size_t)(h / group) * CTX * hd,
                           start, p + 1, hd);
            }
        }
        float *dq = dev_from(q, nq), *dk = dev_from(k, nk), *dv = dev_from(v, nk), *dout = dev_poison(nq);
        gpu->attention(gpu, kv, 1, dout, dq, dk, dv, n, pos);
        float *y = dev_to_host(dout, nq);
        if (synced("attention")) {
            double e = rel_f(y, ref, nq);
            CHECK(count_nan(y, nq) == 0 && e < 1e-5,
                  "attention heads=%d kv=%d hd=%d window=%d: %d tokens at %d: error %.3g, %d unwritten", ac->heads, ac->kv,
                  hd, ac->window, n, pos, e, count_nan(y, nq));
        }
        pos += n;
        gpu->free(gpu, dq);
        gpu->free(gpu, dk);
        gpu->free(gpu, dv);
        gpu->free(gpu, dout);
        free(q);
        free(k);
        free(v);
        free(ref);
        free(y);
    }
    free(Kh);
    free(Vh);
    gpu->kv_free(gpu, kv);
}

static void test_gpu_attention(void) {
    static const attn_case cases[] = {
        {4, 4, 16, 0, {40, 1, 3, 77, 1}},     /* MHA */
        {8, 2, 64, 0, {40, 1, 8, 9, 600, 1}}, /* GQA 4, a long history for the split */
        {8, 8, 128, 0, {17, 1, 2}},
        {6, 2, 24, 0, {33, 1, 5}},            /* head_dim not a multiple of 32 */
        {4, 1, 256, 0, {20, 1, 3}},           /* head_dim 256: above 48 KiB of shared memory */
        {32, 1, 64, 0, {25, 1, 2}},           /* one KV head for 32 query heads */
        {8, 2, 64, 37, {50, 1, 3, 60, 1}},    /* sliding window */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_attn_case(&cases[i]);
}

/* ---- whole model ---- */


static slm_model *load(const char *dir, const char *device, int quantize, slm_dtype qt) {
    slm_model *m = NULL;
    slm_load_opts lo = {.quantize = quantize, .quant_type = qt, .device = device, .threads = 2};
    if (slm_model_load(&m, dir, &lo)) {
        CHECK(0, "load %s on %s: %s", dir, device, slm_error());
        return NULL;
    }
    return m;
}

/* Feeds tokens one at a time (the decoding path) and then decodes greedily for `extra` steps:
 * logits [n + extra][V] of every step and the greedy tokens. */
static int step_by_step(slm_model *m, const int *tokens, int n, int extra, float *logits, int *greedy) {
    int V = slm_model_config(m)->vocab_size;
    slm_session *s = slm_session_new(m, n + extra + 1);
    if (!s) return -1;
    for (int i = 0; i < n + extra; i++) {
        int tok = i < n ? tokens[i] : greedy[i - n];
        if (slm_eval(s, &tok, 1, logits + (size_t)i * V, 0)) {
            slm_session_free(s);
            return -1;
        }
        if (i >= n - 1 && i - (n - 1) < extra) greedy[i - (n - 1)] = test_argmax(logits + (size_t)i * V, V);
    }
    slm_session_free(s);
    return 0;
}

/* One model folder on the GPU: the prompt as one batch (cuBLAS path) against the transformers
 * logits with the CPU test's bound 1e-4 (the split GEMM keeps FP32 accuracy), the same argmax at
 * every position; then both backends step by step (the decoding kernels) against each other:
 * 1e-5 per position (FP32 both sides, different summation orders) and identical greedy tokens. */
static void check_fixture(const char *dir, const char *fixture, const char *tokens_file) {
    char path[512];
    int tokens[256];
    snprintf(path, sizeof path, "%s/%s", fixture, tokens_file);
    int n = test_read_ids(path, tokens, 256);
    CHECK(n > 0, "%s: no tokens", path);
    if (n <= 0) return;
    if (n > 64) n = 64;
    slm_model *g = load(dir, "cuda", 0, SLM_F32), *c = load(dir, "cpu", 0, SLM_F32);
    if (!g || !c) {
        slm_model_free(g);
        slm_model_free(c);
        return;
    }
    CHECK(strcmp(slm_model_backend(g), "cuda") == 0, "%s: loaded on %s", dir, slm_model_backend(g));
    int V = slm_model_config(g)->vocab_size, extra = 8;
    snprintf(path, sizeof path, "%s/logits.f32", fixture);
    float *ref = test_read_floats(path, (size_t)n * V);
    float *got = malloc((size_t)n * V * sizeof(float));
    slm_session *s = slm_session_new(g, 256);
    CHECK(s != NULL, "session: %s", slm_error());
    if (ref && s && slm_eval(s, tokens, n, got, 1) == 0) {
        double worst = 0;
        for (int t = 0; t < n; t++) {
            double e = rel_f(got + (size_t)t * V, ref + (size_t)t * V, (size_t)V);
            if (e > worst) worst = e;
            CHECK(test_argmax(got + (size_t)t * V, V) == test_argmax(ref + (size_t)t * V, V), "%s position %d: argmax differs",
                  dir, t);
        }
        CHECK(worst < 1e-4, "%s: batch logits relative L2 error %.3g >= 1e-4", dir, worst);
        printf("     %-40s batch vs reference %.2e\n", dir, worst);
    } else if (s) {
        CHECK(0, "%s: eval: %s", dir, slm_error());
    }
    slm_session_free(s);

    float *lg = malloc((size_t)(n + extra) * V * sizeof(float)), *lc = malloc((size_t)(n + extra) * V * sizeof(float));
    int gg[16], gc[16];
    if (step_by_step(g, tokens, n, extra, lg, gg) == 0 && step_by_step(c, tokens, n, extra, lc, gc) == 0) {
        double worst = 0;
        for (int i = 0; i < n + extra; i++) {
            double e = rel_f(lg + (size_t)i * V, lc + (size_t)i * V, (size_t)V);
            if (e > worst) worst = e;
        }
        CHECK(worst < 1e-5, "%s: step by step, GPU vs CPU relative L2 error %.3g", dir, worst);
        CHECK(memcmp(gg, gc, (size_t)extra * sizeof(int)) == 0, "%s: greedy tokens differ between GPU and CPU", dir);
    } else {
        CHECK(0, "%s: step by step: %s", dir, slm_error());
    }
    free(lg);
    free(lc);
    free(ref);
    free(got);
    slm_model_free(g);
    slm_model_free(c);
}

static void test_gpu_fixtures(void) {
    static const char *names[] = {"mha", "gqa2", "gqa4", "headdim", "rope_llama3", "rope_linear", "f16",
                                  "bf16", "sharded", "bias", "mistral", "v5config"};
    char dir[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(dir, sizeof dir, "tests/fixtures/llama/%s", names[i]);
        check_fixture(dir, dir, "tokens.txt");
    }
    check_fixture("../shared/models/stories260K", "tests/fixtures/stories260K", "prompt.txt");
}

/* stories260K's greedy continuation, two ways: the prompt as a batch and then decoding step by
 * step, as generation runs; and the prompt with the continuation as one 64-token batch (the cuBLAS
 * path), whose argmax at every position must be the next token of the continuation. */
static void test_gpu_greedy(void) {
    int seq[256], expect[256];
    int n = test_read_ids("tests/fixtures/stories260K/prompt.txt", seq, 256);
    int ne = test_read_ids("tests/fixtures/stories260K/greedy.txt", expect, 256);
    CHECK(n > 0 && ne >= 60, "stories260K fixture missing");
    if (n <= 0 || ne < 60) return;
    slm_model *g = load("../shared/models/stories260K", "cuda", 0, SLM_F32);
    if (!g) return;
    int V = slm_model_config(g)->vocab_size;
    slm_session *s = slm_session_new(g, 512);
    float *logits = malloc((size_t)64 * V * sizeof(float));
    int ok = s && slm_eval(s, seq, n, logits, 0) == 0;
    for (int i = 0; ok && i < 60; i++) {
        int tok = test_argmax(logits, V);
        CHECK(tok == expect[i], "greedy token %d is %d, expected %d", i, tok, expect[i]);
        if (tok != expect[i]) break;
        ok = slm_eval(s, &tok, 1, logits, 0) == 0;
    }
    CHECK(ok, "stories260K decoding: %s", slm_error());
    int total = n + 59 < 64 ? n + 59 : 64;
    for (int i = n; i < total; i++) seq[i] = expect[i - n];
    if (s) slm_session_reset(s);
    if (s && slm_eval(s, seq, total, logits, 1) == 0) {
        for (int p = n - 1; p < total; p++)
            CHECK(test_argmax(logits + (size_t)p * V, V) == expect[p - n + 1], "batch position %d: argmax %d, expected %d", p,
                  test_argmax(logits + (size_t)p * V, V), expect[p - n + 1]);
    } else {
        CHECK(0, "stories260K batch: %s", slm_error());
    }
    free(logits);
    slm_session_free(s);
    slm_model_free(g);
}

/* Quantized on load (when model/ offers it), GPU against CPU on stories260K.
 * The CPU runs its scalar reference kernels here (main sets SLM_ISA=scalar): its AVX-512 NF4 kernel
 * takes int8 activations, about 4e-4 from the float product, which would hide a small GPU error.
 * Step by step: Q8_0/Q4_0 take the same arithmetic on both (int8 activations and exact integer
 * dots); NF4 rounds codes and activations to int8 on the GPU and not in the CPU's scalar kernel.
 * Where the arithmetic is the same, a float difference of one ulp can still move an
 * activation across a rounding boundary and the KV cache carries that on (two CPU instruction sets
 * differ by up to 3e-2 on this model). Bound 1e-1 for all three, which any layout or indexing
 * error exceeds; the greedy tokens must agree. The 40-token prompt as one batch takes cuBLAS on F16 tiles with float
 * activations, while the CPU's batch keeps int8 activations for Q8_0/Q4_0: bound 1e-1 there.
 * For NF4 the tiles round each weight to F16 (by up to 2^-11 of it) against the CPU's float weights,
 * and the LM head (a few rows at a time) takes the int8 kernel: 8.8e-3 measured on an H100, bound
 * 3e-2. */
static void test_gpu_quantized(void) {
    static const slm_dtype types[] = {SLM_Q8_0, SLM_Q4_0, SLM_NF4};
    const char *dir = "../shared/models/stories260K";
    int tokens[256], cont[256];
    int n = test_read_ids("tests/fixtures/stories260K/prompt.txt", tokens, 256);
    int nc = test_read_ids("tests/fixtures/stories260K/greedy.txt", cont, 256);
    CHECK(n > 0 && nc >= 35, "stories260K fixture missing");
    if (n <= 0 || nc < 35) return;
    /* 40 tokens, so that the batch goes through cuBLAS */
    for (int i = 0; i < 40 - n; i++) tokens[n + i] = cont[i];
    n = 40;
    for (int i = 0; i < 3; i++) {
        slm_model *g = NULL, *c = NULL;
        slm_load_opts lo = {.quantize = 1, .quant_type = types[i], .device = "cpu", .threads = 2};
        if (slm_model_load(&c, dir, &lo)) {
            if (strstr(slm_error(), "not available")) {
                printf("skip: quantize-on-load is not available (%s)\n", slm_error());
                return;
            }
            CHECK(0, "%s: %s", slm_dtype_name(types[i]), slm_error());
            continue;
        }
        lo.device = "cuda";
        if (slm_model_load(&g, dir, &lo)) {
            CHECK(0, "%s on cuda: %s", slm_dtype_name(types[i]), slm_error());
            slm_model_free(c);
            continue;
        }
        int V = slm_model_config(g)->vocab_size, extra = 16;
        float *lg = malloc((size_t)(n + extra) * V * sizeof(float)), *lc = malloc((size_t)(n + extra) * V * sizeof(float));
        int gg[16], gc[16];
        if (step_by_step(g, tokens, n, extra, lg, gg) == 0 && step_by_step(c, tokens, n, extra, lc, gc) == 0) {
            double worst = 0;
            for (int k = 0; k < n + extra; k++) {
                double e = rel_f(lg + (size_t)k * V, lc + (size_t)k * V, (size_t)V);
                if (e > worst) worst = e;
            }
            double bound = 1e-1;
            CHECK(worst < bound, "%s step by step: GPU vs CPU relative L2 error %.3g >= %.3g", slm_dtype_name(types[i]),
                  worst, bound);
            printf("     %-6s step by step GPU vs CPU %.2e\n", slm_dtype_name(types[i]), worst);
            CHECK(memcmp(gg, gc, sizeof gg) == 0, "%s: greedy tokens differ between GPU and CPU", slm_dtype_name(types[i]));
        } else {
            CHECK(0, "%s step by step: %s", slm_dtype_name(types[i]), slm_error());
        }
        /* the prompt as one batch */
        slm_session *sg = slm_session_new(g, 256), *sc = slm_session_new(c, 256);
        if (sg && sc && slm_eval(sg, tokens, n, lg, 1) == 0 && slm_eval(sc, tokens, n, lc, 1) == 0) {
            double worst = 0, bound = types[i] == SLM_NF4 ? 3e-2 : 1e-1;
            for (int k = 0; k < n; k++) {
                double e = rel_f(lg + (size_t)k * V, lc + (size_t)k * V, (size_t)V);
                if (e > worst) worst = e;
            }
            CHECK(worst < bound, "%s batch: GPU vs CPU relative L2 error %.3g >= %.3g", slm_dtype_name(types[i]), worst,
                  bound);
            printf("     %-6s batch GPU vs CPU %.2e\n", slm_dtype_name(types[i]), worst);
        } else {
            CHECK(0, "%s batch: %s", slm_dtype_name(types[i]), slm_error());
        }
        slm_session_free(sg);
        slm_session_free(sc);
        free(lg);
        free(lc);
        slm_model_free(g);
        slm_model_free(c);
    }
}

/* From the third single-token step on, a session replays the step the CUDA backend recorded (a CUDA
 * graph) instead of launching its kernels one by one. The replay runs the same kernels on the same
 * inputs, with the position read on the device, so its logits must equal those of a backend that
 * records nothing (SLM_CUDA_GRAPHS=0) bit for bit: over 80 steps, past the history length where
 * attention starts to split, with two sessions taking turns (a recording each), and again after a
 * session is freed and another made in its place. */
static void test_gpu_graph_replay(void) {
    const char *dir = "../shared/models/stories260K";
    int prompt[256];
    int np = test_read_ids("tests/fixtures/stories260K/prompt.txt", prompt, 256);
    CHECK(np > 0, "stories260K fixture missing");
    if (np <= 0) return;
    setenv("SLM_CUDA_GRAPHS", "0", 1);
    slm_model *plain = load(dir, "cuda", 0, SLM_F32);
    unsetenv("SLM_CUDA_GRAPHS");
    slm_model *rec = load(dir, "cuda", 0, SLM_F32);
    if (!plain || !rec) {
        slm_model_free(plain);
        slm_model_free(rec);
        return;
    }
    int V = slm_model_config(rec)->vocab_size;
    float *lp = malloc((size_t)V * sizeof(float)), *l1 = malloc((size_t)V * sizeof(float)),
          *l2 = malloc((size_t)V * sizeof(float));
    for (int round = 0; round < 2; round++) {
        slm_session *sp = slm_session_new(plain, 128), *s1 = slm_session_new(rec, 128), *s2 = slm_session_new(rec, 128);
        CHECK(sp && s1 && s2, "sessions: %s", slm_error());
        int differ = -1;
        for (int i = 0; sp && s1 && s2 && i < 80 && differ < 0; i++) {
            int tok = i < np ? prompt[i] : test_argmax(lp, V);
            if (slm_eval(sp, &tok, 1, lp, 0) || slm_eval(s1, &tok, 1, l1, 0) || slm_eval(s2, &tok, 1, l2, 0)) {
                CHECK(0, "step %d: %s", i, slm_error());
                break;
            }
            if (memcmp(lp, l1, (size_t)V * sizeof(float)) || memcmp(lp, l2, (size_t)V * sizeof(float))) differ = i;
        }
        CHECK(differ < 0, "round %d: replayed logits differ from launched ones at step %d (relative error %.3g)", round,
              differ, differ < 0 ? 0.0 : rel_f(l1, lp, (size_t)V));
        slm_session_free(sp);
        slm_session_free(s1);
        slm_session_free(s2);
    }
    free(lp);
    free(l1);
    free(l2);
    slm_model_free(plain);
    slm_model_free(rec);
}

/* A failing op is recorded with its place, later ops do nothing, downloads give NaN, and sync
 * reports the first failure. Uses a backend of its own, which it leaves failed. */
static void test_gpu_error_reporting(void) {
    slm_backend *b = slm_backend_cuda();
    CHECK(b != NULL, "%s", slm_error());
    if (!b) return;
    float *d = b->alloc(b, 64 * sizeof(float)), h[64];
    slm_mat bogus = {SLM_NTYPES, 4, 16, d, NULL, NULL, 0};
    b->matmul(b, d, d, 1, &bogus, NULL);
    b->download(b, h, d, sizeof h);
    CHECK(h[0] != h[0] && h[63] != h[63], "download after a failure should give NaN");
    CHECK(slm_backend_cuda_sync(b) != 0, "sync should report the failure");
    CHECK(strstr(slm_error(), "weight format") && strstr(slm_error(), "backend_cuda.cu"),
          "the message should name the call and place: %s", slm_error());
    b->free(b, d);
    b->destroy(b);
}

/* cuBLAS is opened at run time; the toolkit that built slm has it, GPU or not. */
static void test_cublas_opens(void) { CHECK(slm_cublas_open() == 0, "%s", slm_error()); }

int main(void) {
    RUN(test_cublas_opens);
    RUN(test_emulate_rows);
    RUN(test_emulate_matvec);
    RUN(test_emulate_split);
    /* the CPU side of every comparison below is its scalar reference */
    setenv("SLM_ISA", "scalar", 1);
    gpu = slm_backend_cuda();
    if (!gpu) {
        const char *why = slm_error(), *prefix = "no CUDA device: ";
        if (!strncmp(why, prefix, strlen(prefix))) why += strlen(prefix);
        printf("skip: no CUDA device (%s)\n", why);
        return test_summary();
    }
    RUN(test_gpu_matmul);
    RUN(test_gpu_matmuls);
    RUN(test_gpu_embed);
    RUN(test_gpu_rmsnorm);
    RUN(test_gpu_rope);
    RUN(test_gpu_elementwise);
    RUN(test_gpu_attention);
    RUN(test_gpu_fixtures);
    RUN(test_gpu_greedy);
    RUN(test_gpu_quantized);
    RUN(test_gpu_graph_replay);
    RUN(test_gpu_error_reporting);
    gpu->destroy(gpu);
    return test_summary();
}
#endif /* SLM_CUDA */
