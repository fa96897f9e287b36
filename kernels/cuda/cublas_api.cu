/* Opens cuBLAS with dlopen (see cublas_api.h): first the soname of the toolkit slm was built with,
 * found through the binary's run path, then the toolkit's own directory. */
#include <dlfcn.h>
#include <stdio.h>

#include "cublas_api.h"
extern "C" {
#include "../../runtime/error.h"
}

static slm_cublas_api api;
static int opened; /* 0: not tried, 1: loaded, -1: failed */
static char failure[512];

static void *symbol(void *lib, const char *name, int *missing) {
    void *p = dlsym(lib, name);
    if (!p && !*missing) {
        snprintf(failure, sizeof failure, "cuBLAS: the library has no %s", name);
        *missing = 1;
    }
    return p;
}

const slm_cublas_api *slm_cublas(void) {
    if (opened == 0) {
        char soname[64], path[600];
        snprintf(soname, sizeof soname, "libcublas.so.%d", CUBLAS_VER_MAJOR);
        void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
#ifdef SLM_CUDA_LIBDIR
        snprintf(path, sizeof path, "%s/%s", SLM_CUDA_LIBDIR, soname);
        if (!lib) lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
#else
        (void)path;
#endif
        opened = -1;
        if (!lib) {
            snprintf(failure, sizeof failure, "cannot open %s (the CUDA toolkit's cuBLAS): %s", soname, dlerror());
        } else {
            int missing = 0;
            api.create = (decltype(api.create))symbol(lib, "cublasCreate_v2", &missing);
            api.destroy = (decltype(api.destroy))symbol(lib, "cublasDestroy_v2", &missing);
            api.set_stream = (decltype(api.set_stream))symbol(lib, "cublasSetStream_v2", &missing);
            api.sgemm = (decltype(api.sgemm))symbol(lib, "cublasSgemm_v2", &missing);
            api.gemm_ex = (decltype(api.gemm_ex))symbol(lib, "cublasGemmEx", &missing);
            api.status_string = (decltype(api.status_string))symbol(lib, "cublasGetStatusString", &missing);
            if (!missing) opened = 1;
        }
    }
    if (opened < 0) {
        slm_fail("%s", failure);
        return NULL;
    }
    return &api;
}

extern "C" int slm_cublas_open(void) { return slm_cublas() ? 0 : -1; }
