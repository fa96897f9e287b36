/* Warp and block reductions shared by the kernels. */
#ifndef SLM_CUDA_REDUCE_H
#define SLM_CUDA_REDUCE_H

#include <cuda_runtime.h>

static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sums v[0..NT) over the whole block (blockDim.x a multiple of 32); thread 0 ends with the totals.
 * part holds 32·NT floats of shared memory. Call once per kernel, or __syncthreads() between calls. */
template <int NT>
static __device__ __forceinline__ void block_sum_first(float (&v)[NT], float *part) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
#pragma unroll
    for (int t = 0; t < NT; t++) v[t] = warp_sum(v[t]);
    if (lane == 0) {
#pragma unroll
        for (int t = 0; t < NT; t++) part[warp * NT + t] = v[t];
    }
    __syncthreads();
    if (warp == 0) {
#pragma unroll
        for (int t = 0; t < NT; t++) v[t] = warp_sum(lane < nwarps ? part[lane * NT + t] : 0.0f);
    }
}

/* The matrix-vector kernels give each output row to one warp, MV_WARPS rows to a block: a row's
 * partial sums then meet in a warp reduction, with no shared memory and no block barrier, and a
 * block needs no more rows than the matrix has. */
enum { MV_WARPS = 4 };

/* The end of a matrix-vector kernel: the warp of row r sums its lanes' partial sums, one per token,
 * and lane 0 writes out[t][r] (+ bias[r]). */
template <int NT>
static __device__ __forceinline__ void warp_store_row(float (&acc)[NT], float *out, const float *bias, int r,
                                                      int rows) {
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = warp_sum(acc[t]);
    if ((threadIdx.x & 31) == 0) {
        float b = bias ? bias[r] : 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++) out[(size_t)t * rows + r] = acc[t] + b;
    }
}

#endif
