/* Elementwise and normalisation kernels of the forward pass (float32 activations). */
#ifndef SLM_NORM_H
#define SLM_NORM_H

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, for n rows of dim. */
void slm_rmsnorm(float *out, const float *x, const float *w, int n, int dim, float eps);
/* out = silu(gate) * up, elementwise over n values: the widest variant slm_isa_best() allows. */
void slm_swiglu(float *out, const float *gate, const float *up, int n);
/* The variants: the scalar reference (expf) and AVX-512 (its own exp, within 1e-6 relative of it). */
void slm_swiglu_scalar(float *out, const float *gate, const float *up, int n);
void slm_swiglu_avx512(float *out, const float *gate, const float *up, int n);
/* y += x over n values. */
void slm_add(float *y, const float *x, int n);

#endif
