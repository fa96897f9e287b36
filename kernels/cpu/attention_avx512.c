/* AVX-512 attention for the query heads of one KV group. Positions go in blocks small enough that
 * the block's K (then V) rows stay in L1 while every head of the group passes over them, so the
 * rows come from memory once per group. Scores come 16 positions at a time, their 16 dot products
 * reduced together; exp is a polynomial (Cephes expf, scaled with vscalefps); head sizes that are
 * not a multiple of 16 use masked loads. */
#include <immintrin.h>
#include <math.h>

#include "attention.h"
#include "cpu_features.h"

/* The lanes of a 16-wide step with `left` values still to go (none when left <= 0). */
static inline __mmask16 tail_mask(int left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

static inline __m512 load_row(const void *rows, int f16, long off, __mmask16 m) {
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)rows + off));
    return _mm512_maskz_loadu_ps(m, (const float *)rows + off);
}

/* e^x for x <= 0 (scores less their maximum); below -87 the result flushes towards 0. */
static inline __m512 exp_neg(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

/* Lane j of the result is the sum of the lanes of a[j]: a transposing tree of adds (45 operations for
 * 16 sums, where 16 separate reductions would take about 160). */
static inline __m512 reduce16(const __m512 *a) {
    __m512 t[8], u[4], v[2];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) t[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]), _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        u[k] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0x44), _mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0xEE));
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++)
        v[k] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0x88), _mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x88), _mm512_shuffle_f32x4(v[0], v[1], 0xDD));
}

/* s[p - start] = scale * q·K[p] for p in [b, e). */
static inline __attribute__((always_inline)) void scores_block(float *s, const float *q, const void *K, int f16, int start, int b, int e, int hd,
                                float scale) {
    int p = b;
    if (hd % 16 == 0)
        for (; p + 16 <= e; p += 16) {
            __m512 acc[16];
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
            for (int i = 0; i < hd; i += 16) {
                __m512 qv = _mm512_loadu_ps(q + i);
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) acc[j] = _mm512_fmadd_ps(qv, load_row(K, f16, (long)(p + j) * hd + i, 0xffff), acc[j]);
            }
            _mm512_storeu_ps(s + p - start, _mm512_mul_ps(reduce16(acc), _mm512_set1_ps(scale)));
        }
    for (; p < e; p++) {
        long row = (long)p * hd;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int i = 0;
        for (; i + 32 <= hd; i += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_row(K, f16, row + i, 0xffff), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_row(K, f16, row + i + 16, 0xffff), a1);
        }
        for (; i < hd; i += 16) {
            __mmask16 m = tail_mask(hd - i);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load_row(K, f16, row + i, m), a0);
        }
        s[p - start] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * scale;
    }
}

/* o[i..i+64) += sum over p in [b, e) of w[p - start] * V[p][i..i+64), four registers at a time (two
 * sets for alternate positions when the head size allows, so the additions do not wait on each other). */
static inline __attribute__((always_inline)) void values_block(float *o, const float *w, const void *V, int f16, int start, int b, int e, int hd) {
    if (hd % 64 == 0) {
        for (int i = 0; i < hd; i += 64) {
            __m512 a[8];
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) a[c] = _mm512_setzero_ps();
            int p = b;
            for (; p + 2 <= e; p += 2) {
                __m512 w0 = _mm512_set1_ps(w[p - start]), w1 = _mm512_set1_ps(w[p + 1 - start]);
                long r0 = (long)p * hd + i, r1 = r0 + hd;
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    a[c] = _mm512_fmadd_ps(w0, load_row(V, f16, r0 + 16 * c, 0xffff), a[c]);
                    a[c + 4] = _mm512_fmadd_ps(w1, load_row(V, f16, r1 + 16 * c, 0xffff), a[c + 4]);
                }
            }
            if (p < e) {
                __m512 w0 = _mm512_set1_ps(w[p - start]);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) a[c] = _mm512_fmadd_ps(w0, load_row(V, f16, (long)p * hd + i + 16 * c, 0xffff), a[c]);
            }
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                _mm512_storeu_ps(o + i + 16 * c, _mm512_add_ps(_mm512_loadu_ps(o + i + 16 * c), _mm512_add_ps(a[c], a[c + 4])));
        }
        return;
    }
    for (int i = 0; i < hd; i += 64) {
        __mmask16 m0 = tail_mask(hd - i), m1 = tail_mask(hd - i - 16), m2 = tail_mask(hd - i - 32),
                  m3 = tail_mask(hd - i - 48);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int p = b; p < e; p++) {
            __m512 wp = _mm512_set1_ps(w[p - start]);
            long row = (long)p * hd + i;
            a0 = _mm512_fmadd_ps(wp, load_row(V, f16, row, m0), a0);
            if (m1) a1 = _mm512_fmadd_ps(wp, load_row(V, f16, row + 16, m1), a1);
            if (m2) a2 = _mm512_fmadd_ps(wp, load_row(V, f16, row + 32, m2), a2);
            if (m3) a3 = _mm512_fmadd_ps(wp, load_row(V, f16, row + 48, m3), a3);
        }
        _mm512_mask_storeu_ps(o + i, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o + i), a0));
        if (m1) _mm512_mask_storeu_ps(o + i + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + i + 16), a1));
        if (m2) _mm512_mask_storeu_ps(o + i + 32, m2, _mm512_add_ps(_mm512_maskz_loadu_ps(m2, o + i + 32), a2));
        if (m3) _mm512_mask_storeu_ps(o + i + 48, m3, _mm512_add_ps(_mm512_maskz_loadu_ps(m3, o + i + 48), a3));
    }
}

/* Turns the scores s[0..len) into weights summing to one. */
static inline void softmax(float *s, int len) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int p = 0;
    for (; p + 16 <= len; p += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + p));
    if (p < len) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, tail_mask(len - p), s + p));
    __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
    for (p = 0; p + 16 <= len; p += 16) {
        __m512 e = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(s + p), vmax));
        _mm512_storeu_ps(s + p, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (p < len) {
        __mmask16 m = tail_mask(len - p);
        __m512 e = _mm512_maskz_mov_ps(m, exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + p), vmax)));
        _mm512_mask_storeu_ps(s + p, m, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (p = 0; p + 16 <= len; p += 16) _mm512_storeu_ps(s + p, _mm512_mul_ps(_mm512_loadu_ps(s + p), inv));
    if (p < len) {
        __mmask16 m = tail_mask(len - p);
        _mm512_mask_storeu_ps(s + p, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + p), inv));
    }
}

static inline __attribute__((always_inline)) void attend_group(float *out, const float *q, int nq, const void *K, const void *V, int f16, int start,
                                int end, int hd, float scale, float *scores) {
    int len = end - start, block = hd <= 64 ? 64 : 4096 / hd;
    if (block < 8) block = 8;
    for (int b = start; b < end; b += block) {
        int e = b + block < end ? b + block : end;
        for (int h = 0; h < nq; h++) scores_block(scores + (long)h * len, q + (long)h * hd, K, f16, start, b, e, hd, scale);
    }
    for (int h = 0; h < nq; h++) softmax(scores + (long)h * len, len);
    for (int h = 0; h < nq; h++)
        for (int i = 0; i < hd; i++) out[(long)h * hd + i] = 0;
    for (int b = start; b < end; b += block) {
        int e = b + block < end ? b + block : end;
        for (int h = 0; h < nq; h++) values_block(out + (long)h * hd, scores + (long)h * len, V, f16, start, b, e, hd);
    }
}

static void attend(float *out, const float *q, int nq, const void *K, const void *V, int f16, int start, int end,
                   int head_dim, float scale, float *scores) {
    /* copies in which the element type, and for the common head sizes the head size, are constants: the
     * loops over a row then unroll completely (6% faster for head size 64 at depth 4096) */
    if (f16 && head_dim == 64) attend_group(out, q, nq, K, V, 1, start, end, 64, scale, scores);
    else if (f16 && head_dim == 128) attend_group(out, q, nq, K, V, 1, start, end, 128, scale, scores);
    else if (f16) attend_group(out, q, nq, K, V, 1, start, end, head_dim, scale, scores);
    else attend_group(out, q, nq, K, V, 0, start, end, head_dim, scale, scores);
}

static void store(void *dst, const float *src, int n, int f16) {
    int i = 0;
    if (f16) {
        uint16_t *d = dst;
        for (; i + 16 <= n; i += 16)
            _mm256_storeu_si256((__m256i *)(d + i), _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
        if (i < n) {
            __mmask16 m = tail_mask(n - i);
            _mm256_mask_storeu_epi16(d + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT));
        }
    } else {
        float *d = dst;
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_loadu_ps(src + i));
        if (i < n) _mm512_mask_storeu_ps(d + i, tail_mask(n - i), _mm512_maskz_loadu_ps(tail_mask(n - i), src + i));
    }
}

const slm_attention_kernel slm_attn_avx512 = {"attention/avx512", SLM_ISA_AVX512, attend, store};
