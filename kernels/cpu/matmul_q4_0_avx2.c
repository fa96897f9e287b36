/* AVX2 matrix-vector kernel for Q4_0 weights, after llama.cpp: the activation row is quantized to
 * int8 blocks (the Q8_0 kernels' prep), the nibbles are unpacked to bytes 0..15 and meet the
 * activation in maddubs (unsigned nibble times signed activation), and the offset 8 comes off as
 * 8·a computed once per activation block for all rows. Four rows at a time. */
#include <immintrin.h>

#include "matmul.h"
#include "quant.h"

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Eight int32 partial sums of (q - 8)·a for one block; a8 = maddubs(8, a). */
static inline __m256i dot_block(const uint8_t *qs, __m256i a, __m256i a8) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    /* Bytes 0..15: weights 0..15 (low nibbles); bytes 16..31: weights 16..31 (high nibbles). */
    __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(w, a), a8);
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static void rows_q4_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    int nb = W->cols / SLM_QK;
    const float *ad = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, W->cols);
    const slm_block_q4_0 *base = W->data;
    const __m256i eight = _mm256_set1_epi8(8);
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const slm_block_q4_0 *w0 = base + (size_t)r * nb, *w1 = w0 + nb, *w2 = w1 + nb, *w3 = w2 + nb;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int b = 0; b < nb; b++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
            __m256i a8 = _mm256_maddubs_epi16(eight, a);
            float da = ad[b];
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w0[b].qs, a, a8)), _mm256_set1_ps(_cvtsh_ss(w0[b].d) * da), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w1[b].qs, a, a8)), _mm256_set1_ps(_cvtsh_ss(w1[b].d) * da), acc1);
            acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w2[b].qs, a, a8)), _mm256_set1_ps(_cvtsh_ss(w2[b].d) * da), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w3[b].qs, a, a8)), _mm256_set1_ps(_cvtsh_ss(w3[b].d) * da), acc3);
        }
        y[r] = hsum256(acc0);
        y[r + 1] = hsum256(acc1);
        y[r + 2] = hsum256(acc2);
        y[r + 3] = hsum256(acc3);
    }
    for (; r < r1; r++) {
        const slm_block_q4_0 *w0 = base + (size_t)r * nb;
        __m256 acc0 = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
            __m256i a8 = _mm256_maddubs_epi16(eight, a);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_block(w0[b].qs, a, a8)), _mm256_set1_ps(_cvtsh_ss(w0[b].d) * ad[b]), acc0);
        }
        y[r] = hsum256(acc0);
    }
}

const slm_matvec_kernel slm_mv_q4_0_avx2 = {"q4_0/avx2", SLM_ISA_AVX2, prep_bytes, slm_act_q8_quantize_avx2, rows_q4_0};
