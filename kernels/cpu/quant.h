/* Quantized weight formats: scalar reference quantizers and dequantizers, and the int8 activation
 * rows the integer matrix-vector kernels read.
 *
 *   Q8_0  llama.cpp block_q8_0: 32 weights, fp16 d = amax/127, q = roundf(x/d).
 *   Q4_0  llama.cpp block_q4_0: 32 weights, fp16 d = max/-8 (max: the signed value of largest
 *         magnitude), q = min(15, trunc(x/d + 8.5)); weight j in the low nibble of byte j,
 *         weight j+16 in the high nibble; x = (q - 8)·d.
 *   Q4_0X8  Q4_0 regrouped in memory for the AVX-512 kernel, the same bytes rearranged: along each row,
 *         every run of 8 blocks becomes their 8 fp16 scales, then four 32-byte vectors; in vector k,
 *         bytes 4i..4i+3 hold weights 8k..8k+3 of block i in their low nibbles and 8k+4..8k+7 in
 *         their high ones. So one vpdpbusd leaves block i's partial sum in lane i, and eight of them
 *         the 8 blocks' sums with nothing to add across lanes. The last cols/32 % 8 blocks of a row
 *         stay as Q4_0.
 *   NF4X8  NF4 regrouped in memory for the AVX-512 kernel, when blocks are 64 weights and rows a multiple
 *         of 64: along each row, every run of 8 blocks becomes their 8 float absmax values, then eight
 *         32-byte vectors; in vector k, bytes 4i..4i+3 are the code bytes 4k..4k+3 of block i (weights
 *         8k..8k+7, the first of each pair in the high nibble). So block i's weights meet in lane i, and
 *         a row is one stream instead of codes and scales apart. The last t = cols/64 % 8 blocks of a
 *         row stay as NF4: their t absmax values, then their codes. 36 bytes per 64 weights, as before.
 *   NF4   bitsandbytes NormalFloat4: the matrix flattened row-major into blocks of `block` weights
 *         (the last one may be short), fp32 absmax per block, a 4-bit index into a 16-value code
 *         table per weight, element 2k in the high nibble of byte k; x = code[q]·absmax.
 *
 * The quantizers reproduce llama.cpp's quantize_row_*_ref and bitsandbytes' quantize_4bit bit for
 * bit (tests/test_quant.c checks them against tools/py/make_quant_fixtures.py). */
#ifndef SLM_QUANT_H
#define SLM_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../runtime/tensor.h"

#define SLM_NF4_BLOCK 64 /* bitsandbytes' default blocksize */

/* The standard NF4 table, index -> value (what NULL means in slm_mat.code). */
extern const float slm_nf4_code[16];

/* n is a multiple of SLM_QK; dst holds n/SLM_QK blocks. */
void slm_quantize_q8_0(slm_block_q8_0 *dst, const float *x, size_t n);
void slm_quantize_q4_0(slm_block_q4_0 *dst, const float *x, size_t n);
void slm_dequantize_q8_0(float *dst, const slm_block_q8_0 *src, size_t n);
void slm_dequantize_q4_0(float *dst, const slm_block_q4_0 *src, size_t n);

/* A whole run of 8 NF4 blocks (512 weights) in the NF4X8 layout: 8 absmax floats and 256 code bytes. */
enum { SLM_NF4X8_WEIGHTS = 512, SLM_NF4X8_BYTES = 288 };
/* One NF4 row (cols a multiple of 64, blocks of 64): its cols/2 code bytes and cols/64 absmax values into
 * the NF4X8 layout at dst, which must not overlap them. */
void slm_nf4x8_from_nf4(void *dst, const uint8_t *codes, const float *absmax, int cols);
/* One NF4X8 row as floats, code[q]·absmax exactly as slm_dequantize_nf4 forms them; code NULL: slm_nf4_code. */
void slm_dequantize_nf4x8(float *dst, const void *row, const float *code, int cols);
/* The 32t code bytes of a run of t blocks (8, or the t < 8 that end a row) in NF4 order, block after block. */
void slm_nf4x8_run_codes(uint8_t *codes, const uint8_t *run, int t);
/* The bytes of one NF4X8 row of cols weights. */
static inline size_t slm_nf4x8_row_bytes(int cols) { return (size_t)cols / 64 * 36; }
/* The run that holds weight j of an NF4X8 row of cols weights, and how many blocks it holds (fewer than 8:
 * the blocks at the end of a row that stay as NF4). */
static inline const uint8_t *slm_nf4x8_run(const uint8_t *row, int cols, int j, int *t) {
    const int run = j / SLM_NF4X8_WEIGHTS, left = cols / 64 - 8 * run;
    *t = left < 8 ? left : 8;
    return row + (size_t)run * SLM_NF4X8_BYTES;
}
/* Weight j of an NF4X8 row of cols weights: its 4-bit code, and the absmax of its block. */
static inline int slm_nf4x8_code(const uint8_t *row, int cols, int j) {
    int t;
    const uint8_t *run = slm_nf4x8_run(row, cols, j, &t);
    const int w = j % 64, i = j / 64 % 8;
    const uint8_t b = t == 8 ? run[32 + 32 * (w / 8) + 4 * i + (w % 8) / 2] : run[4 * t + 32 * i + w / 2];
    return w & 1 ? b & 0x0F : b >> 4;
}
static inline float slm_nf4x8_absmax(const uint8_t *row, int cols, int j) {
    int t;
    const uint8_t *run = slm_nf4x8_run(row, cols, j, &t);
    float a;
    memcpy(&a, run + 4 * (j / 64 % 8), sizeof a);
    return a;
}

/* A run of 8 Q4_0 blocks in the Q4_0X8 layout: 144 bytes, like the blocks it holds. */
enum { SLM_X8_BLOCKS = 8, SLM_X8_BYTES = 8 * sizeof(slm_block_q4_0) };
/* One row of nb Q4_0 blocks into the Q4_0X8 layout; dst may be src. */
void slm_q4_0x8_from_q4_0(void *dst, const slm_block_q4_0 *src, int nb);
/* One Q4_0X8 row of n weights (n a multiple of 32) as floats, equal to slm_dequantize_q4_0 of the blocks it came from. */
void slm_dequantize_q4_0x8(float *dst, const void *row, size_t n);

/* NF4 over n weights: codes gets (n+1)/2 bytes (an odd n pads the last low nibble as bitsandbytes
 * does), absmax gets ceil(n/block) floats. block > 0. */
void slm_quantize_nf4(uint8_t *codes, float *absmax, const float *x, size_t n, int block);
/* Weights [start, start+count) of an NF4 tensor; code NULL means slm_nf4_code. */
void slm_dequantize_nf4(float *dst, const uint8_t *codes, const float *absmax, const float *code, int block,
                        size_t start, size_t count);
/* The int8 decode kernels' table: t[i] = round(code[i]·127/max|code|); returns max|code|/127, the value
 * of one step (0 when every code is 0). code NULL means slm_nf4_code. */
float slm_nf4_int8_table(int8_t t[16], const float *code);
/* The same table offset by 128, as unsigned bytes for vpdpbusd (the VNNI kernels take 128·Σx back out). */
float slm_nf4_uint8_table(uint8_t u[16], const float *code);
/* bitsandbytes double quantization: absmax[b] = nested_map[q[b]] · nested_absmax[b / nested_block] + offset,
 * rounded to float after the product and after the sum, as bitsandbytes does. */
void slm_nf4_decode_absmax(float *absmax, const uint8_t *q, int nblocks, const float *nested_absmax,
                           const float *nested_map, int nested_block, float offset);

/* Row r of a Q8_0, Q4_0 or NF4 matrix (or a regrouped one) as floats (slm_mat_row calls this for those formats). */
void slm_quant_row(const slm_mat *W, int r, float *dst);
/* 0 when W's shape and fields suit its format (Q8_0/Q4_0: cols % 32 == 0; NF4: block > 0, absmax set);
 * otherwise -1 with an slm_fail message that starts with `what` (e.g. the tensor name). */
int slm_quant_check(const slm_mat *W, const char *what);

/* An activation row quantized for the integer kernels (Q8_0 and Q4_0 weights): per 32 values a float
 * scale d = amax/127 and int8 q = x/d rounded to nearest even, and per block the float d·Σq, with which
 * the SIMD Q4_0 kernels take off the offset 8 of the nibbles they multiply (8·dw·d·Σq per block).
 * Layout: the cols/32 scales, the cols/32 sums, then the int8 values from the next multiple of 64 bytes.
 * Every variant writes the same bytes. */
size_t slm_act_q8_bytes(int cols);
void slm_act_q8_quantize(void *dst, const float *x, int cols);
/* The same bytes from SIMD code (defined in matmul_q8_0_avx2.c / matmul_q8_0_avx512.c; call only when
 * the CPU has the instructions). */
void slm_act_q8_quantize_avx2(void *dst, const float *x, int cols);
void slm_act_q8_quantize_avx512(void *dst, const float *x, int cols);
static inline size_t slm_act_q8_offset(int cols) {
    return ((size_t)(cols / SLM_QK) * 2 * sizeof(float) + 63) & ~(size_t)63;
}
static inline const float *slm_act_q8_scales(const void *a) { return (const float *)a; }
static inline const float *slm_act_q8_sums(const void *a, int cols) { return (const float *)a + cols / SLM_QK; }
static inline const int8_t *slm_act_q8_values(const void *a, int cols) {
    return (const int8_t *)a + slm_act_q8_offset(cols);
}

#endif
