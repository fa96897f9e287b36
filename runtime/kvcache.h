/* The CPU key/value cache: per layer and KV head, positions are consecutive rows of head_dim
 * values, so attention reads each head's history sequentially. Values are float32, or IEEE half
 * with the f16 cache (half the memory and half the bytes each decode step reads). */
#ifndef SLM_KVCACHE_H
#define SLM_KVCACHE_H

#include <stdint.h>

#include "../model/config.h"

struct slm_kv {
    int n_layers, n_heads, n_kv, head_dim, ctx;
    int window;          /* sliding window in keys (0: none) */
    float *k, *v;        /* [layer][kv_head][ctx][head_dim] float32; NULL when f16 */
    int f16;             /* the values are in k16, v16 instead */
    uint16_t *k16, *v16; /* the same layout in IEEE half */
};

/* NULL with slm_error() when out of memory. */
struct slm_kv *slm_kv_cpu_new(const slm_config *c, int ctx, int f16);
void slm_kv_cpu_free(struct slm_kv *kv);
/* Start of the rows of (layer, kv head) in the key or value cache: float or uint16_t per kv->f16. */
void *slm_kv_k(struct slm_kv *kv, int layer, int head);
void *slm_kv_v(struct slm_kv *kv, int layer, int head);
/* Bytes of one value (4 or 2). */
int slm_kv_elem(const struct slm_kv *kv);

#endif
