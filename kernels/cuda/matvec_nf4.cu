/* Matrix-vector products with NF4 weights (bitsandbytes layout), dequantized on the fly: the code
 * table sits in shared memory, and each 4-byte load brings 8 codes that share one absmax. The sum of
 * code·x over those 8 weights is scaled by the absmax once. */
#include "cuda_layout.h"
#include "cuda_ops.h"
#include "cuda_reduce.h"

enum { UNROLL = 8 };

/* Work split: one warp per output row, MV_WARPS rows per block (cuda_reduce.h). The lanes stride
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
    matvec_nf4_kernel(float *out, slm_mat W, const float *__restrict__ x, const float *__restrict__ bias) {
    __shared__ float code[16];
    if (threadIdx.x < 16) code[threadIdx.x] = W.code[threadIdx.x];
    __syncthreads();
    const int lane = threadIdx.x & 31, r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5), cols = W.cols;
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
    warp_store_row<NT>(acc, out, bias, r, W.rows);
}

int slm_cuda_matvec_nf4(slm_cuda_ctx *c, float *out, const float *x, int n, const slm_mat *W, const float *bias) {
    if (c->failed) return -1;
    if (n < 1 || n > SLM_CUDA_MV_MAX || W->type != SLM_NF4 || W->block <= 0)
        return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_nf4: arguments", __FILE__, __LINE__);
    if (W->rows == 0) return 0;
    dim3 grid((W->rows + MV_WARPS - 1) / MV_WARPS), block(32 * MV_WARPS);
    switch (n) {
    case 1: matvec_nf4_kernel<1><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    case 2: matvec_nf4_kernel<2><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    case 3: matvec_nf4_kernel<3><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    case 4: matvec_nf4_kernel<4><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    case 5: matvec_nf4_kernel<5><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    case 6: matvec_nf4_kernel<6><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    case 7: matvec_nf4_kernel<7><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    default: matvec_nf4_kernel<8><<<grid, block, 0, c->stream>>>(out, *W, x, bias); break;
    }
    return CUDA_CHECK_LAUNCH(c, "matvec_nf4_kernel");
}
