/* AVX2 matrix-vector kernel for NF4 weights.
 *
 * The int8 path (cols % 64 == 0, blocks a multiple of 64 weights): the 16-entry code table becomes
 * int8 round(code·127/max|code|) in each 16-byte lane of a register, and prep quantizes x once per
 * token to int8 per 64 values (scale max|x|/127), its odd values then its even ones. Each 32 code bytes
 * (64 weights) are loaded once; vpshufb looks up the low nibbles (the odd weights) and the high ones
 * (the even weights), and maddubs multiplies |code| with x carrying the code's sign (vpsignb), as
 * llama.cpp does for signed weights: each pair of products is at most 2·127·127, inside int16. One
 * int32 → float conversion and one FMA per 64 weights apply absmax × x scale.
 * Why: the float path below spends two vpermps, a blend and an FMA on every 8 weights and reads under
 * 8 GB/s on one Zen 4 core, a quarter of the memory's rate; the int8 path does 17 operations per 64.
 * Precision: as nf4/avx512's int8 path (same table, same activation rounding): each code moves by at
 * most half a step of max|code|/127 and each activation by half a step of its 64 values' max|x|/127.
 *
 * The float path (blocks that are not a multiple of 64, cols % 64 != 0): vpermps looks up 8 entries, so
 * the 16-entry code table (scaled by the block's absmax) is two registers and bit 3 of the index picks
 * between them (blendv reads the sign bit, so the bit is shifted up there). Eight code bytes hold 16
 * weights, high nibbles the even ones and low nibbles the odd ones; prep splits x to match. The
 * weights are code·absmax exactly as dequantization forms them; only the order of the sum differs
 * from the scalar reference. Rows that do not start on a block boundary (cols % block != 0, a short
 * last block) or blocks that are not a multiple of 32 take a plain per-weight path. */
#include <immintrin.h>
#include <math.h>

#include "hsum.h"
#include "matmul.h"
#include "quant.h"

/* HALF weights (32 code bytes) per step of the int8 path, and per activation scale. */
enum { HALF = 64, QMAX = 127 };

/* The prepared activation: the float row split for the float path, then, when cols % 64 == 0, per 64
 * values the 32 odd ones and the 32 even ones as int8, then the float scale of each 64. */
static int int8_cols(int cols) { return cols % HALF == 0; }
static size_t float_bytes(int cols) { return (size_t)cols * sizeof(float); }
static size_t prep_bytes(int cols) {
    return float_bytes(cols) + (int8_cols(cols) ? (size_t)cols + (size_t)(cols / HALF) * sizeof(float) : 0);
}
static const int8_t *xq_of(const void *xp, int cols) { return (const int8_t *)((const char *)xp + float_bytes(cols)); }
static const float *xs_of(const void *xp, int cols) { return (const float *)(xq_of(xp, cols) + cols); }

/* Odd (or even) values of the 16 int32 in a then b, in order: within each 128-bit lane shuffle_ps takes
 * lanes 1, 3 (or 0, 2) of a then of b, and a 64-bit permute puts a's before b's. */
static inline __m256i pick(__m256i a, __m256i b, int odd) {
    __m256 s = odd ? _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(3, 1, 3, 1))
                   : _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_permute4x64_epi64(_mm256_castps_si256(s), _MM_SHUFFLE(3, 1, 2, 0));
}

/* 32 int8 in order from four vectors of 8 int32 within ±127: the packs interleave 128-bit lanes, and a
 * final permute undoes it. */
static inline __m256i narrow(const __m256i *v) {
    __m256i w = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    return _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void prep_int8(int8_t *q, float *scale, const float *x, int cols) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int c = 0; c < cols; c += HALF, x += HALF) {
        __m256 v[8], m = _mm256_setzero_ps();
        int nan = 0;
        for (int j = 0; j < 8; j++) {
            v[j] = _mm256_loadu_ps(x + 8 * j);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[j]));
            nan |= _mm256_movemask_ps(_mm256_cmp_ps(v[j], v[j], _CMP_UNORD_Q));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float d = nan ? NAN : _mm_cvtss_f32(h) / QMAX; /* NaN keeps y NaN, as in the float path */
        const __m256 id = _mm256_set1_ps(d > 0 ? 1.0f / d : 0.0f);
        __m256i iv[8], o[4], e[4];
        for (int j = 0; j < 8; j++) iv[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
        for (int j = 0; j < 4; j++) {
            o[j] = pick(iv[2 * j], iv[2 * j + 1], 1);
            e[j] = pick(iv[2 * j], iv[2 * j + 1], 0);
        }
        _mm256_storeu_si256((__m256i *)(q + c), narrow(o));
        _mm256_storeu_si256((__m256i *)(q + c + HALF / 2), narrow(e));
        scale[c / HALF] = d;
    }
}

/* Per 16 values of x: the 8 even ones, then the 8 odd ones; then the int8 row. */
static void prep(void *dst, const float *x, int cols) {
    float *o = dst;
    int c = 0;
    for (; c + 16 <= cols; c += 16)
        for (int k = 0; k < 8; k++) {
            o[c + k] = x[c + 2 * k];
            o[c + 8 + k] = x[c + 2 * k + 1];
        }
    for (; c < cols; c++) o[c] = x[c];
    if (int8_cols(cols)) prep_int8((int8_t *)xq_of(dst, cols), (float *)xs_of(dst, cols), x, cols);
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

/* ---- the int8 path ---- */

/* Σ code·x over 64 weights (32 code bytes) as 8 int32 lanes: table holds the signed int8 codes, xo
 * and xe the odd and even activations. */
static inline __m256i dot64(const uint8_t *codes, __m256i table, __m256i xo, __m256i xe) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)codes), low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi16(1);
    const __m256i wo = _mm256_shuffle_epi8(table, _mm256_and_si256(w, low));
    const __m256i we = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(w, 4), low));
    const __m256i po = _mm256_maddubs_epi16(_mm256_abs_epi8(wo), _mm256_sign_epi8(xo, wo));
    const __m256i pe = _mm256_maddubs_epi16(_mm256_abs_epi8(we), _mm256_sign_epi8(xe, we));
    return _mm256_add_epi32(_mm256_madd_epi16(po, one), _mm256_madd_epi16(pe, one));
}

/* Where row r's weights start in the absmax array: the block, and how many 64-weight halves of it lie
 * before the row (a block may be longer than a row). */
typedef struct {
    const float *a;
    int used;
} absmax_at;

static inline absmax_at absmax_of(const slm_mat *W, int r) {
    size_t e = (size_t)r * (size_t)W->cols, block = (size_t)W->block;
    return (absmax_at){W->absmax + e / block, (int)(e % block / HALF)};
}

/* The absmax of the next 64 weights, stepping on to the next block after every m halves. */
static inline float next_absmax(absmax_at *p, int m) {
    float a = *p->a;
    if (++p->used == m) p->used = 0, p->a++;
    return a;
}

/* Rows r0 and r1 (the same row twice for a lone one), cols % 64 == 0 and blocks a multiple of 64, so
 * no 64 weights cross a block. */
static inline void pair_int8(const slm_mat *W, __m256i table, float unit, const void *xp, int r0, int r1, float *y0, float *y1) {
    const int cols = W->cols, m = W->block / HALF;
    const uint8_t *c0 = (const uint8_t *)W->data + (size_t)r0 * (size_t)(cols / 2);
    const uint8_t *c1 = (const uint8_t *)W->data + (size_t)r1 * (size_t)(cols / 2);
    absmax_at a0 = absmax_of(W, r0), a1 = absmax_of(W, r1);
    const int8_t *xq = xq_of(xp, cols);
    const float *xs = xs_of(xp, cols);
    __m256 t0 = _mm256_setzero_ps(), t1 = t0;
    for (int c = 0; c < cols; c += HALF) {
        const __m256i xo = _mm256_loadu_si256((const __m256i *)(xq + c)), xe = _mm256_loadu_si256((const __m256i *)(xq + c + HALF / 2));
        const float s = xs[c / HALF];
        const __m256 s0 = _mm256_set1_ps(next_absmax(&a0, m) * s);
        const __m256 s1 = _mm256_set1_ps(next_absmax(&a1, m) * s);
        t0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot64(c0 + c / 2, table, xo, xe)), s0, t0);
        t1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot64(c1 + c / 2, table, xo, xe)), s1, t1);
    }
    *y0 = slm_hsum256(t0) * unit;
    *y1 = slm_hsum256(t1) * unit;
}

static void rows_int8(float *y, const slm_mat *W, const void *xp, int r0, int r1) {
    int8_t t[16];
    const float unit = slm_nf4_int8_table(t, W->code);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
    int half = (r1 - r0) / 2;
    for (int r = r0; r < r0 + half; r++) pair_int8(W, table, unit, xp, r, r + half, &y[r], &y[r + half]);
    if ((r1 - r0) & 1) pair_int8(W, table, unit, xp, r1 - 1, r1 - 1, &y[r1 - 1], &y[r1 - 1]);
}

/* Rows are read in pairs that lie half the range apart: the two share every load of x and still stream
 * from memory independently (neighbouring rows read in step confuse the hardware prefetcher). */
static void rows_nf4(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    const float *code = W->code ? W->code : slm_nf4_code;
    if (W->block % HALF == 0 && int8_cols(W->cols)) {
        rows_int8(y, W, xp, r0, r1);
        return;
    }
    if (W->block % 32 || W->cols % W->block) {
        for (int r = r0; r < r1; r++) y[r] = row_plain(W, code, x, r);
        return;
    }
    int half = (r1 - r0) / 2;
    for (int r = r0; r < r0 + half; r++) row_pair(W, code, xp, r, r + half, &y[r], &y[r + half]);
    if ((r1 - r0) & 1) row_pair(W, code, xp, r1 - 1, r1 - 1, &y[r1 - 1], &y[r1 - 1]);
}

const slm_matvec_kernel slm_mv_nf4_avx2 = {"nf4/avx2", SLM_ISA_AVX2, prep_bytes, prep, rows_nf4};
