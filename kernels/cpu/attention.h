/* Causal attention of the query heads of one KV group over cached keys and values.
 *
 * The heads that share a KV head (grouped-query attention) are done together, so each cached key
 * and value row is read from memory once per group rather than once per head. Cached rows are
 * float32 or IEEE half (the f16 KV cache). */
#ifndef SLM_ATTENTION_H
#define SLM_ATTENTION_H

#include <stdint.h>

typedef struct {
    const char *name;
    int isa; /* slm_isa */
    /* For h < nq: out[h] = softmax(scale * q[h]·K[start..end)) · V[start..end), where q and out are nq
     * rows of head_dim floats. K and V rows are head_dim values apart: floats, or halves when f16.
     * scores: scratch of nq * (end - start) floats. */
    void (*attend)(float *out, const float *q, int nq, const void *K, const void *V, int f16, int start, int end,
                   int head_dim, float scale, float *scores);
    /* dst[0..n) = src as floats, or as halves (round to nearest even) when f16: appending to the cache. */
    void (*store)(void *dst, const float *src, int n, int f16);
} slm_attention_kernel;

extern const slm_attention_kernel slm_attn_scalar, slm_attn_avx2, slm_attn_avx512;

/* Variants this CPU can run, scalar first; and the one to use. */
int slm_attention_variants(const slm_attention_kernel **out, int max);
const slm_attention_kernel *slm_attention_best(void);

#endif
