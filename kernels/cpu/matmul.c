/* Dispatch of matrix products to the per-format kernels, and the threading around them. */
#include "matmul.h"

#include "quant.h"

#include <cblas.h>
#include <stdint.h>
#include <string.h>

/* Every variant of every format, scalar reference first within a format. */
static const slm_matvec_kernel *const all_variants[SLM_NTYPES][3] = {
    [SLM_F32] = {&slm_mv_f32_scalar, &slm_mv_f32_avx2, &slm_mv_f32_avx512},
    [SLM_F16] = {&slm_mv_f16_scalar, &slm_mv_f16_avx2, &slm_mv_f16_avx512},
    [SLM_BF16] = {&slm_mv_bf16_scalar, &slm_mv_bf16_avx2, &slm_mv_bf16_avx512},
    /* quantized formats */
    [SLM_Q8_0] = {&slm_mv_q8_0_scalar, &slm_mv_q8_0_avx2, &slm_mv_q8_0_avx512},
    [SLM_Q4_0] = {&slm_mv_q4_0_scalar, &slm_mv_q4_0_avx2, &slm_mv_q4_0_avx512},
    [SLM_NF4] = {&slm_mv_nf4_scalar, &slm_mv_nf4_avx2, &slm_mv_nf4_avx512},
};

int slm_matvec_variants(slm_dtype t, const slm_matvec_kernel **out, int max) {
    int n = 0;
    if ((unsigned)t >= SLM_NTYPES) return 0;
    const slm_cpu_features *f = slm_cpu();
    for (int i = 0; i < 3 && n < max; i++) {
        const slm_matvec_kernel *k = all_variants[t][i];
        if (!k) continue;
        if (k->isa == SLM_ISA_AVX2 && !f->avx2_fma) continue;
        if (k->isa == SLM_ISA_AVX512 && !f->avx512) continue;
        out[n++] = k;
    }
    return n;
}

const slm_matvec_kernel *slm_matvec_best(slm_dtype t) {
    static const slm_matvec_kernel *cache[SLM_NTYPES];
    if ((unsigned)t >= SLM_NTYPES) return NULL;
    if (!cache[t]) {
        const slm_matvec_kernel *v[3];
        int n = slm_matvec_variants(t, v, 3);
        slm_isa cap = slm_isa_best();
        const slm_matvec_kernel *best = NULL;
        for (int i = 0; i < n; i++)
            if (v[i]->isa <= cap) best = v[i];
        cache[t] = best;
    }
    return cache[t];
}

/* Batches at least this long use sgemm on float weights; shorter ones stream the weights per token. */
enum { GEMM_MIN_BATCH = 4, GEMM_TILE_ROWS = 64, ROW_CHUNK = 16, SMALL_WORK = 1 << 16 };

static int is_float(slm_dtype t) { return t == SLM_F32 || t == SLM_F16 || t == SLM_BF16; }
static int use_gemm(const slm_mat *W, int n) { return n >= GEMM_MIN_BATCH && is_float(W->type); }

static size_t align64(size_t b) { return (b + 63) & ~(size_t)63; }

static size_t per_thread_scratch(const slm_mat *W, int n) {
    if (use_gemm(W, n)) return align64((size_t)GEMM_TILE_ROWS * (size_t)W->cols * sizeof(float));
    const slm_matvec_kernel *k = slm_matvec_best(W->type);
    return k && k->prep_bytes ? align64(k->prep_bytes(W->cols)) * (size_t)n : 0;
}

size_t slm_matmul_scratch_bytes(const slm_mat *W, int n, int nthreads) {
    return per_thread_scratch(W, n) * (size_t)(nthreads < 1 ? 1 : nthreads) + 64;
}

void slm_mat_row(const slm_mat *W, int r, float *dst) {
    size_t c = (size_t)W->cols;
    switch (W->type) {
    case SLM_F32: memcpy(dst, (const float *)W->data + (size_t)r * c, c * sizeof(float)); break;
    case SLM_F16: {
        const uint16_t *s = (const uint16_t *)W->data + (size_t)r * c;
        for (size_t i = 0; i < c; i++) dst[i] = slm_f16_to_f32(s[i]);
        break;
    }
    case SLM_BF16: {
        const uint16_t *s = (const uint16_t *)W->data + (size_t)r * c;
        for (size_t i = 0; i < c; i++) dst[i] = slm_bf16_to_f32(s[i]);
        break;
    }
    case SLM_Q8_0:
    case SLM_Q4_0:
    case SLM_NF4: slm_quant_row(W, r, dst); break;
    default: memset(dst, 0, c * sizeof(float)); break;
    }
}

typedef struct {
    float *out;
    const float *x;
    int n;
    const slm_mat *W;
    const float *bias;
    char *scratch;
    size_t scratch_each;
} matmul_job;

static void add_bias(float *out, const float *bias, int r0, int r1) {
    for (int r = r0; r < r1; r++) out[r] += bias[r];
}

static void gemm_worker(void *ctx, int i, int nth) {
    matmul_job *j = ctx;
    const slm_mat *W = j->W;
    int r0, r1, cols = W->cols;
    slm_split(W->rows, GEMM_TILE_ROWS, i, nth, &r0, &r1);
    float *tile = (float *)(j->scratch + (size_t)i * j->scratch_each);
    for (int r = r0; r < r1; r += GEMM_TILE_ROWS) {
        int tr = r1 - r < GEMM_TILE_ROWS ? r1 - r : GEMM_TILE_ROWS;
        const float *w;
        if (W->type == SLM_F32) {
            w = (const float *)W->data + (size_t)r * cols;
        } else {
            for (int k = 0; k < tr; k++) slm_mat_row(W, r + k, tile + (size_t)k * cols);
            w = tile;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, tr, cols, 1.0f, j->x, cols, w, cols, 0.0f,
                    j->out + r, W->rows);
    }
    if (j->bias)
        for (int t = 0; t < j->n; t++) add_bias(j->out + (size_t)t * W->rows, j->bias, r0, r1);
}

static void matvec_worker(void *ctx, int i, int nth) {
    matmul_job *j = ctx;
    const slm_mat *W = j->W;
    const slm_matvec_kernel *k = slm_matvec_best(W->type);
    int r0, r1, cols = W->cols;
    slm_split(W->rows, ROW_CHUNK, i, nth, &r0, &r1);
    if (r0 >= r1) return;
    size_t pb = k->prep_bytes ? align64(k->prep_bytes(cols)) : 0;
    char *prep = j->scratch + (size_t)i * j->scratch_each;
    if (pb)
        for (int t = 0; t < j->n; t++) k->prep(prep + (size_t)t * pb, j->x + (size_t)t * cols, cols);
    /* Chunks of rows stay in cache while every token of the batch passes over them. */
    for (int r = r0; r < r1; r += ROW_CHUNK) {
        int re = r + ROW_CHUNK < r1 ? r + ROW_CHUNK : r1;
        for (int t = 0; t < j->n; t++) {
            float *y = j->out + (size_t)t * W->rows;
            k->rows(y, W, j->x + (size_t)t * cols, pb ? prep + (size_t)t * pb : NULL, r, re);
            if (j->bias) add_bias(y, j->bias, r, re);
        }
    }
}

void slm_matmul(slm_pool *pool, float *out, const float *x, int n, const slm_mat *W, const float *bias, void *scratch) {
    matmul_job j = {out, x, n, W, bias, NULL, per_thread_scratch(W, n)};
    j.scratch = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    slm_pool_fn fn = use_gemm(W, n) ? gemm_worker : matvec_worker;
    /* Waking the other workers costs more than a tiny product takes. */
    if ((size_t)W->rows * (size_t)W->cols * (size_t)n < SMALL_WORK) fn(&j, 0, 1);
    else slm_pool_run(pool, fn, &j);
}
