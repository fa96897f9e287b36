/* AVX-512 matrix-vector kernel for Q4_0 weights: the activation row is quantized to int8 blocks once
 * (the Q8_0 kernels' prep), the nibbles unpack to bytes 0..15, which vpdpbusd (VNNI) or maddubs take as
 * the unsigned operand, and only the scales are float. The offset 8 of the nibbles comes off per block
 * as 8·d_a·Σa, from the sums prep stores.
 *
 * Compute: a block alone in a register (one vpdpbusd, then its 8 int32 lanes converted, scaled and
 * added) costs about 7 vector ops per 18 bytes, which kept the kernel at ~28 GB/s of weights even from
 * L3 on a Zen 4 core. Here two blocks share a 256-bit register, one per 128-bit lane: their low nibbles
 * meet the first halves of both activation blocks, their high nibbles the second halves (the activation
 * row is rearranged that way once per call, on the stack), and two chained vpdpbusd leave 4 lanes per
 * block. Per 8 blocks the four registers reduce with unpack and add to the 8 exact block sums (vphaddd
 * takes 2 cycles on Zen 4), then one convert, one fmsub for the offset and one fma with the 8 weight
 * scales: about 5 ops per block.
 *
 * Memory: 4 rows a quarter of the range apart share every activation load and still stream from
 * memory independently (neighbouring rows read in step confuse the hardware prefetcher: measured 2.5x
 * slower from DRAM). Each row is also prefetched into L2 4 KiB ahead: without that a 2048x8192 matrix
 * ran 10-15% slower from DRAM (2048-column rows gain nothing from it). Per 8 blocks the 8 fp16 scales
 * are picked out of the loaded bytes at once.
 *
 * Measured on one Zen 4 core, 2048x8192, GB/s of weight bytes, against the one-block kernel: 35-37 vs 28
 * from L3; 26-29 vs 21-24 from DRAM, 91-95% of a plain 4-stream read of the same bytes at the time (the
 * machine was shared). Llama-3.2-1B-shaped Q4_0 decodes ~18% faster on one thread (median of 12 runs). */
#include <immintrin.h>

#include "hsum.h"
#include "matmul.h"
#include "quant.h"

/* Rows per pass (a quarter of the range apart), bytes the software prefetch runs ahead in each row,
 * and the columns whose rearranged activations one pass keeps on the stack. */
enum { ROWS = 4, PREFETCH = 4096, SLICE = 16384 };

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

/* The weight scales of blocks w[0..7] as floats in the order 0 2 4 6 1 3 5 7 (that of sums8): each
 * 18-byte block starts with its fp16 d, so d of block k sits at 16-bit word 9k of the 128 bytes from w. */
static inline __m256 scales8(const slm_block_q4_0 *w) {
    const __m512i idx = _mm512_zextsi128_si512(_mm_setr_epi16(0, 18, 36, 54, 9, 27, 45, 63));
    __m512i lo = _mm512_loadu_si512(w), hi = _mm512_loadu_si512((const char *)w + 64);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(lo, idx, hi)));
}

/* Eight per-block floats in the order 0 2 4 6 1 3 5 7. */
static inline __m256 load8(const float *p) {
    return _mm256_permutevar8x32_ps(_mm256_loadu_ps(p), _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

/* The qs bytes of blocks w[0] and w[1] side by side. */
static inline __m256i qs2(const slm_block_q4_0 *w) {
    return _mm256_loadu2_m128i((const __m128i *)w[1].qs, (const __m128i *)w[0].qs);
}

/* Σ q·a of two blocks from their qs2 bytes x, as int32 lanes 0..3 (first block) and 4..7 (second): the low
 * nibbles (weights 0..15 of each) meet alo, the high nibbles (weights 16..31) ahi. */
static inline __m256i dot2(__m256i x, __m256i alo, __m256i ahi, int vnni) {
    const __m256i m = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_and_si256(x, m), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m);
    if (vnni) return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, alo), hi, ahi);
    /* each maddubs pair is at most 2·15·128 in magnitude, so the 16-bit sum of the two cannot overflow */
    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(hi, ahi));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* The eight block sums of dot2 over blocks (0,1), (2,3), (4,5), (6,7), as floats in the order 0 2 4 6 1 3 5 7. */
static inline __m256 sums8(__m256i r01, __m256i r23, __m256i r45, __m256i r67) {
    __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi32(r01, r23), _mm256_unpackhi_epi32(r01, r23));
    __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi32(r45, r67), _mm256_unpackhi_epi32(r45, r67));
    return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_unpacklo_epi64(t, u), _mm256_unpackhi_epi64(t, u)));
}

/* Σ q·a of one block as eight float partial sums (the last nb % 8 blocks of a row): the 16 bytes go to
 * both 128-bit lanes and the upper lane takes the high nibbles. */
static inline __m256 dot1(const slm_block_q4_0 *w, __m256i av, int vnni) {
    __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w->qs));
    __m256i q = _mm256_and_si256(_mm256_mask_srli_epi16(t, (__mmask16)0xFF00, t, 4), _mm256_set1_epi8(0x0F));
    __m256i s;
    if (vnni)
        s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, av);
    else
        s = _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), _mm256_set1_epi16(1));
    return _mm256_cvtepi32_ps(s);
}

/* Σ over blocks [b0, b1) of rows w[0..R-1] into y[0..R-1] (added to y when add). ap: the activation
 * pairs of pack_pairs, from block b0. Always inlined, so that each caller's constant R and vnni
 * remove the branches from the inner loop. */
static inline __attribute__((always_inline)) void rows_n(const slm_block_q4_0 *const *w, int R, int b0, int b1,
                                                         const void *xp, int cols, const int8_t *ap, float *const *y,
                                                         int add, int vnni) {
    const float *da = slm_act_q8_scales(xp), *sums = slm_act_q8_sums(xp, cols);
    const int8_t *aq = slm_act_q8_values(xp, cols);
    __m256 acc[ROWS];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    int b = b0;
    for (; b + 8 <= b1; b += 8) {
        __m256 a8 = load8(da + b), s8 = _mm256_mul_ps(load8(sums + b), _mm256_set1_ps(8.0f));
        __m256i x[ROWS][4], r[ROWS][4];
        /* all the weight loads first */
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) x[i][j] = qs2(w[i] + b + 2 * j);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const int8_t *a = ap + (size_t)(b - b0 + 2 * j) * SLM_QK;
            __m256i alo = _mm256_load_si256((const __m256i *)a), ahi = _mm256_load_si256((const __m256i *)(a + 32));
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) r[i][j] = dot2(x[i][j], alo, ahi, vnni);
        }
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            /* the 144 bytes of the blocks PREFETCH bytes on, into L2 */
            _mm_prefetch((const char *)(w[i] + b) + PREFETCH, _MM_HINT_T1);
            _mm_prefetch((const char *)(w[i] + b) + PREFETCH + 64, _MM_HINT_T1);
            _mm_prefetch((const char *)(w[i] + b) + PREFETCH + 128, _MM_HINT_T1);
            /* dw·(d_a·Σq·a - 8·d_a·Σa) per block */
            __m256 q = _mm256_fmsub_ps(sums8(r[i][0], r[i][1], r[i][2], r[i][3]), a8, s8);
            acc[i] = _mm256_fmadd_ps(scales8(w[i] + b), q, acc[i]);
        }
    }
    float t[ROWS] = {0}; /* Σ dw·d_a·Σa of the last nb % 8 blocks, whose offset comes off at the end */
    for (; b < b1; b++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(aq + (size_t)b * SLM_QK));
        for (int i = 0; i < R; i++) {
            float d = _cvtsh_ss(w[i][b].d);
            acc[i] = _mm256_fmadd_ps(dot1(w[i] + b, a, vnni), _mm256_set1_ps(d * da[b]), acc[i]);
            t[i] += d * sums[b];
        }
    }
    for (int i = 0; i < R; i++) {
        float v = slm_hsum256(acc[i]) - 8.0f * t[i];
        *y[i] = add ? *y[i] + v : v;
    }
}

/* Activation blocks [b0, b1) rearranged for dot2: per pair of blocks, the first halves of both, then
 * the second halves. */
static void pack_pairs(int8_t *ap, const int8_t *aq, int b0, int b1) {
    for (int b = b0; b + 2 <= b1; b += 2, ap += 2 * SLM_QK) {
        const int8_t *a = aq + (size_t)b * SLM_QK;
        __m256i a0 = _mm256_loadu_si256((const __m256i *)a), a16 = _mm256_loadu_si256((const __m256i *)(a + 16));
        __m256i a32 = _mm256_loadu_si256((const __m256i *)(a + SLM_QK));
        _mm256_store_si256((__m256i *)ap, _mm256_blend_epi32(a0, a16, 0xF0));
        _mm256_store_si256((__m256i *)(ap + 32), _mm256_blend_epi32(a16, a32, 0xF0));
    }
}

/* Rows [r0, r1): ROWS at a time a quarter of the range apart, the last (r1 - r0) % ROWS one by one; rows
 * longer than SLICE columns in slices, each adding to y. */
static inline __attribute__((always_inline)) void rows_generic(float *y, const slm_mat *W, const void *xp, int r0, int r1, int vnni) {
    _Alignas(64) int8_t ap[SLICE];
    int nb = W->cols / SLM_QK, part = (r1 - r0) / ROWS;
    const slm_block_q4_0 *base = W->data;
    for (int b0 = 0; b0 < nb; b0 += SLICE / SLM_QK) {
        int b1 = nb - b0 > SLICE / SLM_QK ? b0 + SLICE / SLM_QK : nb;
        pack_pairs(ap, slm_act_q8_values(xp, W->cols), b0, b1);
        for (int r = r0; r < r0 + part; r++) {
            const slm_block_q4_0 *w[ROWS];
            float *yy[ROWS];
            for (int i = 0; i < ROWS; i++) {
                w[i] = base + (size_t)(r + i * part) * nb;
                yy[i] = &y[r + i * part];
            }
            rows_n(w, ROWS, b0, b1, xp, W->cols, ap, yy, b0 > 0, vnni);
        }
        for (int r = r0 + part * ROWS; r < r1; r++) {
            const slm_block_q4_0 *w[1] = {base + (size_t)r * nb};
            float *yy[1] = {&y[r]};
            rows_n(w, 1, b0, b1, xp, W->cols, ap, yy, b0 > 0, vnni);
        }
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
