#include "rope.h"

#include <math.h>

void slm_rope_table(float *cos_t, float *sin_t, const float *inv_freq, int rot, int pos0, int n) {
    int half = rot / 2;
    for (int t = 0; t < n; t++) {
        for (int i = 0; i < half; i++) {
            /* the angle is formed in float32 as transformers does, the trigonometry in double */
            float angle = (float)(pos0 + t) * inv_freq[i];
            cos_t[(long)t * half + i] = (float)cos((double)angle);
            sin_t[(long)t * half + i] = (float)sin((double)angle);
        }
    }
}

void slm_rope(float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim, int rot) {
    int half = rot / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cos_t + (long)t * half, *s = sin_t + (long)t * half;
        for (int h = 0; h < heads; h++) {
            float *v = x + ((long)t * heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}
