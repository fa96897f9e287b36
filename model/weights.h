/* Hugging Face tensor names of the Llama family mapped to per-layer weight handles. */
#ifndef SLM_WEIGHTS_H
#define SLM_WEIGHTS_H

#include "../runtime/tensor.h"
#include "config.h"
#include "safetensors.h"

typedef struct {
    float *attn_norm, *ffn_norm;    /* [hidden] */
    slm_mat wq, wk, wv, wo;          /* [heads*hd][hidden], [kv*hd][hidden] x2, [hidden][heads*hd] */
    float *bq, *bk, *bv, *bo;        /* attention_bias, else NULL */
    slm_mat w_gate, w_up, w_down;    /* [ffn][hidden] x2, [hidden][ffn] */
    float *b_gate, *b_up, *b_down;   /* mlp_bias, else NULL */
} slm_layer_weights;

typedef struct {
    slm_mat embed;   /* [vocab][hidden] */
    slm_mat lm_head; /* [vocab][hidden]; the embedding itself when tied */
    float *final_norm;
    slm_layer_weights *layers;
    int n_layers;
    /* buffers this struct allocated (converted norms, realigned or quantized data); huge_bytes is 0 for malloc'd
     * ones, else the length given to slm_huge_alloc */
    struct slm_owned {
        void *p;
        size_t huge_bytes;
    } *owned;
    int n_owned, cap_owned;
    char *slab; /* where slm_weights_alloc packs the next buffer */
    size_t slab_used, slab_size;
    /* The CPU kernels' layouts that matrices are written in as they are built or copied (SLM_LAYOUT_*):
     * rewriting them afterwards would need a copy of each, or of its absmax values */
    int layout;
} slm_weights;

enum {
    SLM_LAYOUT_NF4X8 = 1,      /* NF4 as NF4X8 where slm_weights_nf4x8 allows */
    SLM_LAYOUT_COL_BLOCKS = 2, /* F16 and BF16 rows wider than 4096 columns as F16B and BF16B (runtime/tensor.h) */
};

/* Finds, checks (dtype, shape) and maps every tensor the config calls for; layout: SLM_LAYOUT_* flags.
 * Returns 0, or -1 with slm_error() naming the file and tensor. */
int slm_weights_map(slm_weights *w, const slm_config *c, const slm_st *st, int layout);
void slm_weights_free(slm_weights *w);
/* Random weights of the shape c in format type (norms 1, matrices small uniform values). */
int slm_weights_random(slm_weights *w, const slm_config *c, slm_dtype type, uint64_t seed, int layout);
/* Whether an NF4 matrix of this block size and row length is written as NF4X8: with SLM_LAYOUT_NF4X8, for
 * rows of whole 64-weight blocks at least a run of 8 long (shorter rows gain nothing). */
int slm_weights_nf4x8(const slm_weights *w, int block, int cols);
/* The layout a float matrix of this type and row length is written in: F16B or BF16B with
 * SLM_LAYOUT_COL_BLOCKS for rows wider than 4096 columns, else type itself. */
slm_dtype slm_weights_float_layout(const slm_weights *w, slm_dtype type, int cols);
/* Row r of an F16 or BF16 matrix [rows][cols] written into dst, which holds it in column blocks (F16B, BF16B). */
void slm_col_blocks_put_row(uint16_t *dst, const uint16_t *row, int rows, int cols, int r);
/* Takes ownership of a malloc'd buffer (freed with the weights); returns p, or NULL if p is NULL. */
void *slm_weights_own(slm_weights *w, void *p);
/* An owned buffer of `bytes` starting on a 64-byte boundary, for matrices built or copied in memory: the NF4
 * kernel loads 64 code bytes at a time, and loads that straddle two cache lines cost it ~11%. Buffers are
 * packed end to end, in the order they are asked for, into large regions on 2 MiB pages (runtime/hugemem.h). */
void *slm_weights_alloc(slm_weights *w, size_t bytes);
/* Lays the Q4_0 matrices out for the CPU kernels this machine runs, when slm_regroup_wanted()
 * (kernels/cpu/matmul.h): Q4_0 becomes Q4_0X8, in place, or copied once from a mapped file. (NF4X8, F16B and BF16B are
 * written as the matrices are built: slm_weights.layout.) Returns 0, or -1 with slm_error() set. */
int slm_weights_for_cpu(slm_weights *w, const slm_st *st);
/* Calls fn on every linear layer's matrix, with its tensor name (model.layers.N.self_attn.q_proj.weight). */
void slm_weights_each_mat(slm_weights *w, void (*fn)(slm_mat *m, const char *what, void *user), void *user);

#endif
