/* AVX2 matrix-vector kernel for Q8_0 weights, after llama.cpp: the activation row is quantized to
 * int8 blocks once (prep), then each weight block meets its activation block in an exact integer dot
 * product (maddubs needs one unsigned operand: |w| times a with w's sign) and only the two scales are
 * applied in float. Rows are read in pairs that lie half the range apart: the two share every
 * activation load and still stream from memory independently (neighbouring rows read in step confuse
 * the hardware prefetcher). Per row, accumulators over even and odd blocks. */
#include <immintrin.h>

#include "hsum.h"
#include "matmul.h"
#include "quant.h"

/* The int8 activation row of slm_act_q8_quantize, 32 values per step; the same bytes as the scalar. */
void slm_act_q8_quantize_avx2(void *dst, const float *x, int cols) {
    float *scale = dst, *sum = scale + cols / SLM_QK;
    int8_t *q = (int8_t *)dst + slm_act_q8_offset(cols);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < cols / SLM_QK; b++, x += SLM_QK, q += SLM_QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float d = _mm_cvtss_f32(m4) / 127;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        /* cvtps rounds to nearest even, as lrintf does in the scalar version. */
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        /* The packs work within 128-bit lanes; the permute puts the 32 values back in order. */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)q, p);
        scale[b] = d;
        sum[b] = (float)_mm_cvtsi128_si32(s4) * d;
    }
}

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

/* acc += (Σ w·a of the block as eight int32 partial sums) · dw · d_a. */
static inline __m256 step(__m256 acc, const slm_block_q8_0 *w, __m256i a, float da) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w->qs);
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(a, wv));
    __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
    return _mm256_fmadd_ps(f, _mm256_set1_ps(_cvtsh_ss(w->d) * da), acc);
}

/* Rows w0 and w1 (the same row twice for a lone one). */
static inline void row_pair(const slm_block_q8_0 *w0, const slm_block_q8_0 *w1, int cols, const void *xp, float *y0, float *y1) {
    int nb = cols / SLM_QK, b = 0;
    const float *da = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, cols);
    __m256 e0 = _mm256_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
    for (; b + 2 <= nb; b += 2) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
        __m256i a2 = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK + SLM_QK));
        e0 = step(e0, w0 + b, a, da[b]);
        e1 = step(e1, w1 + b, a, da[b]);
        o0 = step(o0, w0 + b + 1, a2, da[b + 1]);
        o1 = step(o1, w1 + b + 1, a2, da[b + 1]);
    }
    if (b < nb) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
        e0 = step(e0, w0 + b, a, da[b]);
        e1 = step(e1, w1 + b, a, da[b]);
    }
    *y0 = slm_hsum256(_mm256_add_ps(e0, o0));
    *y1 = slm_hsum256(_mm256_add_ps(e1, o1));
}

static void rows_q8_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    int nb = W->cols / SLM_QK, half = (r1 - r0) / 2;
    const slm_block_q8_0 *base = W->data;
    for (int r = r0; r < r0 + half; r++)
        row_pair(base + (size_t)r * nb, base + (size_t)(r + half) * nb, W->cols, xp, &y[r], &y[r + half]);
    if ((r1 - r0) & 1) row_pair(base + (size_t)(r1 - 1) * nb, base + (size_t)(r1 - 1) * nb, W->cols, xp, &y[r1 - 1], &y[r1 - 1]);
}

const slm_matvec_kernel slm_mv_q8_0_avx2 = {"q8_0/avx2", SLM_ISA_AVX2, prep_bytes, slm_act_q8_quantize_avx2, rows_q8_0};
