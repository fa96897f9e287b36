/* AVX-512 matrix-vector kernel for Q8_0 weights, after llama.cpp: the activation row is quantized to
 * int8 blocks once (prep), each weight block meets its activation block in an exact integer dot
 * product, and only the scales are float. vpdpbusd (VNNI) and maddubs want one unsigned operand, so
 * the weights' signs move onto the activation: |w| times sign(w)·a. (Offsetting the weights by 128
 * instead and taking 128·Σa off afterwards is faster from cache but measured 15% slower from DRAM.)
 *
 * Memory: rows are read in pairs that lie half the range apart, so the two share every activation load
 * and still stream from memory independently (neighbouring rows read in step confuse the hardware
 * prefetcher: measured 2.5x slower from DRAM). Per 8 blocks the 8 fp16 scales are picked out of the
 * loaded bytes at once. Per row: 256-bit accumulators over even and odd blocks, each block adding
 * float(int32 partial sums)·(dw·d_a); y = the lanes of acc_even + acc_odd summed. */
#include <immintrin.h>

#include "hsum.h"
#include "matmul.h"
#include "quant.h"

/* The int8 activation row of slm_act_q8_quantize, block by block; the same bytes as the scalar. */
void slm_act_q8_quantize_avx512(void *dst, const float *x, int cols) {
    float *scale = dst, *sum = scale + cols / SLM_QK;
    int8_t *q = (int8_t *)dst + slm_act_q8_offset(cols);
    for (int b = 0; b < cols / SLM_QK; b++, x += SLM_QK, q += SLM_QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float d = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1))) / 127;
        const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        /* cvtps rounds to nearest even, as lrintf does in the scalar version. */
        __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
        _mm_storeu_si128((__m128i *)q, _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(q + 16), _mm512_cvtsepi32_epi8(i1));
        scale[b] = d;
        sum[b] = (float)_mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1)) * d;
    }
}

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

/* The weight scales of blocks w[0..7] as floats: each 34-byte block starts with its fp16 d, so in the
 * 128 bytes from block k the d of blocks k and k+1 are 16-bit words 0 and 17 and those of k+2, k+3
 * words 32 and 49 (loaded from k+2). */
static inline __m256 scales8(const slm_block_q8_0 *w) {
    const __m512i idx_lo = _mm512_zextsi128_si512(_mm_setr_epi16(0, 17, 32, 49, 0, 0, 0, 0));
    const __m512i idx_hi = _mm512_zextsi128_si512(_mm_setr_epi16(0, 0, 0, 0, 0, 17, 32, 49));
    __m512i a = _mm512_loadu_si512(w), b = _mm512_loadu_si512(w + 2);
    __m512i c = _mm512_loadu_si512(w + 4), d = _mm512_loadu_si512(w + 6);
    __m128i lo = _mm512_castsi512_si128(_mm512_permutex2var_epi16(a, idx_lo, b));
    __m128i hi = _mm512_castsi512_si128(_mm512_permutex2var_epi16(c, idx_hi, d));
    return _mm256_cvtph_ps(_mm_blend_epi16(lo, hi, 0xF0));
}

/* Σ w·a of one block as eight float partial sums. */
static inline __m256 dot(const slm_block_q8_0 *w, __m256i av, int vnni) {
    __m256i wv = slm_in_register(_mm256_loadu_si256((const __m256i *)w->qs)), s;
    if (vnni) {
        s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv));
    } else {
        __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv));
        s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    }
    return _mm256_cvtepi32_ps(s);
}

/* acc += block j's dot times lane j of the scale vector. */
static inline __m256 step(__m256 acc, const slm_block_q8_0 *w, __m256i a, __m256 s, int j, int vnni) {
    return _mm256_fmadd_ps(dot(w, a, vnni), _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(j)), acc);
}

/* Rows w0 and w1 (the same row twice for a lone one). Always inlined, so that each caller's constant
 * vnni removes the branch from the inner loop. */
static inline __attribute__((always_inline)) void row_pair(const slm_block_q8_0 *w0, const slm_block_q8_0 *w1, int cols, const void *xp, float *y0,
                            float *y1, int vnni) {
    int nb = cols / SLM_QK, b = 0;
    const float *da = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, cols);
    __m256 e0 = _mm256_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
    for (; b + 8 <= nb; b += 8) {
        __m256 d0 = scales8(w0 + b), d1 = scales8(w1 + b), a8 = _mm256_loadu_ps(da + b);
        __m256 s0 = _mm256_mul_ps(d0, a8), s1 = _mm256_mul_ps(d1, a8);
        /* each activation block is loaded once for both rows */
#pragma GCC unroll 4
        for (int j = 0; j < 8; j += 2) {
            __m256i a = slm_in_register(_mm256_loadu_si256((const __m256i *)(aq + (b + j) * SLM_QK)));
            __m256i a2 = slm_in_register(_mm256_loadu_si256((const __m256i *)(aq + (b + j + 1) * SLM_QK)));
            e0 = step(e0, w0 + b + j, a, s0, j, vnni);
            e1 = step(e1, w1 + b + j, a, s1, j, vnni);
            o0 = step(o0, w0 + b + j + 1, a2, s0, j + 1, vnni);
            o1 = step(o1, w1 + b + j + 1, a2, s1, j + 1, vnni);
        }
    }
    for (; b < nb; b++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
        e0 = _mm256_fmadd_ps(dot(w0 + b, a, vnni), _mm256_set1_ps(_cvtsh_ss(w0[b].d) * da[b]), e0);
        e1 = _mm256_fmadd_ps(dot(w1 + b, a, vnni), _mm256_set1_ps(_cvtsh_ss(w1[b].d) * da[b]), e1);
    }
    *y0 = slm_hsum256(_mm256_add_ps(e0, o0));
    *y1 = slm_hsum256(_mm256_add_ps(e1, o1));
}

static inline __attribute__((always_inline)) void rows_generic(float *y, const slm_mat *W, const void *xp, int r0, int r1, int vnni) {
    int nb = W->cols / SLM_QK, half = (r1 - r0) / 2;
    const slm_block_q8_0 *base = W->data;
    for (int r = r0; r < r0 + half; r++)
        row_pair(base + (size_t)r * nb, base + (size_t)(r + half) * nb, W->cols, xp, &y[r], &y[r + half], vnni);
    if ((r1 - r0) & 1) row_pair(base + (size_t)(r1 - 1) * nb, base + (size_t)(r1 - 1) * nb, W->cols, xp, &y[r1 - 1], &y[r1 - 1], vnni);
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
