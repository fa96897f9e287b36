/* The CUDA backend: the whole forward pass on an NVIDIA GPU (compute capability 8.0 or newer).
 * Weights, activations and the KV cache live in device memory; decoding runs our own kernels,
 * prompt batches go through cuBLAS. Built when the Makefile finds nvcc (it then defines SLM_CUDA).
 *
 *   slm_backend *b = slm_backend_cuda();   // NULL with slm_error() "no CUDA device: ..." when none
 *   ... use it through the table of runtime/backend.h ...
 *   if (slm_backend_cuda_sync(b)) ...       // -1 with slm_error() once any op has failed
 *
 * Ops queue work and return at once; a failure inside one (a CUDA or cuBLAS error, named with the
 * call, file and line) is recorded, every later op does nothing, downloads fill their destination
 * with NaN, and slm_backend_cuda_sync() reports the first failure. */
#ifndef SLM_BACKEND_CUDA_H
#define SLM_BACKEND_CUDA_H

#include "../../runtime/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

slm_backend *slm_backend_cuda(void);

/* Waits for every queued op of a CUDA backend; 0, or -1 with slm_error() set to the first failure. */
int slm_backend_cuda_sync(slm_backend *b);

/* Opens cuBLAS (it is loaded at run time, not linked: kernels/cuda/cublas_api.h); 0, or -1 with
 * slm_error(). The backend does this itself; tests call it to check the library is found. */
int slm_cublas_open(void);

/* For `slm bench --device cuda`: the device's name and memory ("NVIDIA H100 80GB HBM3, 79 GiB"), and
 * its read bandwidth in GB/s from a streaming read of `bytes`, best of `passes` (kernels/cuda/membw.cu).
 * -1 with slm_error() when there is no device or the probe fails. */
int slm_cuda_device_name(char *name, size_t size);
double slm_cuda_membw_read(size_t bytes, int passes);

/* Host emulation of the device side, for tests on machines without a GPU. Each builds the device
 * layout of W on the host (as upload_mat does) and runs the kernels' per-unit arithmetic in a plain
 * loop (see kernels/cuda/cuda_layout.h). 0, or -1 with slm_error().
 *   emulate_row:    dst[W->cols] = row r as the embedding and dequantization kernels read it.
 *   emulate_matvec: y[W->rows] = W·x as the matrix-vector kernels compute it (Q8_0/Q4_0 with the
 *                   int8 activations, NF4 too where slm_cuda_nf4_int8 allows, else in float).
 *   emulate_split:  back[cols] = the two-term F16/BF16 split of the prompt GEMM, summed back. */
int slm_cuda_emulate_row(float *dst, const slm_mat *W, int r);
int slm_cuda_emulate_matvec(float *y, const slm_mat *W, const float *x);
int slm_cuda_emulate_split(float *back, const float *x, int cols, slm_dtype type);

#ifdef __cplusplus
}
#endif

#endif
