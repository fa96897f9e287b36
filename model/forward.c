/* The Llama-family transformer, top to bottom, for a batch of n tokens at positions
 * pos .. pos+n-1. Every op goes through the backend table, so the same code runs on the
 * CPU and on a GPU.
 *
 *   x = embed(tokens)
 *   for each layer:
 *       h = rmsnorm(x) ;  q, k, v = h·Wq, h·Wk, h·Wv ;  rope(q), rope(k)
 *       x += attention(q, cached k, v)·Wo
 *       h = rmsnorm(x) ;  x += (silu(h·Wgate) * h·Wup)·Wdown
 *   logits = rmsnorm(x)·Wheadᵀ
 */
#include <stddef.h>

#include "../kernels/cpu/rope.h"
#include "model_impl.h"

/* The products p of the input x, in one op where the backend has one; else a matmul each, through
 * tmp for a product that adds to its output. */
static void products(slm_backend *b, const float *x, int n, const slm_product *p, int count, float *tmp) {
    if (b->matmuls) {
        b->matmuls(b, x, n, p, count);
        return;
    }
    for (int i = 0; i < count; i++) {
        b->matmul(b, p[i].add ? tmp : p[i].out, x, n, p[i].W, p[i].bias);
        if (p[i].add) b->add(b, p[i].out, tmp, n * p[i].W->rows);
    }
}

int slm_forward(slm_session *s, const int *tokens, int n, float *logits, int all) {
    const slm_config *c = &s->m->cfg;
    const slm_weights *w = &s->m->dev;
    slm_backend *b = s->m->be;
    int hidden = c->hidden_size, hd = c->head_dim, ffn = c->intermediate_size;
    float eps = c->rms_norm_eps;

    /* rotary tables for this batch's positions, shared by every layer */
    slm_rope_table(s->cos_h, s->sin_h, s->inv_freq, hd, s->pos, n);
    b->upload(b, s->cos_t, s->cos_h, (size_t)n * (hd / 2) * sizeof(float));
    b->upload(b, s->sin_t, s->sin_h, (size_t)n * (hd / 2) * sizeof(float));

    /* A backend that records a decoding step (CUDA graphs) replays it at later steps of the same
     * kind: then only the uploads above and the downloads below are done here. */
    int replayed = b->step_begin ? b->step_begin(b, s, tokens, n, s->pos, logits != NULL) : 0;
    if (replayed < 0) return -1;

    if (!replayed) b->embed(b, s->x, &w->embed, tokens, n);

    for (int l = 0; l < c->n_layers && !replayed; l++) {
        const slm_layer_weights *L = &w->layers[l];

        /* attention */
        b->rmsnorm(b, s->xb, s->x, L->attn_norm, n, hidden, eps);
        const slm_product qkv[3] = {{s->q, &L->wq, L->bq, 0}, {s->k, &L->wk, L->bk, 0}, {s->v, &L->wv, L->bv, 0}};
        products(b, s->xb, n, qkv, 3, NULL);
        b->rope(b, s->q, s->cos_t, s->sin_t, n, c->n_heads, hd, hd);
        b->rope(b, s->k, s->cos_t, s->sin_t, n, c->n_kv_heads, hd, hd);
        b->attention(b, s->kv, l, s->att, s->q, s->k, s->v, n, s->pos);
        const slm_product out = {s->x, &L->wo, L->bo, 1}; /* x += att·Wo */
        products(b, s->att, n, &out, 1, s->xb);

        /* feed-forward (SwiGLU) */
        b->rmsnorm(b, s->xb, s->x, L->ffn_norm, n, hidden, eps);
        const slm_product gate_up[2] = {{s->hb, &L->w_gate, L->b_gate, 0}, {s->hb2, &L->w_up, L->b_up, 0}};
        products(b, s->xb, n, gate_up, 2, NULL);
        b->swiglu(b, s->hb, s->hb, s->hb2, n * ffn);
        const slm_product down = {s->x, &L->w_down, L->b_down, 1}; /* x += hb·Wdown */
        products(b, s->hb, n, &down, 1, s->xb);
    }

    /* final norm and LM head, only for the rows whose logits are wanted */
    if (logits) {
        int first = all ? 0 : n - 1;
        for (int r = first; r < n; r += SLM_HEAD_ROWS) {
            int rows = n - r < SLM_HEAD_ROWS ? n - r : SLM_HEAD_ROWS;
            if (!replayed) {
                b->rmsnorm(b, s->xb, s->x + (size_t)r * hidden, w->final_norm, rows, hidden, eps);
                b->matmul(b, s->logits, s->xb, rows, &w->lm_head, NULL);
            }
            if (b->step_end) b->step_end(b);
            b->download(b, logits + (size_t)(r - first) * c->vocab_size, s->logits,
                        (size_t)rows * c->vocab_size * sizeof(float));
        }
    }
    if (b->step_end) b->step_end(b);
    if (b->sync(b)) return -1;
    s->pos += n;
    return 0;
}
