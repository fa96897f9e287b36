/* The kernel launchers of the CUDA backend, one op family per .cu file. Every pointer is device
 * memory unless it says otherwise; every launcher queues work on c->stream, returns 0, or -1 with
 * the failure recorded in c (and does nothing once c->failed is set). Shapes follow runtime/backend.h. */
#ifndef SLM_CUDA_OPS_H
#define SLM_CUDA_OPS_H

#include <stddef.h>

#include "cuda_check.h"

extern "C" {
#include "../../runtime/tensor.h"
}

/* Tokens per matmul that still go through the matrix-vector kernels (weights read once for all of
 * them); longer batches go through cuBLAS. Also the most tokens the split (decode) attention takes. */
enum { SLM_CUDA_MV_MAX = 8 };

/* embed.cu: out[t] = table row tokens[t] (tokens in device memory; an id outside the table gives NaN). */
int slm_cuda_embed(slm_cuda_ctx *c, float *out, const slm_mat *table, const int *tokens, int n);

/* rmsnorm.cu */
int slm_cuda_rmsnorm(slm_cuda_ctx *c, float *out, const float *x, const float *w, int n, int dim, float eps);

/* rope.cu */
int slm_cuda_rope(slm_cuda_ctx *c, float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim,
                  int rot);

/* elementwise.cu */
int slm_cuda_swiglu(slm_cuda_ctx *c, float *out, const float *gate, const float *up, size_t n);
int slm_cuda_add(slm_cuda_ctx *c, float *y, const float *x, size_t n);

/* The KV cache of one sequence (what the backend's slm_kv points to): per layer and KV head,
 * positions are consecutive rows of head_dim floats, the CPU's layout. */
typedef struct {
    int n_layers, n_heads, n_kv, head_dim, ctx;
    int window;   /* sliding window in keys (0: none) */
    float *k, *v; /* device: [layer][kv_head][ctx][head_dim] */
} slm_cuda_kv;

/* attention.cu: appends k, v at pos0.. to the cache of `layer`, then attention of n query rows
 * (split over the history for n <= SLM_CUDA_MV_MAX, tiled otherwise). partials: at least
 * slm_cuda_attention_partials(kv) floats. The cache's head_dim is at most SLM_CUDA_MAX_HEAD_DIM.
 * pos_dev: NULL, or (for a step being recorded as a CUDA graph, n <= SLM_CUDA_MV_MAX) a device int
 * the kernels read pos0 from when they run, so that the recording serves every position. */
enum { SLM_CUDA_MAX_HEAD_DIM = 256 };
size_t slm_cuda_attention_partials(const slm_cuda_kv *kv);
int slm_cuda_attention(slm_cuda_ctx *c, slm_cuda_kv *kv, int layer, float *out, const float *q, const float *k,
                       const float *v, int n, int pos0, float *partials, const int *pos_dev);

/* One product of a matrix-vector launch: out[t][r] = x[t]·(row r of W) (+ bias[r]), added to what
 * out holds where add is set. The launchers below take up to SLM_CUDA_PRODUCTS of them, all of the
 * same input, format and width, in one launch, for n <= SLM_CUDA_MV_MAX rows of x. */
enum { SLM_CUDA_PRODUCTS = 3 };
typedef struct {
    float *out;
    slm_mat W;
    const float *bias;
    int add;
} slm_cuda_product;

/* matvec_float.cu: W in F32/F16/BF16. */
int slm_cuda_matvec_float(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const float *x, int n);

/* matvec_q8_0.cu: the int8 activation rows (layout in cuda_layout.h) of n rows of x, and the Q8_0 products. */
int slm_cuda_act_q8(slm_cuda_ctx *c, void *act, const float *x, int n, int cols);
int slm_cuda_matvec_q8_0(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const void *act, int n);
/* matvec_q4_0.cu: the same from activation rows made by slm_cuda_act_q8. */
int slm_cuda_matvec_q4_0(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const void *act, int n);
/* matvec_nf4.cu: with int8 activations (made in act, act_bytes(n, cols) of scratch) where
 * slm_cuda_nf4_int8(W), else in float. */
int slm_cuda_nf4_int8(const slm_mat *W);
int slm_cuda_matvec_nf4(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const float *x, int n, void *act);

/* gemm.cu: out[n][rows] = x[n][cols]·Wᵀ (+ bias), or added to out (add), through cuBLAS, any format;
 * scratch: at least slm_cuda_gemm_scratch(W, n) bytes. */
size_t slm_cuda_gemm_scratch(const slm_mat *W, int n);
int slm_cuda_gemm(slm_cuda_ctx *c, float *out, const float *x, int n, const slm_mat *W, const float *bias, int add,
                  void *scratch);

/* backend_cuda.cu: the device layout of a host matrix (cuda_layout.h), written into dst
 * (dev_mat_bytes(src) bytes) on the host; the NF4 absmax and code table are not part of it. */
void slm_cuda_relayout(void *dst, const slm_mat *src);

#endif
