/* How the backend launches its kernels.
 *
 * On Hopper and newer GPUs a kernel is launched as a programmatic dependent of the one before it
 * (PDL): its blocks may be scheduled while that kernel's last blocks still run, and they wait in
 * pdl_wait() until it has finished and its writes are visible. A decoding step is a chain of some
 * 200 short kernels, and each launch otherwise leaves the GPU idle for a few microseconds. Prompt
 * batches launch plainly: around cuBLAS's GEMMs the early blocks cost 5-9% of prompt speed.
 *
 * Every kernel launched through slm_launch must call pdl_wait() first, before it reads or writes
 * anything and before any return: a kernel's end then implies its predecessor's, so that a kernel
 * may read what any earlier kernel wrote. */
#ifndef SLM_CUDA_LAUNCH_H
#define SLM_CUDA_LAUNCH_H

#include "cuda_check.h"

static __device__ __forceinline__ void pdl_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/* kernel<<<grid, block, smem, c->stream>>>(args...), as a programmatic dependent where c->pdl_now. Errors
 * are left for CUDA_CHECK_LAUNCH, as with <<<>>>. */
template <typename... P, typename... A>
static inline void slm_launch(slm_cuda_ctx *c, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, A... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = c->stream;
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = c->pdl_now ? 1 : 0;
    cudaLaunchKernelEx(&cfg, kernel, args...);
}

#endif
