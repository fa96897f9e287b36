/* What a decode step must read and what a prompt batch must compute: the denominators of the
 * "% of roofline" and "GFLOP/s" columns. */
#include "../model/model_impl.h"
#include "bench.h"

int slm_kv_value_bytes(int kv_f16) { return kv_f16 ? 2 : 4; }

/* Bytes of a matrix as held, NF4 scales included. */
static double mat_bytes(const slm_mat *m) {
    double b = (double)slm_dtype_bytes(m->type, (size_t)m->rows, (size_t)m->cols);
    if (m->type == SLM_NF4 && m->block > 0) b += ((double)m->rows * m->cols + m->block - 1) / m->block * sizeof(float);
    return b;
}

void slm_bench_model_costs(const slm_model *m, int kv_f16, int ctx, slm_bench_costs *k) {
    const slm_config *c = &m->cfg;
    const slm_weights *w = &m->host;
    double mats = 0;
    for (int l = 0; l < w->n_layers; l++) {
        const slm_layer_weights *L = &w->layers[l];
        mats += mat_bytes(&L->wq) + mat_bytes(&L->wk) + mat_bytes(&L->wv) + mat_bytes(&L->wo) +
                mat_bytes(&L->w_gate) + mat_bytes(&L->w_up) + mat_bytes(&L->w_down);
    }
    double embed = mat_bytes(&w->embed), row = embed / c->vocab_size;
    double head = c->tie_word_embeddings ? 0 : mat_bytes(&w->lm_head);
    double norms = (double)c->hidden_size * (2.0 * c->n_layers + 1) * sizeof(float);
    k->weights = mats + embed + head + norms;
    /* a tied embedding is read whole as the LM head; otherwise the head, and one row of the embedding */
    k->weights_read = mats + (c->tie_word_embeddings ? embed : head + row) + norms;
    k->kv_per_pos = slm_kv_bytes_per_pos(c, kv_f16);
    k->kv_total = k->kv_per_pos * ctx;
    k->params = (double)slm_model_params(m);
}

double slm_kv_bytes_per_pos(const slm_config *c, int kv_f16) {
    return 2.0 * c->n_layers * c->n_kv_heads * c->head_dim * slm_kv_value_bytes(kv_f16);
}

double slm_roofline_tg_bytes(const slm_bench_costs *k, double ctx) { return k->weights_read + k->kv_per_pos * ctx; }

double slm_roofline_tps(double gbps, double bytes_per_token) {
    return bytes_per_token > 0 ? gbps * 1e9 / bytes_per_token : 0;
}

double slm_roofline_pp_flops(const slm_config *c, int n, int depth) {
    double h = c->hidden_size, q = (double)c->n_heads * c->head_dim, kv = (double)c->n_kv_heads * c->head_dim;
    double layer = 2 * h * q + 2 * h * kv + 3 * h * c->intermediate_size;
    double matmul = 2.0 * n * layer * c->n_layers + 2.0 * c->vocab_size * h;
    /* query t (0-based) attends to depth + t + 1 positions: q·k and p·v, 2 flops each per element */
    double positions = (double)n * depth + (double)n * (n + 1) / 2;
    double attention = 4.0 * c->head_dim * positions * c->n_heads * c->n_layers;
    return matmul + attention;
}
