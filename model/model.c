/* Loading a model folder onto a backend, and the sessions that run it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/matmul.h"
#include "../runtime/error.h"
#include "model_impl.h"
#include "quant.h"
#ifdef SLM_CUDA
#include "../kernels/cuda/backend_cuda.h"
#endif

static size_t mat_bytes(const slm_mat *m) { return slm_dtype_bytes(m->type, (size_t)m->rows, (size_t)m->cols); }

/* Backend copies of the host weights: matrices through upload_mat, vectors through alloc+upload. */
typedef struct {
    slm_backend *be;
    int failed;
} upload_ctx;

static float *upload_vec(slm_backend *be, slm_weights *dev, const float *v, int n, int *failed) {
    if (!v) return NULL;
    float *d = be->alloc(be, (size_t)n * sizeof(float));
    if (!d) {
        *failed = 1;
        return NULL;
    }
    be->upload(be, d, v, (size_t)n * sizeof(float));
    return d;
}

static void add_bytes(slm_mat *w, const char *name, void *total) {
    (void)name;
    *(size_t *)total += mat_bytes(w);
}

static int upload_weights(slm_model *m) {
    slm_backend *be = m->be;
    const slm_config *c = &m->cfg;
    slm_weights *h = &m->host, *d = &m->dev;
    int failed = 0, hidden = c->hidden_size, ffn = c->intermediate_size;
    int qdim = c->n_heads * c->head_dim, kvdim = c->n_kv_heads * c->head_dim;
    memset(d, 0, sizeof *d);
    d->n_layers = h->n_layers;
    d->layers = calloc((size_t)h->n_layers, sizeof *d->layers);
    if (!d->layers) return slm_fail("out of memory");
    failed |= be->upload_mat(be, &d->embed, &h->embed) != 0;
    if (c->tie_word_embeddings) d->lm_head = d->embed;
    else failed |= be->upload_mat(be, &d->lm_head, &h->lm_head) != 0;
    d->final_norm = upload_vec(be, d, h->final_norm, hidden, &failed);
    for (int l = 0; l < h->n_layers && !failed; l++) {
        slm_layer_weights *H = &h->layers[l], *D = &d->layers[l];
        failed |= be->upload_mat(be, &D->wq, &H->wq) || be->upload_mat(be, &D->wk, &H->wk) ||
                  be->upload_mat(be, &D->wv, &H->wv) || be->upload_mat(be, &D->wo, &H->wo) ||
                  be->upload_mat(be, &D->w_gate, &H->w_gate) || be->upload_mat(be, &D->w_up, &H->w_up) ||
                  be->upload_mat(be, &D->w_down, &H->w_down);
        D->attn_norm = upload_vec(be, d, H->attn_norm, hidden, &failed);
        D->ffn_norm = upload_vec(be, d, H->ffn_norm, hidden, &failed);
        D->bq = upload_vec(be, d, H->bq, qdim, &failed);
        D->bk = upload_vec(be, d, H->bk, kvdim, &failed);
        D->bv = upload_vec(be, d, H->bv, kvdim, &failed);
        D->bo = upload_vec(be, d, H->bo, hidden, &failed);
        D->b_gate = upload_vec(be, d, H->b_gate, ffn, &failed);
        D->b_up = upload_vec(be, d, H->b_up, ffn, &failed);
        D->b_down = upload_vec(be, d, H->b_down, hidden, &failed);
    }
    if (failed) {
        size_t bytes = 0;
        slm_weights_each_mat(h, add_bytes, &bytes);
        bytes += mat_bytes(&h->embed) + (c->tie_word_embeddings ? 0 : mat_bytes(&h->lm_head));
        return slm_fail("%s backend: cannot hold the weights, %.2f GiB (%s)", be->name, bytes / 1073741824.0,
                        slm_error()[0] ? slm_error() : "out of memory");
    }
    return 0;
}

static void free_dev_weights(slm_model *m) {
    slm_backend *be = m->be;
    slm_weights *d = &m->dev;
    if (!be || !d->layers) return;
    be->free_mat(be, &d->embed);
    if (!m->cfg.tie_word_embeddings) be->free_mat(be, &d->lm_head);
    be->free(be, d->final_norm);
    for (int l = 0; l < d->n_layers; l++) {
        slm_layer_weights *D = &d->layers[l];
        slm_mat *mats[] = {&D->wq, &D->wk, &D->wv, &D->wo, &D->w_gate, &D->w_up, &D->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (mats[i]->data) be->free_mat(be, mats[i]);
        float *vecs[] = {D->attn_norm, D->ffn_norm, D->bq, D->bk, D->bv, D->bo, D->b_gate, D->b_up, D->b_down};
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
            if (vecs[i]) be->free(be, vecs[i]);
    }
    free(d->layers);
    d->layers = NULL;
}

static void count_mat(slm_mat *m, const char *what, void *user) {
    slm_model *model = user;
    model->params += (size_t)m->rows * m->cols;
    model->weight_bytes += mat_bytes(m);
}

/* The backend comes first, so that the weights can be written in the layout its kernels read. */
static int pick_backend(slm_model *m, const slm_load_opts *opts) {
    const char *device = opts->device ? opts->device : "cpu";
    if (!strcmp(device, "cuda")) {
#ifdef SLM_CUDA
        m->be = slm_backend_cuda();
        if (!m->be) fprintf(stderr, "slm: %s; running on the CPU\n", slm_error());
#else
        fprintf(stderr, "slm: this build has no CUDA backend (nvcc was not found); running on the CPU\n");
#endif
    } else if (strcmp(device, "cpu")) {
        return slm_fail("--device: '%s' is not available (cpu, cuda)", device);
    }
    if (!m->be) m->be = slm_backend_cpu(opts->threads);
    if (!m->be) return -1;
    m->be->kv_f16 = opts->kv_f16;
    return 0;
}

/* The CPU kernels' layouts the host weights are written in (slm_weights.layout): none for another backend,
 * or when they are to be written out again; float matrices that are about to be quantized keep theirs. */
static int cpu_layout(const slm_model *m, const slm_load_opts *opts) {
    if (strcmp(m->be->name, "cpu") || opts->keep_layout || !slm_regroup_wanted()) return 0;
    return SLM_LAYOUT_NF4X8 | (opts->quantize ? 0 : SLM_LAYOUT_COL_BLOCKS);
}

/* Puts the host weights on the chosen backend and counts them. */
static int finish_load(slm_model *m, const slm_load_opts *opts) {
    if (cpu_layout(m, opts) && slm_weights_for_cpu(&m->host, &m->st)) return -1; /* Q4_0 regrouped; the rest was written so */
    if (upload_weights(m)) return -1;
    const slm_config *c = &m->cfg;
    slm_weights_each_mat(&m->host, count_mat, m);
    count_mat(&m->host.embed, "embed", m);
    if (!c->tie_word_embeddings) count_mat(&m->host.lm_head, "lm_head", m);
    size_t norms = (size_t)c->hidden_size * (2 * (size_t)c->n_layers + 1);
    m->params += norms;
    m->weight_bytes += norms * sizeof(float);
    return 0;
}

int slm_model_load(slm_model **out, const char *dir, const slm_load_opts *opts) {
    slm_load_opts defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;
    slm_model *m = calloc(1, sizeof *m);
    if (!m) return slm_fail("out of memory");
    if (slm_config_load(&m->cfg, dir) || slm_st_open_dir(&m->st, dir) || pick_backend(m, opts) ||
        slm_weights_map(&m->host, &m->cfg, &m->st, cpu_layout(m, opts)) ||
        (opts->quantize && slm_quantize_weights(&m->host, &m->cfg, opts->quant_type, opts->keep_head)) ||
        finish_load(m, opts)) {
        slm_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int slm_model_random(slm_model **out, const slm_config *c, slm_dtype type, uint64_t seed, const slm_load_opts *opts) {
    slm_load_opts defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;
    slm_model *m = calloc(1, sizeof *m);
    if (!m) return slm_fail("out of memory");
    m->cfg = *c;
    if (pick_backend(m, opts) || slm_weights_random(&m->host, &m->cfg, type, seed, cpu_layout(m, opts)) || finish_load(m, opts)) {
        slm_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void slm_model_free(slm_model *m) {
    if (!m) return;
    free_dev_weights(m);
    if (m->be) m->be->destroy(m->be);
    slm_weights_free(&m->host);
    slm_st_close(&m->st);
    free(m);
}

const slm_config *slm_model_config(const slm_model *m) { return &m->cfg; }
size_t slm_model_params(const slm_model *m) { return m->params; }
size_t slm_model_weight_bytes(const slm_model *m) { return m->weight_bytes; }
int slm_model_threads(const slm_model *m) { return strcmp(m->be->name, "cpu") ? 1 : slm_backend_cpu_threads(m->be); }
const char *slm_model_backend(const slm_model *m) { return m->be->name; }

size_t slm_kv_bytes(const slm_config *c, int ctx) {
    return 2 * (size_t)c->n_layers * c->n_kv_heads * (size_t)ctx * c->head_dim * sizeof(float);
}

/* ---- sessions ---- */

enum { DEFAULT_BATCH = 512 };

static int reserve_all(slm_session *s) {
    slm_backend *b = s->m->be;
    slm_weights *w = &s->m->dev;
    if (b->reserve(b, &w->lm_head, SLM_HEAD_ROWS) || b->reserve(b, &w->lm_head, 1)) return -1;
    for (int l = 0; l < w->n_layers; l++) {
        slm_layer_weights *L = &w->layers[l];
        slm_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            for (int n = 1; n <= s->batch; n *= 2)
                if (b->reserve(b, mats[i], n)) return -1;
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (b->reserve(b, mats[i], s->batch)) return -1;
    }
    return 0;
}

slm_session *slm_session_new(slm_model *m, int ctx) {
    const slm_config *c = &m->cfg;
    slm_backend *b = m->be;
    if (ctx < 1) {
        slm_fail("--ctx: %d is not a positive context size", ctx);
        return NULL;
    }
    slm_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    s->ctx = ctx;
    s->batch = ctx < DEFAULT_BATCH ? ctx : DEFAULT_BATCH;
    int B = s->batch, hd = c->head_dim;
    size_t hidden = (size_t)c->hidden_size, qdim = (size_t)c->n_heads * hd, kvdim = (size_t)c->n_kv_heads * hd;
    size_t f = sizeof(float);
    s->x = b->alloc(b, B * hidden * f);
    s->xb = b->alloc(b, B * hidden * f);
    s->q = b->alloc(b, B * qdim * f);
    s->k = b->alloc(b, B * kvdim * f);
    s->v = b->alloc(b, B * kvdim * f);
    s->att = b->alloc(b, B * qdim * f);
    s->hb = b->alloc(b, B * (size_t)c->intermediate_size * f);
    s->hb2 = b->alloc(b, B * (size_t)c->intermediate_size * f);
    s->logits = b->alloc(b, SLM_HEAD_ROWS * (size_t)c->vocab_size * f);
    s->cos_t = b->alloc(b, B * (size_t)(hd / 2) * f);
    s->sin_t = b->alloc(b, B * (size_t)(hd / 2) * f);
    s->cos_h = malloc(B * (size_t)(hd / 2) * f);
    s->sin_h = malloc(B * (size_t)(hd / 2) * f);
    s->inv_freq = malloc((size_t)(hd / 2) * f);
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->att || !s->hb || !s->hb2 || !s->logits || !s->cos_t ||
        !s->sin_t || !s->cos_h || !s->sin_h || !s->inv_freq) {
        slm_fail("out of memory for the activations of a %d-token batch", B);
        slm_session_free(s);
        return NULL;
    }
    s->kv = b->kv_new(b, c, ctx);
    if (!s->kv || reserve_all(s)) {
        slm_session_free(s);
        return NULL;
    }
    slm_rope_inv_freq(c, s->inv_freq);
    return s;
}

void slm_session_free(slm_session *s) {
    if (!s) return;
    slm_backend *b = s->m->be;
    float *bufs[] = {s->x, s->xb, s->q, s->k, s->v, s->att, s->hb, s->hb2, s->logits, s->cos_t, s->sin_t};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) b->free(b, bufs[i]);
    if (s->kv) b->kv_free(b, s->kv);
    free(s->cos_h);
    free(s->sin_h);
    free(s->inv_freq);
    free(s);
}

int slm_session_pos(const slm_session *s) { return s->pos; }
slm_model *slm_session_model(const slm_session *s) { return s->m; }
int slm_session_ctx(const slm_session *s) { return s->ctx; }
void slm_session_reset(slm_session *s) { s->pos = 0; }
void slm_session_rewind(slm_session *s, int pos) {
    if (pos >= 0 && pos < s->pos) s->pos = pos;
}

int slm_eval(slm_session *s, const int *tokens, int n, float *logits, int all) {
    const slm_config *c = &s->m->cfg;
    if (n <= 0) return slm_fail("no tokens to evaluate");
    if (s->pos + n > s->ctx)
        return slm_fail("context full: %d tokens at position %d exceed --ctx %d", n, s->pos, s->ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return slm_fail("token id %d is outside the vocabulary [0, %d)", tokens[i], c->vocab_size);
    for (int done = 0; done < n; done += s->batch) {
        int chunk = n - done < s->batch ? n - done : s->batch;
        int last = done + chunk == n;
        float *out = NULL;
        if (logits && all) out = logits + (size_t)done * c->vocab_size;
        else if (logits && last) out = logits;
        if (slm_forward(s, tokens + done, chunk, out, all)) return -1;
    }
    return 0;
}
