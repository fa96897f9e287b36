/* AVX-512 matrix-vector kernels for F32, F16 and BF16 weights.
 * Four rows at a time share each load of x; the row tail uses masked loads. */
#include <immintrin.h>

#include "matmul.h"

static inline __m512 load_f32(const void *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load_f16(const void *p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
static inline __m512 load_bf16(const void *p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

static inline void rows_generic(float *y, const slm_mat *W, const float *x, int r0, int r1, size_t esize,
                                __m512 (*load)(const void *, __mmask16)) {
    const char *base = W->data;
    int cols = W->cols;
    size_t stride = (size_t)cols * esize;
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const char *w0 = base + (size_t)r * stride, *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int c = 0; c < cols; c += 16) {
            __mmask16 m = cols - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - c)) - 1);
            __m512 xv = _mm512_maskz_loadu_ps(m, x + c);
            a0 = _mm512_fmadd_ps(load(w0 + c * esize, m), xv, a0);
            a1 = _mm512_fmadd_ps(load(w1 + c * esize, m), xv, a1);
            a2 = _mm512_fmadd_ps(load(w2 + c * esize, m), xv, a2);
            a3 = _mm512_fmadd_ps(load(w3 + c * esize, m), xv, a3);
        }
        y[r] = _mm512_reduce_add_ps(a0);
        y[r + 1] = _mm512_reduce_add_ps(a1);
        y[r + 2] = _mm512_reduce_add_ps(a2);
        y[r + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; r < r1; r++) {
        const char *w0 = base + (size_t)r * stride;
        __m512 a0 = _mm512_setzero_ps();
        for (int c = 0; c < cols; c += 16) {
            __mmask16 m = cols - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - c)) - 1);
            a0 = _mm512_fmadd_ps(load(w0 + c * esize, m), _mm512_maskz_loadu_ps(m, x + c), a0);
        }
        y[r] = _mm512_reduce_add_ps(a0);
    }
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

const slm_matvec_kernel slm_mv_f32_avx512 = {"f32/avx512", SLM_ISA_AVX512, NULL, NULL, rows_f32};
const slm_matvec_kernel slm_mv_f16_avx512 = {"f16/avx512", SLM_ISA_AVX512, NULL, NULL, rows_f16};
const slm_matvec_kernel slm_mv_bf16_avx512 = {"bf16/avx512", SLM_ISA_AVX512, NULL, NULL, rows_bf16};
