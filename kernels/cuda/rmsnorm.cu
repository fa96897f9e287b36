/* RMS normalisation of rows: out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w. */
#include "cuda_ops.h"
#include "cuda_reduce.h"

enum { NORM_THREADS = 256 };

/* Work split: one block per row (grid.x = n), 256 threads striding over the row. Each thread sums
 * the squares of its slice, the block reduces them (warp shuffles, then shared memory), and every
 * thread scales its own slice. A row needs a full reduction before any output, so it belongs to one
 * block; rows never interact. Reading x twice costs little: the row is in L1/L2 by then.
 * out may be x. */
__global__ void __launch_bounds__(NORM_THREADS) rmsnorm_kernel(float *out, const float *x, const float *w, int dim,
                                                                float eps) {
    __shared__ float part[32];
    __shared__ float scale;
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *orow = out + (size_t)blockIdx.x * dim;
    float ss[1] = {0.0f};
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss[0] += xr[i] * xr[i];
    block_sum_first<1>(ss, part);
    if (threadIdx.x == 0) scale = 1.0f / sqrtf(ss[0] / dim + eps);
    __syncthreads();
    for (int i = threadIdx.x; i < dim; i += blockDim.x) orow[i] = (xr[i] * scale) * w[i];
}

int slm_cuda_rmsnorm(slm_cuda_ctx *c, float *out, const float *x, const float *w, int n, int dim, float eps) {
    if (c->failed) return -1;
    if (n <= 0 || dim <= 0) return 0;
    rmsnorm_kernel<<<n, NORM_THREADS, 0, c->stream>>>(out, x, w, dim, eps);
    return CUDA_CHECK_LAUNCH(c, "rmsnorm_kernel");
}
