/* The CUDA backend: the table of runtime/backend.h over the kernels of kernels/cuda.
 *
 * Everything runs on one stream per backend. Ops queue work and return; the host waits only where it
 * must: uploads and the embedding's token ids (so that the caller may reuse its buffer at once) and
 * downloads (the caller reads the result). Errors: see cuda_check.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cublas_api.h"
#include "cuda_check.h"
#include "cuda_layout.h"
#include "cuda_ops.h"

extern "C" {
#include "../../runtime/error.h"
#include "../cpu/quant.h"
}
#include "backend_cuda.h"

/* A decoding step recorded as a CUDA graph (see step_begin). */
enum { GRAPHS = 4 };
typedef struct {
    const void *session; /* with n and head, what the step is recorded for; NULL: a free slot */
    int n, head;
    int seen;            /* the step ran once without recording, so every buffer it uses exists */
    cudaGraphExec_t exec;
} step_graph;

typedef struct {
    slm_backend base; /* first, so a slm_backend* is a cuda_backend* */
    slm_cuda_ctx ctx;
    void *scratch; /* matmul scratch, grown by reserve() (or by a matmul that finds it short) */
    size_t scratch_size;
    int *tokens; /* the embedding's token ids */
    size_t tokens_size;
    float *partials; /* split attention: per-slice results */
    size_t partials_size;
    int *step;       /* a recorded step's inputs: its position, then its tokens */
    step_graph graphs[GRAPHS];
    step_graph *recording; /* the step being recorded, if any */
    int graphs_off;        /* SLM_CUDA_GRAPHS=0 */
} cuda_backend;

static cuda_backend *cu(slm_backend *b) { return (cuda_backend *)b; }

/* ---- error checks (declared in cuda_check.h) ---- */

static int record(slm_cuda_ctx *c, const char *what, const char *call, const char *file, int line) {
    if (!c->failed) {
        c->failed = 1;
        snprintf(c->error, sizeof c->error, "CUDA backend: %s failed at %s:%d: %s", call, file, line, what);
    }
    return slm_fail("%s", c->error);
}

int slm_cuda_check(slm_cuda_ctx *c, cudaError_t e, const char *call, const char *file, int line) {
    if (e == cudaSuccess) return 0;
    cudaGetLastError(); /* clear it, so that the next launch check does not report it again */
    return record(c, cudaGetErrorString(e), call, file, line);
}

int slm_cublas_check(slm_cuda_ctx *c, cublasStatus_t s, const char *call, const char *file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    const slm_cublas_api *blas = slm_cublas();
    return record(c, blas ? blas->status_string(s) : "cuBLAS error", call, file, line);
}

int slm_cuda_smem(slm_cuda_ctx *c, const void *kernel, size_t bytes, const char *name) {
    if (bytes <= 48 * 1024) return 0;
    if (bytes > c->smem_optin) {
        char what[160];
        snprintf(what, sizeof what, "needs %zu bytes of shared memory, the device allows %zu", bytes, c->smem_optin);
        return record(c, what, name, __FILE__, __LINE__);
    }
    return CUDA_CHECK(c, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

/* ---- memory ---- */

/* Device memory, zeroed. Running out is not an error of the backend (the caller gets NULL and
 * slm_error()); anything else is. */
static void *dev_alloc(cuda_backend *cb, size_t bytes) {
    slm_cuda_ctx *c = &cb->ctx;
    if (c->failed) {
        slm_fail("%s", c->error);
        return NULL;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) cudaGetLastError();
        slm_fail("CUDA backend: cannot allocate %.1f MiB of device memory (%.1f of %.1f MiB free): %s", bytes / 1048576.0,
                 free_b / 1048576.0, total_b / 1048576.0, cudaGetErrorString(e));
        return NULL;
    }
    if (CUDA_CHECK(c, cudaMemsetAsync(p, 0, bytes, c->stream))) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void drop_graphs(cuda_backend *cb);

static void dev_free(cuda_backend *cb, void *p) {
    if (!p) return;
    slm_cuda_ctx *c = &cb->ctx;
    drop_graphs(cb); /* a recorded step may use p; whatever takes its place would be somewhere else */
    /* queued kernels may still use p */
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (!c->failed) CUDA_CHECK(c, e);
    e = cudaFree(p);
    if (!c->failed) CUDA_CHECK(c, e);
}

/* Host to device, finished before returning (the caller may reuse src at once). */
static int copy_in(cuda_backend *cb, void *dst, const void *src, size_t bytes) {
    slm_cuda_ctx *c = &cb->ctx;
    if (c->failed) return slm_fail("%s", c->error);
    if (bytes == 0) return 0;
    if (CUDA_CHECK(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream))) return -1;
    return CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
}

/* Grows *buf to at least need bytes (contents not kept). Inside an op (in_op) running out is the
 * backend's failure, since the op cannot run; from reserve() or kv_new() it is only the caller's. */
static int grow(cuda_backend *cb, void **buf, size_t *size, size_t need, const char *what, int in_op) {
    if (need <= *size) return 0;
    dev_free(cb, *buf);
    *buf = NULL;
    *size = 0;
    void *p = dev_alloc(cb, need);
    if (!p) {
        if (in_op && !cb->ctx.failed) record(&cb->ctx, slm_error(), what, __FILE__, __LINE__);
        return -1;
    }
    *buf = p;
    *size = need;
    return 0;
}

static void *cuda_alloc(slm_backend *b, size_t bytes) { return dev_alloc(cu(b), bytes); }
static void cuda_free(slm_backend *b, void *p) { dev_free(cu(b), p); }
static void cuda_upload(slm_backend *b, void *dst, const void *src, size_t bytes) { copy_in(cu(b), dst, src, bytes); }

static void cuda_download(slm_backend *b, void *dst, const void *src, size_t bytes) {
    slm_cuda_ctx *c = &cu(b)->ctx;
    if (!c->failed && bytes) {
        if (!CUDA_CHECK(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream)))
            CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    }
    if (c->failed) {
        memset(dst, 0xff, bytes); /* all-ones floats are NaN: nothing here looks like a result */
        slm_fail("%s", c->error);
    }
}

/* ---- weights ---- */

void slm_cuda_relayout(void *dst, const slm_mat *src) {
    size_t rows = (size_t)src->rows, cols = (size_t)src->cols, nb = cols / SLM_QK;
    char *d = (char *)dst;
    size_t bytes = dev_mat_bytes(src);
    if (src->type == SLM_Q8_0 || src->type == SLM_Q4_0) {
        memset(d, 0, bytes);
        uint16_t *scales = (uint16_t *)d;
        uint8_t *values = (uint8_t *)d + q_values_offset(src->rows, src->cols);
        for (size_t r = 0; r < rows; r++) {
            for (size_t b = 0; b < nb; b++) {
                if (src->type == SLM_Q8_0) {
                    const slm_block_q8_0 *blk = (const slm_block_q8_0 *)src->data + r * nb + b;
                    scales[r * nb + b] = blk->d;
                    memcpy(values + r * cols + b * SLM_QK, blk->qs, SLM_QK);
                } else {
                    const slm_block_q4_0 *blk = (const slm_block_q4_0 *)src->data + r * nb + b;
                    scales[r * nb + b] = blk->d;
                    memcpy(values + r * cols / 2 + b * (SLM_QK / 2), blk->qs, SLM_QK / 2);
                }
            }
        }
    } else if (src->type == SLM_NF4) {
        size_t used = (rows * cols + 1) / 2;
        memcpy(d, src->data, used);
        memset(d + used, 0, bytes - used);
    } else {
        memcpy(d, src->data, bytes);
    }
}

static void cuda_free_mat(slm_backend *b, slm_mat *m) {
    cuda_backend *cb = cu(b);
    dev_free(cb, (void *)m->data);
    if (m->type == SLM_NF4) {
        dev_free(cb, (void *)m->absmax);
        dev_free(cb, (void *)m->code);
    }
    m->data = NULL;
    m->absmax = NULL;
    m->code = NULL;
}

static int cuda_upload_mat(slm_backend *b, slm_mat *dst, const slm_mat *src) {
    cuda_backend *cb = cu(b);
    *dst = *src;
    dst->data = NULL;
    dst->absmax = NULL;
    dst->code = NULL;
    if ((unsigned)src->type >= SLM_NTYPES) return slm_fail("CUDA backend: weight format %d is unknown", (int)src->type);
    if (src->rows < 0 || src->cols < 0) return slm_fail("CUDA backend: weight shape [%d, %d]", src->rows, src->cols);
    int quant = src->type == SLM_Q8_0 || src->type == SLM_Q4_0 || src->type == SLM_NF4;
    if (quant && slm_quant_check(src, "CUDA backend: weight")) return -1;

    size_t bytes = dev_mat_bytes(src);
    void *host = NULL;
    const void *from = src->data;
    if (quant) {
        host = malloc(bytes ? bytes : 1);
        if (!host) return slm_fail("CUDA backend: out of host memory for a %zu-byte staging copy", bytes);
        slm_cuda_relayout(host, src);
        from = host;
    }
    void *data = dev_alloc(cb, bytes);
    int rc = data ? copy_in(cb, data, from, bytes) : -1;
    free(host);
    dst->data = data;
    if (rc == 0 && src->type == SLM_NF4) {
        size_t blocks = ((size_t)src->rows * src->cols + src->block - 1) / src->block;
        float *absmax = (float *)dev_alloc(cb, blocks * sizeof(float));
        float *code = (float *)dev_alloc(cb, 16 * sizeof(float));
        dst->absmax = absmax;
        dst->code = code;
        rc = absmax && code ? 0 : -1;
        if (rc == 0) rc = copy_in(cb, absmax, src->absmax, blocks * sizeof(float));
        if (rc == 0) rc = copy_in(cb, code, src->code ? src->code : slm_nf4_code, 16 * sizeof(float));
    }
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", slm_error());
        cuda_free_mat(b, dst);
        return slm_fail("%s", msg);
    }
    return 0;
}

/* ---- matrix products ---- */

static size_t matmul_scratch(const slm_mat *W, int n) {
    if (n > SLM_CUDA_MV_MAX) return slm_cuda_gemm_scratch(W, n);
    if (W->type == SLM_Q8_0 || W->type == SLM_Q4_0 || (W->type == SLM_NF4 && slm_cuda_nf4_int8(W)))
        return act_bytes(n, W->cols);
    return 0;
}

static int cuda_reserve(slm_backend *b, const slm_mat *W, int n) {
    cuda_backend *cb = cu(b);
    return grow(cb, &cb->scratch, &cb->scratch_size, matmul_scratch(W, n), "reserve of matmul scratch", 0);
}

/* One launch of products of the same input, format and width (n <= SLM_CUDA_MV_MAX). */
static void matvec_set(cuda_backend *cb, const float *x, int n, const slm_cuda_product *p, int count) {
    slm_cuda_ctx *c = &cb->ctx;
    switch (p[0].W.type) {
    case SLM_F32:
    case SLM_F16:
    case SLM_BF16: slm_cuda_matvec_float(c, p, count, x, n); break;
    case SLM_Q8_0:
        if (slm_cuda_act_q8(c, cb->scratch, x, n, p[0].W.cols) == 0) slm_cuda_matvec_q8_0(c, p, count, cb->scratch, n);
        break;
    case SLM_Q4_0:
        if (slm_cuda_act_q8(c, cb->scratch, x, n, p[0].W.cols) == 0) slm_cuda_matvec_q4_0(c, p, count, cb->scratch, n);
        break;
    case SLM_NF4: slm_cuda_matvec_nf4(c, p, count, x, n, cb->scratch); break;
    default: slm_cuda_check(c, cudaErrorInvalidValue, "matmul: weight format", __FILE__, __LINE__); break;
    }
}

/* Products of one input: for a decoding step, one launch for each run of products that share a
 * format and width (Q, K and V; gate and up), the activations quantized once for all of them. */
static void cuda_matmuls(slm_backend *b, const float *x, int n, const slm_product *p, int count) {
    cuda_backend *cb = cu(b);
    slm_cuda_ctx *c = &cb->ctx;
    if (c->failed || n <= 0 || count <= 0) return;
    size_t need = 0;
    for (int i = 0; i < count; i++) {
        size_t bytes = matmul_scratch(p[i].W, n);
        need = bytes > need ? bytes : need;
    }
    if (grow(cb, &cb->scratch, &cb->scratch_size, need, "growth of matmul scratch", 1)) return;
    if (n > SLM_CUDA_MV_MAX) {
        for (int i = 0; i < count; i++)
            if (slm_cuda_gemm(c, p[i].out, x, n, p[i].W, p[i].bias, p[i].add, cb->scratch)) return;
        return;
    }
    slm_cuda_product set[SLM_CUDA_PRODUCTS];
    int m = 0;
    for (int i = 0; i < count; i++) {
        const slm_cuda_product q = {p[i].out, *p[i].W, p[i].bias, p[i].add};
        if (m == SLM_CUDA_PRODUCTS || (m > 0 && (q.W.type != set[0].W.type || q.W.cols != set[0].W.cols))) {
            matvec_set(cb, x, n, set, m);
            m = 0;
        }
        set[m++] = q;
    }
    if (m) matvec_set(cb, x, n, set, m);
}

static void cuda_matmul(slm_backend *b, float *out, const float *x, int n, const slm_mat *W, const float *bias) {
    const slm_product p = {out, W, bias, 0};
    cuda_matmuls(b, x, n, &p, 1);
}

/* ---- the other ops ---- */

static void cuda_embed(slm_backend *b, float *out, const slm_mat *table, const int *tokens, int n) {
    cuda_backend *cb = cu(b);
    if (cb->ctx.failed || n <= 0) return;
    if (cb->recording) { /* step_begin has put the tokens in place, and a recording cannot wait for a copy */
        slm_cuda_embed(&cb->ctx, out, table, cb->step + 1, n);
        return;
    }
    if (grow(cb, (void **)&cb->tokens, &cb->tokens_size, (size_t)n * sizeof(int), "growth of the token buffer", 1))
        return;
    if (copy_in(cb, cb->tokens, tokens, (size_t)n * sizeof(int)) == 0) slm_cuda_embed(&cb->ctx, out, table, cb->tokens, n);
}

static void cuda_rmsnorm(slm_backend *b, float *out, const float *x, const float *w, int n, int dim, float eps) {
    slm_cuda_rmsnorm(&cu(b)->ctx, out, x, w, n, dim, eps);
}

static void cuda_rope(slm_backend *b, float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim,
                      int rot) {
    slm_cuda_rope(&cu(b)->ctx, x, cos_t, sin_t, n, heads, head_dim, rot);
}

static void cuda_attention(slm_backend *b, slm_kv *kv, int layer, float *out, const float *q, const float *k,
                           const float *v, int n, int pos0) {
    cuda_backend *cb = cu(b);
    slm_cuda_attention(&cb->ctx, (slm_cuda_kv *)kv, layer, out, q, k, v, n, pos0, cb->partials,
                       cb->recording ? cb->step : NULL);
}

static void cuda_swiglu(slm_backend *b, float *out, const float *gate, const float *up, int n) {
    slm_cuda_swiglu(&cu(b)->ctx, out, gate, up, n > 0 ? (size_t)n : 0);
}

static void cuda_add(slm_backend *b, float *y, const float *x, int n) {
    slm_cuda_add(&cu(b)->ctx, y, x, n > 0 ? (size_t)n : 0);
}

/* ---- KV cache ---- */

static void cuda_kv_free(slm_backend *b, slm_kv *p) {
    slm_cuda_kv *kv = (slm_cuda_kv *)p;
    if (!kv) return;
    dev_free(cu(b), kv->k);
    dev_free(cu(b), kv->v);
    free(kv);
}

static slm_kv *cuda_kv_new(slm_backend *b, const slm_config *c, int ctx) {
    cuda_backend *cb = cu(b);
    if (c->head_dim > SLM_CUDA_MAX_HEAD_DIM) {
        slm_fail("CUDA backend: head_dim %d is larger than the %d its attention takes", c->head_dim,
                 SLM_CUDA_MAX_HEAD_DIM);
        return NULL;
    }
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads) {
        slm_fail("CUDA backend: %d heads do not divide into %d KV heads", c->n_heads, c->n_kv_heads);
        return NULL;
    }
    slm_cuda_kv *kv = (slm_cuda_kv *)calloc(1, sizeof *kv);
    if (!kv) {
        slm_fail("out of memory");
        return NULL;
    }
    kv->n_layers = c->n_layers;
    kv->n_heads = c->n_heads;
    kv->n_kv = c->n_kv_heads;
    kv->head_dim = c->head_dim;
    kv->ctx = ctx;
    kv->window = c->sliding_window;
    size_t bytes = (size_t)c->n_layers * c->n_kv_heads * (size_t)ctx * c->head_dim * sizeof(float);
    kv->k = (float *)dev_alloc(cb, bytes);
    kv->v = kv->k ? (float *)dev_alloc(cb, bytes) : NULL;
    if (!kv->v) {
        char msg[400];
        snprintf(msg, sizeof msg, "KV cache: %d positions (%.1f MiB): %s", ctx, 2.0 * bytes / 1048576.0, slm_error());
        cuda_kv_free(b, (slm_kv *)kv);
        slm_fail("%s", msg);
        return NULL;
    }
    if (grow(cb, (void **)&cb->partials, &cb->partials_size, slm_cuda_attention_partials(kv) * sizeof(float),
             "attention scratch", 0)) {
        cuda_kv_free(b, (slm_kv *)kv);
        return NULL;
    }
    return (slm_kv *)kv;
}

/* ---- recorded decoding steps (CUDA graphs) ----
 *
 * Decoding a token launches a few hundred small kernels, and each launch costs the host microseconds
 * (about 4 on the H100 host measured in bench/RESULTS.md): more than the kernels of a 1B model take
 * on the GPU. So a single-token step is recorded once as a CUDA graph and replayed: one launch per
 * token. What changes from step to step lives in device memory that the graph reads: the rotary
 * tables (uploaded by the forward pass before step_begin), and the tokens and the position (in
 * cb->step, read by the embedding and attention kernels, which plan the attention split there).
 * A recording is kept per session, batch size and head; freeing any device memory drops them all,
 * since a recording holds the pointers it was made with. The first step of a kind runs unrecorded,
 * so that every buffer it needs is allocated before a recording, which cannot allocate. */

static void drop_graphs(cuda_backend *cb) {
    for (int i = 0; i < GRAPHS; i++) {
        if (cb->graphs[i].exec) cudaGraphExecDestroy(cb->graphs[i].exec);
        memset(&cb->graphs[i], 0, sizeof cb->graphs[i]);
    }
}

static int cuda_step_begin(slm_backend *b, const void *session, const int *tokens, int n, int pos0, int head) {
    cuda_backend *cb = cu(b);
    slm_cuda_ctx *c = &cb->ctx;
    if (c->failed) return slm_fail("%s", c->error);
    c->pdl_now = c->pdl && n <= SLM_CUDA_MV_MAX;
    if (cb->graphs_off || n != 1 || !cb->step) return 0;
    step_graph *g = NULL;
    for (int i = 0; i < GRAPHS && !g; i++)
        if (cb->graphs[i].session == session && cb->graphs[i].n == n && cb->graphs[i].head == head) g = &cb->graphs[i];
    if (!g) { /* a free slot, or the first one's place */
        for (int i = 0; i < GRAPHS && !g; i++)
            if (!cb->graphs[i].session) g = &cb->graphs[i];
        if (!g) {
            g = &cb->graphs[0];
            if (g->exec) cudaGraphExecDestroy(g->exec);
        }
        memset(g, 0, sizeof *g);
        g->session = session;
        g->n = n;
        g->head = head;
    }
    int in[1 + SLM_CUDA_MV_MAX];
    in[0] = pos0;
    memcpy(in + 1, tokens, (size_t)n * sizeof(int));
    if (copy_in(cb, cb->step, in, (size_t)(1 + n) * sizeof(int))) return -1;
    if (g->exec) {
        if (CUDA_CHECK(c, cudaGraphLaunch(g->exec, c->stream))) return -1;
        return 1;
    }
    if (!g->seen) {
        g->seen = 1;
        return 0;
    }
    if (CUDA_CHECK(c, cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal))) return -1;
    cb->recording = g;
    return 0;
}

static void cuda_step_end(slm_backend *b) {
    cuda_backend *cb = cu(b);
    slm_cuda_ctx *c = &cb->ctx;
    step_graph *g = cb->recording;
    if (!g) return;
    cb->recording = NULL;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph); /* even after a failed op: the stream must leave capture */
    if (CUDA_CHECK(c, e) || c->failed) {
        if (graph) cudaGraphDestroy(graph);
        return;
    }
    e = cudaGraphInstantiate(&g->exec, graph, 0);
    cudaGraphDestroy(graph);
    if (CUDA_CHECK(c, e)) {
        g->exec = NULL;
        return;
    }
    CUDA_CHECK(c, cudaGraphLaunch(g->exec, c->stream)); /* a recording only records: now run it */
}

/* ---- the backend ---- */

static void cuda_destroy(slm_backend *b) {
    cuda_backend *cb = cu(b);
    cudaStreamSynchronize(cb->ctx.stream);
    drop_graphs(cb);
    cudaFree(cb->step);
    cudaFree(cb->scratch);
    cudaFree(cb->tokens);
    cudaFree(cb->partials);
    slm_cublas()->destroy(cb->ctx.blas);
    cudaStreamDestroy(cb->ctx.stream);
    free(cb);
}

int slm_backend_cuda_sync(slm_backend *b) {
    if (!b || strcmp(b->name, "cuda")) return 0;
    slm_cuda_ctx *c = &cu(b)->ctx;
    if (!c->failed) CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return c->failed ? slm_fail("%s", c->error) : 0;
}

slm_backend *slm_backend_cuda(void) {
    int count = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        slm_fail("no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return NULL;
    }
    cudaDeviceProp prop;
    e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, dev);
    if (e != cudaSuccess) {
        cudaGetLastError();
        slm_fail("no CUDA device: %s", cudaGetErrorString(e));
        return NULL;
    }
    if (prop.major < 8) {
        slm_fail("CUDA device %d (%s) has compute capability %d.%d; this build needs 8.0 or newer", dev, prop.name,
                 prop.major, prop.minor);
        return NULL;
    }
    cuda_backend *cb = (cuda_backend *)calloc(1, sizeof *cb);
    if (!cb) {
        slm_fail("out of memory");
        return NULL;
    }
    slm_cuda_ctx *c = &cb->ctx;
    c->device = dev;
    c->sms = prop.multiProcessorCount;
    c->smem_optin = prop.sharedMemPerBlockOptin;
    if (CUDA_CHECK(c, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking))) {
        free(cb);
        return NULL;
    }
    const slm_cublas_api *blas = slm_cublas();
    if (!blas) {
        cudaStreamDestroy(c->stream);
        free(cb);
        return NULL;
    }
    if (CUBLAS_CHECK(c, blas->create(&c->blas)) || CUBLAS_CHECK(c, blas->set_stream(c->blas, c->stream))) {
        if (c->blas) blas->destroy(c->blas);
        cudaStreamDestroy(c->stream);
        free(cb);
        return NULL;
    }
    const char *pdl = getenv("SLM_CUDA_PDL");
    c->pdl = c->pdl_now = prop.major >= 9 && !(pdl && !strcmp(pdl, "0"));
    const char *graphs = getenv("SLM_CUDA_GRAPHS");
    cb->graphs_off = graphs && !strcmp(graphs, "0");
    cb->step = (int *)dev_alloc(cb, (1 + SLM_CUDA_MV_MAX) * sizeof(int));
    if (!cb->step) {
        blas->destroy(c->blas);
        cudaStreamDestroy(c->stream);
        free(cb);
        return NULL;
    }
    cb->base.name = "cuda";
    cb->base.alloc = cuda_alloc;
    cb->base.free = cuda_free;
    cb->base.upload = cuda_upload;
    cb->base.download = cuda_download;
    cb->base.upload_mat = cuda_upload_mat;
    cb->base.free_mat = cuda_free_mat;
    cb->base.reserve = cuda_reserve;
    cb->base.embed = cuda_embed;
    cb->base.rmsnorm = cuda_rmsnorm;
    cb->base.matmul = cuda_matmul;
    cb->base.matmuls = cuda_matmuls;
    cb->base.rope = cuda_rope;
    cb->base.attention = cuda_attention;
    cb->base.swiglu = cuda_swiglu;
    cb->base.add = cuda_add;
    cb->base.sync = slm_backend_cuda_sync;
    cb->base.step_begin = cuda_step_begin;
    cb->base.step_end = cuda_step_end;
    cb->base.kv_new = cuda_kv_new;
    cb->base.kv_free = cuda_kv_free;
    cb->base.destroy = cuda_destroy;
    return &cb->base;
}
