/* Matrix-vector products with Q8_0 weights, and the int8 activation rows the Q8_0 and Q4_0 kernels
 * read. The arithmetic is the CPU's (kernels/cpu/matmul_q8_0.c): activations quantized per block of
 * 32 exactly as slm_act_q8_quantize does, exact integer dot products (dp4a), float scales. */
#include "cuda_layout.h"
#include "cuda_matvec.h"

enum { UNROLL = 4, ACT_WARPS = 8 };

/* Work split: one warp per 32-value block of one activation row (ACT_WARPS blocks to a thread
 * block), lane j on value j: the block's max is a warp reduction, every lane rounds its own value,
 * and the 32 int8 results are one coalesced store. A block's scale needs its own 32 values only, so
 * warps never coordinate. Each value goes through the same arithmetic as in act_q8_block. */
__global__ void __launch_bounds__(32 * ACT_WARPS) act_q8_kernel(int8_t *q, float *d, int *sums, const float *x, int n, int cols) {
    pdl_wait();
    const int nb = cols / SLM_QK, lane = threadIdx.x & 31;
    const int i = blockIdx.x * ACT_WARPS + (threadIdx.x >> 5);
    if (i >= n * nb) return;
    const int t = i / nb, b = i % nb;
    const size_t off = (size_t)t * cols + (size_t)b * SLM_QK + lane;
    const float v = x[off];
    const float amax = warp_max(fabsf(v));
    const float dq = amax / 127;
    const float id = dq != 0.0f ? 1.0f / dq : 0.0f;
    const int qv = __float2int_rn(v * id);
    q[off] = (int8_t)qv;
    const int sum = __reduce_add_sync(0xffffffffu, (int)(int8_t)qv);
    if (lane == 0) {
        d[i] = dq;
        sums[i] = sum;
    }
}

int slm_cuda_act_q8(slm_cuda_ctx *c, void *act, const float *x, int n, int cols) {
    if (c->failed) return -1;
    int blocks = n * (cols / SLM_QK);
    if (blocks == 0) return 0;
    char *a = (char *)act;
    slm_launch(c, act_q8_kernel, (blocks + ACT_WARPS - 1) / ACT_WARPS, 32 * ACT_WARPS, 0, (int8_t *)a,
               (float *)(a + act_scales_offset(n, cols)), (int *)(a + act_sums_offset(n, cols)), x, n, cols);
    return CUDA_CHECK_LAUNCH(c, "act_q8_kernel");
}

/* Work split: one warp per output row, MV_WARPS rows per block (cuda_matvec.h). The lanes take
 * 16-byte units (half a Q8_0 block: 16 int8 weights) in turn, UNROLL loads in flight per lane, and
 * keep one partial sum per token, so a weight is read once for all NT tokens; a warp reduction ends
 * the row. */
template <int NT>
__global__ void __launch_bounds__(32 * MV_WARPS)
    matvec_q8_0_kernel(const mv_set S, const int8_t *__restrict__ aq, const float *__restrict__ ad) {
    pdl_wait();
    slm_cuda_product P;
    const int lane = threadIdx.x & 31, r = mv_row(S, &P), rows = P.W.rows, cols = P.W.cols, nb = cols / SLM_QK;
    if (r >= rows) return;
    const uint16_t *wd = (const uint16_t *)P.W.data;
    const int8_t *wq = (const int8_t *)P.W.data + q_values_offset(rows, cols);
    const int4 *wrow = (const int4 *)(wq + (size_t)r * cols);
    const int units = cols / 16;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int u0 = lane; u0 < units; u0 += 32 * UNROLL) {
        int4 w[UNROLL];
        float dw[UNROLL];
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            const int u = u0 + 32 * k;
            if (u < units) {
                w[k] = wrow[u];
                dw[k] = f16_bits(wd[(size_t)r * nb + (u >> 1)]);
            }
        }
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            const int u = u0 + 32 * k, b = u >> 1;
            if (u >= units) break;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                int4 a = ((const int4 *)(aq + (size_t)t * cols))[u];
                acc[t] += dw[k] * ad[t * nb + b] * (float)q8_unit_dot(w[k], a);
            }
        }
    }
    warp_store_row<NT>(acc, P, r);
}

int slm_cuda_matvec_q8_0(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const void *act, int n) {
    if (c->failed) return -1;
    if (n < 1 || n > SLM_CUDA_MV_MAX || !mv_valid(p, count) || p[0].W.type != SLM_Q8_0 || p[0].W.cols % SLM_QK)
        return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_q8_0: arguments", __FILE__, __LINE__);
    const mv_set s = mv_plan(p, count);
    if (mv_blocks(s) == 0) return 0;
    const int8_t *aq = (const int8_t *)act;
    const float *ad = (const float *)((const char *)act + act_scales_offset(n, p[0].W.cols));
    dim3 grid(mv_blocks(s)), block(32 * MV_WARPS);
    with_tokens(n, [&](auto nt) { slm_launch(c, matvec_q8_0_kernel<decltype(nt)::value>, grid, block, 0, s, aq, ad); });
    return CUDA_CHECK_LAUNCH(c, "matvec_q8_0_kernel");
}
