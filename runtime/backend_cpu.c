/* The CPU backend: kernels/cpu behind the backend table, threaded over one pool. */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cpu/attention.h"
#include "../kernels/cpu/cpu_features.h"
#include "../kernels/cpu/matmul.h"
#include "../kernels/cpu/norm.h"
#include "../kernels/cpu/rope.h"
#include "backend.h"
#include "error.h"
#include "kvcache.h"
#include "threadpool.h"

typedef struct {
    slm_backend base; /* first, so a slm_backend* is a cpu_backend* */
    slm_pool *pool;
    void *scratch; /* matmul scratch, grown by reserve() */
    size_t scratch_size;
    float *scores; /* attention scores: [threads][ctx] */
    size_t scores_size;
} cpu_backend;

static cpu_backend *cpu(slm_backend *b) { return (cpu_backend *)b; }

static void *cpu_alloc(slm_backend *b, size_t bytes) { return calloc(1, bytes ? bytes : 1); }
static void cpu_free(slm_backend *b, void *p) { free(p); }
static void cpu_copy(slm_backend *b, void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

static int cpu_upload_mat(slm_backend *b, slm_mat *dst, const slm_mat *src) {
    *dst = *src;
    return 0;
}
static void cpu_free_mat(slm_backend *b, slm_mat *m) {}

static int cpu_reserve(slm_backend *b, const slm_mat *W, int n) {
    cpu_backend *c = cpu(b);
    size_t need = slm_matmul_scratch_bytes(W, n, slm_pool_size(c->pool));
    if (need <= c->scratch_size) return 0;
    void *p = realloc(c->scratch, need);
    if (!p) return slm_fail("CPU backend: out of memory for %zu bytes of matmul scratch", need);
    c->scratch = p;
    c->scratch_size = need;
    return 0;
}

static void cpu_embed(slm_backend *b, float *out, const slm_mat *table, const int *tokens, int n) {
    for (int t = 0; t < n; t++) slm_mat_row(table, tokens[t], out + (size_t)t * table->cols);
}

typedef struct {
    float *out;
    const float *x, *w, *gate, *up;
    int n, dim;
    float eps;
} rows_job;

static void rmsnorm_worker(void *ctx, int i, int nth) {
    rows_job *j = ctx;
    int t0, t1;
    slm_split(j->n, 1, i, nth, &t0, &t1);
    if (t1 > t0) slm_rmsnorm(j->out + (size_t)t0 * j->dim, j->x + (size_t)t0 * j->dim, j->w, t1 - t0, j->dim, j->eps);
}

static void cpu_rmsnorm(slm_backend *b, float *out, const float *x, const float *w, int n, int dim, float eps) {
    rows_job j = {out, x, w, NULL, NULL, n, dim, eps};
    if ((size_t)n * dim < (1u << 16)) slm_rmsnorm(out, x, w, n, dim, eps);
    else slm_pool_run(cpu(b)->pool, rmsnorm_worker, &j);
}

static void cpu_matmul(slm_backend *b, float *out, const float *x, int n, const slm_mat *W, const float *bias) {
    slm_matmul(cpu(b)->pool, out, x, n, W, bias, cpu(b)->scratch);
}

static void cpu_rope(slm_backend *b, float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim,
                     int rot) {
    slm_rope(x, cos_t, sin_t, n, heads, head_dim, rot);
}

static void swiglu_worker(void *ctx, int i, int nth) {
    rows_job *j = ctx;
    int a, e;
    slm_split(j->n, 64, i, nth, &a, &e);
    if (e > a) slm_swiglu(j->out + a, j->gate + a, j->up + a, e - a);
}

static void cpu_swiglu(slm_backend *b, float *out, const float *gate, const float *up, int n) {
    rows_job j = {out, NULL, NULL, gate, up, n, 0, 0};
    if (n < 16384) slm_swiglu(out, gate, up, n);
    else slm_pool_run(cpu(b)->pool, swiglu_worker, &j);
}

static void cpu_add(slm_backend *b, float *y, const float *x, int n) { slm_add(y, x, n); }

typedef struct {
    struct slm_kv *kv;
    int layer, n, pos0;
    float *out;
    const float *q;
    float *scores; /* [threads][group * ctx] */
    const slm_attention_kernel *k;
    int split;     /* query heads per task: the whole group, or one when there are too few groups to share */
    int tasks;
    atomic_int next;
} attn_job;

/* Tasks run KV head by KV head, and within one by query position, so the tasks taken one after the
 * other read the same cached rows. */
static void attention_worker(void *ctx, int i, int nth) {
    attn_job *j = ctx;
    struct slm_kv *kv = j->kv;
    int hd = kv->head_dim, group = kv->n_heads / kv->n_kv, parts = group / j->split;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = j->scores + (size_t)i * group * kv->ctx;
    int task;
    while ((task = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->tasks) {
        int g = task / (j->n * parts), rest = task % (j->n * parts), t = rest / parts, part = rest % parts;
        int h0 = g * group + part * j->split, pos = j->pos0 + t;
        int start = kv->window > 0 && pos + 1 > kv->window ? pos + 1 - kv->window : 0;
        size_t row = ((size_t)t * kv->n_heads + h0) * hd;
        j->k->attend(j->out + row, j->q + row, j->split, slm_kv_k(kv, j->layer, g), slm_kv_v(kv, j->layer, g), kv->f16,
                     start, pos + 1, hd, scale, scores);
    }
}

static void cpu_attention(slm_backend *b, slm_kv *kv, int layer, float *out, const float *q, const float *k,
                          const float *v, int n, int pos0) {
    int hd = kv->head_dim, group = kv->n_heads / kv->n_kv, nth = slm_pool_size(cpu(b)->pool);
    const slm_attention_kernel *ak = slm_attention_best();
    size_t elem = (size_t)slm_kv_elem(kv);
    for (int t = 0; t < n; t++) {
        for (int g = 0; g < kv->n_kv; g++) {
            size_t src = ((size_t)t * kv->n_kv + g) * hd, dst = (size_t)(pos0 + t) * hd * elem;
            ak->store((char *)slm_kv_k(kv, layer, g) + dst, k + src, hd, kv->f16);
            ak->store((char *)slm_kv_v(kv, layer, g) + dst, v + src, hd, kv->f16);
        }
    }
    attn_job j = {kv, layer, n, pos0, out, q, cpu(b)->scores, ak, group, 0, 0};
    if (n * kv->n_kv < nth) j.split = 1;
    j.tasks = n * kv->n_kv * (group / j.split);
    /* short histories are cheaper on one thread than waking the others */
    if ((size_t)n * kv->n_heads * (size_t)(pos0 + n) * hd < (1u << 15)) attention_worker(&j, 0, 1);
    else slm_pool_run(cpu(b)->pool, attention_worker, &j);
}

static slm_kv *cpu_kv_new(slm_backend *b, const slm_config *c, int ctx) {
    cpu_backend *cb = cpu(b);
    size_t group = (size_t)(c->n_heads / (c->n_kv_heads > 0 ? c->n_kv_heads : 1));
    size_t need = (size_t)slm_pool_size(cb->pool) * group * (size_t)ctx;
    if (need > cb->scores_size) {
        float *s = realloc(cb->scores, need * sizeof(float));
        if (!s) {
            slm_fail("CPU backend: out of memory for attention scores");
            return NULL;
        }
        cb->scores = s;
        cb->scores_size = need;
    }
    return slm_kv_cpu_new(c, ctx, b->kv_f16);
}

static void cpu_kv_free(slm_backend *b, slm_kv *kv) { slm_kv_cpu_free(kv); }
static int cpu_sync(slm_backend *b) { return 0; }

static void cpu_destroy(slm_backend *b) {
    cpu_backend *c = cpu(b);
    slm_pool_destroy(c->pool);
    free(c->scratch);
    free(c->scores);
    free(c);
}

slm_backend *slm_backend_cpu(int nthreads) {
    cpu_backend *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (nthreads <= 0) nthreads = slm_physical_cores();
    /* BLAS runs inside our workers, one tile each: its own threads would oversubscribe the cores. */
    openblas_set_num_threads(1);
    c->pool = slm_pool_create(nthreads);
    if (!c->pool) {
        free(c);
        slm_fail("CPU backend: cannot start %d threads", nthreads);
        return NULL;
    }
    c->base = (slm_backend){
        .name = "cpu",
        .alloc = cpu_alloc,
        .free = cpu_free,
        .upload = cpu_copy,
        .download = cpu_copy,
        .upload_mat = cpu_upload_mat,
        .free_mat = cpu_free_mat,
        .reserve = cpu_reserve,
        .embed = cpu_embed,
        .rmsnorm = cpu_rmsnorm,
        .matmul = cpu_matmul,
        .rope = cpu_rope,
        .attention = cpu_attention,
        .swiglu = cpu_swiglu,
        .add = cpu_add,
        .sync = cpu_sync,
        .kv_new = cpu_kv_new,
        .kv_free = cpu_kv_free,
        .destroy = cpu_destroy,
    };
    return &c->base;
}

int slm_backend_cpu_threads(const slm_backend *b) { return slm_pool_size(((const cpu_backend *)b)->pool); }
