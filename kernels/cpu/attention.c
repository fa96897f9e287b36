/* Scalar reference attention: dot products and the softmax sum in double, the library expf. */
#include "attention.h"

#include <math.h>
#include <string.h>

#include "../../runtime/tensor.h"
#include "cpu_features.h"

static float value(const void *rows, int f16, long i) {
    return f16 ? slm_f16_to_f32(((const uint16_t *)rows)[i]) : ((const float *)rows)[i];
}

static void attend_scalar(float *out, const float *q, int nq, const void *K, const void *V, int f16, int start,
                          int end, int head_dim, float scale, float *scores) {
    int len = end - start;
    for (int h = 0; h < nq; h++) {
        const float *qh = q + (long)h * head_dim;
        float *s = scores + (long)h * len, *o = out + (long)h * head_dim;
        float max = -INFINITY;
        for (int p = start; p < end; p++) {
            double d = 0;
            for (int i = 0; i < head_dim; i++) d += (double)qh[i] * value(K, f16, (long)p * head_dim + i);
            float sc = (float)d * scale;
            s[p - start] = sc;
            if (sc > max) max = sc;
        }
        double sum = 0;
        for (int p = 0; p < len; p++) {
            s[p] = expf(s[p] - max);
            sum += s[p];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < head_dim; i++) {
            double acc = 0;
            for (int p = start; p < end; p++) acc += (double)s[p - start] * value(V, f16, (long)p * head_dim + i);
            o[i] = (float)acc * inv;
        }
    }
}

static void store_scalar(void *dst, const float *src, int n, int f16) {
    if (!f16) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *d = dst;
    for (int i = 0; i < n; i++) d[i] = slm_f32_to_f16(src[i]);
}

const slm_attention_kernel slm_attn_scalar = {"attention/scalar", SLM_ISA_SCALAR, attend_scalar, store_scalar};

int slm_attention_variants(const slm_attention_kernel **out, int max) {
    const slm_cpu_features *f = slm_cpu();
    int n = 0;
    if (n < max) out[n++] = &slm_attn_scalar;
    if (n < max && f->avx2_fma) out[n++] = &slm_attn_avx2;
    if (n < max && f->avx512) out[n++] = &slm_attn_avx512;
    return n;
}

const slm_attention_kernel *slm_attention_best(void) {
    static const slm_attention_kernel *best;
    if (!best) {
        const slm_attention_kernel *v[3];
        int n = slm_attention_variants(v, 3);
        slm_isa cap = slm_isa_best();
        const slm_attention_kernel *b = v[0];
        for (int i = 0; i < n; i++)
            if (v[i]->isa <= (int)cap) b = v[i];
        best = b;
    }
    return best;
}
