/* Causal attention of one query head over cached keys and values. */
#ifndef SLM_ATTENTION_H
#define SLM_ATTENTION_H

typedef struct {
    const char *name;
    int isa; /* slm_isa */
    /* out[head_dim] = softmax(scale * q·K[start..end)) · V[start..end).
     * K and V rows are head_dim floats apart; scores needs end - start floats. */
    void (*attend)(float *out, const float *q, const float *K, const float *V, int start, int end, int head_dim,
                   float scale, float *scores);
} slm_attention_kernel;

extern const slm_attention_kernel slm_attn_scalar, slm_attn_avx2, slm_attn_avx512;

/* Variants this CPU can run, scalar first; and the one to use. */
int slm_attention_variants(const slm_attention_kernel **out, int max);
const slm_attention_kernel *slm_attention_best(void);

#endif
