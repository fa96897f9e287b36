/* Matrix-vector products with NF4 weights (bitsandbytes layout), dequantized on the fly: the code
 * table sits in shared memory, and each 16-byte load brings 32 codes that share one absmax. The sum
 * of code·x over those 32 weights is scaled by the absmax once. */
#include "cuda_layout.h"
#include "cuda_ops.h"
#include "cuda_reduce.h"

enum { MV_THREADS = 128 };

/* Work split: one block of 128 threads per output row (grid.x = rows), threads striding over the
 * row in 16-byte units of 32 codes, one partial sum per token (weights read once for all NT tokens),
 * then a block reduction. The unit path needs rows of whole units (cols % 32 == 0) and blocks that a
 * unit never straddles (block % 32 == 0), as with the default blocksize 64; any other shape reads
 * weight by weight, blocks crossing rows included. The 16-entry table in shared memory is read
 * without bank conflicts: lanes that want the same entry get a broadcast. */
template <int NT>
__global__ void __launch_bounds__(MV_THREADS)
    matvec_nf4_kernel(float *out, slm_mat W, const float *__restrict__ x, const float *__restrict__ bias) {
    __shared__ float part[32 * NT];
    __shared__ float code[16];
    if (threadIdx.x < 16) code[threadIdx.x] = W.code[threadIdx.x];
    __syncthreads();
    const int r = blockIdx.x, cols = W.cols;
    const uint8_t *codes = (const uint8_t *)W.data;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    if (cols % 32 == 0 && W.block % 32 == 0) {
        const uint4 *wrow = (const uint4 *)(codes + (size_t)r * cols / 2);
        for (int u = threadIdx.x; u < cols / 32; u += MV_THREADS) {
            uint4 w = wrow[u];
            float am = W.absmax[((size_t)r * cols + (size_t)u * 32) / W.block];
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const float4 *xr = (const float4 *)(x + (size_t)t * cols + (size_t)u * 32);
                float s = nf4_word_dot(w.x, code, xr[0], xr[1]) + nf4_word_dot(w.y, code, xr[2], xr[3]) +
                          nf4_word_dot(w.z, code, xr[4], xr[5]) + nf4_word_dot(w.w, code, xr[6], xr[7]);
                acc[t] += am * s;
            }
        }
    } else {
        for (int c = threadIdx.x; c < cols; c += MV_THREADS) {
            size_t e = (size_t)r * cols + c;
            uint8_t byte = codes[e >> 1];
            float w = code[e & 1 ? byte & 0x0F : byte >> 4] * W.absmax[e / (size_t)W.block];
#pragma unroll
            for (int t = 0; t < NT; t++) acc[t] += w * x[(size_t)t * cols + c];
        }
    }
    block_sum_first<NT>(acc, part);
    if (threadIdx.x == 0) {
        float bv = bias ? bias[r] : 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++) out[(size_t)t * W.rows + r] = acc[t] + bv;
    }
}

int slm_cuda_matvec_nf4(slm_cuda_ctx *c, float *out, const float *x, int n, const slm_mat *W, const float *bias) {
    if (c->failed) return -1;
    if (n < 1 || n > SLM_CUDA_MV_MAX || W->type != SLM_NF4 || W->block <= 0)
        return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_nf4: arguments", __FILE__, __LINE__);
    if (W->rows == 0) return 0;
    dim3 grid(W->rows), block(MV_THREADS);
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
