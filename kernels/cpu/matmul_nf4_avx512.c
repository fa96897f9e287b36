/* AVX-512 matrix-vector kernel for NF4 weights.
 *
 * The int16 path (AVX-512 VNNI, cols % 128 == 0, blocks a multiple of 64 weights): the 16-entry code table
 * becomes int16 round(code·16383/max|code|), duplicated into the 32 words of one register, and prep
 * quantizes x once per token to int16 per 64 values (scale max|x|/16383, round to nearest). Each 64 code
 * bytes (128 weights) are loaded as 32 words; vpermw looks up 32 codes from the words and from the words
 * shifted right by 4, 8 and 12 bits (it reads the low 5 bits of each index; the duplicated table makes the
 * fifth bit harmless), and four vpdpwssd multiply them into 16 int32 lanes with x, which prep stored in
 * the matching order. Lanes 0-7 hold the first 64 weights and 8-15 the second: one int32 → float
 * conversion and one FMA per 128 weights apply absmax × x scale of each half.
 * Why: the float path below spends a vpmovzxbd, two vpermps and two FMAs on every 32 weights and is bound
 * by the shuffles, at under half of one core's read bandwidth. The int16 path does 4 vpermw, 3 shifts,
 * 4 vpdpwssd and 3 scale operations per 128 weights. Measured on one Zen 4 core, 2048x8192 read from
 * DRAM: 22 GB/s of codes (25 counting absmax) against 10 (11.4) for the float path, where a plain
 * streaming read of the same rows reached 24 (27). It is still compute-bound, at about 25 GB/s of codes
 * from cache (vpermw and vpdpwssd share an execution pipe), so each row's codes are also prefetched
 * AHEAD bytes ahead into L2: without, it is a quarter slower from DRAM on rows of 4 KiB.
 * Precision: the result is the exact integer product of the rounded codes and activations, so it differs
 * from the float product of the dequantized weights by that rounding: each code by at most half a step
 * of max|code|/16383 and each activation by half a step of its 64 values' max|x|/16383, about 3e-5 of
 * the largest either way (tests/test_quant.c bounds every row by the sum of those terms). On random rows
 * the error is 1e-6 to 1e-5 of Σ|w·x| (less on longer rows, where the roundings cancel). The int32 lanes
 * cannot overflow (see dot128).
 *
 * The float path (without VNNI, for blocks that are not a multiple of 64 and for cols % 128 != 0; alone it
 * is nf4/avx512bw): the code table scaled by the block's absmax sits in one register and vpermps looks up
 * 16 weights at a time (it reads only the low 4 bits of each index, so a byte's low nibble needs no
 * mask). Sixteen bytes hold 32 weights, high nibbles the even ones and low nibbles the odd ones, so prep
 * splits each 32 values of x into its even and odd halves to match. The weights are code·absmax exactly
 * as dequantization forms them; only the order of the sum differs from the scalar reference. Rows that
 * do not start on a block boundary (cols % block != 0, a short last block) or blocks that are not a
 * multiple of 32 take a plain per-weight path there.
 *
 * Both paths read rows in pairs half the range apart: the two share every load of x and still stream from
 * memory independently (neighbouring rows read in step confuse the hardware prefetcher). */
#include <immintrin.h>
#include <math.h>

#include "matmul.h"
#include "quant.h"

/* CHUNK weights (64 code bytes) per step of the int16 path, HALF per activation scale, GROUP chunks per
 * load of scales; AHEAD bytes of each row's codes prefetched into L2 ahead of the loads. */
enum { CHUNK = 128, HALF = 64, GROUP = 8, QMAX = 16383, AHEAD = 4096 };

/* ---- the prepared activation ----
 * First the float row split for the float path: per 32 values the 16 even ones, then the 16 odd ones.
 * Then, when the int16 path can run (VNNI, cols % 128 == 0), per 128 values the four vectors of 32
 * int16 that meet the four lookups of a 64-byte load (q_o[k] = x[4k + o'] for o' = 1, 0, 3, 2), and
 * after all of them the float scale of each 64 values. */
static int int16_cols(int cols) { return cols % CHUNK == 0; }
static int int16_ok(int cols) { return int16_cols(cols) && slm_cpu()->avx512_vnni; }
static size_t float_bytes(int cols) { return (size_t)cols * sizeof(float); }

static size_t prep_bytes_float(int cols) { return float_bytes(cols); }
static size_t prep_bytes(int cols) {
    return float_bytes(cols) + (int16_cols(cols) ? (size_t)cols * sizeof(int16_t) + (size_t)(cols / HALF) * sizeof(float) : 0);
}

static const int16_t *xq_of(const void *xp, int cols) { return (const int16_t *)((const char *)xp + float_bytes(cols)); }
static const float *xs_of(const void *xp, int cols) { return (const float *)(xq_of(xp, cols) + cols); }

static void prep_float(void *dst, const float *x, int cols) {
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

/* 32 int16 from two vectors of 16 int32 (already within ±QMAX). */
static inline __m512i pack16(__m512i a, __m512i b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(a)), _mm512_cvtepi32_epi16(b), 1);
}

static void prep_int16(int16_t *q, float *scale, const float *x, int cols) {
    /* Word k of a 64-byte load of codes holds weights 4k+1 (bits 0-3), 4k (4-7), 4k+3 (8-11) and 4k+2
     * (12-15). Lanes 0-15 of lo take x[4k+1] and 16-31 x[4k] from 64 values, hi the same for +3, +2. */
    static const int16_t lo_idx[32] = {1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61,
                                       0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60};
    static const int16_t hi_idx[32] = {3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55, 59, 63,
                                       2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50, 54, 58, 62};
    const __m512i lo = _mm512_loadu_si512(lo_idx), hi = _mm512_loadu_si512(hi_idx);
    const __m512i qmax = _mm512_set1_epi32(QMAX), qmin = _mm512_set1_epi32(-QMAX);
    for (int c = 0; c < cols; c += CHUNK, x += CHUNK, q += CHUNK) {
        __m512i w[4]; /* the 128 values in order */
        for (int h = 0; h < 2; h++) {
            __m512 v[4];
            __m512 m = _mm512_setzero_ps();
            __mmask16 nan = 0;
            for (int j = 0; j < 4; j++) {
                v[j] = _mm512_loadu_ps(x + HALF * h + 16 * j);
                m = _mm512_max_ps(m, _mm512_abs_ps(v[j]));
                nan |= _mm512_cmp_ps_mask(v[j], v[j], _CMP_UNORD_Q);
            }
            float amax = _mm512_reduce_max_ps(m);
            if (nan) amax = NAN; /* max_ps may drop a NaN; keep it, so that y is NaN as in the float path */
            const float d = amax / QMAX;
            const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
            __m512i iv[4];
            for (int j = 0; j < 4; j++)
                iv[j] = _mm512_max_epi32(qmin, _mm512_min_epi32(qmax, _mm512_cvtps_epi32(_mm512_mul_ps(v[j], id))));
            w[2 * h] = pack16(iv[0], iv[1]);
            w[2 * h + 1] = pack16(iv[2], iv[3]);
            scale[(c / HALF) + h] = d;
        }
        __m512i a = _mm512_permutex2var_epi16(w[0], lo, w[1]), b = _mm512_permutex2var_epi16(w[2], lo, w[3]);
        _mm512_storeu_si512(q, _mm512_inserti64x4(a, _mm512_castsi512_si256(b), 1));
        _mm512_storeu_si512(q + 32, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
        a = _mm512_permutex2var_epi16(w[0], hi, w[1]), b = _mm512_permutex2var_epi16(w[2], hi, w[3]);
        _mm512_storeu_si512(q + 64, _mm512_inserti64x4(a, _mm512_castsi512_si256(b), 1));
        _mm512_storeu_si512(q + 96, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    }
}

static void prep(void *dst, const float *x, int cols) {
    prep_float(dst, x, cols);
    if (int16_ok(cols)) prep_int16((int16_t *)xq_of(dst, cols), (float *)xs_of(dst, cols), x, cols);
}

/* ---- the float path ---- */

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

static void rows_float(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
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

/* ---- the int16 path ---- */

/* Σ code·x over 128 weights (64 code bytes) as 16 int32 lanes: lane j holds weights 8j..8j+7, so lanes
 * 0-7 the first 64 weights and 8-15 the second 64. vpermw reads the low 5 bits of each index word and
 * the table is duplicated, so bit 4 (the next nibble's low bit) needs no mask. No overflow: each lane
 * adds 8 products of |code| <= 16383 and |x| <= 16383, 8·16383² < 2³¹. */
static inline __m512i dot128(const uint8_t *codes, __m512i table, const __m512i *x) {
    __m512i w = _mm512_loadu_si512(codes);
    __m512i a = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_permutexvar_epi16(w, table), x[0]);
    a = _mm512_dpwssd_epi32(a, _mm512_permutexvar_epi16(_mm512_srli_epi16(w, 4), table), x[1]);
    a = _mm512_dpwssd_epi32(a, _mm512_permutexvar_epi16(_mm512_srli_epi16(w, 8), table), x[2]);
    return _mm512_dpwssd_epi32(a, _mm512_permutexvar_epi16(_mm512_srli_epi16(w, 12), table), x[3]);
}

/* The absmax of the nh <= 16 consecutive 64-weight halves from half index h (lanes nh.. zero, k their
 * mask): blocks of m halves, m = block / 64. */
static inline __m512 half_absmax(const float *absmax, size_t h, int m, int nh, __mmask16 k) {
    if (m == 1) return _mm512_maskz_loadu_ps(k, absmax + h);
    size_t b = h / (size_t)m;
    int rem = (int)(h - b * (size_t)m), last = (rem + nh - 1) / m;
    /* lane j -> block b + (rem + j) / m, the quotient from floats: (rem + j + 0.5) / m is at least
     * 0.5/m from an integer, far more than the rounding of numbers this small. */
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 f = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(iota, _mm512_set1_epi32(rem))), _mm512_set1_ps(0.5f));
    __m512i idx = _mm512_cvttps_epi32(_mm512_mul_ps(f, _mm512_set1_ps(1.0f / (float)m)));
    __m512 a = _mm512_maskz_loadu_ps((__mmask16)((2u << last) - 1), absmax + b);
    return _mm512_maskz_permutexvar_ps(k, idx, a);
}

typedef struct {
    __m512i table; /* round(code·QMAX / max|code|) as int16, entries 16-31 = 0-15 */
    float unit;    /* max|code| / QMAX: the value of one table step */
} table16;

static table16 make_table(const float *code) {
    float m = 0;
    for (int i = 0; i < 16; i++) m = fmaxf(m, fabsf(code[i]));
    int16_t t[32];
    for (int i = 0; i < 16; i++) t[i] = t[i + 16] = m > 0 ? (int16_t)lrintf(code[i] * (QMAX / m)) : 0;
    return (table16){_mm512_loadu_si512(t), m / QMAX};
}

/* Rows r0 and r1 (the same row twice for a lone one), cols % 128 == 0. Per 8 chunks (1024 weights) the
 * scales of their 16 halves, absmax·x scale, are formed once; each chunk picks its two. */
static inline void pair_int16(const slm_mat *W, const table16 *t, const int16_t *xq, const float *xs, int r0, int r1,
                              float *y0, float *y1) {
    const int cols = W->cols, m = W->block / HALF;
    const uint8_t *c0 = (const uint8_t *)W->data + (size_t)r0 * (size_t)(cols / 2);
    const uint8_t *c1 = (const uint8_t *)W->data + (size_t)r1 * (size_t)(cols / 2);
    const size_t h0 = (size_t)r0 * (size_t)(cols / HALF), h1 = (size_t)r1 * (size_t)(cols / HALF);
    __m512 tot0 = _mm512_setzero_ps(), tot1 = tot0;
    for (int c = 0; c < cols; c += GROUP * CHUNK) {
        const int g = (cols - c) / CHUNK < GROUP ? (cols - c) / CHUNK : GROUP;
        const __mmask16 k = (__mmask16)((1u << (2 * g)) - 1);
        const __m512 xsv = _mm512_maskz_loadu_ps(k, xs + c / HALF);
        const __m512 s0 = _mm512_mul_ps(half_absmax(W->absmax, h0 + (size_t)(c / HALF), m, 2 * g, k), xsv);
        const __m512 s1 = _mm512_mul_ps(half_absmax(W->absmax, h1 + (size_t)(c / HALF), m, 2 * g, k), xsv);
        __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        for (int j = 0; j < g; j++, pick = _mm512_add_epi32(pick, _mm512_set1_epi32(2))) {
            const int e = c + j * CHUNK;
            const __m512i xv[4] = {_mm512_loadu_si512(xq + e), _mm512_loadu_si512(xq + e + 32), _mm512_loadu_si512(xq + e + 64),
                                   _mm512_loadu_si512(xq + e + 96)};
            _mm_prefetch((const char *)c0 + e / 2 + AHEAD, _MM_HINT_T2);
            _mm_prefetch((const char *)c1 + e / 2 + AHEAD, _MM_HINT_T2);
            tot0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot128(c0 + e / 2, t->table, xv)), _mm512_permutexvar_ps(pick, s0), tot0);
            tot1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot128(c1 + e / 2, t->table, xv)), _mm512_permutexvar_ps(pick, s1), tot1);
        }
    }
    *y0 = _mm512_reduce_add_ps(tot0) * t->unit;
    *y1 = _mm512_reduce_add_ps(tot1) * t->unit;
}

/* Rows in pairs half the range apart, as in the float path. */
static void rows_int16(float *y, const slm_mat *W, const void *xp, int r0, int r1) {
    const table16 t = make_table(W->code ? W->code : slm_nf4_code);
    const int16_t *xq = xq_of(xp, W->cols);
    const float *xs = xs_of(xp, W->cols);
    int half = (r1 - r0) / 2;
    for (int r = r0; r < r0 + half; r++) pair_int16(W, &t, xq, xs, r, r + half, &y[r], &y[r + half]);
    if ((r1 - r0) & 1) pair_int16(W, &t, xq, xs, r1 - 1, r1 - 1, &y[r1 - 1], &y[r1 - 1]);
}

static void rows_nf4(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    if (W->block % HALF == 0 && int16_ok(W->cols))
        rows_int16(y, W, xp, r0, r1);
    else
        rows_float(y, W, x, xp, r0, r1);
}

const slm_matvec_kernel slm_mv_nf4_avx512 = {"nf4/avx512", SLM_ISA_AVX512, prep_bytes, prep, rows_nf4};
const slm_matvec_kernel slm_mv_nf4_avx512bw = {"nf4/avx512bw", SLM_ISA_AVX512, prep_bytes_float, prep_float, rows_float};

/* Rows [r0, r1) as floats for the sgemm tiles of prompt batches, code·absmax exactly as
 * slm_dequantize_nf4 forms it: 16 code bytes give 32 weights, vpermps looks up the high nibbles (the
 * even weights) and the low ones (the odd) in the table times the block's absmax, and two two-source
 * permutes interleave them. Runs of 32 that might cross a block (block % 32 != 0, an odd start) take
 * the scalar dequantization. */
void slm_nf4_rows_avx512(float *dst, const slm_mat *W, int r0, int r1) {
    const float *code = W->code ? W->code : slm_nf4_code;
    size_t start = (size_t)r0 * (size_t)W->cols, n = (size_t)(r1 - r0) * (size_t)W->cols, block = (size_t)W->block, i = 0;
    const uint8_t *codes = W->data;
    if (block % 32 == 0 && start % 32 == 0) {
        const __m512 table = _mm512_loadu_ps(code);
        const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const __m512i second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        for (; i + 32 <= n; i += 32) {
            __m512 t = _mm512_mul_ps(table, _mm512_set1_ps(W->absmax[(start + i) / block]));
            __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + (start + i) / 2)));
            __m512 even = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t), odd = _mm512_permutexvar_ps(v, t);
            _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(even, first, odd));
            _mm512_storeu_ps(dst + i + 16, _mm512_permutex2var_ps(even, second, odd));
        }
    }
    if (i < n) slm_dequantize_nf4(dst + i, codes, W->absmax, code, W->block, start + i, n - i);
}
