/* AVX-512 matrix-vector kernel for Q4_0 weights: two blocks per 512-bit step against the int8
 * activation row (the Q8_0 kernels' prep). The nibbles unpack to bytes 0..15, which vpdpbusd (VNNI)
 * or maddubs take as the unsigned operand; the offset 8 comes off as 8·a, computed once per step for
 * all rows. Four rows at a time. */
#include <immintrin.h>

#include "matmul.h"
#include "quant.h"

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

/* The 64 weights of blocks w[0] and w[1] as bytes 0..15, in order: each block's 16 bytes are
 * broadcast to two 128-bit lanes and the second lane takes the high nibbles. */
static inline __m512i load2(const slm_block_q4_0 *w) {
    __m512i t = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w[0].qs))),
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w[1].qs)), 1);
    t = _mm512_mask_srli_epi16(t, (__mmask32)0xFF00FF00u, t, 4);
    return _mm512_and_si512(t, _mm512_set1_epi8(0x0F));
}

static inline __m512 scale2(const slm_block_q4_0 *w, const float *da) {
    return _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(w[0].d) * da[0]), _mm256_set1_ps(_cvtsh_ss(w[1].d) * da[1]), 1);
}

/* What every row subtracts: 8·a in 4-byte groups (VNNI) or in byte pairs (maddubs). */
static inline __m512i offset2(__m512i a, int vnni) {
    if (vnni)
        return _mm512_sub_epi32(_mm512_setzero_si512(),
                                _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), a));
    return _mm512_maddubs_epi16(_mm512_set1_epi8(8), a);
}

/* Sixteen int32 partial sums of (q - 8)·a over two blocks. */
static inline __m512i dot2(__m512i q, __m512i a, __m512i off, int vnni) {
    if (vnni) return _mm512_dpbusd_epi32(off, q, a);
    return _mm512_madd_epi16(_mm512_sub_epi16(_mm512_maddubs_epi16(q, a), off), _mm512_set1_epi16(1));
}

/* One block with 256-bit registers (the odd last block of a row). */
static inline __m256 dot1(const slm_block_q4_0 *w, __m256i a, float da) {
    __m128i q = _mm_loadu_si128((const __m128i *)w->qs);
    __m256i wv = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(wv, a), _mm256_maddubs_epi16(_mm256_set1_epi8(8), a));
    __m256i s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(_cvtsh_ss(w->d) * da));
}

static inline void rows_generic(float *y, const slm_mat *W, const void *xp, int r0, int r1, int vnni) {
    int nb = W->cols / SLM_QK, nb2 = nb & ~1;
    const float *ad = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, W->cols);
    const slm_block_q4_0 *base = W->data;
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const slm_block_q4_0 *w0 = base + (size_t)r * nb, *w1 = w0 + nb, *w2 = w1 + nb, *w3 = w2 + nb;
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
        const slm_block_q4_0 *w0 = base + (size_t)r * nb;
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

static void rows_q4_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    if (slm_cpu()->avx512_vnni)
        rows_vnni(y, W, x, xp, r0, r1);
    else
        rows_bw(y, W, x, xp, r0, r1);
}

const slm_matvec_kernel slm_mv_q4_0_avx512 = {"q4_0/avx512", SLM_ISA_AVX512, prep_bytes, slm_act_q8_quantize_avx512, rows_q4_0};
const slm_matvec_kernel slm_mv_q4_0_avx512bw = {"q4_0/avx512bw", SLM_ISA_AVX512, prep_bytes, slm_act_q8_quantize_avx512, rows_bw};
