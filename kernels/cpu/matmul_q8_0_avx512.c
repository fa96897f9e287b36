/* AVX-512 matrix-vector kernel for Q8_0 weights: two blocks per 512-bit step against the int8
 * activation row. With VNNI, vpdpbusd multiplies unsigned by signed bytes, so the weights are offset
 * to w + 128 (an xor) and 128·a, computed once per step for all rows, starts the sum. Without it the
 * weights' signs move onto the activation (masked negate) for maddubs. Four rows at a time. */
#include <immintrin.h>

#include "matmul.h"
#include "quant.h"

/* The int8 activation row of slm_act_q8_quantize, 32 values per step; the same bytes as the scalar. */
void slm_act_q8_quantize_avx512(void *dst, const float *x, int cols) {
    float *scale = dst;
    int8_t *q = (int8_t *)dst + slm_act_q8_offset(cols);
    for (int b = 0; b < cols / SLM_QK; b++, x += SLM_QK, q += SLM_QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float d = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1))) / 127;
        const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        scale[b] = d;
        /* cvtps rounds to nearest even, as lrintf does in the scalar version. */
        _mm_storeu_si128((__m128i *)q, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id))));
        _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id))));
    }
}

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

/* The 64 weights of blocks w[0] and w[1]. */
static inline __m512i load2(const slm_block_q8_0 *w) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w[0].qs)),
                              _mm256_loadu_si256((const __m256i *)w[1].qs), 1);
}

/* The product of weight and activation scales, for the 8 lanes of each block. */
static inline __m512 scale2(const slm_block_q8_0 *w, const float *da) {
    return _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(w[0].d) * da[0]), _mm256_set1_ps(_cvtsh_ss(w[1].d) * da[1]), 1);
}

/* Sixteen int32 partial sums of w·a over two blocks. off = -128·a in 4-byte groups (VNNI only). */
static inline __m512i dot2(__m512i w, __m512i a, __m512i off, int vnni) {
    if (vnni) return _mm512_dpbusd_epi32(off, _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80)), a);
    __mmask64 neg = _mm512_movepi8_mask(w);
    __m512i sa = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(w), sa), _mm512_set1_epi16(1));
}

/* One block with 256-bit registers (the odd last block of a row). */
static inline __m256 dot1(const slm_block_q8_0 *w, __m256i a, float da) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w->qs);
    __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(a, wv));
    __m256i s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(_cvtsh_ss(w->d) * da));
}

static inline __m512i offset2(__m512i a, int vnni) {
    if (!vnni) return _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_setzero_si512(),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), a));
}

static inline void rows_generic(float *y, const slm_mat *W, const void *xp, int r0, int r1, int vnni) {
    int nb = W->cols / SLM_QK, nb2 = nb & ~1;
    const float *ad = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, W->cols);
    const slm_block_q8_0 *base = W->data;
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const slm_block_q8_0 *w0 = base + (size_t)r * nb, *w1 = w0 + nb, *w2 = w1 + nb, *w3 = w2 + nb;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int b = 0; b < nb2; b += 2) {
            __m512i a = _mm512_loadu_si512(aq + b * SLM_QK);
            __m512i off = offset2(a, vnni);
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot2(load2(w0 + b), a, off, vnni)), scale2(w0 + b, ad + b), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot2(load2(w1 + b), a, off, vnni)), scale2(w1 + b, ad + b), acc1);
            acc2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot2(load2(w2 + b), a, off, vnni)), scale2(w2 + b, ad + b), acc2);
            acc3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot2(load2(w3 + b), a, off, vnni)), scale2(w3 + b, ad + b), acc3);
        }
        if (nb2 < nb) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(aq + nb2 * SLM_QK));
            acc0 = _mm512_add_ps(acc0, _mm512_zextps256_ps512(dot1(w0 + nb2, a, ad[nb2])));
            acc1 = _mm512_add_ps(acc1, _mm512_zextps256_ps512(dot1(w1 + nb2, a, ad[nb2])));
            acc2 = _mm512_add_ps(acc2, _mm512_zextps256_ps512(dot1(w2 + nb2, a, ad[nb2])));
            acc3 = _mm512_add_ps(acc3, _mm512_zextps256_ps512(dot1(w3 + nb2, a, ad[nb2])));
        }
        y[r] = _mm512_reduce_add_ps(acc0);
        y[r + 1] = _mm512_reduce_add_ps(acc1);
        y[r + 2] = _mm512_reduce_add_ps(acc2);
        y[r + 3] = _mm512_reduce_add_ps(acc3);
    }
    for (; r < r1; r++) {
        const slm_block_q8_0 *w0 = base + (size_t)r * nb;
        __m512 acc0 = _mm512_setzero_ps();
        for (int b = 0; b < nb2; b += 2) {
            __m512i a = _mm512_loadu_si512(aq + b * SLM_QK);
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot2(load2(w0 + b), a, offset2(a, vnni), vnni)), scale2(w0 + b, ad + b), acc0);
        }
        if (nb2 < nb) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(aq + nb2 * SLM_QK));
            acc0 = _mm512_add_ps(acc0, _mm512_zextps256_ps512(dot1(w0 + nb2, a, ad[nb2])));
        }
        y[r] = _mm512_reduce_add_ps(acc0);
    }
}

static void rows_vnni(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    rows_generic(y, W, xp, r0, r1, 1);
}

static void rows_bw(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    rows_generic(y, W, xp, r0, r1, 0);
}

static void rows_q8_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    if (slm_cpu()->avx512_vnni)
        rows_vnni(y, W, x, xp, r0, r1);
    else
        rows_bw(y, W, x, xp, r0, r1);
}

const slm_matvec_kernel slm_mv_q8_0_avx512 = {"q8_0/avx512", SLM_ISA_AVX512, prep_bytes, slm_act_q8_quantize_avx512, rows_q8_0};
const slm_matvec_kernel slm_mv_q8_0_avx512bw = {"q8_0/avx512bw", SLM_ISA_AVX512, prep_bytes, slm_act_q8_quantize_avx512, rows_bw};
