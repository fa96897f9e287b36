/* RMS normalisation of rows: out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w. */
#include "cuda_launch.h"
#include "cuda_ops.h"
#include "cuda_reduce.h"

enum { NORM_THREADS = 512, NORM_VEC = 4 };

/* Work split: one block per row (grid.x = n), since a row needs a full reduction before any output
 * and rows never interact. Rows of whole float4s up to NORM_THREADS·NORM_VEC of them (8192 values)
 * are held in registers: each thread loads its float4s at once, the block reduces the sum of
 * squares (warp shuffles, then shared memory), and each thread scales what it holds. A decoded
 * token's norm is a few microseconds of latency, paid twice per layer, so the row is read once and
 * with all its loads in flight. Other rows take the plain strided loop, reading x twice.
 * out may be x. */
__global__ void __launch_bounds__(NORM_THREADS) rmsnorm_kernel(float *out, const float *x, const float *w, int dim,
                                                                float eps) {
    pdl_wait();
    __shared__ float part[32];
    __shared__ float scale;
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *orow = out + (size_t)blockIdx.x * dim;
    const bool vec = dim % 4 == 0 && dim <= 4 * NORM_THREADS * NORM_VEC;
    float4 v[NORM_VEC];
    float ss[1] = {0.0f};
    if (vec) {
#pragma unroll
        for (int k = 0; k < NORM_VEC; k++) {
            const int i = threadIdx.x + k * NORM_THREADS;
            v[k] = i < dim / 4 ? ((const float4 *)xr)[i] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            ss[0] += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
        }
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) ss[0] += xr[i] * xr[i];
    }
    block_sum_first<1>(ss, part);
    if (threadIdx.x == 0) scale = 1.0f / sqrtf(ss[0] / dim + eps);
    __syncthreads();
    const float s = scale;
    if (vec) {
#pragma unroll
        for (int k = 0; k < NORM_VEC; k++) {
            const int i = threadIdx.x + k * NORM_THREADS;
            if (i < dim / 4) {
                const float4 g = ((const float4 *)w)[i];
                ((float4 *)orow)[i] = make_float4(v[k].x * s * g.x, v[k].y * s * g.y, v[k].z * s * g.z, v[k].w * s * g.w);
            }
        }
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x) orow[i] = (xr[i] * s) * w[i];
    }
}

int slm_cuda_rmsnorm(slm_cuda_ctx *c, float *out, const float *x, const float *w, int n, int dim, float eps) {
    if (c->failed) return -1;
    if (n <= 0 || dim <= 0) return 0;
    slm_launch(c, rmsnorm_kernel, n, NORM_THREADS, 0, out, x, w, dim, eps);
    return CUDA_CHECK_LAUNCH(c, "rmsnorm_kernel");
}
