/* Elementwise ops of the forward pass: SwiGLU and the residual add. */
#include "cuda_launch.h"
#include "cuda_ops.h"

/* Work split (both kernels): one thread per element over a 1-D grid. The ops are pure streams of
 * memory; consecutive threads on consecutive elements give coalesced loads, and nothing is shared. */
__global__ void swiglu_kernel(float *out, const float *gate, const float *up, size_t n) {
    pdl_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
}

__global__ void add_kernel(float *y, const float *x, size_t n) {
    pdl_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}

int slm_cuda_swiglu(slm_cuda_ctx *c, float *out, const float *gate, const float *up, size_t n) {
    if (c->failed) return -1;
    if (n == 0) return 0;
    slm_launch(c, swiglu_kernel, (unsigned)((n + 255) / 256), 256, 0, out, gate, up, n);
    return CUDA_CHECK_LAUNCH(c, "swiglu_kernel");
}

int slm_cuda_add(slm_cuda_ctx *c, float *y, const float *x, size_t n) {
    if (c->failed) return -1;
    if (n == 0) return 0;
    slm_launch(c, add_kernel, (unsigned)((n + 255) / 256), 256, 0, y, x, n);
    return CUDA_CHECK_LAUNCH(c, "add_kernel");
}
