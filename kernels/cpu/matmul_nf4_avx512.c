/* AVX-512 matrix-vector kernel for NF4 weights, in float: the 16-entry code table, scaled by the
 * block's absmax, sits in one register and vpermps looks up 16 weights at a time (it reads only the
 * low 4 bits of each index, so a byte's low nibble needs no mask). Sixteen bytes hold 32 weights,
 * high nibbles the even ones and low nibbles the odd ones, so prep splits each 32 values of x into
 * its even and odd halves to match. The weights are code·absmax exactly as dequantization forms them;
 * only the order of the sum differs from the scalar reference. Rows go in pairs half the range apart
 * (see rows_nf4).
 * This is compute-bound (the two 512-bit permutes per 32 weights): on one Zen 4 core 15.7 GB/s of
 * weights from cache, 12.5 from DRAM. A prototype with int8 tables (pshufb of round(127·code), int8
 * activations, vpdpbusd) ran at 17 GB/s but moves every weight by up to 0.4% of its block's absmax, so
 * the exact form stays.
 * Rows that do not start on a block boundary (cols % block != 0, a short last block) or blocks that
 * are not a multiple of 32 take a plain per-weight path. */
#include <immintrin.h>

#include "matmul.h"
#include "quant.h"

static size_t prep_bytes(int cols) { return (size_t)cols * sizeof(float); }

static void prep(void *dst, const float *x, int cols) {
    float *o = dst;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    int c = 0;
    for (; c + 32 <= cols; c += 32) {
        __m512 a = _mm512_loadu_ps(x + c), b = _mm512_loadu_ps(x + c + 16);
        _mm512_storeu_ps(o + c, _mm512_permutex2var_ps(a, even, b));
        _mm512_storeu_ps(o + c + 16, _mm512_permutex2var_ps(a, odd, b));
    }
    for (; c < cols; c++) o[c] = x[c];
}

static float row_plain(const slm_mat *W, const float *code, const float *x, int r) {
    const uint8_t *codes = W->data;
    size_t cols = (size_t)W->cols, block = (size_t)W->block, e = (size_t)r * cols;
    double s = 0;
    for (size_t c = 0; c < cols; c++, e++) {
        int q = e & 1 ? codes[e >> 1] & 0x0F : codes[e >> 1] >> 4;
        s += (double)(code[q] * W->absmax[e / block]) * x[c];
    }
    return (float)s;
}

/* acc_e/acc_o += the 32 weights of 16 code bytes times the split x. */
static inline void step(const uint8_t *codes, __m512 table, __m512 xe, __m512 xo, __m512 *acc_e, __m512 *acc_o) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)codes));
    *acc_e = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table), xe, *acc_e);
    *acc_o = _mm512_fmadd_ps(_mm512_permutexvar_ps(v, table), xo, *acc_o);
}

/* Rows r0 and r1 (the same row twice for a lone one), whole blocks of 32·k weights starting each row. */
static inline void row_pair(const slm_mat *W, __m512 table, const float *xs, int r0, int r1, float *y0, float *y1) {
    int cols = W->cols, block = W->block, bpr = cols / block;
    const uint8_t *c0 = (const uint8_t *)W->data + (size_t)r0 * (cols / 2), *c1 = (const uint8_t *)W->data + (size_t)r1 * (cols / 2);
    const float *am0 = W->absmax + (size_t)r0 * bpr, *am1 = W->absmax + (size_t)r1 * bpr;
    __m512 e0 = _mm512_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
    for (int j = 0; j < bpr; j++) {
        __m512 t0 = _mm512_mul_ps(table, _mm512_set1_ps(am0[j])), t1 = _mm512_mul_ps(table, _mm512_set1_ps(am1[j]));
        for (int c = j * block; c < (j + 1) * block; c += 32) {
            __m512 xe = _mm512_loadu_ps(xs + c), xo = _mm512_loadu_ps(xs + c + 16);
            step(c0 + c / 2, t0, xe, xo, &e0, &o0);
            step(c1 + c / 2, t1, xe, xo, &e1, &o1);
        }
    }
    *y0 = _mm512_reduce_add_ps(_mm512_add_ps(e0, o0));
    *y1 = _mm512_reduce_add_ps(_mm512_add_ps(e1, o1));
}

/* Rows are read in pairs that lie half the range apart: the two share every load of x and still stream
 * from memory independently (neighbouring rows read in step confuse the hardware prefetcher). */
static void rows_nf4(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    const float *code = W->code ? W->code : slm_nf4_code;
    if (W->block % 32 || W->cols % W->block) {
        for (int r = r0; r < r1; r++) y[r] = row_plain(W, code, x, r);
        return;
    }
    const __m512 table = _mm512_loadu_ps(code);
    int half = (r1 - r0) / 2;
    for (int r = r0; r < r0 + half; r++) row_pair(W, table, xp, r, r + half, &y[r], &y[r + half]);
    if ((r1 - r0) & 1) row_pair(W, table, xp, r1 - 1, r1 - 1, &y[r1 - 1], &y[r1 - 1]);
}

const slm_matvec_kernel slm_mv_nf4_avx512 = {"nf4/avx512", SLM_ISA_AVX512, prep_bytes, prep, rows_nf4};
