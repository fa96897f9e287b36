#include "cpu_features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static slm_cpu_features features;
static int detected;

const slm_cpu_features *slm_cpu(void) {
    if (!detected) {
        __builtin_cpu_init();
        features.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        features.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
        features.avx512_vnni = features.avx512 && __builtin_cpu_supports("avx512vnni");
        features.avx512_bf16 = features.avx512 && __builtin_cpu_supports("avx512bf16");
        features.gfni = features.avx512 && __builtin_cpu_supports("gfni");
        detected = 1;
    }
    return &features;
}

slm_isa slm_isa_best(void) {
    const slm_cpu_features *f = slm_cpu();
    slm_isa best = f->avx512 ? SLM_ISA_AVX512 : f->avx2_fma ? SLM_ISA_AVX2 : SLM_ISA_SCALAR;
    const char *cap = getenv("SLM_ISA");
    if (cap) {
        slm_isa want = strcmp(cap, "scalar") == 0 ? SLM_ISA_SCALAR : strcmp(cap, "avx2") == 0 ? SLM_ISA_AVX2 : best;
        if (want < best) best = want;
    }
    return best;
}

const char *slm_isa_name(slm_isa isa) {
    switch (isa) {
    case SLM_ISA_AVX512: return "avx512";
    case SLM_ISA_AVX2: return "avx2";
    default: return "scalar";
    }
}

const char *slm_cpu_name(void) {
    static char name[128];
    if (name[0]) return name;
    snprintf(name, sizeof name, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return name;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t n = strcspn(v, "\n");
        while (n > 0 && v[n - 1] == ' ') n--;
        if (n > 0) snprintf(name, sizeof name, "%.*s", (int)n, v);
        break;
    }
    fclose(f);
    return name;
}

int slm_physical_cores(void) {
    /* Count distinct (physical id, core id) pairs; fall back to the online CPU count. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    int online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    if (!f) return online;
    int pairs[1024][2], npairs = 0, phys = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
        if (sscanf(line, "core id : %d", &v) == 1) {
            int seen = 0;
            for (int i = 0; i < npairs; i++) seen |= pairs[i][0] == phys && pairs[i][1] == v;
            if (!seen && npairs < 1024) {
                pairs[npairs][0] = phys;
                pairs[npairs][1] = v;
                npairs++;
            }
        }
    }
    fclose(f);
    return npairs > 0 && npairs <= online ? npairs : online;
}
