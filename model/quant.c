#include "quant.h"

#include <stdlib.h>

#include "../kernels/cpu/matmul.h"
#include "../kernels/cpu/quant.h"
#include "../runtime/error.h"

static int suits(const slm_mat *m, slm_dtype type) {
    if (type == SLM_Q8_0 || type == SLM_Q4_0) return m->cols % SLM_QK == 0;
    return 1;
}

static int gcd(int a, int b) { return b ? gcd(b, a % b) : a; }

/* The format a matrix is stored in, whatever layout the CPU kernels gave it in memory. */
static slm_dtype stored_type(slm_dtype t) {
    return t == SLM_NF4X8 ? SLM_NF4 : t == SLM_Q4_0X8 ? SLM_Q4_0 : t == SLM_F16B ? SLM_F16 : t == SLM_BF16B ? SLM_BF16 : t;
}

/* F32/F16/BF16 rows to NF4X8 (slm_weights_nf4x8), each row quantized as NF4 then regrouped. */
static int quantize_nf4x8(slm_mat *q, const slm_mat *m, const char *what) {
    const size_t cols = (size_t)m->cols, row_bytes = slm_nf4x8_row_bytes(m->cols);
    float *row = malloc(cols * sizeof(float) + cols / 64 * sizeof(float) + cols / 2);
    if (!row) return slm_fail("%s: out of memory", what);
    float *absmax = row + cols;
    uint8_t *codes = (uint8_t *)(absmax + cols / 64);
    for (int r = 0; r < m->rows; r++) {
        slm_mat_row(m, r, row);
        slm_quantize_nf4(codes, absmax, row, cols, SLM_NF4_BLOCK);
        slm_nf4x8_from_nf4((uint8_t *)q->data + (size_t)r * row_bytes, codes, absmax, m->cols);
    }
    free(row);
    q->type = SLM_NF4X8;
    q->block = SLM_NF4_BLOCK;
    return 0;
}

int slm_quantize_mat(slm_weights *w, slm_mat *m, slm_dtype type, const char *what) {
    if (stored_type(m->type) == type || !suits(m, type)) return 0;
    const slm_dtype from = stored_type(m->type);
    if (from != SLM_F32 && from != SLM_F16 && from != SLM_BF16)
        return slm_fail("%s: stored as %s, which cannot be converted to %s (only F32, F16 and BF16 weights can be)",
                        what, slm_dtype_name(stored_type(m->type)), slm_dtype_name(type));
    size_t rows = (size_t)m->rows, cols = (size_t)m->cols;
    const int x8 = type == SLM_NF4 && slm_weights_nf4x8(w, SLM_NF4_BLOCK, m->cols);
    void *data = slm_weights_alloc(w, slm_dtype_bytes(x8 ? SLM_NF4X8 : type, rows, cols) + 1);
    if (!data) return slm_fail("%s: out of memory converting a %zux%zu matrix to %s", what, rows, cols, slm_dtype_name(type));
    slm_mat q = {.type = type, .rows = m->rows, .cols = m->cols, .data = data};
    if (x8) {
        if (quantize_nf4x8(&q, m, what)) return -1;
    } else if (type == SLM_NF4) {
        /* NF4 blocks run over the flattened matrix: convert whole groups of rows that end on a block edge */
        int group = SLM_NF4_BLOCK / gcd(m->cols, SLM_NF4_BLOCK);
        size_t nblocks = (rows * cols + SLM_NF4_BLOCK - 1) / SLM_NF4_BLOCK;
        float *absmax = slm_weights_alloc(w, nblocks * sizeof(float));
        float *buf = malloc((size_t)group * cols * sizeof(float));
        if (!absmax || !buf) {
            free(buf);
            return slm_fail("%s: out of memory converting it to nf4", what);
        }
        for (size_t r = 0; r < rows; r += group) {
            size_t g = rows - r < (size_t)group ? rows - r : (size_t)group;
            for (size_t k = 0; k < g; k++) slm_mat_row(m, (int)(r + k), buf + k * cols);
            size_t first = r * cols; /* a multiple of the block size by the choice of group */
            slm_quantize_nf4((uint8_t *)data + first / 2, absmax + first / SLM_NF4_BLOCK, buf, g * cols, SLM_NF4_BLOCK);
        }
        free(buf);
        q.absmax = absmax;
        q.code = NULL;
        q.block = SLM_NF4_BLOCK;
    } else {
        float *row = malloc(cols * sizeof(float));
        if (!row) return slm_fail("%s: out of memory", what);
        size_t row_bytes = slm_dtype_bytes(type, 1, cols);
        for (size_t r = 0; r < rows; r++) {
            slm_mat_row(m, (int)r, row);
            void *dst = (char *)data + r * row_bytes;
            if (type == SLM_Q8_0) slm_quantize_q8_0(dst, row, cols);
            else slm_quantize_q4_0(dst, row, cols);
        }
        free(row);
    }
    *m = q;
    return 0;
}

typedef struct {
    slm_weights *w;
    slm_dtype type;
    int failed;
} each_ctx;

static void convert(slm_mat *m, const char *what, void *user) {
    each_ctx *e = user;
    if (!e->failed && slm_quantize_mat(e->w, m, e->type, what)) e->failed = 1;
}

int slm_quantize_weights(slm_weights *w, const slm_config *c, slm_dtype type, int keep_head) {
    if (type != SLM_Q8_0 && type != SLM_Q4_0 && type != SLM_NF4)
        return slm_fail("--quant: %s is not a quantized format (q8_0, q4_0, nf4)", slm_dtype_name(type));
    each_ctx e = {w, type, 0};
    slm_weights_each_mat(w, convert, &e);
    if (e.failed) return -1;
    if (!keep_head) {
        if (c->tie_word_embeddings) {
            if (slm_quantize_mat(w, &w->embed, type, "model.embed_tokens.weight")) return -1;
            w->lm_head = w->embed;
        } else if (slm_quantize_mat(w, &w->lm_head, type, "lm_head.weight")) {
            return -1;
        }
    }
    return 0;
}
