/* The GPU's read bandwidth, for the decode roofline of `slm bench --device cuda`: every thread sums
 * 16-byte words of a buffer larger than the L2 cache in a grid-stride loop, as a matrix-vector kernel
 * streams its weights; the best of several passes, timed with events. */
#include <cuda_runtime.h>
#include <stdio.h>

#include "backend_cuda.h"
extern "C" {
#include "../../runtime/error.h"
}

__global__ void read_kernel(const uint4 *__restrict__ p, size_t n, unsigned *sink) {
    unsigned acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = __ldg(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    /* Written only when it equals an unlikely value: the reads cannot be optimised away. */
    if (acc == 0x9e3779b9u) *sink = acc;
}

static int fail_cuda(cudaError_t e, const char *call) {
    cudaGetLastError();
    return slm_fail("GPU read probe: %s: %s", call, cudaGetErrorString(e));
}

extern "C" int slm_cuda_device_name(char *name, size_t size) {
    int count = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        return slm_fail("no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess)
        return fail_cuda(e, "cudaGetDeviceProperties");
    snprintf(name, size, "%s, %.0f GiB", prop.name, prop.totalGlobalMem / (double)(1ull << 30));
    return 0;
}

extern "C" double slm_cuda_membw_read(size_t bytes, int passes) {
    uint4 *buf = NULL;
    unsigned *sink = NULL;
    cudaEvent_t start = NULL, stop = NULL;
    double best = -1;
    size_t n = bytes / sizeof(uint4);
    int dev = 0, sms = 0;
    cudaError_t e;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess ||
        (e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev)) != cudaSuccess) {
        fail_cuda(e, "cudaDeviceGetAttribute");
        return -1;
    }
    if ((e = cudaMalloc((void **)&buf, n * sizeof(uint4))) != cudaSuccess) {
        fail_cuda(e, "cudaMalloc of the probe buffer");
        return -1;
    }
    if ((e = cudaMalloc((void **)&sink, sizeof *sink)) != cudaSuccess || (e = cudaMemset(buf, 1, n * sizeof(uint4))) != cudaSuccess ||
        (e = cudaEventCreate(&start)) != cudaSuccess || (e = cudaEventCreate(&stop)) != cudaSuccess) {
        fail_cuda(e, "probe setup");
        goto done;
    }
    for (int p = 0; p <= passes; p++) {
        cudaEventRecord(start);
        read_kernel<<<sms * 8, 512>>>(buf, n, sink);
        cudaEventRecord(stop);
        if ((e = cudaEventSynchronize(stop)) != cudaSuccess) {
            fail_cuda(e, "read kernel");
            best = -1;
            goto done;
        }
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        double gbps = (double)(n * sizeof(uint4)) / (ms * 1e-3) / 1e9;
        if (p > 0 && gbps > best) best = gbps; /* pass 0 warms up */
    }
done:
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    cudaFree(sink);
    cudaFree(buf);
    return best;
}
