/* Matrix-vector products with F32, F16 and BF16 weights, for up to SLM_CUDA_MV_MAX tokens at once. */
#include "cuda_layout.h"
#include "cuda_matvec.h"

enum { UNROLL = 8 };

/* Work split: one warp per output row, MV_WARPS rows per block (cuda_matvec.h). The lanes stride
 * over the row in 16-byte units (4 F32 or 8 F16/BF16 weights per load), each issuing UNROLL loads
 * before it uses the first: decoding is bound by the weight reads, and a lane with one load in
 * flight at a time leaves most of the memory bandwidth unused (a row of 2048 BF16 weights is 256
 * units: a single round of loads). Each lane keeps NT partial sums, one per token, so each weight is
 * read from memory once for all NT tokens. Rows whose length is not a whole number of units take the
 * scalar path (odd sizes only). */
template <int NT, slm_dtype T>
__global__ void __launch_bounds__(32 * MV_WARPS)
    matvec_float_kernel(const mv_set S, const float *__restrict__ x) {
    pdl_wait();
    constexpr int per = T == SLM_F32 ? 4 : 8;   /* weights per 16-byte unit */
    constexpr size_t esize = T == SLM_F32 ? 4 : 2;
    slm_cuda_product P;
    const int lane = threadIdx.x & 31, r = mv_row(S, &P), cols = P.W.cols;
    if (r >= P.W.rows) return;
    const char *row = (const char *)P.W.data + (size_t)r * cols * esize;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;

    if (cols % per == 0) {
        const uint4 *wrow = (const uint4 *)row;
        const int units = cols / per;
        for (int u0 = lane; u0 < units; u0 += 32 * UNROLL) {
            uint4 wv[UNROLL];
#pragma unroll
            for (int k = 0; k < UNROLL; k++)
                if (u0 + 32 * k < units) wv[k] = wrow[u0 + 32 * k];
#pragma unroll
            for (int k = 0; k < UNROLL; k++) {
                const int u = u0 + 32 * k;
                if (u >= units) break;
                float w[8];
                if constexpr (T == SLM_F32) {
                    w[0] = bits_to_float(wv[k].x), w[1] = bits_to_float(wv[k].y);
                    w[2] = bits_to_float(wv[k].z), w[3] = bits_to_float(wv[k].w);
                } else if constexpr (T == SLM_F16) {
                    f16x8(wv[k], w);
                } else {
                    bf16x8(wv[k], w);
                }
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    const float4 *xr = (const float4 *)(x + (size_t)t * cols + (size_t)u * per);
                    float4 a = xr[0];
                    float s = w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w;
                    if constexpr (per == 8) {
                        float4 b = xr[1];
                        s += w[4] * b.x + w[5] * b.y + w[6] * b.z + w[7] * b.w;
                    }
                    acc[t] += s;
                }
            }
        }
    } else {
        for (int c = lane; c < cols; c += 32) {
            float w;
            if constexpr (T == SLM_F32) w = ((const float *)row)[c];
            else if constexpr (T == SLM_F16) w = f16_bits(((const uint16_t *)row)[c]);
            else w = bf16_bits(((const uint16_t *)row)[c]);
#pragma unroll
            for (int t = 0; t < NT; t++) acc[t] += w * x[(size_t)t * cols + c];
        }
    }
    warp_store_row<NT>(acc, P, r);
}

template <slm_dtype T>
static void launch(slm_cuda_ctx *c, const mv_set &s, const float *x, int n) {
    dim3 grid(mv_blocks(s)), block(32 * MV_WARPS);
    with_tokens(n, [&](auto nt) { slm_launch(c, matvec_float_kernel<decltype(nt)::value, T>, grid, block, 0, s, x); });
}

int slm_cuda_matvec_float(slm_cuda_ctx *c, const slm_cuda_product *p, int count, const float *x, int n) {
    if (c->failed) return -1;
    if (n < 1 || n > SLM_CUDA_MV_MAX || !mv_valid(p, count))
        return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_float: arguments", __FILE__, __LINE__);
    const mv_set s = mv_plan(p, count);
    if (mv_blocks(s) == 0) return 0;
    switch (p[0].W.type) {
    case SLM_F32: launch<SLM_F32>(c, s, x, n); break;
    case SLM_F16: launch<SLM_F16>(c, s, x, n); break;
    case SLM_BF16: launch<SLM_BF16>(c, s, x, n); break;
    default: return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_float: weight format", __FILE__, __LINE__);
    }
    return CUDA_CHECK_LAUNCH(c, "matvec_float_kernel");
}
