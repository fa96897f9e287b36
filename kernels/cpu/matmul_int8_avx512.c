/* Prompt batches of Q8_0, Q4_0 (in either layout) and NF4 weights with AVX-512 VNNI.
 *
 * The matrix-vector kernels spend three float operations (convert, scale, accumulate) on every
 * 32-weight block of every (row, token): more than the integer dot product itself. Here the rows of a
 * chunk are first repacked so that one 512-bit register holds the same 4-byte group of a block for 16
 * rows; eight vpdpbusd, each against one broadcast 4-byte group of the token's activation block, then
 * leave the 16 rows' exact block dot products in the 16 lanes, and the float work is done once per
 * block for 16 rows. The repacked chunk is reused by every token of the batch.
 *
 * vpdpbusd multiplies unsigned by signed bytes: Q4_0 nibbles are 0..15 already (w + 8), Q8_0 weights are
 * offset by 128; the offset comes off as off·Σa per (token, block), with Σa from slm_gemm_int8_sums().
 * NF4 codes become 128 + round(127·code/max|code|), the int8 table of the NF4 matvec kernels, and each
 * 32 weights take the scale absmax·max|code|/127 of the block they lie in (blocks are a multiple of 32).
 * Per row: y = Σ_b float(dot_b)·(dw_b·da_b), accumulated in order of b with fused multiply-adds; for Q8_0
 * and Q4_0 the integer dot products are exact, so the results differ from the matvec kernels only in the
 * rounding of that sum. */
#include <immintrin.h>
#include <string.h>

#include "matmul.h"
#include "quant.h"

enum { GROUP = 16, TOKENS = 4 };

/* Per 16-row group and block: 8 registers of 4-byte groups, then the 16 weight scales. */
static size_t block_bytes(void) { return 9 * 64; }
static size_t pack_bytes(int cols) { return (size_t)(SLM_GEMM_INT8_ROWS / GROUP) * (size_t)(cols / SLM_QK) * block_bytes(); }

/* After the packed rows, NF4 needs room for one group of rows as unsigned bytes. */
size_t slm_gemm_int8_pack_bytes(int cols) { return pack_bytes(cols) + (size_t)GROUP * (size_t)cols; }

/* The kernel needs cols and block to be multiples of 32. It takes the NF4 matrices whose decode runs in int8
 * too (rows of whole 64-weight halves, blocks a multiple of 64: nf4/avx512 and nf4x8), so that prompt and
 * decode round a matrix's products alike; the others keep the float products of sgemm. */
int slm_gemm_int8_nf4_ok(const slm_mat *W) { return W->cols % 64 == 0 && W->block > 0 && W->block % 64 == 0; }

void slm_gemm_int8_sums(int32_t *isum, const void *xp, int cols) {
    const int8_t *q = slm_act_q8_values(xp, cols);
    for (int b = 0; b < cols / SLM_QK; b++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(q + b * SLM_QK));
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), a);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        isum[b] = _mm_cvtsi128_si32(h);
    }
}

/* cols weights as the unsigned bytes u[q] of their codes q, in order, from cols/2 code bytes that hold the
 * first of each pair in the high nibble: per 32 code bytes, the looked-up high and low nibbles are
 * interleaved within 128-bit lanes and the lanes put back in order. */
static void code_bytes(uint8_t *dst, const uint8_t *codes, int cols, const uint8_t u[16]) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)u)), low = _mm256_set1_epi8(0x0F);
    int c = 0;
    for (; c + 64 <= cols; c += 64) {
        __m256i w = _mm256_loadu_si256((const __m256i *)(codes + c / 2));
        __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(w, 4), low));
        __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(w, low));
        __m256i a = _mm256_unpacklo_epi8(hi, lo), b = _mm256_unpackhi_epi8(hi, lo);
        _mm256_storeu_si256((__m256i *)(dst + c), _mm256_permute2x128_si256(a, b, 0x20));
        _mm256_storeu_si256((__m256i *)(dst + c + 32), _mm256_permute2x128_si256(a, b, 0x31));
    }
    for (; c < cols; c += 2) {
        dst[c] = u[codes[c / 2] >> 4];
        dst[c + 1] = u[codes[c / 2] & 0x0F];
    }
}

/* Row r of an NF4 matrix so. */
static void nf4_row_bytes(uint8_t *dst, const slm_mat *W, int r, const uint8_t u[16]) {
    code_bytes(dst, (const uint8_t *)W->data + (size_t)r * (size_t)(W->cols / 2), W->cols, u);
}

/* The same for a row of an NF4X8 matrix: each run's codes put back in order (quant.h), then looked up. */
static void nf4x8_row_bytes(uint8_t *dst, const slm_mat *W, int r, const uint8_t u[16]) {
    const uint8_t *row = (const uint8_t *)W->data + (size_t)r * slm_nf4x8_row_bytes(W->cols);
    uint8_t codes[SLM_NF4X8_WEIGHTS / 2];
    for (int c = 0; c < W->cols; c += SLM_NF4X8_WEIGHTS) {
        int t;
        const uint8_t *run = slm_nf4x8_run(row, W->cols, c, &t);
        slm_nf4x8_run_codes(codes, run, t);
        code_bytes(dst + c, codes, 64 * t, u);
    }
}

/* Rows [r0, r0 + rows) into pack: for each group of 16 rows and block b, register k holds bytes
 * 4k..4k+3 of the block (as unsigned values) of each of the 16 rows, then the 16 scales as floats;
 * rows past the end get scale 0. Gathers pick the same 4 bytes out of 16 rows at once (NF4: out of the
 * group's rows turned into bytes first). */
static void repack(char *pack, const slm_mat *W, int r0, int rows) {
    int nb = W->cols / SLM_QK, x8 = W->type == SLM_Q4_0X8, q4 = W->type == SLM_Q4_0 || x8;
    int nf4x8 = W->type == SLM_NF4X8, nf4 = W->type == SLM_NF4 || nf4x8;
    int runs = x8 ? nb / SLM_X8_BLOCKS * SLM_X8_BLOCKS : 0; /* Q4_0X8: blocks in runs; the rest are Q4_0 */
    size_t bsize = nf4 ? SLM_QK : q4 ? sizeof(slm_block_q4_0) : sizeof(slm_block_q8_0);
    size_t stride = nf4 ? (size_t)W->cols : nb * bsize; /* bytes from one row to the next */
    uint8_t *bytes = (uint8_t *)pack + pack_bytes(W->cols), u[16];
    const float unit = nf4 ? slm_nf4_uint8_table(u, W->code) : 0.0f;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)stride));
    for (int g = 0; g < (rows + GROUP - 1) / GROUP; g++) {
        int left = rows - g * GROUP, n = left < GROUP ? left : GROUP;
        __mmask16 m = left >= GROUP ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        if (nf4)
            for (int i = 0; i < n; i++) {
                if (nf4x8) nf4x8_row_bytes(bytes + (size_t)i * stride, W, r0 + g * GROUP + i, u);
                else nf4_row_bytes(bytes + (size_t)i * stride, W, r0 + g * GROUP + i, u);
            }
        for (int b = 0; b < nb; b++) {
            char *dst = pack + ((size_t)g * nb + b) * block_bytes();
            if (nf4) {
                float *scale = (float *)(dst + 8 * 64);
                for (int i = 0; i < GROUP; i++) {
                    size_t e = (size_t)(r0 + g * GROUP + i) * (size_t)W->cols + (size_t)b * SLM_QK;
                    if (i >= n) scale[i] = 0.0f;
                    else if (nf4x8) {
                        const uint8_t *row = (const uint8_t *)W->data + (size_t)(r0 + g * GROUP + i) * slm_nf4x8_row_bytes(W->cols);
                        scale[i] = slm_nf4x8_absmax(row, W->cols, b * SLM_QK) * unit;
                    } else scale[i] = W->absmax[e / (size_t)W->block] * unit;
                }
                for (int k = 0; k < 8; k++)
                    _mm512_store_si512(dst + k * 64, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx,
                                                                                   bytes + (size_t)b * SLM_QK + 4 * k, 1));
                continue;
            }
            const char *row = (const char *)W->data + (size_t)(r0 + g * GROUP) * stride;
            if (b < runs) {
                /* block i of a run: its scale at 2i, its weights 8k..8k+7 in bytes 4i..4i+3 of vector k */
                const char *run = row + (size_t)(b / SLM_X8_BLOCKS * SLM_X8_BLOCKS) * bsize;
                int i = b % SLM_X8_BLOCKS;
                __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, run + 2 * i, 1);
                _mm512_store_ps(dst + 8 * 64, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
                for (int k = 0; k < 4; k++) {
                    __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, run + 16 + 32 * k + 4 * i, 1);
                    _mm512_store_si512(dst + 2 * k * 64, _mm512_and_si512(v, _mm512_set1_epi8(0x0F)));
                    _mm512_store_si512(dst + (2 * k + 1) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F)));
                }
                continue;
            }
            const char *blk = row + (size_t)b * bsize;
            __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, blk, 1);
            _mm512_store_ps(dst + 8 * 64, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)));
            const char *qs = blk + 2; /* the values follow the fp16 scale */
            if (q4) {
                for (int k = 0; k < 4; k++) {
                    __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, qs + 4 * k, 1);
                    _mm512_store_si512(dst + k * 64, _mm512_and_si512(v, _mm512_set1_epi8(0x0F)));
                    _mm512_store_si512(dst + (k + 4) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F)));
                }
            } else {
                for (int k = 0; k < 8; k++) {
                    __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, qs + 4 * k, 1);
                    _mm512_store_si512(dst + k * 64, _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80)));
                }
            }
        }
    }
}

/* out[t][r0 + 16g + i] for the T tokens starting at t0 and the rows of group g. */
static inline __attribute__((always_inline)) void group_tokens(float *out, size_t ostride, const char *pack, int nb,
                                                               int g, int rows_left, const int8_t *const *aq,
                                                               const float *const *ad, const int32_t *const *isum,
                                                               int off, const int *tok, int T) {
    __m512 acc[TOKENS];
#pragma GCC unroll 4
    for (int t = 0; t < TOKENS; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const char *p = pack + ((size_t)g * nb + b) * block_bytes();
        __m512i dot[TOKENS];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) dot[t] = _mm512_set1_epi32(-off * isum[t][b]);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            __m512i w = _mm512_load_si512(p + k * 64);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                int32_t a4;
                memcpy(&a4, aq[t] + b * SLM_QK + 4 * k, 4);
                dot[t] = _mm512_dpbusd_epi32(dot[t], w, _mm512_set1_epi32(a4));
            }
        }
        __m512 dw = _mm512_load_ps(p + 8 * 64);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t]), _mm512_mul_ps(dw, _mm512_set1_ps(ad[t][b])), acc[t]);
    }
    __mmask16 m = rows_left >= GROUP ? (__mmask16)0xffff : (__mmask16)((1u << rows_left) - 1);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(out + (size_t)tok[t] * ostride + g * GROUP, m, acc[t]);
}

void slm_gemm_int8_avx512(float *out, size_t ostride, const slm_mat *W, const void *xp, size_t pb, const int32_t *isum,
                          int n, int r0, int r1, void *pack) {
    int nb = W->cols / SLM_QK, rows = r1 - r0, off = W->type == SLM_Q4_0 || W->type == SLM_Q4_0X8 ? 8 : 128; /* Q8_0 and NF4: 128 */
    repack(pack, W, r0, rows);
    for (int t0 = 0; t0 < n; t0 += TOKENS) {
        int T = n - t0 < TOKENS ? n - t0 : TOKENS, tok[TOKENS];
        const int8_t *aq[TOKENS];
        const float *ad[TOKENS];
        const int32_t *is[TOKENS];
        for (int t = 0; t < T; t++) {
            const char *x = (const char *)xp + (size_t)(t0 + t) * pb;
            tok[t] = t0 + t;
            aq[t] = slm_act_q8_values(x, W->cols);
            ad[t] = slm_act_q8_scales(x);
            is[t] = isum + (size_t)(t0 + t) * nb;
        }
        for (int g = 0; g * GROUP < rows; g++) {
            if (T == TOKENS)
                group_tokens(out + r0, ostride, pack, nb, g, rows - g * GROUP, aq, ad, is, off, tok, TOKENS);
            else
                group_tokens(out + r0, ostride, pack, nb, g, rows - g * GROUP, aq, ad, is, off, tok, T);
        }
    }
}
