#include "attention.h"

#include <math.h>

#include "cpu_features.h"

static void attend_scalar(float *out, const float *q, const float *K, const float *V, int start, int end, int head_dim,
                          float scale, float *scores) {
    float max = -INFINITY;
    for (int p = start; p < end; p++) {
        const float *k = K + (long)p * head_dim;
        double s = 0;
        for (int i = 0; i < head_dim; i++) s += (double)q[i] * k[i];
        float sc = (float)s * scale;
        scores[p - start] = sc;
        if (sc > max) max = sc;
    }
    double sum = 0;
    for (int p = start; p < end; p++) {
        float e = expf(scores[p - start] - max);
        scores[p - start] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < head_dim; i++) out[i] = 0;
    for (int p = start; p < end; p++) {
        const float *v = V + (long)p * head_dim;
        float w = scores[p - start] * inv;
        for (int i = 0; i < head_dim; i++) out[i] += w * v[i];
    }
}

const slm_attention_kernel slm_attn_scalar = {"attention/scalar", SLM_ISA_SCALAR, attend_scalar};

int slm_attention_variants(const slm_attention_kernel **out, int max) {
    const slm_cpu_features *f = slm_cpu();
    int n = 0;
    if (n < max) out[n++] = &slm_attn_scalar;
    if (n < max && f->avx2_fma) out[n++] = &slm_attn_avx2;
    if (n < max && f->avx512) out[n++] = &slm_attn_avx512;
    return n;
}

const slm_attention_kernel *slm_attention_best(void) {
    const slm_attention_kernel *v[3];
    int n = slm_attention_variants(v, 3);
    slm_isa cap = slm_isa_best();
    const slm_attention_kernel *best = v[0];
    for (int i = 0; i < n; i++)
        if (v[i]->isa <= (int)cap) best = v[i];
    return best;
}
