/* Error checking for the CUDA backend.
 *
 * The library must not abort, and CUDA reports most failures late (a faulting kernel shows up at the
 * next call that waits for it). So every CUDA and cuBLAS call and every kernel launch goes through
 * CUDA_CHECK / CUBLAS_CHECK / CUDA_CHECK_LAUNCH: the first failure is recorded in the context (the
 * call, file and line, and CUDA's message) and in slm_error(); from then on every op of the backend
 * sees ctx->failed and does nothing, downloads fill their destination with NaN, and the backend's
 * sync (slm_backend_cuda_sync) returns -1 with that first message. */
#ifndef SLM_CUDA_CHECK_H
#define SLM_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>

/* What every launcher needs: where to queue work, and where a failure goes. */
typedef struct {
    cudaStream_t stream;
    cublasHandle_t blas;
    int device;
    int sms;           /* streaming multiprocessors: sizes the attention split */
    size_t smem_optin; /* most dynamic shared memory one block may ask for */
    int pdl;           /* the device launches kernels as programmatic dependents (cuda_launch.h) */
    int pdl_now;       /* and the backend does so now: in decoding steps, not for prompts */
    int failed;        /* set by the first failure; ops do nothing afterwards */
    char error[400];   /* the first failure, as slm_error() gave it */
} slm_cuda_ctx;

/* 0 when e / s is success; otherwise records the failure (first one wins) and returns -1. */
int slm_cuda_check(slm_cuda_ctx *c, cudaError_t e, const char *call, const char *file, int line);
int slm_cublas_check(slm_cuda_ctx *c, cublasStatus_t s, const char *call, const char *file, int line);

/* The macros only add the call's text, file and line to the message. */
#define CUDA_CHECK(c, call) slm_cuda_check((c), (call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(c, call) slm_cublas_check((c), (call), #call, __FILE__, __LINE__)
/* After a <<<...>>> launch: a bad configuration is reported at once by cudaGetLastError. */
#define CUDA_CHECK_LAUNCH(c, kernel) slm_cuda_check((c), cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)

/* Lets `kernel` use `bytes` of dynamic shared memory (above 48 KiB needs an opt-in); -1 when the
 * device has less. */
int slm_cuda_smem(slm_cuda_ctx *c, const void *kernel, size_t bytes, const char *name);

#endif
