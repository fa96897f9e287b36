/* Random-weight models of a given shape, built in memory with no files: what `slm bench --preset`
 * measures. Quantized formats are filled with random blocks directly (meaningful values are not
 * needed to measure speed, but every value is finite). */
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/quant.h"
#include "../runtime/error.h"
#include "weights.h"

static uint64_t next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* uniform in [-scale, scale) */
static float uniform(uint64_t *s, float scale) { return ((next(s) >> 40) * (1.0f / 8388608.0f) - 1.0f) * scale; }

/* Random NF4 codes, all absmax values `scale`, written as NF4X8 (slm_weights_nf4x8): the same weights as the
 * NF4 layout would get from the same rng. */
static int random_nf4x8(slm_mat *m, float scale, uint64_t *rng) {
    const size_t cols = (size_t)m->cols, row_bytes = slm_nf4x8_row_bytes(m->cols);
    float *absmax = malloc(cols / 64 * sizeof(float) + cols / 2);
    if (!absmax) return slm_fail("out of memory");
    uint8_t *codes = (uint8_t *)(absmax + cols / 64);
    for (size_t i = 0; i < cols / 64; i++) absmax[i] = scale;
    for (int r = 0; r < m->rows; r++) {
        for (size_t i = 0; i < cols / 2; i += 8) { /* cols / 2 is a multiple of 32 */
            uint64_t v = next(rng);
            memcpy(codes + i, &v, 8);
        }
        slm_nf4x8_from_nf4((uint8_t *)m->data + (size_t)r * row_bytes, codes, absmax, m->cols);
    }
    free(absmax);
    m->type = SLM_NF4X8;
    m->block = SLM_NF4_BLOCK;
    return 0;
}

/* Random F16 or BF16 rows written in column blocks (F16B, BF16B): the same weights as the row-major layout
 * gets from the same rng. */
static int random_col_blocks(slm_mat *m, float scale, uint64_t *rng) {
    const int cols = m->cols;
    uint16_t *row = malloc((size_t)cols * sizeof *row);
    if (!row) return slm_fail("out of memory");
    for (int r = 0; r < m->rows; r++) {
        for (int c = 0; c < cols; c++) {
            float v = uniform(rng, scale);
            row[c] = m->type == SLM_F16B ? slm_f32_to_f16(v) : slm_f32_to_bf16(v);
        }
        slm_col_blocks_put_row((uint16_t *)m->data, row, m->rows, cols, r);
    }
    free(row);
    return 0;
}

static int random_mat(slm_weights *w, slm_mat *m, int rows, int cols, slm_dtype type, uint64_t *rng) {
    if ((type == SLM_Q8_0 || type == SLM_Q4_0) && cols % SLM_QK) type = SLM_F16;
    if (type == SLM_NF4 && slm_weights_nf4x8(w, SLM_NF4_BLOCK, cols)) type = SLM_NF4X8;
    type = slm_weights_float_layout(w, type, cols);
    size_t n = (size_t)rows * cols, bytes = slm_dtype_bytes(type, (size_t)rows, (size_t)cols);
    void *data = slm_weights_alloc(w, bytes + 8);
    if (!data) return slm_fail("out of memory for a %dx%d %s matrix", rows, cols, slm_dtype_name(type));
    *m = (slm_mat){.type = type, .rows = rows, .cols = cols, .data = data};
    float scale = 1.0f / (float)cols; /* keeps activations of deep stacks in range */
    switch (type) {
    case SLM_F32:
        for (size_t i = 0; i < n; i++) ((float *)data)[i] = uniform(rng, scale);
        break;
    case SLM_F16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)data)[i] = slm_f32_to_f16(uniform(rng, scale));
        break;
    case SLM_BF16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)data)[i] = slm_f32_to_bf16(uniform(rng, scale));
        break;
    case SLM_Q8_0: {
        slm_block_q8_0 *b = data;
        for (size_t i = 0; i < n / SLM_QK; i++) {
            b[i].d = slm_f32_to_f16(scale / 127);
            for (int k = 0; k < SLM_QK; k += 8) {
                uint64_t r = next(rng);
                memcpy(&b[i].qs[k], &r, 8);
            }
        }
        break;
    }
    case SLM_Q4_0: {
        slm_block_q4_0 *b = data;
        for (size_t i = 0; i < n / SLM_QK; i++) {
            b[i].d = slm_f32_to_f16(scale / 8);
            uint64_t r0 = next(rng), r1 = next(rng);
            memcpy(b[i].qs, &r0, 8);
            memcpy(b[i].qs + 8, &r1, 8);
        }
        break;
    }
    case SLM_NF4X8: return random_nf4x8(m, scale, rng);
    case SLM_F16B:
    case SLM_BF16B: return random_col_blocks(m, scale, rng);
    case SLM_NF4: {
        size_t nb = (n + SLM_NF4_BLOCK - 1) / SLM_NF4_BLOCK, nbytes = (n + 1) / 2;
        float *absmax = slm_weights_alloc(w, nb * sizeof(float));
        if (!absmax) return slm_fail("out of memory");
        for (size_t i = 0; i < nb; i++) absmax[i] = scale;
        for (size_t i = 0; i < nbytes; i += 8) {
            uint64_t r = next(rng);
            memcpy((char *)data + i, &r, nbytes - i < 8 ? nbytes - i : 8);
        }
        m->absmax = absmax;
        m->code = NULL;
        m->block = SLM_NF4_BLOCK;
        break;
    }
    default: return slm_fail("random weights: unknown format");
    }
    return 0;
}

static float *ones(slm_weights *w, int n) {
    float *v = slm_weights_own(w, malloc((size_t)n * sizeof(float)));
    for (int i = 0; v && i < n; i++) v[i] = 1.0f;
    return v;
}

static float *zeros(slm_weights *w, int n, int want) {
    return want ? slm_weights_own(w, calloc((size_t)n, sizeof(float))) : NULL;
}

int slm_weights_random(slm_weights *w, const slm_config *c, slm_dtype type, uint64_t seed, int layout) {
    memset(w, 0, sizeof *w);
    w->layout = layout;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    int hd = c->head_dim, hidden = c->hidden_size, ffn = c->intermediate_size;
    int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    w->n_layers = c->n_layers;
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) return slm_fail("out of memory");
    /* the embedding is looked up row by row; keep it in the float format unless the head shares it */
    slm_dtype embed_type = type >= SLM_Q8_0 && !c->tie_word_embeddings ? SLM_F16 : type;
    if (random_mat(w, &w->embed, c->vocab_size, hidden, embed_type, &rng)) return -1;
    if (c->tie_word_embeddings) w->lm_head = w->embed;
    else if (random_mat(w, &w->lm_head, c->vocab_size, hidden, type, &rng)) return -1;
    if (!(w->final_norm = ones(w, hidden))) return slm_fail("out of memory");
    for (int l = 0; l < c->n_layers; l++) {
        slm_layer_weights *L = &w->layers[l];
        if (random_mat(w, &L->wq, qdim, hidden, type, &rng) || random_mat(w, &L->wk, kvdim, hidden, type, &rng) ||
            random_mat(w, &L->wv, kvdim, hidden, type, &rng) || random_mat(w, &L->wo, hidden, qdim, type, &rng) ||
            random_mat(w, &L->w_gate, ffn, hidden, type, &rng) || random_mat(w, &L->w_up, ffn, hidden, type, &rng) ||
            random_mat(w, &L->w_down, hidden, ffn, type, &rng))
            return -1;
        L->attn_norm = ones(w, hidden);
        L->ffn_norm = ones(w, hidden);
        L->bq = zeros(w, qdim, c->attention_bias);
        L->bk = zeros(w, kvdim, c->attention_bias);
        L->bv = zeros(w, kvdim, c->attention_bias);
        L->bo = zeros(w, hidden, c->attention_bias);
        L->b_gate = zeros(w, ffn, c->mlp_bias);
        L->b_up = zeros(w, ffn, c->mlp_bias);
        L->b_down = zeros(w, hidden, c->mlp_bias);
        if (!L->attn_norm || !L->ffn_norm) return slm_fail("out of memory");
    }
    return 0;
}
