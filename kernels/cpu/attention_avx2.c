/* AVX2 attention: 8-wide dot products for the scores and fused multiply-adds for the weighted sum of V. */
#include <immintrin.h>
#include <math.h>

#include "attention.h"
#include "cpu_features.h"

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void attend(float *out, const float *q, const float *K, const float *V, int start, int end, int head_dim,
                   float scale, float *scores) {
    int d8 = head_dim & ~7;
    float max = -INFINITY;
    for (int p = start; p < end; p++) {
        const float *k = K + (long)p * head_dim;
        __m256 acc = _mm256_setzero_ps();
        for (int i = 0; i < d8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), acc);
        float s = hsum(acc);
        for (int i = d8; i < head_dim; i++) s += q[i] * k[i];
        s *= scale;
        scores[p - start] = s;
        if (s > max) max = s;
    }
    float sum = 0;
    for (int p = start; p < end; p++) {
        float e = expf(scores[p - start] - max);
        scores[p - start] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < head_dim; i++) out[i] = 0;
    for (int p = start; p < end; p++) {
        const float *v = V + (long)p * head_dim;
        float w = scores[p - start] * inv;
        __m256 wv = _mm256_set1_ps(w);
        for (int i = 0; i < d8; i += 8)
            _mm256_storeu_ps(out + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
        for (int i = d8; i < head_dim; i++) out[i] += w * v[i];
    }
}

const slm_attention_kernel slm_attn_avx2 = {"attention/avx2", SLM_ISA_AVX2, attend};
