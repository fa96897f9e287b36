/* The CPU key/value cache: per layer and KV head, positions are consecutive rows of head_dim
 * floats, so attention reads each head's history sequentially. */
#ifndef SLM_KVCACHE_H
#define SLM_KVCACHE_H

#include "../model/config.h"

struct slm_kv {
    int n_layers, n_heads, n_kv, head_dim, ctx;
    int window;   /* sliding window in keys (0: none) */
    float *k, *v; /* [layer][kv_head][ctx][head_dim] */
};

struct slm_kv *slm_kv_cpu_new(const slm_config *c, int ctx);
void slm_kv_cpu_free(struct slm_kv *kv);
/* Start of the rows of (layer, kv head) in the key or value cache. */
float *slm_kv_k(struct slm_kv *kv, int layer, int head);
float *slm_kv_v(struct slm_kv *kv, int layer, int head);

#endif
