/* AVX-512 matrix-vector kernel for NF4 weights.
 *
 * The int8 path (AVX-512 VNNI, cols % 64 == 0, blocks a multiple of 64 weights): the 16-entry code table
 * becomes 128 + round(code·127/max|code|), an unsigned byte, in each 16-byte lane of one register, and
 * prep quantizes x once per token to int8 per 64 values (scale max|x|/127, round to nearest). Each 64
 * code bytes (128 weights) are loaded once; vpshufb looks up the low nibbles (the odd weights) and the
 * high ones (the even weights), and two vpdpbusd multiply the unsigned codes with the signed x, which
 * prep stored in the matching order: x's odd values, then its even ones. The +128 that makes the codes
 * unsigned adds 128·Σx to every int32 lane, so prep also stores -128·Σx per lane and each chunk starts
 * from it. Lanes 0-7 hold the first 64 weights and 8-15 the second: one int32 → float conversion and
 * one FMA per 128 weights apply absmax × x scale of each half. When cols % 128 == 64, the last chunk of a
 * row loads only its 32 code bytes, and prep pads x with zeros to a whole chunk, which the missing
 * weights then meet.
 * Why: per 128 weights this is one shift, two ands, two vpshufb and two vpdpbusd, where int16 codes and
 * activations took four vpermw and four vpdpwssd (which share a pipe on Zen 4) and were compute-bound
 * at about 25 GB/s of codes from cache. This path reads about 38 GB/s from cache, and whole-model
 * decode on one thread is about a tenth faster (bench/RESULTS.md). Rows of at least LONG weights also
 * prefetch their codes AHEAD bytes ahead into L2: without, it is a quarter slower from DRAM on rows of
 * 4 KiB; on rows of 288 bytes (SmolLM2-135M) the prefetch made it a quarter slower instead.
 * Precision: the result is the exact integer product of the rounded codes and activations, so it differs
 * from the float product of the dequantized weights by that rounding: each code by at most half a step
 * of max|code|/127 and each activation by half a step of its 64 values' max|x|/127, 0.4% of the largest
 * either way, as in the Q8_0 and Q4_0 kernels (tests/test_quant.c bounds every row by the sum of those
 * terms). On random rows the error is about 4e-4 of Σ|w·x|. The int32 lanes cannot overflow (see dot).
 *
 * The float path (without VNNI, for blocks that are not a multiple of 64 and for cols % 64 != 0; alone it
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
#include <string.h>

#include "hsum.h"
#include "matmul.h"
#include "quant.h"

/* CHUNK weights (64 code bytes) per step of the int8 path, HALF per activation scale, GROUP chunks per
 * load of scales; AHEAD bytes of each row's codes prefetched into L2 ahead of the loads, in rows of at
 * least LONG weights. */
enum { CHUNK = 128, HALF = 64, GROUP = 8, QMAX = 127, AHEAD = 4096, LONG = 4096 };

/* ---- the prepared activation ----
 * First the float row split for the float path: per 32 values the 16 even ones, then the 16 odd ones.
 * Then, when the int8 path can run (VNNI, cols % 64 == 0), per 128 values the 64 odd ones and the 64
 * even ones as int8 (they meet the low and the high nibbles of a 64-byte load of codes), after all of
 * them per 128 values the 16 int32 lanes' starting values -128·(sum of the lane's eight x), and last the
 * float scale of each 64 values; all of it for x padded with zeros to a multiple of 128. */
static int int8_cols(int cols) { return cols % HALF == 0; }
static int padded(int cols) { return (cols + CHUNK - 1) / CHUNK * CHUNK; }
static int int8_ok(int cols) { return int8_cols(cols) && slm_cpu()->avx512_vnni; }
static size_t float_bytes(int cols) { return (size_t)cols * sizeof(float); }

static size_t prep_bytes_float(int cols) { return float_bytes(cols); }
static size_t prep_bytes(int cols) {
    if (!int8_cols(cols)) return float_bytes(cols);
    const int p = padded(cols);
    return float_bytes(cols) + (size_t)p + (size_t)(p / 8) * sizeof(int32_t) + (size_t)(p / HALF) * sizeof(float);
}

static const int8_t *xq_of(const void *xp, int cols) { return (const int8_t *)((const char *)xp + float_bytes(cols)); }
static const int32_t *xi_of(const void *xp, int cols) { return (const int32_t *)(xq_of(xp, cols) + padded(cols)); }
static const float *xs_of(const void *xp, int cols) { return (const float *)(xi_of(xp, cols) + padded(cols) / 8); }

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

/* Byte i of a 64-byte load of codes holds weights 2i (high nibble) and 2i+1 (low), so vpdpbusd lane j
 * meets weights 8j+1, +3, +5, +7 from the low nibbles and 8j, +2, +4, +6 from the high ones: x's odd
 * values in order, then its even ones, line up with them. */
static void prep_int8(int8_t *q, int32_t *init, float *scale, const float *x, int cols) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i c128 = _mm512_set1_epi8((char)128);
    for (int c = 0; c < cols; c += CHUNK, x += CHUNK) {
        __m512i iv[8];
        for (int h = 0; h < 2; h++) {
            __m512 v[4];
            __m512 m = _mm512_setzero_ps();
            __mmask16 nan = 0;
            const int here = c + HALF * h < cols; /* the second half of a last chunk may be padding */
            for (int j = 0; j < 4; j++) {
                v[j] = here ? _mm512_loadu_ps(x + HALF * h + 16 * j) : _mm512_setzero_ps();
                m = _mm512_max_ps(m, _mm512_abs_ps(v[j]));
                nan |= _mm512_cmp_ps_mask(v[j], v[j], _CMP_UNORD_Q);
            }
            float amax = _mm512_reduce_max_ps(m);
            if (nan) amax = NAN; /* max_ps may drop a NaN; keep it, so that y is NaN as in the float path */
            const float d = amax / QMAX;
            const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
            for (int j = 0; j < 4; j++) iv[4 * h + j] = _mm512_cvtps_epi32(_mm512_mul_ps(v[j], id));
            scale[c / HALF + h] = d;
        }
        __m128i o[4], e[4];
        for (int j = 0; j < 4; j++) {
            o[j] = _mm512_cvtsepi32_epi8(_mm512_permutex2var_epi32(iv[2 * j], odd, iv[2 * j + 1]));
            e[j] = _mm512_cvtsepi32_epi8(_mm512_permutex2var_epi32(iv[2 * j], even, iv[2 * j + 1]));
        }
        const __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(o[1], o[0])), _mm256_set_m128i(o[3], o[2]), 1);
        const __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(e[1], e[0])), _mm256_set_m128i(e[3], e[2]), 1);
        _mm512_storeu_si512(q + c, a);
        _mm512_storeu_si512(q + c + 64, b);
        const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, a), c128, b);
        _mm512_storeu_si512(init + c / 8, _mm512_sub_epi32(_mm512_setzero_si512(), s));
    }
}

static void prep(void *dst, const float *x, int cols) {
    prep_float(dst, x, cols);
    if (int8_ok(cols)) prep_int8((int8_t *)xq_of(dst, cols), (int32_t *)xi_of(dst, cols), (float *)xs_of(dst, cols), x, cols);
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

/* ---- the int8 path ---- */

/* Σ code·x over 128 weights (64 code bytes) as 16 int32 lanes: lane j holds weights 8j..8j+7, so lanes
 * 0-7 the first 64 weights and 8-15 the second 64. The table's codes are offset by 128; init, from prep,
 * takes that back out. No overflow: each lane adds 8 products of a byte <= 255 and |x| <= 128 to
 * |init| <= 128·8·128. */
static inline __m512i dot(__m512i w, __m512i table, const __m512i *x, __m512i init) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512i a = _mm512_dpbusd_epi32(init, _mm512_shuffle_epi8(table, _mm512_and_si512(w, low)), x[0]);
    return _mm512_dpbusd_epi32(a, _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(w, 4), low)), x[1]);
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
    __m512i table; /* 128 + round(code·QMAX / max|code|) as bytes, in each 16-byte lane */
    float unit;    /* max|code| / QMAX: the value of one table step */
} table8;

static table8 make_table(const float *code) {
    uint8_t u[16];
    const float unit = slm_nf4_uint8_table(u, code);
    return (table8){_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)u)), unit};
}

/* One chunk of two rows, codes w0 and w1, added with their scales (absmax·x scale per half) to tot0, tot1. */
static inline void chunk_pair(__m512i w0, __m512i w1, __m512i table, const int8_t *xq, const int32_t *xi, __m512 s0,
                              __m512 s1, __m512 *tot0, __m512 *tot1) {
    const __m512i xv[2] = {_mm512_loadu_si512(xq), _mm512_loadu_si512(xq + 64)};
    const __m512i init = _mm512_loadu_si512(xi);
    *tot0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot(w0, table, xv, init)), s0, *tot0);
    *tot1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot(w1, table, xv, init)), s1, *tot1);
}

/* Rows r0 and r1 (the same row twice for a lone one), cols % 64 == 0. Per 8 chunks (1024 weights) the
 * scales of their 16 halves, absmax·x scale, are formed once; each chunk picks its two. */
static inline void pair_int8(const slm_mat *W, const table8 *t, const void *xp, int r0, int r1, float *y0, float *y1) {
    const int cols = W->cols, m = W->block / HALF, halves = cols / HALF;
    const int8_t *xq = xq_of(xp, cols);
    const int32_t *xi = xi_of(xp, cols);
    const float *xs = xs_of(xp, cols);
    const uint8_t *c0 = (const uint8_t *)W->data + (size_t)r0 * (size_t)(cols / 2);
    const uint8_t *c1 = (const uint8_t *)W->data + (size_t)r1 * (size_t)(cols / 2);
    const size_t h0 = (size_t)r0 * (size_t)(cols / HALF), h1 = (size_t)r1 * (size_t)(cols / HALF);
    const int ahead = cols >= LONG;
    __m512 tot0 = _mm512_setzero_ps(), tot1 = tot0;
    for (int c = 0; c < cols; c += GROUP * CHUNK) {
        const int left = halves - c / HALF, nh = left < 2 * GROUP ? left : 2 * GROUP, g = (nh + 1) / 2;
        const __mmask16 k = (__mmask16)((1u << nh) - 1);
        const __m512 xsv = _mm512_maskz_loadu_ps(k, xs + c / HALF);
        const __m512 s0 = _mm512_mul_ps(half_absmax(W->absmax, h0 + (size_t)(c / HALF), m, nh, k), xsv);
        const __m512 s1 = _mm512_mul_ps(half_absmax(W->absmax, h1 + (size_t)(c / HALF), m, nh, k), xsv);
        __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        int j = 0;
        for (; j < nh / 2; j++, pick = _mm512_add_epi32(pick, _mm512_set1_epi32(2))) {
            const int e = c + j * CHUNK;
            if (ahead) {
                _mm_prefetch((const char *)c0 + e / 2 + AHEAD, _MM_HINT_T2);
                _mm_prefetch((const char *)c1 + e / 2 + AHEAD, _MM_HINT_T2);
            }
            chunk_pair(_mm512_loadu_si512(c0 + e / 2), _mm512_loadu_si512(c1 + e / 2), t->table, xq + e, xi + e / 8,
                       _mm512_permutexvar_ps(pick, s0), _mm512_permutexvar_ps(pick, s1), &tot0, &tot1);
        }
        if (j < g) {
            /* a last chunk of 64 weights: only 32 code bytes lie in the row (a masked load in every step
             * instead made the kernel 15% slower from cache) */
            const int e = c + j * CHUNK;
            chunk_pair(_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(c0 + e / 2))),
                       _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(c1 + e / 2))), t->table, xq + e,
                       xi + e / 8, _mm512_permutexvar_ps(pick, s0), _mm512_permutexvar_ps(pick, s1), &tot0, &tot1);
        }
    }
    *y0 = _mm512_reduce_add_ps(tot0) * t->unit;
    *y1 = _mm512_reduce_add_ps(tot1) * t->unit;
}

/* Rows in pairs half the range apart, as in the float path. */
static void rows_int8(float *y, const slm_mat *W, const void *xp, int r0, int r1) {
    const table8 t = make_table(W->code);
    int half = (r1 - r0) / 2;
    for (int r = r0; r < r0 + half; r++) pair_int8(W, &t, xp, r, r + half, &y[r], &y[r + half]);
    if ((r1 - r0) & 1) pair_int8(W, &t, xp, r1 - 1, r1 - 1, &y[r1 - 1], &y[r1 - 1]);
}

static void rows_nf4(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    if (W->block % HALF == 0 && int8_ok(W->cols))
        rows_int8(y, W, xp, r0, r1);
    else
        rows_float(y, W, x, xp, r0, r1);
}

/* ---- NF4X8: the int8 path on regrouped rows ----
 * Each run of 8 blocks (quant.h) is its 8 absmax values and eight 32-byte vectors in which lane i holds
 * 8 weights of block i, so a row is one stream, read with 256-bit loads, and after a run's 16 vpdpbusd
 * each lane holds one block's sum. The blocks after the last run (NF4 still) take one 32-byte vector
 * each. The codes and activations are rounded as on the int8 path above, so the two differ only in the
 * order of the float sums. On the 16-layer Llama-3.2-1B matrix stack from DRAM (one Zen 4 core) this read
 * 28.8 GB/s against the int8 path's 25.4 (medians of 5 interleaved runs). */

enum { X8_ROWS = 4 }; /* rows per pass, a quarter of the range apart */

/* Per run: for k = 0..7, the odd then the even activations of bytes 4k..4k+3 of each block's codes (lane i
 * from block i), then per block the int32 -128·Σx that takes out the codes' offset. The prepared activation
 * of NF4X8 is that of the int8 path, then from the next 64-byte boundary these, made once per product. */
enum { X8_PACK = 8 * 64 + 32 };
static size_t x8_packed_at(int cols) { return (prep_bytes(cols) + 63) & ~(size_t)63; }
static size_t prep_bytes_x8(int cols) { return x8_packed_at(cols) + (size_t)(cols / SLM_NF4X8_WEIGHTS) * X8_PACK; }

static void x8_pack(int8_t *ap, const void *xp, int cols) {
    const int8_t *xq = xq_of(xp, cols);
    for (int h = 0; h + 8 <= cols / HALF; h += 8, ap += X8_PACK) {
        int32_t init[8];
        for (int i = 0; i < 8; i++) {
            const int8_t *odd = xq + (size_t)((h + i) / 2) * CHUNK + ((h + i) % 2) * 32, *even = odd + 64;
            int sum = 0;
            for (int k = 0; k < 8; k++) {
                memcpy(ap + 64 * k + 4 * i, odd + 4 * k, 4);
                memcpy(ap + 64 * k + 32 + 4 * i, even + 4 * k, 4);
            }
            for (int j = 0; j < 32; j++) sum += odd[j] + even[j];
            init[i] = -128 * sum;
        }
        memcpy(ap + 8 * 64, init, sizeof init);
    }
}

static void prep_x8(void *dst, const float *x, int cols) {
    prep(dst, x, cols);
    if (int8_ok(cols)) x8_pack((int8_t *)dst + x8_packed_at(cols), dst, cols);
}

/* One run at byte at of each of R rows, activations a, the x scales of its blocks xs, added to acc. */
static inline __attribute__((always_inline)) void x8_run(const uint8_t *const *w, int R, size_t at, const int8_t *a,
                                                         const float *xs, __m256i table, __m256 *acc, int gfni) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    const __m256i init = _mm256_loadu_si256((const __m256i *)(a + 8 * 64));
    __m256i even[X8_ROWS], odd[X8_ROWS];
    for (int i = 0; i < R; i++) {
        even[i] = init;
        odd[i] = _mm256_setzero_si256();
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        __m256i ao = slm_in_register(_mm256_load_si256((const __m256i *)(a + 64 * k)));
        __m256i ae = slm_in_register(_mm256_load_si256((const __m256i *)(a + 64 * k + 32)));
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256i x = slm_in_register(_mm256_loadu_si256((const __m256i *)(w[i] + at + 32 + 32 * k)));
            __m256i s = k & 1 ? odd[i] : even[i];
            s = _mm256_dpbusd_epi32(s, _mm256_shuffle_epi8(table, _mm256_and_si256(x, low)), ao);
            s = _mm256_dpbusd_epi32(s, _mm256_shuffle_epi8(table, slm_high_nibbles(x, gfni)), ae);
            if (k & 1) odd[i] = s;
            else even[i] = s;
        }
    }
    const __m256 x8 = _mm256_loadu_ps(xs);
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps((const float *)(w[i] + at)), x8);
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(even[i], odd[i])), scale, acc[i]);
    }
}

/* The t blocks after the last run, at byte at of each row, from half h0: each one 32-byte vector whose lane
 * j holds its weights 8j..8j+7, met by the int8 path's own activations (already in that order) and lane
 * offsets. All lanes belong to one block, so its scale is broadcast; acc's lanes are summed at the end. */
static inline __attribute__((always_inline)) void x8_tail(const uint8_t *const *w, int R, size_t at, int h0, int t,
                                                          const void *xp, int cols, __m256i table, __m256 *acc, int gfni) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    const int8_t *xq = xq_of(xp, cols);
    const int32_t *xi = xi_of(xp, cols);
    const float *xs = xs_of(xp, cols);
    for (int b = 0; b < t; b++) {
        const int h = h0 + b;
        const int8_t *odd = xq + (size_t)(h / 2) * CHUNK + (h % 2) * 32;
        const __m256i ao = _mm256_loadu_si256((const __m256i *)odd), ae = _mm256_loadu_si256((const __m256i *)(odd + 64));
        const __m256i init = _mm256_loadu_si256((const __m256i *)(xi + (size_t)(h / 2) * 16 + (h % 2) * 8));
        for (int i = 0; i < R; i++) {
            const __m256i x = _mm256_loadu_si256((const __m256i *)(w[i] + at + 4 * t + 32 * b));
            __m256i s = _mm256_dpbusd_epi32(init, _mm256_shuffle_epi8(table, _mm256_and_si256(x, low)), ao);
            s = _mm256_dpbusd_epi32(s, _mm256_shuffle_epi8(table, slm_high_nibbles(x, gfni)), ae);
            float absmax;
            memcpy(&absmax, w[i] + at + 4 * b, sizeof absmax);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(absmax * xs[h]), acc[i]);
        }
    }
}

static inline __attribute__((always_inline)) void x8_rows_n(const uint8_t *const *w, int R, const void *xp, int cols,
                                                            const int8_t *ap, __m256i table, float unit, float *const *y,
                                                            int gfni) {
    const float *xs = xs_of(xp, cols);
    const int halves = cols / HALF, whole = halves / 8 * 8;
    __m256 acc[X8_ROWS];
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    for (int h = 0; h < whole; h += 8)
        x8_run(w, R, (size_t)h / 8 * SLM_NF4X8_BYTES, ap + (size_t)h / 8 * X8_PACK, xs + h, table, acc, gfni);
    if (whole < halves) x8_tail(w, R, (size_t)whole / 8 * SLM_NF4X8_BYTES, whole, halves - whole, xp, cols, table, acc, gfni);
    for (int i = 0; i < R; i++) *y[i] = slm_hsum256(acc[i]) * unit;
}

static inline __attribute__((always_inline)) void x8_rows(float *y, const slm_mat *W, const void *xp, int r0, int r1, int gfni) {
    const int8_t *ap = (const int8_t *)xp + x8_packed_at(W->cols);
    const table8 t = make_table(W->code);
    const __m256i table = _mm512_castsi512_si256(t.table);
    const int part = (r1 - r0) / X8_ROWS;
    const size_t stride = slm_nf4x8_row_bytes(W->cols);
    const uint8_t *base = W->data;
    for (int r = r0; r < r0 + part; r++) {
        const uint8_t *w[X8_ROWS];
        float *yy[X8_ROWS];
        for (int i = 0; i < X8_ROWS; i++) {
            w[i] = base + (size_t)(r + i * part) * stride;
            yy[i] = &y[r + i * part];
        }
        x8_rows_n(w, X8_ROWS, xp, W->cols, ap, table, t.unit, yy, gfni);
    }
    for (int r = r0 + part * X8_ROWS; r < r1; r++) {
        const uint8_t *w[1] = {base + (size_t)r * stride};
        float *yy[1] = {&y[r]};
        x8_rows_n(w, 1, xp, W->cols, ap, table, t.unit, yy, gfni);
    }
}

static void rows_x8_gfni(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) { x8_rows(y, W, xp, r0, r1, 1); }
static void rows_x8_vnni(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) { x8_rows(y, W, xp, r0, r1, 0); }

/* Without VNNI there is no int8 path: the scalar reference (the CPU backend regroups only with VNNI). */
static void rows_nf4x8(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    const slm_cpu_features *f = slm_cpu();
    if (f->avx512_vnni && f->gfni) rows_x8_gfni(y, W, x, xp, r0, r1);
    else if (f->avx512_vnni) rows_x8_vnni(y, W, x, xp, r0, r1);
    else slm_mv_nf4x8_scalar.rows(y, W, x, NULL, r0, r1);
}

const slm_matvec_kernel slm_mv_nf4_avx512 = {"nf4/avx512", SLM_ISA_AVX512, prep_bytes, prep, rows_nf4};
const slm_matvec_kernel slm_mv_nf4x8_avx512 = {"nf4x8/avx512", SLM_ISA_AVX512, prep_bytes_x8, prep_x8, rows_nf4x8};
const slm_matvec_kernel slm_mv_nf4x8_avx512vnni = {"nf4x8/avx512vnni", SLM_ISA_AVX512, prep_bytes_x8, prep_x8, rows_x8_vnni};
const slm_matvec_kernel slm_mv_nf4_avx512bw = {"nf4/avx512bw", SLM_ISA_AVX512, prep_bytes_float, prep_float, rows_float};

/* 32 weights from 16 code bytes, in order, with table t (the code table times their block's absmax):
 * vpermps looks up the high nibbles (the even weights) and the low ones (the odd), and two two-source
 * permutes interleave them. */
static inline void floats32(float *dst, const uint8_t *codes, __m512 t) {
    const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)codes));
    __m512 even = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t), odd = _mm512_permutexvar_ps(v, t);
    _mm512_storeu_ps(dst, _mm512_permutex2var_ps(even, first, odd));
    _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(even, second, odd));
}

/* NF4X8 rows: each run's codes put back in order first (quant.h). */
static void nf4x8_floats(float *dst, const slm_mat *W, int r0, int r1, __m512 table) {
    uint8_t codes[SLM_NF4X8_WEIGHTS / 2];
    for (int r = r0; r < r1; r++, dst += W->cols) {
        const uint8_t *row = (const uint8_t *)W->data + (size_t)r * slm_nf4x8_row_bytes(W->cols);
        for (int c = 0; c < W->cols; c += SLM_NF4X8_WEIGHTS) {
            int t;
            const uint8_t *run = slm_nf4x8_run(row, W->cols, c, &t);
            slm_nf4x8_run_codes(codes, run, t);
            for (int i = 0; i < 64 * t; i += 32)
                floats32(dst + c + i, codes + i / 2, _mm512_mul_ps(table, _mm512_set1_ps(slm_nf4x8_absmax(row, W->cols, c + i))));
        }
    }
}

/* Rows [r0, r1) as floats for the sgemm tiles of prompt batches, code·absmax exactly as
 * slm_dequantize_nf4 forms it. Runs of 32 that might cross a block (block % 32 != 0, an odd start) take
 * the scalar dequantization. */
void slm_nf4_rows_avx512(float *dst, const slm_mat *W, int r0, int r1) {
    const float *code = W->code ? W->code : slm_nf4_code;
    const __m512 table = _mm512_loadu_ps(code);
    if (W->type == SLM_NF4X8) {
        nf4x8_floats(dst, W, r0, r1, table);
        return;
    }
    size_t start = (size_t)r0 * (size_t)W->cols, n = (size_t)(r1 - r0) * (size_t)W->cols, block = (size_t)W->block, i = 0;
    const uint8_t *codes = W->data;
    if (block % 32 == 0 && start % 32 == 0)
        for (; i + 32 <= n; i += 32)
            floats32(dst + i, codes + (start + i) / 2, _mm512_mul_ps(table, _mm512_set1_ps(W->absmax[(start + i) / block])));
    if (i < n) slm_dequantize_nf4(dst + i, codes, W->absmax, code, W->block, start + i, n - i);
}
