/* AVX2 attention for the query heads of one KV group: the blocking of attention_avx512.c with
 * 8-wide registers, F16C for half rows, and scalar tails for head sizes not divisible by 8. */
#include <immintrin.h>
#include <math.h>

#include "../../runtime/tensor.h"
#include "attention.h"
#include "cpu_features.h"
#include "hsum.h"

static inline __m256 load8(const void *rows, int f16, long off) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)rows + off)));
    return _mm256_loadu_ps((const float *)rows + off);
}

static inline float load1(const void *rows, int f16, long off) {
    return f16 ? slm_f16_to_f32(((const uint16_t *)rows)[off]) : ((const float *)rows)[off];
}

/* e^x for x <= 0; below -87 the result flushes towards 0. */
static inline __m256 exp_neg(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static inline __attribute__((always_inline)) void scores_block(float *s, const float *q, const void *K, int f16, int start, int b, int e, int hd,
                                float scale) {
    int d8 = hd & ~7;
    for (int p = b; p < e; p++) {
        long row = (long)p * hd;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int i = 0;
        for (; i + 16 <= d8; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(K, f16, row + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8(K, f16, row + i + 8), a1);
        }
        for (; i < d8; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(K, f16, row + i), a0);
        float d = slm_hsum256(_mm256_add_ps(a0, a1));
        for (; i < hd; i++) d += q[i] * load1(K, f16, row + i);
        s[p - start] = d * scale;
    }
}

static inline __attribute__((always_inline)) void values_block(float *o, const float *w, const void *V, int f16, int start, int b, int e, int hd) {
    int d8 = hd & ~7, i = 0;
    for (; i + 32 <= d8; i += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int p = b; p < e; p++) {
            __m256 wp = _mm256_set1_ps(w[p - start]);
            long row = (long)p * hd + i;
            a0 = _mm256_fmadd_ps(wp, load8(V, f16, row), a0);
            a1 = _mm256_fmadd_ps(wp, load8(V, f16, row + 8), a1);
            a2 = _mm256_fmadd_ps(wp, load8(V, f16, row + 16), a2);
            a3 = _mm256_fmadd_ps(wp, load8(V, f16, row + 24), a3);
        }
        _mm256_storeu_ps(o + i, _mm256_add_ps(_mm256_loadu_ps(o + i), a0));
        _mm256_storeu_ps(o + i + 8, _mm256_add_ps(_mm256_loadu_ps(o + i + 8), a1));
        _mm256_storeu_ps(o + i + 16, _mm256_add_ps(_mm256_loadu_ps(o + i + 16), a2));
        _mm256_storeu_ps(o + i + 24, _mm256_add_ps(_mm256_loadu_ps(o + i + 24), a3));
    }
    for (; i < d8; i += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int p = b; p < e; p++) a0 = _mm256_fmadd_ps(_mm256_set1_ps(w[p - start]), load8(V, f16, (long)p * hd + i), a0);
        _mm256_storeu_ps(o + i, _mm256_add_ps(_mm256_loadu_ps(o + i), a0));
    }
    for (; i < hd; i++) {
        float a = 0;
        for (int p = b; p < e; p++) a += w[p - start] * load1(V, f16, (long)p * hd + i);
        o[i] += a;
    }
}

static inline void softmax(float *s, int len) {
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int p = 0;
    for (; p + 8 <= len; p += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + p));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float max = _mm_cvtss_f32(m4);
    for (; p < len; p++)
        if (s[p] > max) max = s[p];
    __m256 vmax = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    for (p = 0; p + 8 <= len; p += 8) {
        __m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(s + p), vmax));
        _mm256_storeu_ps(s + p, e);
        sum = _mm256_add_ps(sum, e);
    }
    float total = slm_hsum256(sum);
    for (; p < len; p++) {
        s[p] = expf(s[p] - max);
        total += s[p];
    }
    __m256 inv = _mm256_set1_ps(1.0f / total);
    for (p = 0; p + 8 <= len; p += 8) _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), inv));
    for (; p < len; p++) s[p] *= 1.0f / total;
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
    if (f16) attend_group(out, q, nq, K, V, 1, start, end, head_dim, scale, scores);
    else attend_group(out, q, nq, K, V, 0, start, end, head_dim, scale, scores);
}

static void store(void *dst, const float *src, int n, int f16) {
    int i = 0;
    if (f16) {
        uint16_t *d = dst;
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < n; i++) d[i] = slm_f32_to_f16(src[i]);
    } else {
        float *d = dst;
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(src + i));
        for (; i < n; i++) d[i] = src[i];
    }
}

const slm_attention_kernel slm_attn_avx2 = {"attention/avx2", SLM_ISA_AVX2, attend, store};
