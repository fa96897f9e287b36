/* CPU kernels against references computed here in double precision, and every SIMD variant
 * against its scalar reference: float matrix-vector products and tile conversion, threaded
 * matmul (matvec, sgemm and F16/BF16 prompt paths), the F16/BF16 prompt kernel, grouped attention with float and f16 caches, the cache store,
 * rmsnorm, rope, swiglu, and the CPU backend's attention op with an f16 KV cache. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/attention.h"
#include "../kernels/cpu/cpu_features.h"
#include "../kernels/cpu/matmul.h"
#include "../kernels/cpu/norm.h"
#include "../kernels/cpu/quant.h"
#include "../kernels/cpu/rope.h"
#include "../runtime/backend.h"
#include "../runtime/threadpool.h"
#include "test.h"

/* A random matrix in format t, and its values as doubles (after rounding to t). */
static void *random_mat(slm_mat *W, slm_dtype t, int rows, int cols, double *vals) {
    size_t n = (size_t)rows * cols, es = t == SLM_F32 ? 4 : 2;
    void *data = malloc(n * es + 64);
    for (size_t i = 0; i < n; i++) {
        float f = test_randf();
        if (t == SLM_F32) {
            ((float *)data)[i] = f;
            vals[i] = f;
        } else if (t == SLM_F16) {
            ((uint16_t *)data)[i] = slm_f32_to_f16(f);
            vals[i] = slm_f16_to_f32(((uint16_t *)data)[i]);
        } else {
            ((uint16_t *)data)[i] = slm_f32_to_bf16(f);
            vals[i] = slm_bf16_to_f32(((uint16_t *)data)[i]);
        }
    }
    *W = (slm_mat){.type = t, .rows = rows, .cols = cols, .data = data};
    return data;
}

/* {19, 4103}: rows longer than 4096 floats take the eight-rows-at-once path, with leftover rows and a masked tail */
static const int shapes[][2] = {{1, 1}, {7, 13}, {37, 67}, {5, 100}, {64, 2048}, {3, 16}, {9, 31}, {19, 4103}};
static const slm_dtype float_types[] = {SLM_F32, SLM_F16, SLM_BF16};

/* Σ w[c]·x[c] in double over cols values, and its scale Σ|w[c]·x[c]| in *scale. */
static double exact_dot(const double *w, const float *x, int cols, double *scale) {
    double sum = 0, s = 0;
    for (int c = 0; c < cols; c++) {
        sum += w[c] * x[c];
        s += fabs(w[c] * x[c]);
    }
    *scale = s;
    return sum;
}

/* |y - ref| within tol of the scale of the sum (sum of |w||x|), element by element. */
static int close_to(double y, double ref, double scale, double tol) { return fabs(y - ref) <= tol * scale + 1e-30; }

static void test_matvec_float_variants(void) {
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int rows = shapes[si][0], cols = shapes[si][1];
            double *wv = malloc(sizeof(double) * rows * cols);
            slm_mat W;
            void *data = random_mat(&W, float_types[ti], rows, cols, wv);
            float *x = malloc(sizeof(float) * cols), *y = malloc(sizeof(float) * rows);
            for (int c = 0; c < cols; c++) x[c] = test_randf();
            const slm_matvec_kernel *v[3];
            int nv = slm_matvec_variants(float_types[ti], v, 3);
            CHECK(nv >= 1 && v[0]->isa == SLM_ISA_SCALAR, "%s: the scalar reference comes first", slm_dtype_name(float_types[ti]));
            for (int k = 0; k < nv; k++) {
                for (int r = 0; r < rows; r++) y[r] = NAN;
                v[k]->rows(y, &W, x, NULL, 0, rows);
                for (int r = 0; r < rows; r++) {
                    double scale, ref = exact_dot(wv + (size_t)r * cols, x, cols, &scale);
                    double tol = v[k]->isa == SLM_ISA_SCALAR ? 1e-7 : 1e-6;
                    CHECK(close_to(y[r], ref, scale, tol), "%s %dx%d row %d: %g vs %g", v[k]->name, rows, cols, r, y[r], ref);
                }
                /* a sub-range writes only its rows */
                if (rows > 2) {
                    for (int r = 0; r < rows; r++) y[r] = 12345.0f;
                    v[k]->rows(y, &W, x, NULL, 1, rows - 1);
                    CHECK(y[0] == 12345.0f && y[rows - 1] == 12345.0f, "%s: rows outside [r0, r1) written", v[k]->name);
                }
            }
            free(data);
            free(wv);
            free(x);
            free(y);
        }
}

static void test_float_rows_variants(void) {
    void (*fns[])(float *, const slm_mat *, int, int) = {slm_float_rows_scalar, slm_float_rows_avx2, slm_float_rows_avx512};
    const slm_cpu_features *f = slm_cpu();
    int have[] = {1, f->avx2_fma, f->avx512};
    for (size_t ti = 0; ti < 3; ti++) {
        int rows = 9, cols = 67;
        double *wv = malloc(sizeof(double) * rows * cols);
        slm_mat W;
        void *data = random_mat(&W, float_types[ti], rows, cols, wv);
        float *dst = malloc(sizeof(float) * (rows * cols + 1));
        for (int k = 0; k < 3; k++) {
            if (!have[k]) continue;
            dst[(rows - 3) * cols] = 777.0f; /* just past the converted rows */
            fns[k](dst, &W, 2, rows - 3);
            for (int i = 0; i < (rows - 5) * cols; i++)
                CHECK(dst[i] == (float)wv[2 * cols + i], "%s variant %d: element %d: %g vs %g", slm_dtype_name(float_types[ti]), k,
                      i, dst[i], wv[2 * cols + i]);
            CHECK(dst[(rows - 3) * cols] == 777.0f, "variant %d wrote past its rows", k);
        }
        free(data);
        free(wv);
        free(dst);
    }
}

/* NF4 tiles for sgemm: every variant equal to the dequantization of quant.c, on aligned and unaligned
 * blocks and row ranges, with a custom table, and without writing past its rows; the same rows regrouped
 * (NF4X8, blocks of 64) too. */
static void test_float_rows_nf4(void) {
    void (*fns[])(float *, const slm_mat *, int, int) = {slm_float_rows_scalar, slm_float_rows_avx2, slm_float_rows_avx512};
    const slm_cpu_features *f = slm_cpu();
    int have[] = {1, f->avx2_fma, f->avx512};
    struct { int rows, cols, block, r0, r1, custom; } cases[] = {
        {7, 256, 64, 1, 6, 0}, {5, 192, 64, 0, 5, 0}, {6, 128, 256, 1, 5, 1}, {9, 67, 48, 2, 8, 0}, {4, 96, 32, 1, 3, 1}, {3, 48, 16, 0, 3, 0},
        {5, 960, 64, 1, 5, 1}, {3, 1536, 64, 0, 2, 0},
    };
    float custom[16];
    for (int i = 0; i < 16; i++) custom[i] = slm_nf4_code[15 - i] * 0.5f + 0.01f * i;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int rows = cases[ci].rows, cols = cases[ci].cols, block = cases[ci].block, r0 = cases[ci].r0, r1 = cases[ci].r1;
        size_t n = (size_t)rows * cols, nb = (n + block - 1) / block;
        float *w = malloc(n * sizeof(float)), *absmax = malloc(nb * sizeof(float));
        uint8_t *codes = malloc((n + 1) / 2);
        for (size_t i = 0; i < n; i++) w[i] = test_randf();
        slm_quantize_nf4(codes, absmax, w, n, block);
        slm_mat W = {.type = SLM_NF4, .rows = rows, .cols = cols, .data = codes, .absmax = absmax, .block = block,
                     .code = cases[ci].custom ? custom : NULL};
        size_t count = (size_t)(r1 - r0) * cols;
        float *want = malloc(count * sizeof(float)), *got = malloc((count + 1) * sizeof(float));
        slm_dequantize_nf4(want, codes, absmax, W.code, block, (size_t)r0 * cols, count);
        uint8_t *x8 = NULL;
        slm_mat X = W;
        if (block == 64 && cols % 64 == 0) {
            x8 = malloc(slm_dtype_bytes(SLM_NF4X8, (size_t)rows, (size_t)cols));
            for (int r = 0; r < rows; r++)
                slm_nf4x8_from_nf4(x8 + (size_t)r * slm_nf4x8_row_bytes(cols), codes + (size_t)r * cols / 2, absmax + (size_t)r * cols / 64, cols);
            X.type = SLM_NF4X8, X.data = x8, X.absmax = NULL;
        }
        for (int k = 0; k < 6; k++) {
            if (!have[k % 3] || (k >= 3 && !x8)) continue;
            got[count] = 777.0f;
            fns[k % 3](got, k < 3 ? &W : &X, r0, r1);
            int bad = 0;
            for (size_t i = 0; i < count && !bad; i++)
                if (got[i] != want[i]) {
                    CHECK(0, "%s case %zu variant %d: element %zu: %g vs %g", k < 3 ? "nf4" : "nf4x8", ci, k % 3, i, got[i], want[i]);
                    bad = 1;
                }
            CHECK(got[count] == 777.0f, "%s case %zu variant %d wrote past its rows", k < 3 ? "nf4" : "nf4x8", ci, k % 3);
        }
        free(w), free(absmax), free(codes), free(want), free(got), free(x8);
    }
}

/* slm_matmul on the pool: every output of a rows x cols matrix of type against a double reference. */
static void check_matmul(slm_pool *pool, slm_dtype type, int rows, int cols, int n, int with_bias) {
    double *wv = malloc(sizeof(double) * rows * cols);
    slm_mat W;
    void *data = random_mat(&W, type, rows, cols, wv);
    float *x = malloc(sizeof(float) * n * cols), *y = malloc(sizeof(float) * n * rows), *bias = malloc(sizeof(float) * rows);
    for (int i = 0; i < n * cols; i++) x[i] = test_randf();
    for (int r = 0; r < rows; r++) bias[r] = test_randf();
    for (size_t i = 0; i < (size_t)n * rows; i++) y[i] = NAN; /* a row no worker wrote fails */
    void *scratch = malloc(slm_matmul_scratch_bytes(&W, n, 2));
    slm_matmul(pool, y, x, n, &W, with_bias ? bias : NULL, scratch);
    int bad = 0;
    for (int t = 0; t < n && !bad; t++)
        for (int r = 0; r < rows && !bad; r++) {
            double scale, ref = exact_dot(wv + (size_t)r * cols, x + (size_t)t * cols, cols, &scale);
            if (with_bias) ref += bias[r], scale += fabs(bias[r]);
            bad = !close_to(y[(size_t)t * rows + r], ref, scale, 1e-5);
            CHECK(!bad, "%s %dx%d n=%d bias=%d [%d][%d]: %g vs %g", slm_dtype_name(type), rows, cols, n, with_bias, t, r,
                  y[(size_t)t * rows + r], ref);
        }
    free(scratch);
    free(data);
    free(wv);
    free(x);
    free(y);
    free(bias);
}

/* Batches of 1 to 33 tokens in every float type, and F16/BF16 batches of 520 tokens of 2048 values, whose
 * activations (4.3 MB) make the prompt kernel's row chunks taller (half_chunk in matmul.c): 200 rows are then
 * one chunk of 128 and one of 72. Single tokens and short batches of 1001 rows of 2048 values go to both workers in
 * shrinking chunks (take in matmul.c): from 256 rows down to the 128 KiB floor, 16 rows of F32 and 32 of
 * F16, and a last one of 9. */
static void test_matmul_threaded(void) {
    slm_pool *pool = slm_pool_create(2);
    int batches[] = {1, 3, 8, 33};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t bi = 0; bi < 4; bi++)
            for (int with_bias = 0; with_bias < 2; with_bias++) check_matmul(pool, float_types[ti], 200, 96, batches[bi], with_bias);
    for (size_t ti = 1; ti < 3; ti++) check_matmul(pool, float_types[ti], 200, 2048, 520, 0);
    for (size_t ti = 0; ti < 3; ti++)
        for (int n = 1; n <= 3; n += 2) check_matmul(pool, float_types[ti], 1001, 2048, n, 1);
    slm_pool_destroy(pool);
}

/* The F16/BF16 prompt kernel against the scalar matvec reference run per token and a double reference:
 * row counts that leave 1-3 rows after the 4-row tiles, token counts that leave 1-5 after the 6-token
 * tiles and cross a 96-token block, row lengths with a masked tail, a sub-range of rows written alone
 * into a wider output. */
static void test_gemm_half(void) {
    if (!slm_cpu()->avx512) return;
    const int cases[][3] = {{1, 1, 16}, {4, 6, 32}, {7, 13, 67}, {9, 100, 31}, {13, 5, 2048}, {6, 2, 4103}, {37, 97, 48}};
    for (size_t ti = 1; ti < 3; ti++)
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int rows = cases[ci][0], n = cases[ci][1], cols = cases[ci][2], r0 = rows > 2 ? 1 : 0, r1 = rows > 2 ? rows - 1 : rows;
            const size_t ldo = (size_t)rows + 3;
            double *wv = malloc(sizeof(double) * rows * cols);
            slm_mat W;
            void *data = random_mat(&W, float_types[ti], rows, cols, wv);
            float *x = malloc(sizeof(float) * n * cols), *y = malloc(sizeof(float) * n * ldo), *ref = malloc(sizeof(float) * rows);
            for (int i = 0; i < n * cols; i++) x[i] = test_randf();
            for (size_t i = 0; i < (size_t)n * ldo; i++) y[i] = 777.0f;
            slm_gemm_half_avx512(y, ldo, &W, x, n, r0, r1);
            const slm_matvec_kernel *scalar = ti == 1 ? &slm_mv_f16_scalar : &slm_mv_bf16_scalar;
            int bad = 0;
            for (int t = 0; t < n; t++) {
                const float *xt = x + (size_t)t * cols, *yt = y + (size_t)t * ldo;
                scalar->rows(ref, &W, xt, NULL, 0, rows);
                for (int r = 0; r < (int)ldo; r++) {
                    if (r < r0 || r >= r1) {
                        bad += yt[r] != 777.0f;
                        continue;
                    }
                    double scale, exact = exact_dot(wv + (size_t)r * cols, xt, cols, &scale);
                    if (!close_to(yt[r], exact, scale, 1e-6) || !close_to(yt[r], ref[r], scale, 2e-6)) {
                        if (bad++ < 3)
                            CHECK(0, "%s %dx%d, %d tokens, [%d][%d]: %.9g vs scalar %.9g, exact %.9g", slm_dtype_name(W.type),
                                  rows, cols, n, t, r, yt[r], ref[r], exact);
                    }
                }
            }
            CHECK(bad == 0, "%s %dx%d, %d tokens: %d outputs wrong or written outside rows [%d, %d)", slm_dtype_name(W.type), rows,
                  cols, n, bad, r0, r1);
            free(data), free(wv), free(x), free(y), free(ref);
        }
}

/* F16B and BF16B (column blocks of 2048): the scalar reference and the AVX-512 kernel against a double
 * reference, rows written alone in a sub-range, slm_mat_row equal to the row-major values, and the prompt
 * kernel against the row-major layout's. Rows of 4097 columns leave a block of one. */
static void test_col_blocks(void) {
    const int cases[][3] = {{1, 4097, 1}, {7, 6144, 5}, {37, 8242, 13}, {9, 12288, 7}};
    for (int ti = 1; ti < 3; ti++)
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int rows = cases[ci][0], cols = cases[ci][1], n = cases[ci][2];
            double *wv = malloc(sizeof(double) * rows * cols);
            slm_mat P;
            void *data = random_mat(&P, float_types[ti], rows, cols, wv);
            uint16_t *blocks = malloc((size_t)rows * cols * 2);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) blocks[slm_col_block_at(rows, cols, r, c)] = ((const uint16_t *)data)[(size_t)r * cols + c];
            slm_mat B = {.type = ti == 1 ? SLM_F16B : SLM_BF16B, .rows = rows, .cols = cols, .data = blocks};
            float *x = malloc(sizeof(float) * n * cols), *y = malloc(sizeof(float) * (rows + 2)), *row = malloc(sizeof(float) * cols);
            float *yb = malloc(sizeof(float) * n * rows), *yp = malloc(sizeof(float) * n * rows);
            for (int i = 0; i < n * cols; i++) x[i] = test_randf();
            const slm_matvec_kernel *v[3];
            int nv = slm_matvec_variants(B.type, v, 3), bad = 0;
            CHECK(nv >= 1 && v[0]->isa == SLM_ISA_SCALAR, "%s: the scalar reference comes first", slm_dtype_name(B.type));
            float *yscalar = malloc(sizeof(float) * (rows + 2));
            for (int k = 0; k < nv; k++) {
                const int r0 = rows > 2 ? 1 : 0, r1 = rows > 2 ? rows - 1 : rows;
                for (int r = 0; r < rows + 2; r++) y[r] = 777.0f;
                v[k]->rows(y, &B, x, NULL, r0, r1);
                if (k == 0) memcpy(yscalar, y, sizeof(float) * (rows + 2));
                for (int r = 0; r < rows + 2; r++) {
                    if (r < r0 || r >= r1) {
                        bad += y[r] != 777.0f;
                        continue;
                    }
                    double scale, ref = exact_dot(wv + (size_t)r * cols, x, cols, &scale);
                    bad += !close_to(y[r], ref, scale, v[k]->isa == SLM_ISA_SCALAR ? 1e-7 : 1e-6);
                    bad += k > 0 && !close_to(y[r], yscalar[r], scale, 2e-6); /* against the scalar reference */
                }
                CHECK(bad == 0, "%s %dx%d: %d rows wrong or written outside [%d, %d)", v[k]->name, rows, cols, bad, r0, r1);
            }
            for (int r = 0; r < rows; r++) {
                slm_mat_row(&B, r, row);
                for (int c = 0; c < cols; c++) bad += row[c] != (float)wv[(size_t)r * cols + c];
            }
            CHECK(bad == 0, "%s %dx%d: slm_mat_row differs from the row-major values", slm_dtype_name(B.type), rows, cols);
            if (slm_cpu()->avx512) {
                slm_gemm_half_avx512(yb, (size_t)rows, &B, x, n, 0, rows);
                slm_gemm_half_avx512(yp, (size_t)rows, &P, x, n, 0, rows);
                for (int t = 0; t < n; t++)
                    for (int r = 0; r < rows; r++) {
                        double scale;
                        exact_dot(wv + (size_t)r * cols, x + (size_t)t * cols, cols, &scale);
                        bad += !close_to(yb[(size_t)t * rows + r], yp[(size_t)t * rows + r], scale, 2e-6);
                    }
                CHECK(bad == 0, "%s %dx%d, %d tokens: prompt kernel differs from the row-major layout's in %d outputs",
                      slm_dtype_name(B.type), rows, cols, n, bad);
            }
            free(data), free(wv), free(blocks), free(x), free(y), free(row), free(yb), free(yp), free(yscalar);
        }
}

/* The repacked int8 kernel for prompt batches agrees with the scalar reference and with the AVX-512
 * matvec kernel for every token (the integer products are exact; only the float sum rounds differently). */
static void test_gemm_int8(void) {
    if (!slm_cpu()->avx512_vnni) return;
    const int shapes[][2] = {{1, 32}, {5, 96}, {67, 2048}, {9, 160}, {16, 64}, {64, 256}};
    const int batches[] = {1, 2, 3, 4, 5, 9, 17};
    for (int q4 = 0; q4 < 2; q4++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                int rows = shapes[si][0], cols = shapes[si][1], n = batches[bi], nb = cols / SLM_QK;
                float *wf = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * n * cols);
                for (int i = 0; i < rows * cols; i++) wf[i] = test_randf();
                for (int i = 0; i < n * cols; i++) x[i] = test_randf();
                size_t bs = q4 ? sizeof(slm_block_q4_0) : sizeof(slm_block_q8_0);
                void *data = malloc(bs * rows * nb);
                if (q4) slm_quantize_q4_0(data, wf, (size_t)rows * cols);
                else slm_quantize_q8_0(data, wf, (size_t)rows * cols);
                slm_mat W = {.type = q4 ? SLM_Q4_0 : SLM_Q8_0, .rows = rows, .cols = cols, .data = data};
                const slm_matvec_kernel *ref = q4 ? &slm_mv_q4_0_scalar : &slm_mv_q8_0_scalar;
                const slm_matvec_kernel *mv = q4 ? &slm_mv_q4_0_avx512 : &slm_mv_q8_0_avx512;
                size_t pb = (ref->prep_bytes(cols) + 63) & ~(size_t)63;
                char *xp = aligned_alloc(64, pb * n);
                int32_t *isum = malloc(sizeof(int32_t) * n * nb);
                void *pack = aligned_alloc(64, (slm_gemm_int8_pack_bytes(cols) + 63) & ~(size_t)63);
                for (int t = 0; t < n; t++) {
                    ref->prep(xp + (size_t)t * pb, x + (size_t)t * cols, cols);
                    slm_gemm_int8_sums(isum + (size_t)t * nb, xp + (size_t)t * pb, cols);
                }
                float *out = malloc(sizeof(float) * n * rows), *one = malloc(sizeof(float) * rows), *sc = malloc(sizeof(float) * rows);
                for (int i = 0; i < n * rows; i++) out[i] = NAN;
                for (int r = 0; r < rows; r += SLM_GEMM_INT8_ROWS) {
                    int r1 = r + SLM_GEMM_INT8_ROWS < rows ? r + SLM_GEMM_INT8_ROWS : rows;
                    slm_gemm_int8_avx512(out, (size_t)rows, &W, xp, pb, isum, n, r, r1, pack);
                }
                int far = 0, off = 0;
                for (int t = 0; t < n; t++) {
                    mv->rows(one, &W, x + (size_t)t * cols, xp + (size_t)t * pb, 0, rows);
                    ref->rows(sc, &W, x + (size_t)t * cols, xp + (size_t)t * pb, 0, rows);
                    for (int r = 0; r < rows; r++) {
                        double scale = 0;
                        for (int c = 0; c < cols; c++) scale += fabs(wf[(size_t)r * cols + c] * x[(size_t)t * cols + c]);
                        float y = out[(size_t)t * rows + r];
                        far += !(fabs(y - sc[r]) <= 1e-6 * scale + 1e-30);
                        off += !(fabs(y - one[r]) <= 1e-6 * scale + 1e-30);
                    }
                }
                CHECK(far == 0 && off == 0, "%s %dx%d n=%d: %d outputs away from the scalar reference, %d from %s",
                      q4 ? "q4_0" : "q8_0", rows, cols, n, far, off, mv->name);
                /* a sub-range of rows leaves the others alone */
                if (rows > 4) {
                    for (int i = 0; i < n * rows; i++) out[i] = 99.0f;
                    slm_gemm_int8_avx512(out, (size_t)rows, &W, xp, pb, isum, n, 1, rows - 1 < 65 ? rows - 1 : 64, pack);
                    for (int t = 0; t < n; t++) CHECK(out[(size_t)t * rows] == 99.0f, "row 0 written");
                    if (rows <= 65)
                        for (int t = 0; t < n; t++) CHECK(out[(size_t)t * rows + rows - 1] == 99.0f, "last row written");
                }
                free(wf);
                free(x);
                free(data);
                free(xp);
                free(isum);
                free(pack);
                free(out);
                free(one);
                free(sc);
            }
}

/* Attention of nq heads over rows [start, end) of K, V (floats or halves), in double. */
static void attention_ref(double *out, const float *q, int nq, const double *K, const double *V, int start, int end,
                          int hd, double scale) {
    for (int h = 0; h < nq; h++) {
        double max = -INFINITY, sum = 0;
        double *s = malloc(sizeof(double) * (end - start));
        for (int p = start; p < end; p++) {
            double d = 0;
            for (int i = 0; i < hd; i++) d += (double)q[h * hd + i] * K[(size_t)p * hd + i];
            s[p - start] = d * scale;
            if (s[p - start] > max) max = s[p - start];
        }
        for (int p = 0; p < end - start; p++) sum += s[p] = exp(s[p] - max);
        for (int i = 0; i < hd; i++) {
            double a = 0;
            for (int p = start; p < end; p++) a += s[p - start] / sum * V[(size_t)p * hd + i];
            out[h * hd + i] = a;
        }
        free(s);
    }
}

static void test_attention_variants(void) {
    const int hds[] = {8, 12, 64, 80, 96, 128};
    const int nqs[] = {1, 4, 7};
    const int ranges[][2] = {{0, 1}, {0, 17}, {5, 100}, {0, 300}};
    const slm_attention_kernel *v[3];
    int nv = slm_attention_variants(v, 3);
    CHECK(nv >= 1 && v[0]->isa == SLM_ISA_SCALAR, "scalar attention first");
    for (int f16 = 0; f16 < 2; f16++)
        for (size_t a = 0; a < sizeof hds / sizeof hds[0]; a++)
            for (size_t b = 0; b < sizeof nqs / sizeof nqs[0]; b++)
                for (size_t c = 0; c < sizeof ranges / sizeof ranges[0]; c++) {
                    int hd = hds[a], nq = nqs[b], start = ranges[c][0], end = ranges[c][1];
                    size_t nkv = (size_t)end * hd;
                    float *q = malloc(sizeof(float) * nq * hd), *out = malloc(sizeof(float) * nq * hd);
                    float *scores = malloc(sizeof(float) * nq * (end - start));
                    void *K = malloc(nkv * 4), *V = malloc(nkv * 4);
                    double *Kd = malloc(sizeof(double) * nkv), *Vd = malloc(sizeof(double) * nkv), *ref = malloc(sizeof(double) * nq * hd);
                    for (int i = 0; i < nq * hd; i++) q[i] = 2 * test_randf();
                    for (size_t i = 0; i < nkv; i++) {
                        float kf = 2 * test_randf(), vf = test_randf();
                        if (f16) {
                            ((uint16_t *)K)[i] = slm_f32_to_f16(kf);
                            ((uint16_t *)V)[i] = slm_f32_to_f16(vf);
                            Kd[i] = slm_f16_to_f32(((uint16_t *)K)[i]);
                            Vd[i] = slm_f16_to_f32(((uint16_t *)V)[i]);
                        } else {
                            ((float *)K)[i] = kf;
                            ((float *)V)[i] = vf;
                            Kd[i] = kf;
                            Vd[i] = vf;
                        }
                    }
                    float scale = 1.0f / sqrtf((float)hd);
                    attention_ref(ref, q, nq, Kd, Vd, start, end, hd, scale);
                    for (int k = 0; k < nv; k++) {
                        for (int i = 0; i < nq * hd; i++) out[i] = NAN;
                        v[k]->attend(out, q, nq, K, V, f16, start, end, hd, scale, scores);
                        double worst = 0;
                        for (int i = 0; i < nq * hd; i++) {
                            double e = fabs(out[i] - ref[i]);
                            if (!(e <= worst)) worst = e; /* NaN counts as the worst */
                        }
                        CHECK(worst < 2e-6, "%s f16=%d hd=%d nq=%d [%d,%d): max error %.3g", v[k]->name, f16, hd, nq, start,
                              end, worst);
                    }
                    free(q);
                    free(out);
                    free(scores);
                    free(K);
                    free(V);
                    free(Kd);
                    free(Vd);
                    free(ref);
                }
}

static void test_attention_store(void) {
    const slm_attention_kernel *v[3];
    int nv = slm_attention_variants(v, 3);
    int n = 77;
    float src[77];
    for (int i = 0; i < n; i++) src[i] = test_randf() * (i % 5 == 0 ? 1e-6f : i % 7 == 0 ? 7e4f : 3.0f);
    src[3] = 0.0f;
    src[4] = -0.0f;
    for (int k = 0; k < nv; k++) {
        uint16_t h[78];
        float f[78];
        h[n] = 0xBEEF;
        f[n] = 4321.0f;
        v[k]->store(h, src, n, 1);
        v[k]->store(f, src, n, 0);
        for (int i = 0; i < n; i++) {
            CHECK(h[i] == slm_f32_to_f16(src[i]), "%s f16 [%d]: %04x vs %04x (%g)", v[k]->name, i, h[i], slm_f32_to_f16(src[i]), src[i]);
            CHECK(f[i] == src[i], "%s f32 [%d]", v[k]->name, i);
        }
        CHECK(h[n] == 0xBEEF && f[n] == 4321.0f, "%s wrote past n", v[k]->name);
    }
}

static void test_rmsnorm(void) {
    int n = 3, dim = 131;
    float x[3 * 131], w[131], out[3 * 131];
    for (int i = 0; i < n * dim; i++) x[i] = 3 * test_randf();
    for (int i = 0; i < dim; i++) w[i] = test_randf();
    slm_rmsnorm(out, x, w, n, dim, 1e-5f);
    for (int t = 0; t < n; t++) {
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)x[t * dim + i] * x[t * dim + i];
        double s = 1 / sqrt(ss / dim + 1e-5);
        for (int i = 0; i < dim; i++) {
            double ref = x[t * dim + i] * s * w[i];
            CHECK(fabs(out[t * dim + i] - ref) <= 1e-6 * (fabs(ref) + 1e-3), "rmsnorm [%d][%d]: %g vs %g", t, i, out[t * dim + i], ref);
        }
    }
}

static void test_rope(void) {
    int n = 4, heads = 3, hd = 16, rot = 16, pos0 = 1000;
    float inv[8], cos_t[4 * 8], sin_t[4 * 8], x[4 * 3 * 16], x0[4 * 3 * 16];
    for (int i = 0; i < rot / 2; i++) inv[i] = powf(10000.0f, -2.0f * i / rot);
    slm_rope_table(cos_t, sin_t, inv, rot, pos0, n);
    for (int i = 0; i < n * heads * hd; i++) x0[i] = x[i] = test_randf();
    slm_rope(x, cos_t, sin_t, n, heads, hd, rot);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < rot / 2; i++) {
                double ang = (double)(float)((float)(pos0 + t) * inv[i]);
                const float *a = x0 + (t * heads + h) * hd;
                double r0 = a[i] * cos(ang) - a[i + rot / 2] * sin(ang), r1 = a[i + rot / 2] * cos(ang) + a[i] * sin(ang);
                const float *b = x + (t * heads + h) * hd;
                CHECK(fabs(b[i] - r0) < 1e-6 && fabs(b[i + rot / 2] - r1) < 1e-6, "rope t=%d h=%d i=%d", t, h, i);
            }
}

/* Each variant against a double reference, over gates from -100 to 100 (where e^-g overflows) and the
 * values a feed-forward sees; a length of 1000 leaves the AVX-512 variant a masked tail of 8. */
static void test_swiglu_add(void) {
    int n = 1000;
    float *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float)), *o = malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) {
        g[i] = i < 100 ? -100.0f + 2.0f * i + test_randf() : 10 * test_randf();
        u[i] = test_randf();
    }
    struct { const char *name; void (*fn)(float *, const float *, const float *, int); int ok; } v[] = {
        {"scalar", slm_swiglu_scalar, 1}, {"avx512", slm_swiglu_avx512, slm_cpu()->avx512}, {"best", slm_swiglu, 1}};
    for (int k = 0; k < 3; k++) {
        if (!v[k].ok) continue;
        for (int i = 0; i < n; i++) o[i] = NAN;
        v[k].fn(o, g, u, n);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            double ref = g[i] / (1 + exp(-(double)g[i])) * u[i];
            if (!(fabs(o[i] - ref) <= 1e-6 * fabs(ref) + 1e-30)) {
                if (!bad++) CHECK(0, "swiglu %s [%d]: g %g: %g vs %g", v[k].name, i, g[i], o[i], ref);
            }
        }
        CHECK(bad == 0, "swiglu %s: %d of %d values off", v[k].name, bad, n);
    }
    if (slm_cpu()->avx512) {
        /* against the scalar reference kernel, element by element */
        float *ref = malloc(n * sizeof(float));
        slm_swiglu_scalar(ref, g, u, n);
        slm_swiglu_avx512(o, g, u, n);
        int off = 0;
        for (int i = 0; i < n; i++) off += !(fabsf(o[i] - ref[i]) <= 1e-6f * fabsf(ref[i]) + 1e-30f);
        CHECK(off == 0, "swiglu avx512: %d of %d values beyond 1e-6 relative of swiglu scalar", off, n);
        free(ref);
        /* a thread's share of the row may start anywhere: each value must come out the same */
        float *o2 = malloc(n * sizeof(float));
        slm_swiglu_avx512(o, g, u, n);
        slm_swiglu_avx512(o2, g, u, 5);
        slm_swiglu_avx512(o2 + 5, g + 5, u + 5, n - 5);
        CHECK(memcmp(o, o2, n * sizeof(float)) == 0, "swiglu avx512: results depend on the split of the row");
        free(o2);
    }
    memcpy(o, g, n * sizeof(float));
    slm_add(o, u, n);
    for (int i = 0; i < n; i++) CHECK(o[i] == g[i] + u[i], "add [%d]", i);
    free(g);
    free(u);
    free(o);
}

/* The backend op end to end: a prompt then decode steps, GQA, a sliding window, f32 and f16 caches,
 * against the double reference over the cached (rounded) values. */
static void test_backend_attention_f16(void) {
    enum { HEADS = 8, KV = 2, HD = 64, CTX = 96, PROMPT = 40, STEPS = 5 };
    for (int window = 0; window <= 30; window += 30)
        for (int f16 = 0; f16 < 2; f16++) {
            slm_backend *b = slm_backend_cpu(2);
            b->kv_f16 = f16;
            slm_config c = {0};
            c.n_layers = 2;
            c.n_heads = HEADS;
            c.n_kv_heads = KV;
            c.head_dim = HD;
            c.sliding_window = window;
            slm_kv *kv = b->kv_new(b, &c, CTX);
            CHECK(kv != NULL, "kv_new");
            double *Kd = calloc((size_t)KV * CTX * HD, sizeof(double)), *Vd = calloc((size_t)KV * CTX * HD, sizeof(double));
            float *q = malloc(sizeof(float) * PROMPT * HEADS * HD), *k = malloc(sizeof(float) * PROMPT * KV * HD);
            float *v = malloc(sizeof(float) * PROMPT * KV * HD), *out = malloc(sizeof(float) * PROMPT * HEADS * HD);
            double *ref = malloc(sizeof(double) * HEADS * HD);
            int pos = 0;
            for (int step = 0; step <= STEPS; step++) {
                int n = step == 0 ? PROMPT : 1;
                for (int i = 0; i < n * HEADS * HD; i++) q[i] = 2 * test_randf();
                for (int i = 0; i < n * KV * HD; i++) {
                    k[i] = 2 * test_randf();
                    v[i] = test_randf();
                }
                for (int t = 0; t < n; t++)
                    for (int g = 0; g < KV; g++)
                        for (int i = 0; i < HD; i++) {
                            float kf = k[(t * KV + g) * HD + i], vf = v[(t * KV + g) * HD + i];
                            size_t at = ((size_t)g * CTX + pos + t) * HD + i;
                            Kd[at] = f16 ? slm_f16_to_f32(slm_f32_to_f16(kf)) : kf;
                            Vd[at] = f16 ? slm_f16_to_f32(slm_f32_to_f16(vf)) : vf;
                        }
                b->attention(b, kv, 1, out, q, k, v, n, pos);
                double worst = 0;
                for (int t = 0; t < n; t++) {
                    int p = pos + t, start = window > 0 && p + 1 > window ? p + 1 - window : 0;
                    for (int g = 0; g < KV; g++) {
                        int group = HEADS / KV;
                        attention_ref(ref, q + ((size_t)t * HEADS + g * group) * HD, group, Kd + (size_t)g * CTX * HD,
                                      Vd + (size_t)g * CTX * HD, start, p + 1, HD, 1.0 / sqrt(HD));
                        for (int i = 0; i < group * HD; i++) {
                            double e = fabs(out[((size_t)t * HEADS + g * group) * HD + i] - ref[i]);
                            if (!(e <= worst)) worst = e;
                        }
                    }
                }
                CHECK(worst < 2e-6, "kv f16=%d window=%d step %d: max error %.3g", f16, window, step, worst);
                pos += n;
            }
            b->kv_free(b, kv);
            b->destroy(b);
            free(Kd);
            free(Vd);
            free(q);
            free(k);
            free(v);
            free(out);
            free(ref);
        }
}

int main(void) {
    RUN(test_matvec_float_variants);
    RUN(test_float_rows_variants);
    RUN(test_float_rows_nf4);
    RUN(test_matmul_threaded);
    RUN(test_gemm_half);
    RUN(test_col_blocks);
    RUN(test_gemm_int8);
    RUN(test_attention_variants);
    RUN(test_attention_store);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_swiglu_add);
    RUN(test_backend_attention_f16);
    return test_summary();
}
