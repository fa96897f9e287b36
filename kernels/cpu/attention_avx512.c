/* AVX-512 attention: 16-wide dot products and weighted sums, masked for head sizes not divisible by 16. */
#include <immintrin.h>
#include <math.h>

#include "attention.h"
#include "cpu_features.h"

static void attend(float *out, const float *q, const float *K, const float *V, int start, int end, int head_dim,
                   float scale, float *scores) {
    float max = -INFINITY;
    for (int p = start; p < end; p++) {
        const float *k = K + (long)p * head_dim;
        __m512 acc = _mm512_setzero_ps();
        for (int i = 0; i < head_dim; i += 16) {
            __mmask16 m = head_dim - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (head_dim - i)) - 1);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, k + i), acc);
        }
        float s = _mm512_reduce_add_ps(acc) * scale;
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
        __m512 wv = _mm512_set1_ps(scores[p - start] * inv);
        for (int i = 0; i < head_dim; i += 16) {
            __mmask16 m = head_dim - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (head_dim - i)) - 1);
            __m512 o = _mm512_maskz_loadu_ps(m, out + i);
            _mm512_mask_storeu_ps(out + i, m, _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, v + i), o));
        }
    }
}

const slm_attention_kernel slm_attn_avx512 = {"attention/avx512", SLM_ISA_AVX512, attend};
