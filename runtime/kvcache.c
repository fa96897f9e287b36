#include "kvcache.h"

#include <stdlib.h>

#include "error.h"

struct slm_kv *slm_kv_cpu_new(const slm_config *c, int ctx) {
    struct slm_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->n_layers = c->n_layers;
    kv->n_heads = c->n_heads;
    kv->n_kv = c->n_kv_heads;
    kv->window = c->sliding_window;
    kv->head_dim = c->head_dim;
    kv->ctx = ctx;
    size_t n = (size_t)c->n_layers * c->n_kv_heads * (size_t)ctx * c->head_dim;
    kv->k = calloc(n, sizeof(float));
    kv->v = calloc(n, sizeof(float));
    if (!kv->k || !kv->v) {
        slm_kv_cpu_free(kv);
        slm_fail("KV cache: out of memory for %d positions (%.1f MiB)", ctx, 2.0 * n * sizeof(float) / (1 << 20));
        return NULL;
    }
    return kv;
}

void slm_kv_cpu_free(struct slm_kv *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

static size_t offset(const struct slm_kv *kv, int layer, int head) {
    return (((size_t)layer * kv->n_kv + head) * (size_t)kv->ctx) * kv->head_dim;
}

float *slm_kv_k(struct slm_kv *kv, int layer, int head) { return kv->k + offset(kv, layer, head); }
float *slm_kv_v(struct slm_kv *kv, int layer, int head) { return kv->v + offset(kv, layer, head); }
