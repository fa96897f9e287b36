#include "weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"

void *slm_weights_own(slm_weights *w, void *p) {
    if (!p) return NULL;
    if (w->n_owned == w->cap_owned) {
        int cap = w->cap_owned ? 2 * w->cap_owned : 64;
        void **g = realloc(w->owned, (size_t)cap * sizeof *g);
        if (!g) {
            free(p);
            return NULL;
        }
        w->owned = g;
        w->cap_owned = cap;
    }
    w->owned[w->n_owned++] = p;
    return p;
}

static int float_type(const char *dtype, slm_dtype *t) {
    if (!strcmp(dtype, "F32")) *t = SLM_F32;
    else if (!strcmp(dtype, "F16")) *t = SLM_F16;
    else if (!strcmp(dtype, "BF16")) *t = SLM_BF16;
    else return -1;
    return 0;
}

static const slm_st_tensor *need(const slm_st *st, const char *name) {
    const slm_st_tensor *t = slm_st_find(st, name);
    if (!t) {
        const char *where = st->n_files == 1 ? st->files[0].path : "the model's safetensors files";
        slm_fail("%s: tensor '%s' is missing", where, name);
    }
    return t;
}

static int check_shape(const slm_st_tensor *t, int ndim, int64_t d0, int64_t d1) {
    int ok = t->ndim == ndim && t->shape[0] == d0 && (ndim == 1 || t->shape[1] == d1);
    if (ok) return 0;
    char got[128] = "", want[64];
    int at = 0;
    for (int i = 0; i < t->ndim && at < (int)sizeof got - 24; i++)
        at += snprintf(got + at, sizeof got - at, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (ndim == 1) snprintf(want, sizeof want, "%lld", (long long)d0);
    else snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
    return slm_fail("%s: tensor '%s': shape [%s], expected [%s]", t->file, t->name, got, want);
}

/* A weight matrix: used in place when its data is aligned, copied otherwise (unaligned files are legal). */
static int map_mat(slm_weights *w, const slm_st *st, const char *name, int rows, int cols, slm_mat *m) {
    const slm_st_tensor *t = need(st, name);
    if (!t) return -1;
    slm_dtype type;
    if (float_type(t->dtype, &type))
        return slm_fail("%s: tensor '%s': dtype %s is not supported for a weight matrix (F32, F16, BF16)", t->file,
                        t->name, t->dtype);
    if (check_shape(t, 2, rows, cols)) return -1;
    const void *data = t->data;
    size_t esize = type == SLM_F32 ? 4 : 2;
    if ((uintptr_t)data % esize) {
        void *copy = slm_weights_own(w, malloc(t->nbytes));
        if (!copy) return slm_fail("%s: tensor '%s': out of memory", t->file, t->name);
        memcpy(copy, data, t->nbytes);
        data = copy;
    }
    *m = (slm_mat){.type = type, .rows = rows, .cols = cols, .data = data};
    return 0;
}

/* A vector (norm weight or bias), always converted to float32. */
static int map_vec(slm_weights *w, const slm_st *st, const char *name, int n, float **out) {
    const slm_st_tensor *t = need(st, name);
    if (!t) return -1;
    slm_dtype type;
    if (float_type(t->dtype, &type))
        return slm_fail("%s: tensor '%s': dtype %s is not supported (F32, F16, BF16)", t->file, t->name, t->dtype);
    if (check_shape(t, 1, n, 0)) return -1;
    float *v = slm_weights_own(w, malloc((size_t)n * sizeof(float)));
    if (!v) return slm_fail("%s: tensor '%s': out of memory", t->file, t->name);
    const unsigned char *src = t->data;
    for (int i = 0; i < n; i++) {
        if (type == SLM_F32) memcpy(&v[i], src + 4 * (size_t)i, 4);
        else {
            uint16_t h;
            memcpy(&h, src + 2 * (size_t)i, 2);
            v[i] = type == SLM_F16 ? slm_f16_to_f32(h) : slm_bf16_to_f32(h);
        }
    }
    *out = v;
    return 0;
}

int slm_weights_map(slm_weights *w, const slm_config *c, const slm_st *st) {
    memset(w, 0, sizeof *w);
    int hd = c->head_dim, hidden = c->hidden_size, ffn = c->intermediate_size;
    int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    char name[256];
    w->n_layers = c->n_layers;
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) return slm_fail("out of memory for %d layers", c->n_layers);
    if (map_mat(w, st, "model.embed_tokens.weight", c->vocab_size, hidden, &w->embed)) return -1;
    if (map_vec(w, st, "model.norm.weight", hidden, &w->final_norm)) return -1;
    if (c->tie_word_embeddings) {
        w->lm_head = w->embed;
    } else if (map_mat(w, st, "lm_head.weight", c->vocab_size, hidden, &w->lm_head)) {
        return -1;
    }
    for (int l = 0; l < c->n_layers; l++) {
        slm_layer_weights *L = &w->layers[l];
        struct {
            const char *suffix;
            int rows, cols;
            slm_mat *m;
            float **bias;
            int has_bias;
        } mats[] = {
            {"self_attn.q_proj", qdim, hidden, &L->wq, &L->bq, c->attention_bias},
            {"self_attn.k_proj", kvdim, hidden, &L->wk, &L->bk, c->attention_bias},
            {"self_attn.v_proj", kvdim, hidden, &L->wv, &L->bv, c->attention_bias},
            {"self_attn.o_proj", hidden, qdim, &L->wo, &L->bo, c->attention_bias},
            {"mlp.gate_proj", ffn, hidden, &L->w_gate, &L->b_gate, c->mlp_bias},
            {"mlp.up_proj", ffn, hidden, &L->w_up, &L->b_up, c->mlp_bias},
            {"mlp.down_proj", hidden, ffn, &L->w_down, &L->b_down, c->mlp_bias},
        };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, mats[i].suffix);
            if (map_mat(w, st, name, mats[i].rows, mats[i].cols, mats[i].m)) return -1;
            if (mats[i].has_bias) {
                snprintf(name, sizeof name, "model.layers.%d.%s.bias", l, mats[i].suffix);
                if (map_vec(w, st, name, mats[i].rows, mats[i].bias)) return -1;
            }
        }
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        if (map_vec(w, st, name, hidden, &L->attn_norm)) return -1;
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        if (map_vec(w, st, name, hidden, &L->ffn_norm)) return -1;
    }
    return 0;
}

void slm_weights_each_mat(slm_weights *w, void (*fn)(slm_mat *m, const char *what, void *user), void *user) {
    for (int l = 0; l < w->n_layers; l++) {
        slm_layer_weights *L = &w->layers[l];
        fn(&L->wq, "q_proj", user);
        fn(&L->wk, "k_proj", user);
        fn(&L->wv, "v_proj", user);
        fn(&L->wo, "o_proj", user);
        fn(&L->w_gate, "gate_proj", user);
        fn(&L->w_up, "up_proj", user);
        fn(&L->w_down, "down_proj", user);
    }
}

void slm_weights_free(slm_weights *w) {
    for (int i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    free(w->layers);
    memset(w, 0, sizeof *w);
}
