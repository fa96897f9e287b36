/* AVX2/FMA matrix-vector kernels for F32, F16 (F16C) and BF16 weights; the tail of a row runs scalar. */
#include <immintrin.h>

#include "hsum.h"
#include "matmul.h"

static inline __m256 load_f32(const void *p) { return _mm256_loadu_ps(p); }
static inline __m256 load_f16(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128(p)); }
static inline __m256 load_bf16(const void *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
}

static inline float scalar_f32(const void *p, int c) { return ((const float *)p)[c]; }
static inline float scalar_f16(const void *p, int c) { return slm_f16_to_f32(((const uint16_t *)p)[c]); }
static inline float scalar_bf16(const void *p, int c) { return slm_bf16_to_f32(((const uint16_t *)p)[c]); }

/* One body, three element types: the load functions are inlined into each instance. When x fits in
 * L1 beside the stream (up to 16 KiB), rows go one at a time, a single sequential stream for the
 * prefetchers; a longer x would be fetched again for every row, so then four rows share each load. */
static inline __attribute__((always_inline)) void rows_generic(float *y, const slm_mat *W, const float *x, int r0, int r1, size_t esize,
                                __m256 (*load)(const void *), float (*scalar)(const void *, int)) {
    const char *base = W->data;
    int cols = W->cols, c32 = cols & ~31, c8 = cols & ~7, r = r0;
    size_t stride = (size_t)cols * esize;
    if ((size_t)cols * sizeof(float) > 16384)
        for (; r + 4 <= r1; r += 4) {
            const char *w0 = base + (size_t)r * stride, *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            for (int c = 0; c < c8; c += 8) {
                __m256 xv = _mm256_loadu_ps(x + c);
                a0 = _mm256_fmadd_ps(load(w0 + c * esize), xv, a0);
                a1 = _mm256_fmadd_ps(load(w1 + c * esize), xv, a1);
                a2 = _mm256_fmadd_ps(load(w2 + c * esize), xv, a2);
                a3 = _mm256_fmadd_ps(load(w3 + c * esize), xv, a3);
            }
            float s0 = slm_hsum256(a0), s1 = slm_hsum256(a1), s2 = slm_hsum256(a2), s3 = slm_hsum256(a3);
            for (int c = c8; c < cols; c++) {
                s0 += scalar(w0, c) * x[c];
                s1 += scalar(w1, c) * x[c];
                s2 += scalar(w2, c) * x[c];
                s3 += scalar(w3, c) * x[c];
            }
            y[r] = s0;
            y[r + 1] = s1;
            y[r + 2] = s2;
            y[r + 3] = s3;
        }
    for (; r < r1; r++) {
        const char *w = base + (size_t)r * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int c = 0;
        for (; c < c32; c += 32) {
            a0 = _mm256_fmadd_ps(load(w + c * esize), _mm256_loadu_ps(x + c), a0);
            a1 = _mm256_fmadd_ps(load(w + (c + 8) * esize), _mm256_loadu_ps(x + c + 8), a1);
            a2 = _mm256_fmadd_ps(load(w + (c + 16) * esize), _mm256_loadu_ps(x + c + 16), a2);
            a3 = _mm256_fmadd_ps(load(w + (c + 24) * esize), _mm256_loadu_ps(x + c + 24), a3);
        }
        for (; c < c8; c += 8) a0 = _mm256_fmadd_ps(load(w + c * esize), _mm256_loadu_ps(x + c), a0);
        float s = slm_hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; c < cols; c++) s += scalar(w, c) * x[c];
        y[r] = s;
    }
}

static void rows_f32(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_generic(y, W, x, r0, r1, 4, load_f32, scalar_f32);
}
static void rows_f16(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_generic(y, W, x, r0, r1, 2, load_f16, scalar_f16);
}
static void rows_bf16(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_generic(y, W, x, r0, r1, 2, load_bf16, scalar_bf16);
}

/* Rows as floats for the sgemm tiles of prompt batches: 8 values per conversion, scalar tail. */
static inline void convert(float *dst, const void *src, size_t n, size_t esize, __m256 (*load)(const void *),
                           float (*scalar)(const void *, int)) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load((const char *)src + i * esize));
    for (; i < n; i++) dst[i] = scalar(src, (int)i);
}

static void float_rows_f32(float *dst, const slm_mat *W, int r0, int r1) {
    size_t c = (size_t)W->cols;
    convert(dst, (const float *)W->data + r0 * c, (size_t)(r1 - r0) * c, 4, load_f32, scalar_f32);
}
static void float_rows_f16(float *dst, const slm_mat *W, int r0, int r1) {
    size_t c = (size_t)W->cols;
    convert(dst, (const uint16_t *)W->data + r0 * c, (size_t)(r1 - r0) * c, 2, load_f16, scalar_f16);
}
static void float_rows_bf16(float *dst, const slm_mat *W, int r0, int r1) {
    size_t c = (size_t)W->cols;
    convert(dst, (const uint16_t *)W->data + r0 * c, (size_t)(r1 - r0) * c, 2, load_bf16, scalar_bf16);
}

void slm_float_rows_avx2(float *dst, const slm_mat *W, int r0, int r1) {
    if (W->type == SLM_F32) float_rows_f32(dst, W, r0, r1);
    else if (W->type == SLM_F16) float_rows_f16(dst, W, r0, r1);
    else if (W->type == SLM_BF16) float_rows_bf16(dst, W, r0, r1);
    else slm_float_rows_scalar(dst, W, r0, r1);
}

const slm_matvec_kernel slm_mv_f32_avx2 = {"f32/avx2", SLM_ISA_AVX2, NULL, NULL, rows_f32};
const slm_matvec_kernel slm_mv_f16_avx2 = {"f16/avx2", SLM_ISA_AVX2, NULL, NULL, rows_f16};
const slm_matvec_kernel slm_mv_bf16_avx2 = {"bf16/avx2", SLM_ISA_AVX2, NULL, NULL, rows_bf16};
