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
        b->matmul(b, s->q, s->xb, n, &L->wq, L->bq);
        b->matmul(b, s->k, s->xb, n, &L->wk, L->bk);
        b->matmul(b, s->v, s->xb, n, &L->wv, L->bv);
        b->rope(b, s->q, s->cos_t, s->sin_t, n, c->n_heads, hd, hd);
        b->rope(b, s->k, s->cos_t, s->sin_t, n, c->n_kv_heads, hd, hd);
        b->attention(b, s->kv, l, s->att, s->q, s->k, s->v, n, s->pos);
        b->matmul(b, s->xb, s->att, n, &L->wo, L->bo);
        b->add(b, s->x, s->xb, n * hidden);

        /* feed-forward (SwiGLU) */
        b->rmsnorm(b, s->xb, s->x, L->ffn_norm, n, hidden, eps);
        b->matmul(b, s->hb, s->xb, n, &L->w_gate, L->b_gate);
        b->matmul(b, s->hb2, s->xb, n, &L->w_up, L->b_up);
        b->swiglu(b, s->hb, s->hb, s->hb2, n * ffn);
        b->matmul(b, s->xb, s->hb, n, &L->w_down, L->b_down);
        b->add(b, s->x, s->xb, n * hidden);
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
