/* AVX-512 matrix-matrix kernel for prompt batches of F16 and BF16 weights: out[t][r] = Σ_k x[t][k]·w[r][k].
 *
 * Each tile is 4 weight rows by 6 tokens, 24 float accumulators along k. Per 16 values of k: 4 weight
 * loads widened to float (vcvtph2ps, or a shift for BF16), 6 activation loads, 24 FMAs; the 16 lanes
 * are summed once at the end of the row, 4 rows together. Rows and activations are read where they lie,
 * with nothing packed or converted beforehand: on one Zen 4 core this ran 100-108 GFLOP/s where
 * converting tiles of weights to float for OpenBLAS sgemm ran 86-92 (shapes of Llama-3.2-1B, 512 tokens).
 *
 * Each activation vector is held in a register across the 4 rows (in_register): folded into the
 * FMAs instead, it was loaded 4 times, and loads bounded the loop at 75-80 GFLOP/s. Tokens go in blocks
 * of TOKEN_BLOCK, so that a block of activations stays in cache while the chunk's rows pass over it. */
#include <immintrin.h>

#include "matmul.h"

enum { TR = 4, TT = 6, TOKEN_BLOCK = 96 };

static inline __m512 widen(const uint16_t *p, int bf16) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

static inline __m512 widen_masked(const uint16_t *p, __mmask16 m, int bf16) {
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* v kept in a register, as slm_in_register (hsum.h) does for 256-bit values. */
static inline __m512 in_register(__m512 v) {
    __asm__("" : "+v"(v));
    return v;
}

/* The 4 row sums of a, b, c, d (one token, 4 rows) as one vector, for a single store. */
static inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* out[t * ldo + i] (added to it with add) for R rows w (K values each) and T tokens x (xs apart). Always
 * inlined, so that R and T are constants and the loops unroll into registers. */
static inline __attribute__((always_inline)) void tile(float *out, size_t ldo, const uint16_t *w, const float *x, size_t xs,
                                                       int K, int R, int T, int bf16, int add) {
    __m512 acc[TR][TT];
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++) acc[i][t] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 wv[TR];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) wv[i] = widen(w + (size_t)i * K + k, bf16);
#pragma GCC unroll 6
        for (int t = 0; t < T; t++) {
            __m512 xv = in_register(_mm512_loadu_ps(x + (size_t)t * xs + k));
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) acc[i][t] = _mm512_fmadd_ps(wv[i], xv, acc[i][t]);
        }
    }
    if (k < K) {
        const __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[TR];
        for (int i = 0; i < R; i++) wv[i] = widen_masked(w + (size_t)i * K + k, m, bf16);
        for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)t * xs + k);
            for (int i = 0; i < R; i++) acc[i][t] = _mm512_fmadd_ps(wv[i], xv, acc[i][t]);
        }
    }
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * ldo;
        if (R == TR) {
            __m128 v = sum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
            _mm_storeu_ps(o, add ? _mm_add_ps(_mm_loadu_ps(o), v) : v);
        } else {
            for (int i = 0; i < R; i++) o[i] = (add ? o[i] : 0.0f) + _mm512_reduce_add_ps(acc[i][t]);
        }
    }
}

/* R rows by the T tokens of a block's end (T < TT), each T its own unrolled copy. */
static inline __attribute__((always_inline)) void tile_tail(float *out, size_t ldo, const uint16_t *w, const float *x,
                                                            size_t xs, int K, int R, int T, int bf16, int add) {
    switch (T) {
    case 1: tile(out, ldo, w, x, xs, K, R, 1, bf16, add); break;
    case 2: tile(out, ldo, w, x, xs, K, R, 2, bf16, add); break;
    case 3: tile(out, ldo, w, x, xs, K, R, 3, bf16, add); break;
    case 4: tile(out, ldo, w, x, xs, K, R, 4, bf16, add); break;
    case 5: tile(out, ldo, w, x, xs, K, R, 5, bf16, add); break;
    }
}

/* Rows [r0, r1) of R at a time, for the tokens [t0, t1): W row-major with K values a row, x xs apart. */
static inline __attribute__((always_inline)) void rows_of(float *out, size_t ldo, const uint16_t *W, const float *x, size_t xs,
                                                          int K, int t0, int t1, int r0, int r1, int R, int bf16, int add) {
    for (int r = r0; r + R <= r1; r += R) {
        const uint16_t *w = W + (size_t)r * K;
        int t = t0;
        for (; t + TT <= t1; t += TT) tile(out + (size_t)t * ldo + r, ldo, w, x + (size_t)t * xs, xs, K, R, TT, bf16, add);
        if (t < t1) tile_tail(out + (size_t)t * ldo + r, ldo, w, x + (size_t)t * xs, xs, K, R, t1 - t, bf16, add);
    }
}

/* The row-major matrix W [rows][K] against the activations x (xs apart), into out or added to it. */
static void gemm(float *out, size_t ldo, const uint16_t *W, int K, const float *x, size_t xs, int n, int r0, int r1, int bf16,
                 int add) {
    const int whole = r0 + (r1 - r0) / TR * TR;
    for (int t0 = 0; t0 < n; t0 += TOKEN_BLOCK) {
        const int t1 = t0 + TOKEN_BLOCK < n ? t0 + TOKEN_BLOCK : n;
        rows_of(out, ldo, W, x, xs, K, t0, t1, r0, whole, TR, bf16, add);
        rows_of(out, ldo, W, x, xs, K, t0, t1, whole, r1, 1, bf16, add);
    }
}

void slm_gemm_half_avx512(float *out, size_t ldo, const slm_mat *W, const float *x, int n, int r0, int r1) {
    const int bf16 = W->type == SLM_BF16 || W->type == SLM_BF16B;
    /* F16B, BF16B: block by block, each a row-major matrix of its own, the sums added up in out; F16 and
     * BF16 are one block as wide as the row */
    const int step = W->type == SLM_F16B || W->type == SLM_BF16B ? SLM_COL_BLOCK : W->cols;
    for (int c0 = 0; c0 < W->cols; c0 += step) {
        const uint16_t *block = (const uint16_t *)W->data + (size_t)W->rows * c0;
        const int width = W->cols - c0 < step ? W->cols - c0 : step;
        if (bf16) gemm(out, ldo, block, width, x + c0, (size_t)W->cols, n, r0, r1, 1, c0 > 0);
        else gemm(out, ldo, block, width, x + c0, (size_t)W->cols, n, r0, r1, 0, c0 > 0);
    }
}
