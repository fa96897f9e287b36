/* AVX2 matrix-vector kernel for Q8_0 weights, after llama.cpp: the activation row is quantized to
 * int8 blocks once, then each weight block meets its activation block in an exact integer dot
 * product (maddubs needs one unsigned operand: |w| times a with w's sign) and only the two scales are
 * applied in float. Four rows at a time share each activation load. */
#include <immintrin.h>

#include "matmul.h"
#include "quant.h"

/* The int8 activation row of slm_act_q8_quantize, 32 values per step; the same bytes as the scalar. */
void slm_act_q8_quantize_avx2(void *dst, const float *x, int cols) {
    float *scale = dst;
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
        scale[b] = d;
        /* cvtps rounds to nearest even, as lrintf does in the scalar version. */
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
        /* The packs work within 128-bit lanes; the permute puts the 32 values back in order. */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)q, p);
    }
}

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Eight int32 partial sums of the block's dot product w·a. */
static inline __m256i dot_block(const int8_t *w, __m256i a) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w);
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(a, wv));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static void rows_q8_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    int nb = W->cols / SLM_QK;
    const float *ad = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, W->cols);
    const slm_block_q8_0 *base = W->data;
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const slm_block_q8_0 *w0 = base + (size_t)r * nb, *w1 = w0 + nb, *w2 = w1 + nb, *w3 = w2 + nb;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int b = 0; b < nb; b++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
            float da = ad[b];
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w0[b].qs, a)), _mm256_set1_ps(_cvtsh_ss(w0[b].d) * da), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w1[b].qs, a)), _mm256_set1_ps(_cvtsh_ss(w1[b].d) * da), acc1);
            acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w2[b].qs, a)), _mm256_set1_ps(_cvtsh_ss(w2[b].d) * da), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w3[b].qs, a)), _mm256_set1_ps(_cvtsh_ss(w3[b].d) * da), acc3);
        }
        y[r] = hsum256(acc0);
        y[r + 1] = hsum256(acc1);
        y[r + 2] = hsum256(acc2);
        y[r + 3] = hsum256(acc3);
    }
    for (; r < r1; r++) {
        const slm_block_q8_0 *w0 = base + (size_t)r * nb;
        __m256 acc0 = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w0[b].qs, a)), _mm256_set1_ps(_cvtsh_ss(w0[b].d) * ad[b]), acc0);
        }
        y[r] = hsum256(acc0);
    }
}

const slm_matvec_kernel slm_mv_q8_0_avx2 = {"q8_0/avx2", SLM_ISA_AVX2, prep_bytes, slm_act_q8_quantize_avx2, rows_q8_0};
