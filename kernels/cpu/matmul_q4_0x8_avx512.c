/* AVX-512 matrix-vector kernel for Q4_0X8 weights: Q4_0 with each run of 8 blocks regrouped so that
 * block i of the run sits in 32-bit lane i of four 256-bit vectors (layout in quant.h). The activation
 * row is quantized to int8 blocks once (the Q8_0 kernels' prep) and rearranged the same way, so per run
 * and row: four loads, the low nibbles masked and the high ones shifted down (one vgf2p8affineqb where
 * the CPU has GFNI), eight vpdpbusd into two accumulators, and the 8 block sums lie in the 8 lanes with
 * nothing to add across them: one convert, one fmsub for the nibbles' offset 8 (8·d_a·Σa, from the
 * sums prep stores), one fma with the 8 scales. About 25 vector ops per run of 8 blocks, where the
 * Q4_0 kernel (two blocks per register, the lanes reduced per 8 blocks) spends about 40.
 *
 * Measured on one Zen 4 core, GB/s of weight bytes: from L2 54-58 against the Q4_0 kernel's 35-38
 * (512x2048 and 256x8192); the 16-layer matrix stack of Llama-3.2-1B from DRAM 27.5-30.5 against
 * 23-29.5, interleaved runs. Rows are read 4 at a time a quarter of the range apart, as in the Q4_0
 * kernel; the software prefetch that kernel issues made this one slower (21-24 GB/s), so it has none. */
#include <immintrin.h>
#include <string.h>

#include "hsum.h"
#include "matmul.h"
#include "quant.h"

enum { ROWS = 4 }; /* rows per pass, a quarter of the range apart */

/* The prepared activation: the int8 row of slm_act_q8_quantize, then from the next 64-byte boundary the
 * values of its whole runs rearranged as the weights are (pack). */
static size_t packed_at(int cols) { return (slm_act_q8_bytes(cols) + 63) & ~(size_t)63; }
static size_t prep_bytes(int cols) { return packed_at(cols) + (size_t)(cols / (SLM_X8_BLOCKS * SLM_QK)) * SLM_X8_BLOCKS * SLM_QK; }

/* s + Σ lo·alo + hi·ahi per 32-bit lane (lo, hi: nibbles 0..15, so maddubs' 16-bit sums cannot overflow). */
static inline __m256i dot(__m256i s, __m256i lo, __m256i alo, __m256i hi, __m256i ahi, int vnni) {
    if (vnni) return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(s, lo, alo), hi, ahi);
    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(hi, ahi));
    return _mm256_add_epi32(s, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* Σ q·a of one Q4_0 block as eight float partial sums (the blocks after a row's last run). */
static inline __m256 dot1(const slm_block_q4_0 *w, __m256i av) {
    __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w->qs));
    __m256i q = _mm256_and_si256(_mm256_mask_srli_epi16(t, (__mmask16)0xFF00, t, 4), _mm256_set1_epi8(0x0F));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, av), _mm256_set1_epi16(1)));
}

/* Rows w[0..R-1] into y[0..R-1]: their runs of 8 blocks, then the Q4_0 blocks after the last run. ap: the
 * activations rearranged by pack. Always inlined, so that each caller's constants remove the branches
 * from the inner loop. */
static inline __attribute__((always_inline)) void rows_n(const char *const *w, int R, int nb, const void *xp, int cols,
                                                         const int8_t *ap, float *const *y, int vnni, int gfni) {
    const float *da = slm_act_q8_scales(xp), *sums = slm_act_q8_sums(xp, cols);
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 acc[ROWS];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    const int runs = nb / SLM_X8_BLOCKS * SLM_X8_BLOCKS;
    for (int b = 0; b < runs; b += SLM_X8_BLOCKS) {
        const int8_t *a = ap + (size_t)b * SLM_QK;
        __m256i even[ROWS], odd[ROWS];
        for (int i = 0; i < R; i++) even[i] = odd[i] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m256i alo = slm_in_register(_mm256_load_si256((const __m256i *)(a + 64 * k)));
            __m256i ahi = slm_in_register(_mm256_load_si256((const __m256i *)(a + 64 * k + 32)));
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                const char *v = w[i] + (size_t)b * sizeof(slm_block_q4_0) + 16 + 32 * k;
                __m256i x = slm_in_register(_mm256_loadu_si256((const __m256i *)v));
                __m256i lo = _mm256_and_si256(x, low), hi = slm_high_nibbles(x, gfni);
                if (k & 1) odd[i] = dot(odd[i], lo, alo, hi, ahi, vnni);
                else even[i] = dot(even[i], lo, alo, hi, ahi, vnni);
            }
        }
        __m256 a8 = _mm256_loadu_ps(da + b), s8 = _mm256_mul_ps(_mm256_loadu_ps(sums + b), _mm256_set1_ps(8.0f));
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            /* dw·(d_a·Σq·a - 8·d_a·Σa) per block */
            __m256 q = _mm256_fmsub_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(even[i], odd[i])), a8, s8);
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w[i] + (size_t)b * sizeof(slm_block_q4_0))));
            acc[i] = _mm256_fmadd_ps(dw, q, acc[i]);
        }
    }
    float t[ROWS] = {0}; /* Σ dw·d_a·Σa of the Q4_0 blocks, whose offset comes off at the end */
    {
        const int8_t *aq = slm_act_q8_values(xp, cols);
        for (int b = runs; b < nb; b++) {
            __m256i av = _mm256_loadu_si256((const __m256i *)(aq + (size_t)b * SLM_QK));
            for (int i = 0; i < R; i++) {
                const slm_block_q4_0 *blk = (const slm_block_q4_0 *)(w[i] + (size_t)b * sizeof(slm_block_q4_0));
                float d = _cvtsh_ss(blk->d);
                acc[i] = _mm256_fmadd_ps(dot1(blk, av), _mm256_set1_ps(d * da[b]), acc[i]);
                t[i] += d * sums[b];
            }
        }
    }
    for (int i = 0; i < R; i++) *y[i] = slm_hsum256(acc[i]) - 8.0f * t[i];
}

/* The activations of a row's whole runs in the weights' order: per run, for k = 0..3, bytes 8k..8k+3 of
 * each of its 8 blocks, then bytes 8k+4..8k+7. Done once per product in prep, not per chunk of rows. */
static void pack(int8_t *ap, const int8_t *aq, int nb) {
    for (int b = 0; b + SLM_X8_BLOCKS <= nb; b += SLM_X8_BLOCKS, ap += SLM_X8_BLOCKS * SLM_QK)
        for (int k = 0; k < 4; k++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < SLM_X8_BLOCKS; i++)
                    memcpy(ap + 64 * k + 32 * h + 4 * i, aq + (size_t)(b + i) * SLM_QK + 8 * k + 4 * h, 4);
}

static void prep(void *dst, const float *x, int cols) {
    slm_act_q8_quantize_avx512(dst, x, cols);
    pack((int8_t *)dst + packed_at(cols), slm_act_q8_values(dst, cols), cols / SLM_QK);
}

/* Rows [r0, r1): ROWS at a time a quarter of the range apart, the last (r1 - r0) % ROWS one by one. */
static inline __attribute__((always_inline)) void rows_generic(float *y, const slm_mat *W, const void *xp, int r0, int r1,
                                                               int vnni, int gfni) {
    const int8_t *ap = (const int8_t *)xp + packed_at(W->cols);
    int nb = W->cols / SLM_QK, part = (r1 - r0) / ROWS;
    const char *base = W->data;
    size_t stride = (size_t)nb * sizeof(slm_block_q4_0);
    for (int r = r0; r < r0 + part; r++) {
        const char *w[ROWS];
        float *yy[ROWS];
        for (int i = 0; i < ROWS; i++) {
            w[i] = base + (size_t)(r + i * part) * stride;
            yy[i] = &y[r + i * part];
        }
        rows_n(w, ROWS, nb, xp, W->cols, ap, yy, vnni, gfni);
    }
    for (int r = r0 + part * ROWS; r < r1; r++) {
        const char *w[1] = {base + (size_t)r * stride};
        float *yy[1] = {&y[r]};
        rows_n(w, 1, nb, xp, W->cols, ap, yy, vnni, gfni);
    }
}

static void rows_gfni(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    rows_generic(y, W, xp, r0, r1, 1, 1);
}

static void rows_vnni(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    rows_generic(y, W, xp, r0, r1, 1, 0);
}

static void rows_bw(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    rows_generic(y, W, xp, r0, r1, 0, 0);
}

static void rows_q4_0x8(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    const slm_cpu_features *f = slm_cpu();
    if (f->avx512_vnni && f->gfni) rows_gfni(y, W, x, xp, r0, r1);
    else if (f->avx512_vnni) rows_vnni(y, W, x, xp, r0, r1);
    else rows_bw(y, W, x, xp, r0, r1);
}

const slm_matvec_kernel slm_mv_q4_0x8_avx512 = {"q4_0x8/avx512", SLM_ISA_AVX512, prep_bytes, prep, rows_q4_0x8};
/* The variants the dispatch above does not pick on every CPU, for the tests. */
const slm_matvec_kernel slm_mv_q4_0x8_avx512vnni = {"q4_0x8/avx512vnni", SLM_ISA_AVX512, prep_bytes, prep, rows_vnni};
const slm_matvec_kernel slm_mv_q4_0x8_avx512bw = {"q4_0x8/avx512bw", SLM_ISA_AVX512, prep_bytes, prep, rows_bw};
