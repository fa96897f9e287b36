#include "tensor.h"

static const char *names[SLM_NTYPES] = {"f32", "f16", "bf16", "q8_0", "q4_0", "nf4", "q4_0x8", "nf4x8", "f16b", "bf16b"};

const char *slm_dtype_name(slm_dtype t) { return (unsigned)t < SLM_NTYPES ? names[t] : "?"; }

int slm_dtype_parse(const char *name, slm_dtype *out) {
    /* q4_0x8, nf4x8, f16b and bf16b are layouts in memory, not names users or files give */
    for (int i = 0; i < SLM_Q4_0X8; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (slm_dtype)i;
            return 0;
        }
    }
    return -1;
}

size_t slm_dtype_bytes(slm_dtype t, size_t rows, size_t cols) {
    size_t n = rows * cols;
    switch (t) {
    case SLM_F32: return n * 4;
    case SLM_F16:
    case SLM_BF16:
    case SLM_F16B:
    case SLM_BF16B: return n * 2;
    case SLM_Q8_0: return rows * (cols / SLM_QK) * sizeof(slm_block_q8_0);
    case SLM_Q4_0:
    case SLM_Q4_0X8: return rows * (cols / SLM_QK) * sizeof(slm_block_q4_0);
    case SLM_NF4: return (n + 1) / 2;
    case SLM_NF4X8: return n / 64 * 36; /* codes and absmax together */
    default: return 0;
    }
}
