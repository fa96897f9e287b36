/* How weight matrices and quantized activations lie in device memory, and the arithmetic on one
 * 16-byte unit of each format. The kernels and the host emulation (slm_cuda_emulate_*, which tests
 * run on machines without a GPU) share these functions, so layouts and nibble orders are checked
 * against the CPU reference even where no kernel can run.
 *
 * Weights (a slm_mat whose pointers are device pointers):
 *   F32, F16, BF16  [rows][cols], as on the host.
 *   Q8_0  fp16 scales [rows][cols/32]; then, from q_values(), int8 [rows][cols].
 *   Q4_0  fp16 scales [rows][cols/32]; then uint8 [rows][cols/2], 16 bytes per block holding weight j
 *         of the block in the low nibble of byte j and weight j+16 in the high one (llama.cpp order).
 *   NF4   the packed codes as on the host (the matrix flattened row-major, element 2k in the high
 *         nibble of byte k), absmax [blocks] and the 16-value code table (never NULL).
 * Q8_0 and Q4_0 blocks are split into scales and values on upload: blocks of 34 and 18 bytes allow
 * only 2-byte loads, while rows of bare values start on 16-byte boundaries (cols is a multiple of 32).
 *
 * Quantized activations for the Q8_0/Q4_0 kernels (n rows of cols), as slm_act_q8_quantize makes them
 * on the CPU: int8 [n][cols], then float scales [n][cols/32], then int sums of each block's int8
 * values [n][cols/32] (Q4_0 subtracts 8·sum instead of 8 from every weight). */
#ifndef SLM_CUDA_LAYOUT_H
#define SLM_CUDA_LAYOUT_H

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "../../runtime/tensor.h"
}

#define SLM_CUDA_HD __host__ __device__ __forceinline__

static SLM_CUDA_HD size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

/* Q8_0 / Q4_0: byte offset of the values after the scales. */
static SLM_CUDA_HD size_t q_values_offset(int rows, int cols) {
    return align256((size_t)rows * (size_t)(cols / SLM_QK) * sizeof(uint16_t));
}
/* Bytes of the device copy of a matrix (NF4: the codes only, padded to whole 16-byte units). */
static inline size_t dev_mat_bytes(const slm_mat *W) {
    size_t rows = (size_t)W->rows, cols = (size_t)W->cols;
    switch (W->type) {
    case SLM_Q8_0: return q_values_offset(W->rows, W->cols) + rows * cols;
    case SLM_Q4_0: return q_values_offset(W->rows, W->cols) + rows * cols / 2;
    case SLM_NF4: return ((rows * cols + 1) / 2 + 15) & ~(size_t)15;
    default: return slm_dtype_bytes(W->type, rows, cols);
    }
}

/* Quantized activations: offsets of the scales and sums for n rows of cols. */
static SLM_CUDA_HD size_t act_scales_offset(int n, int cols) { return align256((size_t)n * (size_t)cols); }
static SLM_CUDA_HD size_t act_sums_offset(int n, int cols) {
    return act_scales_offset(n, cols) + align256((size_t)n * (size_t)(cols / SLM_QK) * sizeof(float));
}
static SLM_CUDA_HD size_t act_bytes(int n, int cols) {
    return act_sums_offset(n, cols) + align256((size_t)n * (size_t)(cols / SLM_QK) * sizeof(int));
}

static SLM_CUDA_HD float bits_to_float(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

static SLM_CUDA_HD float f16_bits(uint16_t b) {
    __half_raw r;
    r.x = b;
    return __half2float(__half(r));
}
static SLM_CUDA_HD float bf16_bits(uint16_t b) { return bits_to_float((uint32_t)b << 16); }

/* Four int8 products summed into acc: dp4a on the device, the same sum on the host. */
static SLM_CUDA_HD int dot4_i8(int a, int b, int acc) {
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, acc);
#else
    for (int i = 0; i < 4; i++) acc += (int8_t)(a >> (8 * i)) * (int8_t)(b >> (8 * i));
    return acc;
#endif
}

/* One Q8_0 unit: 16 int8 weights times 16 int8 activations (half a block). */
static SLM_CUDA_HD int q8_unit_dot(int4 w, int4 a) {
    int s = dot4_i8(w.x, a.x, 0);
    s = dot4_i8(w.y, a.y, s);
    s = dot4_i8(w.z, a.z, s);
    return dot4_i8(w.w, a.w, s);
}

/* One Q4_0 block: sum of (q - 8)·a over 32 weights, from the 16 bytes of nibbles, the activations of
 * weights 0..15 (lo) and 16..31 (hi), and the sum of all 32 activations. */
static SLM_CUDA_HD int q4_block_dot(int4 w, int4 lo, int4 hi, int a_sum) {
    const int m = 0x0F0F0F0F;
    int s = dot4_i8(w.x & m, lo.x, 0);
    s = dot4_i8(w.y & m, lo.y, s);
    s = dot4_i8(w.z & m, lo.z, s);
    s = dot4_i8(w.w & m, lo.w, s);
    s = dot4_i8((w.x >> 4) & m, hi.x, s);
    s = dot4_i8((w.y >> 4) & m, hi.y, s);
    s = dot4_i8((w.z >> 4) & m, hi.z, s);
    s = dot4_i8((w.w >> 4) & m, hi.w, s);
    return s - 8 * a_sum;
}

/* Eight NF4 weights (one 32-bit word of codes, element 2k in the high nibble of byte k) times
 * x0 (elements 0..3) and x1 (4..7), without the block's absmax. */
static SLM_CUDA_HD float nf4_word_dot(uint32_t w, const float *code, float4 x0, float4 x1) {
    float s = code[(w >> 4) & 15] * x0.x;
    s += code[w & 15] * x0.y;
    s += code[(w >> 12) & 15] * x0.z;
    s += code[(w >> 8) & 15] * x0.w;
    s += code[(w >> 20) & 15] * x1.x;
    s += code[(w >> 16) & 15] * x1.y;
    s += code[(w >> 28) & 15] * x1.z;
    s += code[(w >> 24) & 15] * x1.w;
    return s;
}

/* NF4 with int8 activations: the 16 code values as int8, q = round(code · 127 / max|code|), entry i
 * in byte i % 4 of t[i / 4]; a weight is then absmax · q · (max|code| / 127), the factor returned. */
static SLM_CUDA_HD float nf4_i8_table(const float *code, uint32_t t[4]) {
    float amax = 0.0f;
    for (int i = 0; i < 16; i++) amax = fmaxf(amax, fabsf(code[i]));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < 4; i++) t[i] = 0;
    for (int i = 0; i < 16; i++) {
#ifdef __CUDA_ARCH__
        int q = __float2int_rn(code[i] * inv);
#else
        int q = (int)lrintf(code[i] * inv);
#endif
        t[i / 4] |= (uint32_t)(uint8_t)(int8_t)q << (8 * (i % 4));
    }
    return amax / 127.0f;
}

/* The table entries of the four nibbles in the low 16 bits of s, nibble i giving byte i. On the
 * device three byte permutes: entries 0-7 and 8-15 are looked up separately, then each byte is taken
 * from the half its nibble's top bit names. */
static SLM_CUDA_HD uint32_t nf4_lookup4(uint32_t s, const uint32_t t[4]) {
#ifdef __CUDA_ARCH__
    uint32_t lo = __byte_perm(t[0], t[1], s), hi = __byte_perm(t[2], t[3], s);
    return __byte_perm(lo, hi, 0x3210 | ((s & 0x8888) >> 1));
#else
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t e = (s >> (4 * i)) & 15;
        r |= ((t[e / 4] >> (8 * (e % 4))) & 0xFF) << (8 * i);
    }
    return r;
#endif
}

/* Eight NF4 weights (one word of codes, element 2k in the high nibble of byte k) times eight int8
 * activations (elements 0-3 in a.x, 4-7 in a.y): the exact integer sum of q[code]·a. The nibbles of
 * each byte are swapped first, so that nibble i of the word is element i. */
static SLM_CUDA_HD int nf4_word_dot_i8(uint32_t w, const uint32_t t[4], int2 a) {
    uint32_t s = ((w >> 4) & 0x0F0F0F0Fu) | ((w & 0x0F0F0F0Fu) << 4);
    int acc = dot4_i8((int)nf4_lookup4(s & 0xFFFF, t), a.x, 0);
    return dot4_i8((int)nf4_lookup4(s >> 16, t), a.y, acc);
}

/* Eight F16 / BF16 weights from 16 bytes. */
static SLM_CUDA_HD void f16x8(uint4 w, float *out) {
    uint32_t v[4] = {w.x, w.y, w.z, w.w};
    for (int i = 0; i < 4; i++) {
        out[2 * i] = f16_bits((uint16_t)(v[i] & 0xffff));
        out[2 * i + 1] = f16_bits((uint16_t)(v[i] >> 16));
    }
}
static SLM_CUDA_HD void bf16x8(uint4 w, float *out) {
    uint32_t v[4] = {w.x, w.y, w.z, w.w};
    for (int i = 0; i < 4; i++) {
        out[2 * i] = bits_to_float(v[i] << 16);
        out[2 * i + 1] = bits_to_float(v[i] & 0xffff0000u);
    }
}

/* One 32-value activation block as the CPU quantizes it (slm_act_q8_quantize): d = amax/127,
 * q = x/d rounded to nearest even; also the sum of the q. */
static SLM_CUDA_HD void act_q8_block(const float *x, int8_t *q, float *d_out, int *sum_out) {
    float amax = 0.0f;
    for (int j = 0; j < SLM_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < SLM_QK; j++) {
#ifdef __CUDA_ARCH__
        int v = __float2int_rn(x[j] * id);
#else
        int v = (int)lrintf(x[j] * id);
#endif
        q[j] = (int8_t)v;
        sum += (int8_t)v;
    }
    *d_out = d;
    *sum_out = sum;
}

/* Weight (r, c) of a matrix in its device layout, as a float (embedding rows, dequantized tiles). */
static SLM_CUDA_HD float weight_at(const slm_mat &W, size_t r, size_t c) {
    size_t cols = (size_t)W.cols;
    switch (W.type) {
    case SLM_F32: return ((const float *)W.data)[r * cols + c];
    case SLM_F16: return f16_bits(((const uint16_t *)W.data)[r * cols + c]);
    case SLM_BF16: return bf16_bits(((const uint16_t *)W.data)[r * cols + c]);
    case SLM_Q8_0: {
        const uint16_t *d = (const uint16_t *)W.data;
        const int8_t *q = (const int8_t *)W.data + q_values_offset(W.rows, W.cols);
        return q[r * cols + c] * f16_bits(d[r * (cols / SLM_QK) + c / SLM_QK]);
    }
    case SLM_Q4_0: {
        const uint16_t *d = (const uint16_t *)W.data;
        const uint8_t *q = (const uint8_t *)W.data + q_values_offset(W.rows, W.cols) + r * cols / 2;
        size_t b = c / SLM_QK, j = c % SLM_QK;
        uint8_t byte = q[b * 16 + (j & 15)];
        int v = j < 16 ? byte & 0x0F : byte >> 4;
        return (v - 8) * f16_bits(d[r * (cols / SLM_QK) + b]);
    }
    case SLM_NF4: {
        size_t e = r * cols + c;
        uint8_t byte = ((const uint8_t *)W.data)[e >> 1];
        int v = e & 1 ? byte & 0x0F : byte >> 4;
        return W.code[v] * W.absmax[e / (size_t)W.block];
    }
    default: return 0.0f;
    }
}

#endif
