/* Matrix-vector products with Q8_0 weights, and the int8 activation rows the Q8_0 and Q4_0 kernels
 * read. The arithmetic is the CPU's (kernels/cpu/matmul_q8_0.c): activations quantized per block of
 * 32 exactly as slm_act_q8_quantize does, exact integer dot products (dp4a), float scales. */
#include "cuda_layout.h"
#include "cuda_ops.h"
#include "cuda_reduce.h"

enum { MV_THREADS = 128 };

/* Work split: one thread per 32-value block of one activation row (a 1-D grid over n·cols/32
 * blocks). A block's scale needs its own 32 values only, so threads never coordinate; the rows are
 * a few thousand values, so this costs next to nothing beside the matrix product that follows. */
__global__ void act_q8_kernel(int8_t *q, float *d, int *sums, const float *x, int n, int cols) {
    int nb = cols / SLM_QK;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * nb) return;
    int t = i / nb, b = i % nb;
    size_t off = (size_t)t * cols + (size_t)b * SLM_QK;
    act_q8_block(x + off, q + off, &d[i], &sums[i]);
}

int slm_cuda_act_q8(slm_cuda_ctx *c, void *act, const float *x, int n, int cols) {
    if (c->failed) return -1;
    int blocks = n * (cols / SLM_QK);
    if (blocks == 0) return 0;
    char *a = (char *)act;
    act_q8_kernel<<<(blocks + 127) / 128, 128, 0, c->stream>>>((int8_t *)a, (float *)(a + act_scales_offset(n, cols)),
                                                               (int *)(a + act_sums_offset(n, cols)), x, n, cols);
    return CUDA_CHECK_LAUNCH(c, "act_q8_kernel");
}

/* Work split: one block of 128 threads per output row (grid.x = rows); each thread takes 16-byte
 * units (half a Q8_0 block: 16 int8 weights) in turn and keeps one partial sum per token, so a
 * weight is read once for all NT tokens; the block reduces the sums at the end. As for the float
 * kernels, a block per row keeps enough independent loads in flight to stream the weights. */
template <int NT>
__global__ void __launch_bounds__(MV_THREADS)
    matvec_q8_0_kernel(float *out, const uint16_t *__restrict__ wd, const int8_t *__restrict__ wq,
                       const int8_t *__restrict__ aq, const float *__restrict__ ad, const float *__restrict__ bias,
                       int rows, int cols) {
    __shared__ float part[32 * NT];
    const int r = blockIdx.x, nb = cols / SLM_QK;
    const int4 *wrow = (const int4 *)(wq + (size_t)r * cols);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int u = threadIdx.x; u < cols / 16; u += MV_THREADS) {
        int4 w = wrow[u];
        int b = u >> 1;
        float dw = f16_bits(wd[(size_t)r * nb + b]);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            int4 a = ((const int4 *)(aq + (size_t)t * cols))[u];
            acc[t] += dw * ad[t * nb + b] * (float)q8_unit_dot(w, a);
        }
    }
    block_sum_first<NT>(acc, part);
    if (threadIdx.x == 0) {
        float bv = bias ? bias[r] : 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++) out[(size_t)t * rows + r] = acc[t] + bv;
    }
}

int slm_cuda_matvec_q8_0(slm_cuda_ctx *c, float *out, const void *act, int n, const slm_mat *W, const float *bias) {
    if (c->failed) return -1;
    if (n < 1 || n > SLM_CUDA_MV_MAX || W->type != SLM_Q8_0 || W->cols % SLM_QK)
        return slm_cuda_check(c, cudaErrorInvalidValue, "matvec_q8_0: arguments", __FILE__, __LINE__);
    if (W->rows == 0) return 0;
    int rows = W->rows, cols = W->cols;
    const uint16_t *wd = (const uint16_t *)W->data;
    const int8_t *wq = (const int8_t *)W->data + q_values_offset(rows, cols);
    const int8_t *aq = (const int8_t *)act;
    const float *ad = (const float *)((const char *)act + act_scales_offset(n, cols));
    dim3 grid(rows), block(MV_THREADS);
    switch (n) {
    case 1: matvec_q8_0_kernel<1><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    case 2: matvec_q8_0_kernel<2><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    case 3: matvec_q8_0_kernel<3><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    case 4: matvec_q8_0_kernel<4><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    case 5: matvec_q8_0_kernel<5><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    case 6: matvec_q8_0_kernel<6><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    case 7: matvec_q8_0_kernel<7><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    default: matvec_q8_0_kernel<8><<<grid, block, 0, c->stream>>>(out, wd, wq, aq, ad, bias, rows, cols); break;
    }
    return CUDA_CHECK_LAUNCH(c, "matvec_q8_0_kernel");
}
