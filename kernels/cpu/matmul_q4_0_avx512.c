/* AVX-512 matrix-vector kernel for Q4_0 weights, after llama.cpp: the activation row is quantized to
 * int8 blocks once (the Q8_0 kernels' prep), the nibbles unpack to bytes 0..15, which vpdpbusd (VNNI)
 * or maddubs take as the unsigned operand, and only the scales are float. The offset 8 of the nibbles
 * comes off at the end as 8·Σ dw·(d_a·Σa), from the sums prep stores.
 *
 * Memory: rows are read in pairs that lie half the range apart, so the two share every activation load
 * and still stream from memory independently (neighbouring rows read in step confuse the hardware
 * prefetcher: measured 2.5x slower from DRAM). Per 8 blocks the 8 fp16 scales are picked out of the
 * loaded bytes at once. Per row: accumulators over even and odd blocks, each block adding
 * float(Σ q·a)·(dw·d_a); then y = Σ lanes of (acc_even + acc_odd - 8·corr) - 8·corr_tail. */
#include <immintrin.h>

#include "matmul.h"
#include "quant.h"

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

/* The weight scales of blocks w[0..7] as floats: each 18-byte block starts with its fp16 d, so d sits at
 * 16-bit word 9k of the 128 bytes from w. */
static inline __m256 scales8(const slm_block_q4_0 *w) {
    const __m512i idx = _mm512_zextsi128_si512(_mm_setr_epi16(0, 9, 18, 27, 36, 45, 54, 63));
    __m512i lo = _mm512_loadu_si512(w), hi = _mm512_loadu_si512((const char *)w + 64);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(lo, idx, hi)));
}

/* Σ q·a of one block (q the nibble, 0..15) as eight float partial sums. The 16 bytes go to both 128-bit
 * lanes and the upper lane takes the high nibbles: bytes 0..15 are weights 0..15, bytes 16..31 weights 16..31. */
static inline __m256 dot(const slm_block_q4_0 *w, __m256i av, int vnni) {
    __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w->qs));
    __m256i q = _mm256_and_si256(_mm256_mask_srli_epi16(t, (__mmask16)0xFF00, t, 4), _mm256_set1_epi8(0x0F));
    __m256i s;
    if (vnni)
        s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, av);
    else
        s = _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), _mm256_set1_epi16(1));
    return _mm256_cvtepi32_ps(s);
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* acc += block j's dot times lane j of the scale vector. */
static inline __m256 step(__m256 acc, const slm_block_q4_0 *w, __m256i a, __m256 s, int j, int vnni) {
    return _mm256_fmadd_ps(dot(w, a, vnni), _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(j)), acc);
}

/* Rows w0 and w1 (the same row twice for a lone one). Always inlined, so that each caller's constant
 * vnni removes the branch from the inner loop. */
static inline __attribute__((always_inline)) void row_pair(const slm_block_q4_0 *w0, const slm_block_q4_0 *w1, int cols, const void *xp, float *y0,
                            float *y1, int vnni) {
    int nb = cols / SLM_QK, b = 0;
    const float *da = slm_act_q8_scales(xp), *sums = slm_act_q8_sums(xp, cols);
    const int8_t *aq = slm_act_q8_values(xp, cols);
    __m256 e0 = _mm256_setzero_ps(), o0 = e0, c0 = e0, e1 = e0, o1 = e0, c1 = e0;
    for (; b + 8 <= nb; b += 8) {
        __m256 d0 = scales8(w0 + b), d1 = scales8(w1 + b), a8 = _mm256_loadu_ps(da + b), s8 = _mm256_loadu_ps(sums + b);
        __m256 s0 = _mm256_mul_ps(d0, a8), s1 = _mm256_mul_ps(d1, a8);
        c0 = _mm256_fmadd_ps(d0, s8, c0);
        c1 = _mm256_fmadd_ps(d1, s8, c1);
        /* each activation block is loaded once for both rows */
#pragma GCC unroll 4
        for (int j = 0; j < 8; j += 2) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(aq + (b + j) * SLM_QK));
            __m256i a2 = _mm256_loadu_si256((const __m256i *)(aq + (b + j + 1) * SLM_QK));
            e0 = step(e0, w0 + b + j, a, s0, j, vnni);
            e1 = step(e1, w1 + b + j, a, s1, j, vnni);
            o0 = step(o0, w0 + b + j + 1, a2, s0, j + 1, vnni);
            o1 = step(o1, w1 + b + j + 1, a2, s1, j + 1, vnni);
        }
    }
    float t0 = 0.0f, t1 = 0.0f; /* corrections of the last nb % 8 blocks */
    for (; b < nb; b++) {
        float d0 = _cvtsh_ss(w0[b].d), d1 = _cvtsh_ss(w1[b].d);
        __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * SLM_QK));
        e0 = _mm256_fmadd_ps(dot(w0 + b, a, vnni), _mm256_set1_ps(d0 * da[b]), e0);
        e1 = _mm256_fmadd_ps(dot(w1 + b, a, vnni), _mm256_set1_ps(d1 * da[b]), e1);
        t0 += d0 * sums[b];
        t1 += d1 * sums[b];
    }
    /* the nibbles are the weights plus 8 */
    *y0 = hsum256(_mm256_fnmadd_ps(c0, _mm256_set1_ps(8.0f), _mm256_add_ps(e0, o0))) - 8.0f * t0;
    *y1 = hsum256(_mm256_fnmadd_ps(c1, _mm256_set1_ps(8.0f), _mm256_add_ps(e1, o1))) - 8.0f * t1;
}

static inline __attribute__((always_inline)) void rows_generic(float *y, const slm_mat *W, const void *xp, int r0, int r1, int vnni) {
    int nb = W->cols / SLM_QK, half = (r1 - r0) / 2;
    const slm_block_q4_0 *base = W->data;
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

static void rows_q4_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    if (slm_cpu()->avx512_vnni)
        rows_vnni(y, W, x, xp, r0, r1);
    else
        rows_bw(y, W, x, xp, r0, r1);
}

const slm_matvec_kernel slm_mv_q4_0_avx512 = {"q4_0/avx512", SLM_ISA_AVX512, prep_bytes, slm_act_q8_quantize_avx512, rows_q4_0};
const slm_matvec_kernel slm_mv_q4_0_avx512bw = {"q4_0/avx512bw", SLM_ISA_AVX512, prep_bytes, slm_act_q8_quantize_avx512, rows_bw};
