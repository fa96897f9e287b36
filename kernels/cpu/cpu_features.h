/* Which SIMD kernels this CPU can run, decided once at start-up. */
#ifndef SLM_CPU_FEATURES_H
#define SLM_CPU_FEATURES_H

typedef enum { SLM_ISA_SCALAR = 0, SLM_ISA_AVX2 = 1, SLM_ISA_AVX512 = 2 } slm_isa;

typedef struct {
    int avx2_fma;    /* AVX2 + FMA + F16C */
    int avx512;      /* AVX-512 F/BW/VL/DQ */
    int avx512_vnni; /* AVX-512 VNNI (int8 dot products) */
    int avx512_bf16;
    int gfni;        /* with AVX-512: Galois-field byte ops (vgf2p8affineqb) */
} slm_cpu_features;

const slm_cpu_features *slm_cpu(void);
/* The widest ISA to use: the best the CPU has, lowered by SLM_ISA=scalar|avx2|avx512 in the environment. */
slm_isa slm_isa_best(void);
const char *slm_isa_name(slm_isa isa);
/* The CPU's name as /proc/cpuinfo gives it ("model name"), or "unknown CPU". */
const char *slm_cpu_name(void);
/* Physical cores (SMT siblings counted once), at least 1. */
int slm_physical_cores(void);

#endif
