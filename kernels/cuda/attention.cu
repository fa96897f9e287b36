/* Causal attention over the device KV cache ([layer][kv_head][ctx][head_dim] float32, the CPU
 * layout), with grouped-query heads and an optional sliding window:
 *   out[t][h] = softmax(scale · q[t][h]·K[start..pos]) · V[start..pos],  pos = pos0 + t.
 * Decoding (a few tokens) splits the history over blocks and merges the pieces (flash decoding);
 * prompt batches run a tiled kernel with an online softmax (flash attention), all in FP32. */
#include <math.h>

#include "cuda_launch.h"
#include "cuda_ops.h"
#include "cuda_reduce.h"

enum { ATT_THREADS = 128, MAX_TARGET_SPLITS = 64, KEYS_PER_LANE = SLM_CUDA_MAX_HEAD_DIM / 32 };

/* Longest slice of history one split block takes: its scores ([group][chunk] floats) stay within
 * 32 KiB of shared memory. A multiple of 32. */
static __host__ __device__ int chunk_max(int group) {
    int c = (8192 / group) & ~31;
    return c < 32 ? 32 : c > 2048 ? 2048 : c;
}

static int max_splits(int ctx, int group) {
    int need = (ctx + chunk_max(group) - 1) / chunk_max(group);
    return need > MAX_TARGET_SPLITS ? need : MAX_TARGET_SPLITS;
}

/* How a decoding step's history is split: slices of `chunk` positions from `lo`, `splits` of them,
 * enough for about two blocks per SM, at least 32 positions each, at most chunk_max. The host plans
 * a step it launches itself; a recorded step (CUDA graph) is replayed at other positions, so its
 * kernels read the position from device memory and plan the same way there. */
typedef struct {
    int lo, chunk, splits;
} split_plan;

static __host__ __device__ split_plan plan_splits(int pos0, int n, int window, int n_kv, int group, int sms) {
    split_plan p;
    p.lo = window > 0 && pos0 + 1 > window ? pos0 + 1 - window : 0;
    int total = pos0 + n - p.lo, cmax = chunk_max(group);
    int target = (2 * sms + n_kv * n - 1) / (n_kv * n);
    if (target > MAX_TARGET_SPLITS) target = MAX_TARGET_SPLITS;
    if (target > (total + 31) / 32) target = (total + 31) / 32;
    if (target < (total + cmax - 1) / cmax) target = (total + cmax - 1) / cmax;
    if (target < 1) target = 1;
    p.chunk = ((total + target - 1) / target + 31) & ~31;
    p.splits = (total + p.chunk - 1) / p.chunk;
    return p;
}

size_t slm_cuda_attention_partials(const slm_cuda_kv *kv) {
    int group = kv->n_heads / kv->n_kv;
    return (size_t)SLM_CUDA_MV_MAX * kv->n_heads * (size_t)max_splits(kv->ctx, group) * (size_t)(kv->head_dim + 2);
}

/* Work split: one thread per cached value written (1-D grid over n·n_kv·head_dim); the new rows of
 * k and v [n][n_kv][hd] go to positions pos0.. of each KV head. A plain scatter of contiguous runs. */
__global__ void kv_append_kernel(float *K, float *V, const float *__restrict__ k, const float *__restrict__ v, int n,
                                 int n_kv, int hd, int ctx, int pos0, const int *pos_dev) {
    pdl_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * n_kv * hd) return;
    if (pos_dev) pos0 = *pos_dev;
    int d = (int)(i % hd);
    size_t tg = i / hd;
    int g = (int)(tg % n_kv), t = (int)(tg / n_kv);
    size_t dst = ((size_t)g * ctx + pos0 + t) * hd + d;
    K[dst] = k[i];
    V[dst] = v[i];
}

typedef struct {
    float *out;
    const float *q, *K, *V; /* K, V: this layer's cache */
    float *part;
    int n, pos0, n_heads, n_kv, hd, ctx, window;
    float scale;
    int lo, chunk, splits; /* split kernel: history from lo in slices of chunk positions */
    const int *pos_dev;    /* a recorded step: pos0 is read here, and lo, chunk, splits planned from it */
    int sms;
} attn_args;

/* A recorded step's position and split, as the host would have given them. */
static __device__ void resolve_position(attn_args &a) {
    if (!a.pos_dev) return;
    a.pos0 = *a.pos_dev;
    split_plan p = plan_splits(a.pos0, a.n, a.window, a.n_kv, a.n_heads / a.n_kv, a.sms);
    a.lo = p.lo;
    a.chunk = p.chunk;
    a.splits = p.splits;
}

/* Work split: grid (n_kv, splits, n): one block per KV head, slice of the history and query token,
 * 128 threads. The block serves the `group` query heads that share its KV head, so each K and V row
 * of the slice is read from memory once for the whole group (GQA). Splitting the history over blocks
 * (flash decoding) keeps every SM busy even with one token and few KV heads; each block leaves, per
 * query head, the max and sum of its slice's softmax and the unnormalised output, and
 * attn_combine_kernel merges the slices. A history short enough for one slice (the first few
 * hundred positions) is written out directly, and the merge is not launched.
 * Inside the block: warps take positions in turn (lanes split the head dimension: a K row is one
 * coalesced read held in registers) and compute the scores of the whole group; then each warp takes
 * a query head's softmax over the slice; then threads take (head, dimension) pairs and sum
 * probability·V over the slice (consecutive threads on consecutive dimensions: coalesced V reads). */
__global__ void __launch_bounds__(ATT_THREADS) attn_split_kernel(attn_args args) {
    pdl_wait();
    extern __shared__ float sm[];
    attn_args a = args;
    resolve_position(a);
    if ((int)blockIdx.y >= a.splits) return; /* a recorded step launches the most slices it may need */
    const int group = a.n_heads / a.n_kv, hd = a.hd;
    float *qs = sm;                    /* [group][hd] */
    float *sc = qs + group * hd;       /* [group][chunk] */
    float *ml = sc + group * a.chunk;  /* [group][2]: max, sum */
    const int g = blockIdx.x, split = blockIdx.y, t = blockIdx.z;
    const int pos = a.pos0 + t;
    const int start = a.window > 0 && pos + 1 > a.window ? pos + 1 - a.window : 0;
    const int c0 = max(a.lo + split * a.chunk, start), c1 = min(a.lo + (split + 1) * a.chunk, pos + 1);
    const int len = c1 - c0;
    const size_t stride = (size_t)a.splits * (hd + 2); /* between query heads in part */
    float *pbase = a.part + (((size_t)t * a.n_heads + (size_t)g * group) * a.splits + split) * (hd + 2);
    if (len <= 0) { /* this slice is outside the token's window or past its position */
        for (int gi = threadIdx.x; gi < group; gi += blockDim.x) {
            pbase[gi * stride + hd] = -INFINITY;
            pbase[gi * stride + hd + 1] = 0.0f;
        }
        return;
    }
    const float *qrow = a.q + ((size_t)t * a.n_heads + (size_t)g * group) * hd;
    for (int i = threadIdx.x; i < group * hd; i += blockDim.x) qs[i] = qrow[i];
    __syncthreads();

    const float *Kg = a.K + ((size_t)g * a.ctx + c0) * hd, *Vg = a.V + ((size_t)g * a.ctx + c0) * hd;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int p = warp; p < len; p += nwarps) {
        const float *kr = Kg + (size_t)p * hd;
        float kv[KEYS_PER_LANE];
#pragma unroll
        for (int j = 0; j < KEYS_PER_LANE; j++) kv[j] = lane + 32 * j < hd ? kr[lane + 32 * j] : 0.0f;
        for (int gi = 0; gi < group; gi++) {
            const float *qg = qs + gi * hd;
            float s = 0.0f;
#pragma unroll
            for (int j = 0; j < KEYS_PER_LANE; j++)
                if (lane + 32 * j < hd) s += qg[lane + 32 * j] * kv[j];
            s = warp_sum(s);
            if (lane == 0) sc[gi * a.chunk + p] = s * a.scale;
        }
    }
    __syncthreads();
    for (int gi = warp; gi < group; gi += nwarps) {
        float *sg = sc + gi * a.chunk;
        float mx = -INFINITY;
        for (int p = lane; p < len; p += 32) mx = fmaxf(mx, sg[p]);
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int p = lane; p < len; p += 32) {
            float e = expf(sg[p] - mx);
            sg[p] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
            ml[2 * gi] = mx;
            ml[2 * gi + 1] = sum;
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < group * hd; i += blockDim.x) {
        int gi = i / hd, d = i % hd;
        const float *sg = sc + gi * a.chunk;
        float acc = 0.0f;
        for (int p = 0; p < len; p++) acc += sg[p] * Vg[(size_t)p * hd + d];
        if (a.splits == 1) { /* the whole history: the result itself, with no merge to follow */
            a.out[((size_t)t * a.n_heads + (size_t)g * group + gi) * hd + d] = acc / ml[2 * gi + 1];
            continue;
        }
        float *pp = pbase + gi * stride;
        pp[d] = acc;
        if (d == 0) {
            pp[hd] = ml[2 * gi];
            pp[hd + 1] = ml[2 * gi + 1];
        }
    }
}

/* Work split: grid (n_heads, n): one block per query head and token, threads over the head
 * dimension. Every thread reads the splits' (max, sum) pairs itself (a few dozen floats, cached),
 * which saves a reduction and any synchronisation. */
__global__ void attn_combine_kernel(attn_args args) {
    pdl_wait();
    attn_args a = args;
    resolve_position(a);
    if (a.splits == 1) return; /* attn_split_kernel wrote the result */
    const int h = blockIdx.x, t = blockIdx.y, hd = a.hd;
    const float *pb = a.part + ((size_t)t * a.n_heads + h) * a.splits * (hd + 2);
    float M = -INFINITY;
    for (int s = 0; s < a.splits; s++) M = fmaxf(M, pb[(size_t)s * (hd + 2) + hd]);
    float den = 0.0f;
    for (int s = 0; s < a.splits; s++) {
        float m = pb[(size_t)s * (hd + 2) + hd];
        if (m != -INFINITY) den += pb[(size_t)s * (hd + 2) + hd + 1] * expf(m - M);
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float num = 0.0f;
        for (int s = 0; s < a.splits; s++) {
            float m = pb[(size_t)s * (hd + 2) + hd];
            if (m != -INFINITY) num += pb[(size_t)s * (hd + 2) + d] * expf(m - M);
        }
        a.out[((size_t)t * a.n_heads + h) * hd + d] = num / den;
    }
}

/* Work split: grid (ceil(n / BQ), n_heads): one block per tile of BQ query tokens of one head,
 * 128 threads, walking the history in tiles of BK keys with an online softmax (flash attention):
 * a query tile is loaded once, each key/value tile once per query tile, and the scores never leave
 * shared memory. Per key tile, threads take (query, key) pairs for the scores (K rows padded to
 * hd + 1 floats so that threads on consecutive keys hit different banks), then one thread per query
 * row rescales its running max and sum, then threads take (query, dimension) pairs of the output
 * (consecutive dimensions: conflict-free reads of V). Key tiles that lie wholly outside every query's
 * causal window are never visited. Heads of a group re-read the same K/V tiles, from L2. */
__global__ void __launch_bounds__(ATT_THREADS) attn_prefill_kernel(attn_args a, int BQ, int BK) {
    pdl_wait();
    extern __shared__ float sm[];
    const int hd = a.hd, h = blockIdx.y, g = h / (a.n_heads / a.n_kv);
    const int t0 = blockIdx.x * BQ, rows = min(BQ, a.n - t0);
    float *Qs = sm;                /* [BQ][hd] */
    float *Os = Qs + BQ * hd;      /* [BQ][hd] */
    float *Ks = Os + BQ * hd;      /* [BK][hd + 1] */
    float *Vs = Ks + BK * (hd + 1); /* [BK][hd] */
    float *S = Vs + BK * hd;       /* [BQ][BK] */
    float *m = S + BQ * BK, *l = m + BQ, *alpha = l + BQ;
    const float *Kh = a.K + (size_t)g * a.ctx * hd, *Vh = a.V + (size_t)g * a.ctx * hd;

    for (int e = threadIdx.x; e < BQ * hd; e += blockDim.x) {
        int i = e / hd, d = e % hd;
        Qs[e] = i < rows ? a.q[((size_t)(t0 + i) * a.n_heads + h) * hd + d] : 0.0f;
        Os[e] = 0.0f;
    }
    for (int i = threadIdx.x; i < BQ; i += blockDim.x) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    const int first = a.pos0 + t0, last = first + rows - 1;
    const int kv_lo = a.window > 0 && first + 1 > a.window ? first + 1 - a.window : 0, kv_hi = last + 1;

    for (int j0 = kv_lo; j0 < kv_hi; j0 += BK) {
        const int jn = min(BK, kv_hi - j0);
        __syncthreads(); /* the previous tile is done with Ks, Vs and S */
        for (int e = threadIdx.x; e < BK * hd; e += blockDim.x) {
            int j = e / hd, d = e % hd;
            bool in = j < jn;
            Ks[j * (hd + 1) + d] = in ? Kh[(size_t)(j0 + j) * hd + d] : 0.0f;
            Vs[e] = in ? Vh[(size_t)(j0 + j) * hd + d] : 0.0f;
        }
        __syncthreads();
        for (int e = threadIdx.x; e < BQ * BK; e += blockDim.x) {
            int i = e / BK, j = e % BK, p = j0 + j, pos = first + i;
            float s = -INFINITY;
            if (i < rows && j < jn && p <= pos && (a.window <= 0 || p > pos - a.window)) {
                const float *qi = Qs + i * hd, *kj = Ks + j * (hd + 1);
                float acc = 0.0f;
                for (int d = 0; d < hd; d++) acc += qi[d] * kj[d];
                s = acc * a.scale;
            }
            S[e] = s;
        }
        __syncthreads();
        for (int i = threadIdx.x; i < BQ; i += blockDim.x) {
            float *Si = S + i * BK;
            float mx = m[i];
            for (int j = 0; j < BK; j++) mx = fmaxf(mx, Si[j]);
            if (mx == -INFINITY) { /* nothing visible yet for this query */
                for (int j = 0; j < BK; j++) Si[j] = 0.0f;
                alpha[i] = 1.0f;
                continue;
            }
            float sum = 0.0f;
            for (int j = 0; j < BK; j++) {
                float p = Si[j] == -INFINITY ? 0.0f : expf(Si[j] - mx);
                Si[j] = p;
                sum += p;
            }
            alpha[i] = expf(m[i] - mx); /* 0 when m[i] is still -inf */
            l[i] = l[i] * alpha[i] + sum;
            m[i] = mx;
        }
        __syncthreads();
        for (int e = threadIdx.x; e < BQ * hd; e += blockDim.x) {
            int i = e / hd, d = e % hd;
            const float *Si = S + i * BK;
            float acc = Os[e] * alpha[i];
            for (int j = 0; j < jn; j++) acc += Si[j] * Vs[j * hd + d];
            Os[e] = acc;
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < rows * hd; e += blockDim.x) {
        int i = e / hd, d = e % hd;
        a.out[((size_t)(t0 + i) * a.n_heads + h) * hd + d] = Os[e] / l[i];
    }
}

int slm_cuda_attention(slm_cuda_ctx *c, slm_cuda_kv *kv, int layer, float *out, const float *q, const float *k,
                       const float *v, int n, int pos0, float *partials, const int *pos_dev) {
    if (c->failed) return -1;
    const int hd = kv->head_dim, n_kv = kv->n_kv, ctx = kv->ctx;
    if (n <= 0) return 0;
    if (hd > SLM_CUDA_MAX_HEAD_DIM || pos0 < 0 || pos0 + n > ctx || kv->n_heads % n_kv)
        return slm_cuda_check(c, cudaErrorInvalidValue, "attention: arguments", __FILE__, __LINE__);
    const size_t layer_off = (size_t)layer * n_kv * ctx * hd;
    attn_args a;
    a.out = out;
    a.q = q;
    a.K = kv->k + layer_off;
    a.V = kv->v + layer_off;
    a.part = partials;
    a.n = n;
    a.pos0 = pos0;
    a.n_heads = kv->n_heads;
    a.n_kv = n_kv;
    a.hd = hd;
    a.ctx = ctx;
    a.window = kv->window;
    a.scale = 1.0f / sqrtf((float)hd);
    a.lo = a.chunk = a.splits = 0;
    a.pos_dev = NULL;
    a.sms = c->sms;

    size_t count = (size_t)n * n_kv * hd;
    slm_launch(c, kv_append_kernel, (unsigned)((count + 255) / 256), 256, 0, kv->k + layer_off, kv->v + layer_off, k, v,
               n, n_kv, hd, ctx, pos0, pos_dev);
    if (CUDA_CHECK_LAUNCH(c, "kv_append_kernel")) return -1;

    const int group = a.n_heads / n_kv;
    if (n <= SLM_CUDA_MV_MAX) {
        /* a recorded step: as many slices as the longest history needs, and scores room for the longest slice */
        split_plan p = plan_splits(pos0, n, a.window, n_kv, group, c->sms);
        int grid_splits = p.splits, chunk = p.chunk;
        if (pos_dev) {
            a.pos_dev = pos_dev;
            grid_splits = max_splits(ctx, group);
            chunk = chunk_max(group);
        } else {
            a.lo = p.lo;
            a.chunk = p.chunk;
            a.splits = p.splits;
        }
        size_t smem = ((size_t)group * hd + (size_t)group * chunk + 2 * (size_t)group) * sizeof(float);
        if (slm_cuda_smem(c, (const void *)attn_split_kernel, smem, "attn_split_kernel")) return -1;
        slm_launch(c, attn_split_kernel, dim3(n_kv, grid_splits, n), ATT_THREADS, smem, a);
        if (CUDA_CHECK_LAUNCH(c, "attn_split_kernel")) return -1;
        if (!pos_dev && a.splits == 1) return 0;
        slm_launch(c, attn_combine_kernel, dim3(a.n_heads, n), ATT_THREADS, 0, a);
        return CUDA_CHECK_LAUNCH(c, "attn_combine_kernel");
    }
    const int BQ = hd <= 64 ? 32 : 16, BK = BQ;
    size_t smem = ((size_t)2 * BQ * hd + (size_t)BK * (hd + 1) + (size_t)BK * hd + (size_t)BQ * BK + 3 * (size_t)BQ) *
                  sizeof(float);
    if (slm_cuda_smem(c, (const void *)attn_prefill_kernel, smem, "attn_prefill_kernel")) return -1;
    slm_launch(c, attn_prefill_kernel, dim3((n + BQ - 1) / BQ, a.n_heads), ATT_THREADS, smem, a, BQ, BK);
    return CUDA_CHECK_LAUNCH(c, "attn_prefill_kernel");
}
