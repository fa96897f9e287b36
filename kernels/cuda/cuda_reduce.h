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

#endif
