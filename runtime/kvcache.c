#include "kvcache.h"

#include <stdlib.h>

#include "error.h"

struct slm_kv *slm_kv_cpu_new(const slm_config *c, int ctx, int f16) {
    struct slm_kv *kv = calloc(1, sizeof *kv);
    if (!kv) {
        slm_fail("KV cache: out of memory");
        return NULL;
    }
    kv->n_layers = c->n_layers;
    kv->n_heads = c->n_heads;
    kv->n_kv = c->n_kv_heads;
    kv->window = c->sliding_window;
    kv->head_dim = c->head_dim;
    kv->ctx = ctx;
    kv->f16 = f16 != 0;
    size_t n = (size_t)c->n_layers * c->n_kv_heads * (size_t)ctx * c->head_dim;
    int ok;
    if (kv->f16) {
        kv->k16 = calloc(n, sizeof(uint16_t));
        kv->v16 = calloc(n, sizeof(uint16_t));
        ok = kv->k16 && kv->v16;
    } else {
        kv->k = calloc(n, sizeof(float));
        kv->v = calloc(n, sizeof(float));
        ok = kv->k && kv->v;
    }
    if (!ok) {
        slm_kv_cpu_free(kv);
        slm_fail("KV cache: out of memory for %d positions (%.1f MiB)", ctx, 2.0 * n * (f16 ? 2 : 4) / (1 << 20));
        return NULL;
    }
    return kv;
}

void slm_kv_cpu_free(struct slm_kv *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->k16);
    free(kv->v16);
    free(kv);
}

int slm_kv_elem(const struct slm_kv *kv) { return kv->f16 ? 2 : 4; }

static size_t offset(const struct slm_kv *kv, int layer, int head) {
    return (((size_t)layer * kv->n_kv + head) * (size_t)kv->ctx) * kv->head_dim;
}

void *slm_kv_k(struct slm_kv *kv, int layer, int head) {
    return kv->f16 ? (void *)(kv->k16 + offset(kv, layer, head)) : (void *)(kv->k + offset(kv, layer, head));
}

void *slm_kv_v(struct slm_kv *kv, int layer, int head) {
    return kv->f16 ? (void *)(kv->v16 + offset(kv, layer, head)) : (void *)(kv->v + offset(kv, layer, head));
}
