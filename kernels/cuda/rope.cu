/* Rotary position embeddings, Hugging Face convention: element i pairs with i + rot/2. */
#include "cuda_launch.h"
#include "cuda_ops.h"

/* Work split: one thread per rotated pair (token t, head h, i < rot/2), flattened over a 1-D grid.
 * Pairs are independent and each touches two floats and one cos/sin entry, so the flattest mapping
 * is the simplest; consecutive threads take consecutive i, so the reads of a head are coalesced. */
__global__ void rope_kernel(float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim,
                            int half) {
    pdl_wait();
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)n * heads * half) return;
    int i = (int)(idx % half);
    size_t th = idx / half; /* t * heads + h */
    int t = (int)(th / heads);
    float *v = x + th * head_dim;
    float cs = cos_t[(size_t)t * half + i], sn = sin_t[(size_t)t * half + i];
    float a = v[i], b = v[i + half];
    v[i] = a * cs - b * sn;
    v[i + half] = b * cs + a * sn;
}

int slm_cuda_rope(slm_cuda_ctx *c, float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim,
                  int rot) {
    if (c->failed) return -1;
    int half = rot / 2;
    size_t total = (size_t)n * heads * half;
    if (total == 0) return 0;
    slm_launch(c, rope_kernel, (unsigned)((total + 255) / 256), 256, 0, x, cos_t, sin_t, n, heads, head_dim, half);
    return CUDA_CHECK_LAUNCH(c, "rope_kernel");
}
