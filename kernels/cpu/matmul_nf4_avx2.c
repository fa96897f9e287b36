/* AVX2 matrix-vector kernel for NF4 weights, in float: vpermps looks up 8 entries, so the 16-entry
 * code table (scaled by the block's absmax) is two registers and bit 3 of the index picks between
 * them (blendv reads the sign bit, so the bit is shifted up there). Eight code bytes hold 16 weights,
 * high nibbles the even ones and low nibbles the odd ones; prep splits x to match. The weights are
 * code·absmax exactly as dequantization forms them; only the order of the sum differs from the
 * scalar reference. Rows that do not start on a block boundary (cols % block != 0, a short last
 * block) or blocks that are not a multiple of 32 take a plain per-weight path. */
#include <immintrin.h>

#include "hsum.h"
#include "matmul.h"
#include "quant.h"

static size_t prep_bytes(int cols) { return (size_t)cols * sizeof(float); }

/* Per 16 values of x: the 8 even ones, then the 8 odd ones. */
static void prep(void *dst, const float *x, int cols) {
    float *o = dst;
    int c = 0;
    for (; c + 16 <= cols; c += 16)
        for (int k = 0; k < 8; k++) {
            o[c + k] = x[c + 2 * k];
            o[c + 8 + k] = x[c + 2 * k + 1];
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

/* The weights of 8 indices held in the low 4 bits of idx; sel has bit 3 of each index in its sign bit. */
static inline __m256 lookup(__m256i idx, __m256i sel, __m256 lo, __m256 hi) {
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx), _mm256_castsi256_ps(sel));
}

/* acc_e/acc_o += the 16 weights of 8 code bytes times the split x. */
static inline void step(const uint8_t *codes, __m256 lo, __m256 hi, const float *xs, __m256 *acc_e, __m256 *acc_o) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)codes));
    __m256 we = lookup(_mm256_srli_epi32(v, 4), _mm256_slli_epi32(v, 24), lo, hi);
    __m256 wo = lookup(v, _mm256_slli_epi32(v, 28), lo, hi);
    *acc_e = _mm256_fmadd_ps(we, _mm256_loadu_ps(xs), *acc_e);
    *acc_o = _mm256_fmadd_ps(wo, _mm256_loadu_ps(xs + 8), *acc_o);
}

/* Rows r0 and r1 (the same row twice for a lone one), whole blocks of 32·k weights starting each row. */
static inline void row_pair(const slm_mat *W, const float *code, const float *xs, int r0, int r1, float *y0, float *y1) {
    int cols = W->cols, block = W->block, bpr = cols / block;
    const uint8_t *c0 = (const uint8_t *)W->data + (size_t)r0 * (cols / 2), *c1 = (const uint8_t *)W->data + (size_t)r1 * (cols / 2);
    const float *am0 = W->absmax + (size_t)r0 * bpr, *am1 = W->absmax + (size_t)r1 * bpr;
    const __m256 lo = _mm256_loadu_ps(code), hi = _mm256_loadu_ps(code + 8);
    __m256 e0 = _mm256_setzero_ps(), o0 = e0, e1 = e0, o1 = e0;
    for (int j = 0; j < bpr; j++) {
        __m256 a0 = _mm256_set1_ps(am0[j]), a1 = _mm256_set1_ps(am1[j]);
        __m256 lo0 = _mm256_mul_ps(lo, a0), hi0 = _mm256_mul_ps(hi, a0);
        __m256 lo1 = _mm256_mul_ps(lo, a1), hi1 = _mm256_mul_ps(hi, a1);
        for (int c = j * block; c < (j + 1) * block; c += 16) {
            step(c0 + c / 2, lo0, hi0, xs + c, &e0, &o0);
            step(c1 + c / 2, lo1, hi1, xs + c, &e1, &o1);
        }
    }
    *y0 = slm_hsum256(_mm256_add_ps(e0, o0));
    *y1 = slm_hsum256(_mm256_add_ps(e1, o1));
}

/* Rows are read in pairs that lie half the range apart: the two share every load of x and still stream
 * from memory independently (neighbouring rows read in step confuse the hardware prefetcher). */
static void rows_nf4(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    const float *code = W->code ? W->code : slm_nf4_code;
    if (W->block % 32 || W->cols % W->block) {
        for (int r = r0; r < r1; r++) y[r] = row_plain(W, code, x, r);
        return;
    }
    int half = (r1 - r0) / 2;
    for (int r = r0; r < r0 + half; r++) row_pair(W, code, xp, r, r + half, &y[r], &y[r + half]);
    if ((r1 - r0) & 1) row_pair(W, code, xp, r1 - 1, r1 - 1, &y[r1 - 1], &y[r1 - 1]);
}

const slm_matvec_kernel slm_mv_nf4_avx2 = {"nf4/avx2", SLM_ISA_AVX2, prep_bytes, prep, rows_nf4};
