/* Matrix-vector products with Q4_0 weights from int8 activation rows (slm_cuda_act_q8). The
 * arithmetic is the CPU's (kernels/cpu/matmul_q4_0.c): the exact integer sum of (q - 8)·a per block,
 * computed as the dp4a sum of q·a minus 8·sum(a), times the two float scales. */
#include "cuda_layout.h"
#include "cuda_matvec.h"

enum { UNROLL = 4 };

/* Work split: one warp per output row, MV_WARPS rows per block (cuda_matvec.h). The lanes take whole
 * Q4_0 blocks (16 bytes of nibbles, 32 weights: one 16-byte load) in turn, UNROLL loads in flight
 * per lane, with one partial sum per token so that the weights are read once for all NT tokens; a
 * warp reduction ends the row. */
template <int NT>
__global__ void __launch_bounds__(32 * MV_WARPS)
    matvec_q4_0_kernel(const mv_set S, const int8_t *__restrict__ aq, const float *__restrict__ ad,
                       const int *__restrict__ as) {
    pdl_wait();
    slm_cuda_product P;
    const int lane = threadIdx.x & 31, r = mv_row(S, &P), rows = P.W.rows, cols = P.W.cols, nb = cols / SLM_QK;
    if (r >= rows) return;
    const uint16_t *wd = (const uint16_t *)P.W.data;
    const uint8_t *wq = (const uint8_t *)P.W.data + q_values_offset(rows, cols);
    const int4 *wrow = (const int4 *)(wq + (size_t)r * cols / 2);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int b0 = lane; b0 < nb; b0 += 32 * UNROLL) {
        int4 w[UNROLL];
        float dw[UNROLL];
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            const int b = b0 + 32 * k;
            if (b < nb) {
                w[k] = wrow[b];
                dw[k] = f16_bits(wd[(size_t)r * nb + b]);
            }
        }
#pragma unroll
        for (int k = 0; k < UNROLL; k++) {
            const int b = b0 + 32 * k;
            if (b >= nb) break;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const int4 *a = (const int4 *)(aq + (size_t)t * cols) + 2 * b;
                acc[t] += dw[k] * ad[t * nb + b] * (float)q4_block_dot(w[k], a[0], a[1], as[t * nb + b]);
            }
        }
    }
    warp_store_row<NT>(acc, P, r);
}

int slm_cuda_matvec_q4_0(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const void *act, int n) {
    if (c->failed) return -1;
    if (n < 1 || n > SLM_CUDA_MV_MAX || !mv_valid(p, count) || p[0].W.type != SLM_Q4_0 || p[0].W.cols % SLM_QK)
        return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_q4_0: arguments", __FILE__, __LINE__);
    const mv_set s = mv_plan(p, count);
    if (mv_blocks(s) == 0) return 0;
    const int cols = p[0].W.cols;
    const int8_t *aq = (const int8_t *)act;
    const float *ad = (const float *)((const char *)act + act_scales_offset(n, cols));
    const int *as = (const int *)((const char *)act + act_sums_offset(n, cols));
    dim3 grid(mv_blocks(s)), block(32 * MV_WARPS);
    with_tokens(n, [&](auto nt) {
        slm_launch(c, matvec_q4_0_kernel<decltype(nt)::value>, grid, block, 0, s, aq, ad, as);
    });
    return CUDA_CHECK_LAUNCH(c, "matvec_q4_0_kernel");
}
