/* The ops a compute backend implements. The forward pass (model/forward.c) is written once
 * against this table; the CPU backend runs kernels/cpu, the CUDA backend kernels/cuda.
 * Pointers to activations, weights and caches are the backend's own (device memory on a GPU). */
#ifndef SLM_BACKEND_H
#define SLM_BACKEND_H

#include <stddef.h>

#include "../model/config.h"
#include "tensor.h"

typedef struct slm_backend slm_backend;
typedef struct slm_kv slm_kv; /* a backend's key/value cache for one sequence */

/* One of several products of the same input x: out[n][W->rows] = x·Wᵀ (+ bias), or added to what
 * out holds where add is set. */
typedef struct {
    float *out;
    const slm_mat *W;
    const float *bias;
    int add;
} slm_product;

struct slm_backend {
    const char *name;
    int kv_f16; /* set before kv_new: keep the KV cache in f16 where the backend can (the CPU backend does) */
    /* memory */
    void *(*alloc)(slm_backend *b, size_t bytes); /* zeroed; NULL on failure */
    void (*free)(slm_backend *b, void *p);
    void (*upload)(slm_backend *b, void *dst, const void *src, size_t bytes);
    void (*download)(slm_backend *b, void *dst, const void *src, size_t bytes);
    /* Makes a backend-resident copy of a host weight matrix (the CPU backend shares it). */
    int (*upload_mat)(slm_backend *b, slm_mat *dst, const slm_mat *src);
    void (*free_mat)(slm_backend *b, slm_mat *m);
    /* Bytes of scratch a matmul of n rows with W needs; reserve() makes sure the backend holds that much. */
    int (*reserve)(slm_backend *b, const slm_mat *W, int n);

    /* ops over n rows (tokens) */
    void (*embed)(slm_backend *b, float *out, const slm_mat *table, const int *tokens, int n);
    void (*rmsnorm)(slm_backend *b, float *out, const float *x, const float *w, int n, int dim, float eps);
    void (*matmul)(slm_backend *b, float *out, const float *x, int n, const slm_mat *W, const float *bias);
    /* cos_t/sin_t: [n][rot/2] tables in backend memory */
    void (*rope)(slm_backend *b, float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim, int rot);
    /* Appends k, v ([n][n_kv*head_dim]) at positions pos0.. to the cache of `layer`, then
     * out[n][n_heads*head_dim] = causal attention of q over positions 0..pos0+t. */
    void (*attention)(slm_backend *b, slm_kv *kv, int layer, float *out, const float *q, const float *k, const float *v,
                      int n, int pos0);
    void (*swiglu)(slm_backend *b, float *out, const float *gate, const float *up, int n);
    void (*add)(slm_backend *b, float *y, const float *x, int n);

    /* Waits for queued work; 0, or -1 with slm_error() naming the first failed call. */
    int (*sync)(slm_backend *b);

    /* Optional (NULL where a backend has none): replaying a recorded step. The forward pass calls
     * step_begin once a step's rotary tables are uploaded and before its first op, with the step's
     * session, tokens, position and whether it computes logits. 1: the backend replayed what it
     * recorded at an earlier step of the same kind, and the caller skips every op up to the
     * downloads of the logits; 0: the caller runs the ops (which the backend may be recording);
     * -1: failure, with slm_error(). step_end follows the last op before the first download (it may
     * come more than once, and does nothing when nothing is being recorded). */
    int (*step_begin)(slm_backend *b, const void *session, const int *tokens, int n, int pos0, int head);
    void (*step_end)(slm_backend *b);
    /* Optional: several products of one input in one op (a GPU launches them together); without it
     * the forward pass runs matmul for each, and add for those that add to their output. */
    void (*matmuls)(slm_backend *b, const float *x, int n, const slm_product *p, int count);

    slm_kv *(*kv_new)(slm_backend *b, const slm_config *c, int ctx);
    void (*kv_free)(slm_backend *b, slm_kv *kv);
    void (*destroy)(slm_backend *b);
};

/* The CPU backend with nthreads workers (<= 0: the number of physical cores). */
slm_backend *slm_backend_cpu(int nthreads);
int slm_backend_cpu_threads(const slm_backend *b);

#endif
