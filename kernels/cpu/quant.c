/* Scalar reference quantizers and dequantizers of Q8_0, Q4_0 and NF4, and the int8 activation rows.
 * The quantizers follow llama.cpp (ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref) and
 * bitsandbytes (quantize_4bit) operation for operation, so that the float rounding matches too. */
#include "quant.h"

#include <math.h>

#include "../../runtime/error.h"

const float slm_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

void slm_quantize_q8_0(slm_block_q8_0 *dst, const float *x, size_t n) {
    for (size_t b = 0; b < n / SLM_QK; b++, x += SLM_QK) {
        float amax = 0.0f;
        for (int j = 0; j < SLM_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        dst[b].d = slm_f32_to_f16(d);
        for (int j = 0; j < SLM_QK; j++) {
            float v = roundf(x[j] * id);
            /* Finite input stays within ±127; the guard keeps inf/NaN from an undefined conversion. */
            dst[b].qs[j] = (int8_t)(v >= 127.0f ? 127 : v <= -127.0f ? -127 : v == v ? (int)v : 0);
        }
    }
}

void slm_quantize_q4_0(slm_block_q4_0 *dst, const float *x, size_t n) {
    for (size_t b = 0; b < n / SLM_QK; b++, x += SLM_QK) {
        /* The first value of largest magnitude, with its sign: it maps to -8 exactly. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < SLM_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8; /* an all-zero block gets -0.0, as in llama.cpp */
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        dst[b].d = slm_f32_to_f16(d);
        for (int j = 0; j < SLM_QK / 2; j++) {
            /* llama.cpp truncates toward zero ((int8_t) cast) and caps at 15; finite input keeps
             * v within [0, 16.5]. */
            float v0 = x[j] * id + 8.5f, v1 = x[j + SLM_QK / 2] * id + 8.5f;
            int q0 = v0 >= 15.0f ? 15 : v0 > 0.0f ? (int)v0 : 0;
            int q1 = v1 >= 15.0f ? 15 : v1 > 0.0f ? (int)v1 : 0;
            dst[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void slm_dequantize_q8_0(float *dst, const slm_block_q8_0 *src, size_t n) {
    for (size_t b = 0; b < n / SLM_QK; b++) {
        const float d = slm_f16_to_f32(src[b].d);
        for (int j = 0; j < SLM_QK; j++) dst[b * SLM_QK + j] = src[b].qs[j] * d;
    }
}

void slm_dequantize_q4_0(float *dst, const slm_block_q4_0 *src, size_t n) {
    for (size_t b = 0; b < n / SLM_QK; b++) {
        const float d = slm_f16_to_f32(src[b].d);
        for (int j = 0; j < SLM_QK / 2; j++) {
            dst[b * SLM_QK + j] = ((src[b].qs[j] & 0x0F) - 8) * d;
            dst[b * SLM_QK + j + SLM_QK / 2] = ((src[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void slm_q4_0x8_from_q4_0(void *dst, const slm_block_q4_0 *src, int nb) {
    uint8_t *out = dst;
    int b = 0;
    for (; b + SLM_X8_BLOCKS <= nb; b += SLM_X8_BLOCKS, out += SLM_X8_BYTES) {
        slm_block_q4_0 run[SLM_X8_BLOCKS]; /* a copy, since dst may be src */
        memcpy(run, src + b, sizeof run);
        for (int i = 0; i < SLM_X8_BLOCKS; i++) memcpy(out + 2 * i, &run[i].d, 2);
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < SLM_X8_BLOCKS; i++) {
                /* weights 8k..8k+7 are the low nibbles of bytes 8k..8k+7 for k < 2, else the high nibbles of bytes 8k-16.. */
                uint32_t lo, hi, v;
                memcpy(&lo, run[i].qs + 8 * (k & 1), 4);
                memcpy(&hi, run[i].qs + 8 * (k & 1) + 4, 4);
                v = k < 2 ? (lo & 0x0F0F0F0Fu) | (hi & 0x0F0F0F0Fu) << 4 : (lo >> 4 & 0x0F0F0F0Fu) | (hi & 0xF0F0F0F0u);
                memcpy(out + 16 + 32 * k + 4 * i, &v, 4);
            }
    }
    memmove(out, src + b, (size_t)(nb - b) * sizeof *src);
}

void slm_dequantize_q4_0x8(float *dst, const void *row, size_t n) {
    const uint8_t *p = row;
    size_t nb = n / SLM_QK, b = 0;
    for (; b + SLM_X8_BLOCKS <= nb; b += SLM_X8_BLOCKS, p += SLM_X8_BYTES)
        for (int i = 0; i < SLM_X8_BLOCKS; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            const float d = slm_f16_to_f32(h);
            float *o = dst + (b + i) * SLM_QK;
            for (int k = 0; k < 4; k++)
                for (int m = 0; m < 4; m++) {
                    const uint8_t q = p[16 + 32 * k + 4 * i + m];
                    o[8 * k + m] = ((q & 0x0F) - 8) * d;
                    o[8 * k + 4 + m] = ((q >> 4) - 8) * d;
                }
        }
    slm_dequantize_q4_0(dst + b * SLM_QK, (const slm_block_q4_0 *)p, n - b * SLM_QK);
}

void slm_nf4x8_from_nf4(void *dst, const uint8_t *codes, const float *absmax, int cols) {
    uint8_t *out = dst;
    for (int c = 0; c < cols; c += SLM_NF4X8_WEIGHTS, out += SLM_NF4X8_BYTES, codes += SLM_NF4X8_WEIGHTS / 2) {
        const int t = (cols - c) / 64 < 8 ? (cols - c) / 64 : 8;
        memcpy(out, absmax + c / 64, (size_t)t * sizeof(float));
        if (t < 8) memcpy(out + 4 * t, codes, (size_t)t * 32);
        else
            for (int k = 0; k < 8; k++)
                for (int i = 0; i < 8; i++) memcpy(out + 32 + 32 * k + 4 * i, codes + 32 * i + 4 * k, 4);
    }
}

void slm_nf4x8_run_codes(uint8_t *codes, const uint8_t *run, int t) {
    if (t < 8) {
        memcpy(codes, run + 4 * t, (size_t)t * 32);
        return;
    }
    for (int k = 0; k < 8; k++)
        for (int i = 0; i < 8; i++) memcpy(codes + 32 * i + 4 * k, run + 32 + 32 * k + 4 * i, 4);
}

void slm_dequantize_nf4x8(float *dst, const void *row, const float *code, int cols) {
    if (!code) code = slm_nf4_code;
    for (int j = 0; j < cols; j++) dst[j] = code[slm_nf4x8_code(row, cols, j)] * slm_nf4x8_absmax(row, cols, j);
}

/* The index of the nearest code value, as bitsandbytes' quantize_4bit picks it on the CPU: the number
 * of midpoints (code[i] + code[i+1]) / 2, computed in float, that lie strictly below v (a value on a
 * midpoint takes the lower index). Its CUDA kernel (dQuantizeNF4) writes the midpoints as decimal float
 * literals, four of which (0, 8, 12, 14) round one ulp away from these; the two disagree only for a
 * value exactly on one of those midpoints. */
static int nf4_index(float v) {
    int i = 0;
    while (i < 15 && v > (slm_nf4_code[i] + slm_nf4_code[i + 1]) / 2) i++;
    return i;
}

void slm_quantize_nf4(uint8_t *codes, float *absmax, const float *x, size_t n, int block) {
    size_t nblocks = (n + (size_t)block - 1) / (size_t)block;
    for (size_t b = 0; b < nblocks; b++) {
        size_t e0 = b * (size_t)block, len = n - e0 < (size_t)block ? n - e0 : (size_t)block;
        float am = 0.0f;
        for (size_t j = 0; j < len; j++) am = fmaxf(am, fabsf(x[e0 + j]));
        /* bitsandbytes scales full blocks by the reciprocal of max(absmax, 1e-38) and stores the
         * unclamped absmax; the short last block is divided by the clamped value, which is also
         * what it stores. Clamping the scaled value to [-1, 1] cannot change an index. */
        float inv = 0.0f;
        if (len == (size_t)block) {
            absmax[b] = am;
            inv = 1.0f / fmaxf(am, 1e-38f);
        } else {
            am = fmaxf(am, 1e-38f);
            absmax[b] = am;
        }
        for (size_t j = 0; j < len; j++) {
            size_t e = e0 + j;
            float v = len == (size_t)block ? x[e] * inv : x[e] / am;
            int q = nf4_index(v);
            if (e & 1)
                codes[e >> 1] |= (uint8_t)q;
            else
                codes[e >> 1] = (uint8_t)(q << 4);
        }
    }
    if (n & 1) codes[n >> 1] |= 7; /* the pad value 0.0 is code 7 */
}

float slm_nf4_int8_table(int8_t t[16], const float *code) {
    if (!code) code = slm_nf4_code;
    float m = 0;
    for (int i = 0; i < 16; i++) m = fmaxf(m, fabsf(code[i]));
    for (int i = 0; i < 16; i++) t[i] = (int8_t)(m > 0 ? lrintf(code[i] * (127.0f / m)) : 0);
    return m / 127.0f;
}

float slm_nf4_uint8_table(uint8_t u[16], const float *code) {
    int8_t t[16];
    const float unit = slm_nf4_int8_table(t, code);
    for (int i = 0; i < 16; i++) u[i] = (uint8_t)(128 + t[i]);
    return unit;
}

void slm_dequantize_nf4(float *dst, const uint8_t *codes, const float *absmax, const float *code, int block,
                        size_t start, size_t count) {
    if (!code) code = slm_nf4_code;
    for (size_t i = 0; i < count; i++) {
        size_t e = start + i;
        int q = e & 1 ? codes[e >> 1] & 0x0F : codes[e >> 1] >> 4;
        dst[i] = code[q] * absmax[e / (size_t)block];
    }
}

void slm_nf4_decode_absmax(float *absmax, const uint8_t *q, int nblocks, const float *nested_absmax,
                           const float *nested_map, int nested_block, float offset) {
    for (int b = 0; b < nblocks; b++) {
        float scaled = nested_map[q[b]] * nested_absmax[b / nested_block];
        absmax[b] = scaled + offset;
    }
}

void slm_quant_row(const slm_mat *W, int r, float *dst) {
    size_t cols = (size_t)W->cols;
    switch (W->type) {
    case SLM_Q8_0: slm_dequantize_q8_0(dst, (const slm_block_q8_0 *)W->data + (size_t)r * (cols / SLM_QK), cols); break;
    case SLM_Q4_0: slm_dequantize_q4_0(dst, (const slm_block_q4_0 *)W->data + (size_t)r * (cols / SLM_QK), cols); break;
    case SLM_Q4_0X8: slm_dequantize_q4_0x8(dst, (const slm_block_q4_0 *)W->data + (size_t)r * (cols / SLM_QK), cols); break;
    case SLM_NF4: slm_dequantize_nf4(dst, W->data, W->absmax, W->code, W->block, (size_t)r * cols, cols); break;
    case SLM_NF4X8:
        slm_dequantize_nf4x8(dst, (const uint8_t *)W->data + (size_t)r * slm_nf4x8_row_bytes(W->cols), W->code, W->cols);
        break;
    default: break;
    }
}

int slm_quant_check(const slm_mat *W, const char *what) {
    const char *name = slm_dtype_name(W->type);
    if (W->rows < 0 || W->cols <= 0) return slm_fail("%s: shape [%d, %d] is empty (%s)", what, W->rows, W->cols, name);
    if (!W->data) return slm_fail("%s: no data (%s)", what, name);
    switch (W->type) {
    case SLM_Q8_0:
    case SLM_Q4_0:
    case SLM_Q4_0X8:
        if (W->cols % SLM_QK)
            return slm_fail("%s: %d columns is not a multiple of %d, which %s needs", what, W->cols, SLM_QK, name);
        return 0;
    case SLM_NF4X8:
        if (W->cols % 64) return slm_fail("%s: %d columns is not a multiple of 64, which nf4x8 needs", what, W->cols);
        return 0;
    case SLM_NF4:
        if (W->block <= 0) return slm_fail("%s: blocksize %d is not positive (nf4)", what, W->block);
        if (!W->absmax) return slm_fail("%s: no absmax (nf4)", what);
        return 0;
    default: return slm_fail("%s: %s is not a quantized format", what, name);
    }
}

size_t slm_act_q8_bytes(int cols) { return slm_act_q8_offset(cols) + (size_t)cols; }

void slm_act_q8_quantize(void *dst, const float *x, int cols) {
    float *scale = dst, *sum = scale + cols / SLM_QK;
    int8_t *q = (int8_t *)dst + slm_act_q8_offset(cols);
    for (int b = 0; b < cols / SLM_QK; b++, x += SLM_QK, q += SLM_QK) {
        float amax = 0.0f;
        for (int j = 0; j < SLM_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int s = 0;
        /* lrintf rounds to nearest even, like the SIMD conversions, so every variant agrees. */
        for (int j = 0; j < SLM_QK; j++) {
            q[j] = (int8_t)lrintf(x[j] * id);
            s += q[j];
        }
        scale[b] = d;
        sum[b] = (float)s * d;
    }
}
