/* Matrix-vector products with NF4 weights (bitsandbytes layout), in two ways.
 *
 * Rows of whole 32-value blocks whose NF4 blocks are too (cols and block multiples of 32, as in
 * the models' shapes and the default blocksize 64) take int8 activations (slm_cuda_act_q8, as for
 * Q4_0) and the code table as int8 (nf4_i8_table): each 16-byte load brings 32 codes, byte
 * permutes look up their int8 values in registers, and dp4a multiplies them with the activations. Why: with float activations every weight costs a shared-memory lookup of its
 * code and 4 bytes of x from L1, and those requests, not the memory, set the pace (about 1 TB/s of
 * codes on an H100, a third of its bandwidth). The price is the rounding of the codes to 1/127 of
 * the largest and of each activation to 1/127 of its block's largest, as in the CPU's AVX-512 NF4
 * kernel and its Q8_0/Q4_0 kernels.
 *
 * Other rows are dequantized in float: the table in shared memory, 8 codes per load where rows and
 * blocks allow, else weight by weight. */
#include "cuda_layout.h"
#include "cuda_matvec.h"

enum { UNROLL = 8 };

/* Work split: one warp per output row, MV_WARPS rows per block (cuda_matvec.h). The lanes stride
 * over the row in 4-byte words of 8 codes, each issuing UNROLL loads before it uses the first; one
 * partial sum per token (weights read once for all NT tokens), then a warp reduction. A lane takes
 * 8 weights at a time, not the 32 of a 16-byte load, because of x: the 32 floats behind 16 bytes of
 * codes are 128 bytes, so the lanes of a warp would read 32 different cache lines with each load of
 * x, and the L1 requests, not the memory, would set the pace (about 450 GB/s of codes on an H100).
 * With words, a warp's loads of x cover 8 lines, as in the F16/BF16 kernel. The word path needs rows
 * of whole words (cols % 8 == 0) and blocks that a word never straddles (block % 8 == 0), as with the
 * default blocksize 64; any other shape reads weight by weight, blocks crossing rows included. The
 * 16-entry table in shared memory is read without bank conflicts: lanes that want the same entry
 * get a broadcast. */
template <int NT>
__global__ void __launch_bounds__(32 * MV_WARPS)
    matvec_nf4_kernel(const mv_set S, const float *__restrict__ x) {
    pdl_wait();
    __shared__ float code[16];
    slm_cuda_product P;
    const int lane = threadIdx.x & 31, r = mv_row(S, &P), cols = P.W.cols;
    const slm_mat &W = P.W;
    if (threadIdx.x < 16) code[threadIdx.x] = W.code[threadIdx.x];
    __syncthreads();
    if (r >= W.rows) return;
    const uint8_t *codes = (const uint8_t *)W.data;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    if (cols % 8 == 0 && W.block % 8 == 0) {
        const uint32_t *wrow = (const uint32_t *)(codes + (size_t)r * cols / 2);
        const int words = cols / 8, per_block = W.block / 8;
        /* the index of the row's first word among all words, and so of its absmax values */
        const size_t first = (size_t)r * words;
        for (int u0 = lane; u0 < words; u0 += 32 * UNROLL) {
            uint32_t wv[UNROLL];
            float am[UNROLL];
#pragma unroll
            for (int k = 0; k < UNROLL; k++) {
                const int u = u0 + 32 * k;
                if (u < words) {
                    wv[k] = wrow[u];
                    am[k] = W.absmax[(first + u) / per_block];
                }
            }
#pragma unroll
            for (int k = 0; k < UNROLL; k++) {
                const int u = u0 + 32 * k;
                if (u >= words) break;
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    const float4 *xr = (const float4 *)(x + (size_t)t * cols + (size_t)u * 8);
                    acc[t] += am[k] * nf4_word_dot(wv[k], code, xr[0], xr[1]);
                }
            }
        }
    } else {
        for (int c = lane; c < cols; c += 32) {
            size_t e = (size_t)r * cols + c;
            uint8_t byte = codes[e >> 1];
            float w = code[e & 1 ? byte & 0x0F : byte >> 4] * W.absmax[e / (size_t)W.block];
#pragma unroll
            for (int t = 0; t < NT; t++) acc[t] += w * x[(size_t)t * cols + c];
        }
    }
    warp_store_row<NT>(acc, P, r);
}

/* Work split: one warp per output row, MV_WARPS rows per block (cuda_matvec.h). Lane u of a row
 * takes unit u: 16 bytes of codes, the 32 weights of one activation block (whose scale it reads
 * once) and of one NF4 block (its absmax), and the 32 int8 activations behind them, UNROLL units in
 * flight. Thread 0 builds the int8 table in shared memory, and every thread copies it into
 * registers. `shift`: log2 of the units per NF4 block when that is a power of two (as for the
 * blocksize 64), so that the absmax index is a shift; else -1. */
template <int NT>
__global__ void __launch_bounds__(32 * MV_WARPS)
    matvec_nf4_i8_kernel(const mv_set S, const int8_t *__restrict__ aq, const float *__restrict__ ad, int shift) {
    pdl_wait();
    __shared__ uint32_t table[4];
    __shared__ float step;
    slm_cuda_product P;
    const int lane = threadIdx.x & 31, r = mv_row(S, &P), cols = P.W.cols;
    const slm_mat &W = P.W;
    if (threadIdx.x == 0) step = nf4_i8_table(W.code, table);
    __syncthreads();
    const uint32_t t4[4] = {table[0], table[1], table[2], table[3]};
    if (r >= W.rows) return;
    const uint4 *wrow = (const uint4 *)((const uint8_t *)W.data + (size_t)r * cols / 2);
    const int units = cols / SLM_QK, per_block = W.block / SLM_QK;
    const size_t first = (size_t)r * units; /* the row's first unit among all, and so its first absmax */
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int u0 = lane; u0 < units; u0 += 32 * UNROLL) {
        uint4 wv[UNROLL];
        float am[UNROLL];
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            const int u = u0 + 32 * k;
            if (u < units) {
                wv[k] = wrow[u];
                am[k] = W.absmax[shift >= 0 ? (first + u) >> shift : (first + u) / per_block];
            }
        }
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            const int u = u0 + 32 * k;
            if (u >= units) break;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const int4 *a = (const int4 *)(aq + (size_t)t * cols + (size_t)u * SLM_QK);
                const int4 lo = a[0], hi = a[1];
                int q = nf4_word_dot_i8(wv[k].x, t4, make_int2(lo.x, lo.y));
                q += nf4_word_dot_i8(wv[k].y, t4, make_int2(lo.z, lo.w));
                q += nf4_word_dot_i8(wv[k].z, t4, make_int2(hi.x, hi.y));
                q += nf4_word_dot_i8(wv[k].w, t4, make_int2(hi.z, hi.w));
                acc[t] += am[k] * ad[t * units + u] * (float)q;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] *= step;
    warp_store_row<NT>(acc, P, r);
}

int slm_cuda_nf4_int8(const slm_mat *W) { return W->cols % SLM_QK == 0 && W->block % SLM_QK == 0; }

/* The NF4 blocks of every product span whole units of 32 (slm_cuda_nf4_int8), all of the same length. */
static int int8_set(const slm_cuda_product *p, int count) {
    for (int j = 0; j < count; j++)
        if (!slm_cuda_nf4_int8(&p[j].W) || p[j].W.block != p[0].W.block) return 0;
    return 1;
}

int slm_cuda_matvec_nf4(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const float *x, int n, void *act) {
    if (c->failed) return -1;
    if (n < 1 || n > SLM_CUDA_MV_MAX || !mv_valid(p, count) || p[0].W.type != SLM_NF4)
        return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_nf4: arguments", __FILE__, __LINE__);
    for (int j = 0; j < count; j++)
        if (p[j].W.block <= 0) return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_nf4: block", __FILE__, __LINE__);
    if (count > 1 && slm_cuda_nf4_int8(&p[0].W) != int8_set(p, count)) { /* a mixed set: one launch each */
        for (int j = 0; j < count; j++)
            if (slm_cuda_matvec_nf4(c, p + j, 1, x, n, act)) return -1;
        return 0;
    }
    const mv_set s = mv_plan(p, count);
    if (mv_blocks(s) == 0) return 0;
    dim3 grid(mv_blocks(s)), block(32 * MV_WARPS);
    if (slm_cuda_nf4_int8(&p[0].W)) {
        if (slm_cuda_act_q8(c, act, x, n, p[0].W.cols)) return -1;
        const int8_t *aq = (const int8_t *)act;
        const float *ad = (const float *)((const char *)act + act_scales_offset(n, p[0].W.cols));
        const int per_block = p[0].W.block / SLM_QK;
        int shift = -1;
        for (int k = 0; k < 31 && shift < 0; k++)
            if (per_block == 1 << k) shift = k;
        with_tokens(n, [&](auto nt) {
            slm_launch(c, matvec_nf4_i8_kernel<decltype(nt)::value>, grid, block, 0, s, aq, ad, shift);
        });
        return CUDA_CHECK_LAUNCH(c, "matvec_nf4_i8_kernel");
    }
    with_tokens(n, [&](auto nt) { slm_launch(c, matvec_nf4_kernel<decltype(nt)::value>, grid, block, 0, s, x); });
    return CUDA_CHECK_LAUNCH(c, "matvec_nf4_kernel");
}
