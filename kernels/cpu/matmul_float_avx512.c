/* AVX-512 matrix-vector kernels for F32, F16 and BF16 weights; the row tail uses masked loads. */
#include <immintrin.h>

#include "matmul.h"

/* Sixteen weights as floats; a mask of all ones compiles to plain loads, which stream faster than
 * masked ones. */
static inline __m512 load_f32(const void *p, __mmask16 m) {
    return m == 0xffff ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
static inline __m512 load_f16(const void *p, __mmask16 m) {
    __m256i h = m == 0xffff ? _mm256_loadu_si256(p) : _mm256_maskz_loadu_epi16(m, p);
    return _mm512_cvtph_ps(h);
}
static inline __m512 load_bf16(const void *p, __mmask16 m) {
    __m256i h = m == 0xffff ? _mm256_loadu_si256(p) : _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* y[i] = row w[i] · x for the n rows given (n is a constant where this is inlined): 32 columns per step in
 * two accumulators per row, then a masked tail. */
static inline __attribute__((always_inline)) void dot_rows(float *const *y, const char *const *w, int n, const float *x, int cols,
                                                           size_t esize, __m512 (*load)(const void *, __mmask16), int add) {
    int c32 = cols & ~31, c = 0;
    __m512 a[8][2];
#pragma GCC unroll 8
    for (int i = 0; i < n; i++) a[i][0] = a[i][1] = _mm512_setzero_ps();
    for (; c < c32; c += 32) {
        __m512 x0 = _mm512_loadu_ps(x + c), x1 = _mm512_loadu_ps(x + c + 16);
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) {
            a[i][0] = _mm512_fmadd_ps(load(w[i] + c * esize, 0xffff), x0, a[i][0]);
            a[i][1] = _mm512_fmadd_ps(load(w[i] + (c + 16) * esize, 0xffff), x1, a[i][1]);
        }
    }
    for (; c < cols; c += 16) {
        __mmask16 m = cols - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - c)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) a[i][0] = _mm512_fmadd_ps(load(w[i] + c * esize, m), xv, a[i][0]);
    }
#pragma GCC unroll 8
    for (int i = 0; i < n; i++) *y[i] = (add ? *y[i] : 0.0f) + _mm512_reduce_add_ps(_mm512_add_ps(a[i][0], a[i][1]));
}

/* Rows up to 4096 columns (x fits in L1 beside the streams, up to 16 KiB) go four at a time, a quarter of
 * the range apart: four sequential streams, each row's own. One row at a time, a single stream, read
 * 2048-column F16 rows at 19-20 GB/s from DRAM on a Zen 4 core; two rows half the range apart at 25,
 * four at 27 (where a plain read reaches 29-31), eight at 21. Longer rows would evict x and fetch it
 * again per row, so there eight neighbouring rows share each load of x (measured: one row at a time
 * reads 8192-column rows at 40% of the bandwidth; eight at a time at 83%, four at 68%). Even so they read
 * 23-25 GB/s where 2048-column rows read 30-31; held in blocks of 2048 columns (F16B, BF16B, rows_blocked),
 * each block is read as short rows are, with its 8 KiB of x. */
enum { ROWS_APART = 4, ROWS_AT_ONCE = 8 };

/* Rows [r0, r1) of the row-major matrix at base (cols values a row) into y, or added to y. */
static inline __attribute__((always_inline)) void rows_at(float *y, const char *base, int cols, const float *x, int r0, int r1,
                                                          size_t esize, __m512 (*load)(const void *, __mmask16), int add) {
    int r = r0;
    size_t stride = (size_t)cols * esize;
    const char *w[ROWS_AT_ONCE];
    float *yy[ROWS_AT_ONCE];
    if ((size_t)cols * sizeof(float) <= 16384) {
        int part = (r1 - r0) / ROWS_APART;
        for (; r < r0 + part; r++) {
            for (int i = 0; i < ROWS_APART; i++) {
                w[i] = base + (size_t)(r + i * part) * stride;
                yy[i] = &y[r + i * part];
            }
            dot_rows(yy, w, ROWS_APART, x, cols, esize, load, add);
        }
        r = r0 + part * ROWS_APART;
    } else {
        for (; r + ROWS_AT_ONCE <= r1; r += ROWS_AT_ONCE) {
            for (int i = 0; i < ROWS_AT_ONCE; i++) {
                w[i] = base + (size_t)(r + i) * stride;
                yy[i] = &y[r + i];
            }
            dot_rows(yy, w, ROWS_AT_ONCE, x, cols, esize, load, add);
        }
    }
    for (; r < r1; r++) {
        w[0] = base + (size_t)r * stride;
        yy[0] = &y[r];
        dot_rows(yy, w, 1, x, cols, esize, load, add);
    }
}

static inline __attribute__((always_inline)) void rows_generic(float *y, const slm_mat *W, const float *x, int r0, int r1, size_t esize,
                                                               __m512 (*load)(const void *, __mmask16)) {
    rows_at(y, W->data, W->cols, x, r0, r1, esize, load, 0);
}

/* F16B and BF16B (tensor.h): each block of 2048 columns is a row-major matrix of its own, read as rows up to
 * 4096 columns are, with its 8 KiB of activations; the blocks' sums add up in y. */
static inline __attribute__((always_inline)) void rows_blocked(float *y, const slm_mat *W, const float *x, int r0, int r1,
                                                               __m512 (*load)(const void *, __mmask16)) {
    const char *base = W->data;
    for (int b = 0; b * SLM_COL_BLOCK < W->cols; b++) {
        const int width = slm_col_block_width(W->cols, b);
        const char *block = base + (size_t)W->rows * b * SLM_COL_BLOCK * 2;
        rows_at(y, block, width, x + (size_t)b * SLM_COL_BLOCK, r0, r1, 2, load, b > 0);
    }
}

static void rows_f16b(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_blocked(y, W, x, r0, r1, load_f16);
}
static void rows_bf16b(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_blocked(y, W, x, r0, r1, load_bf16);
}

static void rows_f32(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_generic(y, W, x, r0, r1, 4, load_f32);
}
static void rows_f16(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_generic(y, W, x, r0, r1, 2, load_f16);
}
static void rows_bf16(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_generic(y, W, x, r0, r1, 2, load_bf16);
}

/* Rows as floats for the sgemm tiles of prompt batches: 16 values per conversion, masked tail. */
static inline void convert(float *dst, const void *src, size_t n, size_t esize, __m512 (*load)(const void *, __mmask16)) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load((const char *)src + i * esize, 0xffff));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, load((const char *)src + i * esize, m));
    }
}

static void float_rows_f32(float *dst, const slm_mat *W, int r0, int r1) {
    size_t c = (size_t)W->cols;
    convert(dst, (const float *)W->data + r0 * c, (size_t)(r1 - r0) * c, 4, load_f32);
}
static void float_rows_f16(float *dst, const slm_mat *W, int r0, int r1) {
    size_t c = (size_t)W->cols;
    convert(dst, (const uint16_t *)W->data + r0 * c, (size_t)(r1 - r0) * c, 2, load_f16);
}
static void float_rows_bf16(float *dst, const slm_mat *W, int r0, int r1) {
    size_t c = (size_t)W->cols;
    convert(dst, (const uint16_t *)W->data + r0 * c, (size_t)(r1 - r0) * c, 2, load_bf16);
}

void slm_float_rows_avx512(float *dst, const slm_mat *W, int r0, int r1) {
    if (W->type == SLM_F32) float_rows_f32(dst, W, r0, r1);
    else if (W->type == SLM_F16) float_rows_f16(dst, W, r0, r1);
    else if (W->type == SLM_BF16) float_rows_bf16(dst, W, r0, r1);
    else slm_nf4_rows_avx512(dst, W, r0, r1);
}

const slm_matvec_kernel slm_mv_f32_avx512 = {"f32/avx512", SLM_ISA_AVX512, NULL, NULL, rows_f32};
const slm_matvec_kernel slm_mv_f16_avx512 = {"f16/avx512", SLM_ISA_AVX512, NULL, NULL, rows_f16};
const slm_matvec_kernel slm_mv_bf16_avx512 = {"bf16/avx512", SLM_ISA_AVX512, NULL, NULL, rows_bf16};
const slm_matvec_kernel slm_mv_f16b_avx512 = {"f16b/avx512", SLM_ISA_AVX512, NULL, NULL, rows_f16b};
const slm_matvec_kernel slm_mv_bf16b_avx512 = {"bf16b/avx512", SLM_ISA_AVX512, NULL, NULL, rows_bf16b};
