/* Weight formats and the matrix handle every kernel and backend takes. */
#ifndef SLM_TENSOR_H
#define SLM_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    SLM_F32 = 0,
    SLM_F16,
    SLM_BF16,
    SLM_Q8_0, /* blocks of 32: fp16 scale + 32 int8 (llama.cpp block_q8_0) */
    SLM_Q4_0, /* blocks of 32: fp16 scale + 16 bytes of nibbles, offset 8 (llama.cpp block_q4_0) */
    SLM_NF4,  /* bitsandbytes NormalFloat4: codes 2 per byte (first element in the high nibble), fp32 absmax per block */
    /* Q4_0 with each run of 8 blocks regrouped for the AVX-512 kernel (kernels/cpu/quant.h); never stored in
     * files: the CPU backend makes it from Q4_0 when it loads a model */
    SLM_Q4_0X8,
    /* NF4 with blocks of 64 and rows of whole blocks, each run of 8 blocks regrouped with its 8 absmax values
     * (kernels/cpu/quant.h); made from NF4 by the CPU backend in the same way */
    SLM_NF4X8,
    /* F16 and BF16 matrices wider than 4096 columns held in blocks of SLM_COL_BLOCK columns (slm_col_block_at):
     * the CPU backend's layout, so that a block's float activations stay in L1 beside the weight streams */
    SLM_F16B,
    SLM_BF16B,
    SLM_NTYPES
} slm_dtype;

/* F16B and BF16B: block b holds columns [b·SLM_COL_BLOCK, ...) of every row as its own row-major matrix
 * [rows][width], width SLM_COL_BLOCK but for the last block's rest, starting at element rows·b·SLM_COL_BLOCK. */
enum { SLM_COL_BLOCK = 2048, SLM_COL_BLOCKED_ABOVE = 4096 };
static inline int slm_col_block_width(int cols, int b) {
    int left = cols - b * SLM_COL_BLOCK;
    return left < SLM_COL_BLOCK ? left : SLM_COL_BLOCK;
}
/* The element index of [r][c] in an F16B or BF16B matrix. */
static inline size_t slm_col_block_at(int rows, int cols, int r, int c) {
    int b = c / SLM_COL_BLOCK;
    return (size_t)rows * b * SLM_COL_BLOCK + (size_t)r * slm_col_block_width(cols, b) + (size_t)(c % SLM_COL_BLOCK);
}

#define SLM_QK 32 /* weights per Q8_0 / Q4_0 block */

typedef struct {
    uint16_t d; /* fp16 scale */
    int8_t qs[SLM_QK];
} slm_block_q8_0;

typedef struct {
    uint16_t d;              /* fp16 scale */
    uint8_t qs[SLM_QK / 2]; /* element j in the low nibble of byte j, element j+16 in the high nibble */
} slm_block_q4_0;

/* A weight matrix [rows][cols] (a Linear's [out_features][in_features]) in any format.
 * For Q8_0 and Q4_0 each row is cols/32 blocks. For NF4 the codes of the whole matrix are
 * packed in row-major order (blocks of `block` weights may cross rows, as bitsandbytes does). */
typedef struct {
    slm_dtype type;
    int rows, cols;
    const void *data;
    const float *absmax; /* NF4: one scale per block */
    const float *code;   /* NF4: the 16 code values */
    int block;           /* NF4: weights per absmax block */
} slm_mat;

const char *slm_dtype_name(slm_dtype t);
/* Parses "f32", "q4_0", ...; returns -1 for an unknown name. */
int slm_dtype_parse(const char *name, slm_dtype *out);
/* Bytes of a matrix [rows][cols] in format t (NF4: the packed codes only). */
size_t slm_dtype_bytes(slm_dtype t, size_t rows, size_t cols);

static inline float slm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, as torch and the F16C instructions do. */
static inline uint16_t slm_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflows to inf */
    if (absx < 0x38800000u) {                                   /* subnormal or zero in half */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14 + (113 - e) */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absx - 0x38000000u) >> 13);
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline float slm_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t slm_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* keep NaN a NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

#endif
