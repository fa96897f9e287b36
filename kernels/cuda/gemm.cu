/* Matrix products of prompt batches (more than SLM_CUDA_MV_MAX tokens) through cuBLAS.
 *
 * F32 weights: cublasSgemm on the activations as they are (no TF32).
 * F16 and BF16 weights: tensor-core cublasGemmEx, which needs the activations in the weights' type.
 *   Rounding them would cost 2^-11 (F16) or 2^-8 (BF16) of relative precision per value, far more
 *   than the CPU path loses, so each activation row x is split in two terms of that type,
 *   hi = round(x·2^k) and lo = round(x·2^k - hi), and both go through one GEMM as 2n columns; the
 *   epilogue adds the halves back and undoes the power of two: out = 2^-k·(W·hi + W·lo) + bias. The
 *   pair holds about 22 (F16) or 16 (BF16) bits of each value, and the products are exact in the
 *   FP32 accumulators. k (F16 only) puts the row's largest magnitude in [2^14, 2^15): hi cannot
 *   overflow, and values far below the largest lose only what is negligible next to it.
 * Q8_0, Q4_0, NF4: tiles of rows are dequantized into an F16 scratch buffer (each weight rounded to
 *   F16: 2^-12 relative, far below the quantization error) and multiplied as F16 weights. */
#include "cublas_api.h"
#include "cuda_layout.h"
#include "cuda_launch.h"
#include "cuda_ops.h"
#include "cuda_reduce.h"

extern "C" {
#include "../../runtime/error.h"
}
#include "backend_cuda.h"

enum { SPLIT_THREADS = 256 };
static const size_t TILE_BYTES = (size_t)32 << 20; /* F16 scratch for dequantized weight tiles */

static int is_quant(slm_dtype t) { return t == SLM_Q8_0 || t == SLM_Q4_0 || t == SLM_NF4; }

/* Rows of a dequantized tile: as many as fit in TILE_BYTES, at least 64. */
static int tile_rows(const slm_mat *W) {
    size_t r = TILE_BYTES / ((size_t)W->cols * 2);
    if (r < 64) r = 64;
    return r < (size_t)W->rows ? (int)r : W->rows;
}

/* Scratch layout: hi/lo activations [2n][cols] (F16 or BF16), GEMM output [2n][rows] F32, the row
 * scales [n], then the dequantized tile [tile_rows][cols] F16. */
typedef struct {
    size_t act, out, scale, tile, total;
} gemm_layout;

static gemm_layout layout(const slm_mat *W, int n) {
    gemm_layout l = {0, 0, 0, 0, 0};
    if (W->type == SLM_F32) return l;
    size_t rows = (size_t)W->rows, cols = (size_t)W->cols;
    l.out = align256(2 * (size_t)n * cols * 2);
    l.scale = l.out + align256(2 * (size_t)n * rows * sizeof(float));
    l.tile = l.scale + align256((size_t)n * sizeof(float));
    l.total = l.tile + (is_quant(W->type) ? align256((size_t)tile_rows(W) * cols * 2) : 0);
    return l;
}

size_t slm_cuda_gemm_scratch(const slm_mat *W, int n) { return layout(W, n).total; }

/* The power of two that puts amax in [2^14, 2^15) (F16 split); 0 for a zero or non-finite row. */
static SLM_CUDA_HD int split_exponent(float amax) {
    if (!(amax > 0.0f) || !isfinite(amax)) return 0;
    return 14 - ilogbf(amax);
}

/* One value as hi + lo in F16 (bits of each returned). v is already scaled. */
static SLM_CUDA_HD void split_f16(float v, uint16_t *hi, uint16_t *lo) {
    __half h = __float2half_rn(v);
    __half l = __float2half_rn(v - __half2float(h));
    *hi = __half_raw(h).x;
    *lo = __half_raw(l).x;
}

static SLM_CUDA_HD void split_bf16(float v, uint16_t *hi, uint16_t *lo) {
    __nv_bfloat16 h = __float2bfloat16_rn(v);
    __nv_bfloat16 l = __float2bfloat16_rn(v - __bfloat162float(h));
    *hi = __nv_bfloat16_raw(h).x;
    *lo = __nv_bfloat16_raw(l).x;
}

/* Work split: one block per activation row (grid.x = n), 256 threads striding over the row: the F16
 * scale needs the row's largest magnitude (a block reduction) before any value is split, and rows
 * are independent. hi goes to row t of the output, lo to row n + t. */
template <bool F16>
__global__ void __launch_bounds__(SPLIT_THREADS)
    split_kernel(uint16_t *out, float *scales, const float *__restrict__ x, int n, int cols) {
    pdl_wait();
    __shared__ float part[32];
    __shared__ int k;
    const int t = blockIdx.x;
    const float *xr = x + (size_t)t * cols;
    if (F16) {
        float m = 0.0f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, fabsf(xr[c]));
        m = warp_max(m);
        if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = m;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int w = 1; w < (int)(blockDim.x >> 5); w++) m = fmaxf(m, part[w]);
            k = split_exponent(m);
            scales[t] = ldexpf(1.0f, -k);
        }
        __syncthreads();
    } else if (threadIdx.x == 0) {
        scales[t] = 1.0f;
    }
    uint16_t *hi = out + (size_t)t * cols, *lo = out + ((size_t)n + t) * cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        if (F16) split_f16(ldexpf(xr[c], k), &hi[c], &lo[c]);
        else split_bf16(xr[c], &hi[c], &lo[c]);
    }
}

/* Work split: one thread per output value (1-D grid over n·rows), consecutive threads on
 * consecutive rows of W so that the reads of both halves and the writes are coalesced. */
__global__ void epilogue_kernel(float *out, const float *__restrict__ g, const float *__restrict__ scales,
                                const float *__restrict__ bias, int n, int rows, int add) {
    pdl_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * rows) return;
    int t = (int)(i / rows), r = (int)(i % rows);
    float v = scales[t] * (g[i] + g[i + (size_t)n * rows]);
    if (bias) v += bias[r];
    out[i] = add ? out[i] + v : v;
}

/* Work split: one thread per output value, as above (bias after an F32 GEMM). */
__global__ void bias_kernel(float *out, const float *__restrict__ bias, int n, int rows) {
    pdl_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)n * rows) out[i] += bias[i % rows];
}

/* Work split: one thread per weight of the tile (1-D grid over tile rows·cols), consecutive threads
 * on consecutive columns: a plain streaming conversion, coalesced on the F16 writes. */
__global__ void dequant_f16_kernel(uint16_t *dst, slm_mat W, int r0, int nrows) {
    pdl_wait();
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    size_t cols = (size_t)W.cols;
    if (i >= (size_t)nrows * cols) return;
    dst[i] = __half_raw(__float2half_rn(weight_at(W, r0 + i / cols, i % cols))).x;
}

static unsigned blocks_for(size_t n) { return (unsigned)((n + 255) / 256); }

int slm_cuda_gemm(slm_cuda_ctx *c, float *out, const float *x, int n, const slm_mat *W, const float *bias, int add,
                  void *scratch) {
    if (c->failed) return -1;
    int rows = W->rows, cols = W->cols;
    if (rows == 0 || n == 0) return 0;
    const float one = 1.0f, zero = 0.0f;
    size_t total = (size_t)n * rows;

    if (W->type == SLM_F32) {
        /* column-major view: out (rows x n) = Wᵀ-view (cols x rows)ᵀ · x (cols x n) (+ out) */
        if (CUBLAS_CHECK(c, slm_cublas()->sgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, (const float *)W->data,
                                        cols, x, cols, add ? &one : &zero, out, rows)))
            return -1;
        if (!bias) return 0;
        slm_launch(c, bias_kernel, blocks_for(total), 256, 0, out, bias, n, rows);
        return CUDA_CHECK_LAUNCH(c, "bias_kernel");
    }

    gemm_layout l = layout(W, n);
    char *s = (char *)scratch;
    uint16_t *act = (uint16_t *)s;
    float *g = (float *)(s + l.out), *scales = (float *)(s + l.scale);
    uint16_t *tile = (uint16_t *)(s + l.tile);
    bool bf16 = W->type == SLM_BF16;
    cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_16F;

    if (bf16) slm_launch(c, split_kernel<false>, n, SPLIT_THREADS, 0, act, scales, x, n, cols);
    else slm_launch(c, split_kernel<true>, n, SPLIT_THREADS, 0, act, scales, x, n, cols);
    if (CUDA_CHECK_LAUNCH(c, "split_kernel")) return -1;

    int step = is_quant(W->type) ? tile_rows(W) : rows;
    for (int r0 = 0; r0 < rows; r0 += step) {
        int m = rows - r0 < step ? rows - r0 : step;
        const void *A;
        if (is_quant(W->type)) {
            slm_launch(c, dequant_f16_kernel, blocks_for((size_t)m * cols), 256, 0, tile, *W, r0, m);
            if (CUDA_CHECK_LAUNCH(c, "dequant_f16_kernel")) return -1;
            A = tile;
        } else {
            A = (const uint16_t *)W->data + (size_t)r0 * cols;
        }
        /* g (rows x 2n, column-major) rows r0..r0+m: the tile's rows times every hi and lo column */
        if (CUBLAS_CHECK(c, slm_cublas()->gemm_ex(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, 2 * n, cols, &one, A, type, cols, act,
                                         type, cols, &zero, g + r0, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT)))
            return -1;
    }
    slm_launch(c, epilogue_kernel, blocks_for(total), 256, 0, out, g, scales, bias, n, rows, add);
    return CUDA_CHECK_LAUNCH(c, "epilogue_kernel");
}

/* Host emulation of the activation split (see backend_cuda.h). */
extern "C" int slm_cuda_emulate_split(float *back, const float *x, int cols, slm_dtype type) {
    if (type != SLM_F16 && type != SLM_BF16) return slm_fail("emulate_split: %s is not F16 or BF16", slm_dtype_name(type));
    int k = 0;
    if (type == SLM_F16) {
        float m = 0.0f;
        for (int c = 0; c < cols; c++) m = fmaxf(m, fabsf(x[c]));
        k = split_exponent(m);
    }
    for (int c = 0; c < cols; c++) {
        uint16_t hi, lo;
        if (type == SLM_F16) {
            split_f16(ldexpf(x[c], k), &hi, &lo);
            back[c] = ldexpf(f16_bits(hi) + f16_bits(lo), -k);
        } else {
            split_bf16(x[c], &hi, &lo);
            back[c] = bf16_bits(hi) + bf16_bits(lo);
        }
    }
    return 0;
}
