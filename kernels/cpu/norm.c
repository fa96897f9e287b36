#include "norm.h"

#include <math.h>

#include "cpu_features.h"

void slm_rmsnorm(float *out, const float *x, const float *w, int n, int dim, float eps) {
    for (int t = 0; t < n; t++) {
        const float *xt = x + (long)t * dim;
        float *ot = out + (long)t * dim;
        double ss = 0; /* double: the sum of squares of thousands of values loses digits in float */
        for (int i = 0; i < dim; i++) ss += (double)xt[i] * xt[i];
        float scale = (float)(1.0 / sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++) ot[i] = (xt[i] * scale) * w[i];
    }
}

void slm_swiglu_scalar(float *out, const float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

typedef void (*swiglu_fn)(float *out, const float *gate, const float *up, int n);

/* chosen once: slm_isa_best() reads the environment, and this runs once per layer per token */
void slm_swiglu(float *out, const float *gate, const float *up, int n) {
    static swiglu_fn best;
    if (!best) best = slm_isa_best() >= SLM_ISA_AVX512 && slm_cpu()->avx512 ? slm_swiglu_avx512 : slm_swiglu_scalar;
    best(out, gate, up, n);
}

void slm_add(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i];
}
