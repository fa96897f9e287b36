/* cuBLAS, opened at run time rather than linked. Linking it maps libcublas and libcublasLt (about
 * 600 MB of files) into every run, CPU-only ones included: their relocations alone cost about 210 MB
 * of resident memory and 0.1 s before main. So the CUDA backend opens the library with dlopen when it
 * starts and calls the functions it uses through this table. */
#ifndef SLM_CUBLAS_API_H
#define SLM_CUBLAS_API_H

#include <cublas_v2.h>

typedef struct {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSgemm_v2) sgemm;
    /* written out: C++ sees a second, inline overload of cublasGemmEx in the header */
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int m, int n, int k,
                              const void *alpha, const void *A, cudaDataType, int lda, const void *B, cudaDataType,
                              int ldb, const void *beta, void *C, cudaDataType, int ldc, cublasComputeType_t,
                              cublasGemmAlgo_t);
    decltype(&cublasGetStatusString) status_string;
} slm_cublas_api;

/* The table, filled on the first call; NULL with slm_error() naming the library and the loader's
 * message when it cannot be opened. */
const slm_cublas_api *slm_cublas(void);

#endif
