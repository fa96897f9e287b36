/* Matrix products with a weight matrix in any format: out[t][r] = sum_c W[r][c] * x[t][c].
 *
 * Every format has matrix-vector kernels: a scalar reference and SIMD variants. A kernel may
 * first "prepare" the activation row (the integer kernels quantize it to int8 blocks) and then
 * computes a range of output rows from it. Prompt batches of float weights go through BLAS sgemm
 * (F16 and BF16 on AVX-512: a kernel of their own that widens the weights as it reads them), of
 * quantized weights through int8 kernels where the CPU has AVX-512 VNNI; everything else runs the row
 * kernels for each token. */
#ifndef SLM_MATMUL_H
#define SLM_MATMUL_H

#include <stddef.h>

#include "../../runtime/tensor.h"
#include "../../runtime/threadpool.h"
#include "cpu_features.h"

typedef struct {
    const char *name; /* "q8_0/avx512" */
    slm_isa isa;
    /* Bytes of scratch the prepared activation of `cols` floats needs; 0 when rows() reads x directly. */
    size_t (*prep_bytes)(int cols);
    void (*prep)(void *dst, const float *x, int cols);
    /* y[r] for r in [r0, r1). x is the float row, xp the prepared one (NULL when prep_bytes is 0). */
    void (*rows)(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1);
} slm_matvec_kernel;

/* All variants of format t this CPU can run, the scalar reference first. Returns the count. */
int slm_matvec_variants(slm_dtype t, const slm_matvec_kernel **out, int max);
/* The variant the engine uses: the widest ISA allowed by slm_isa_best(). */
const slm_matvec_kernel *slm_matvec_best(slm_dtype t);

/* out [n][W->rows] = x [n][W->cols] · Wᵀ (+ bias when not NULL), over the pool's threads.
 * scratch: at least slm_matmul_scratch_bytes(W, n, threads) bytes. */
size_t slm_matmul_scratch_bytes(const slm_mat *W, int n, int nthreads);
void slm_matmul(slm_pool *pool, float *out, const float *x, int n, const slm_mat *W, const float *bias, void *scratch);

/* Rows [r0, r1) of an F32, F16, BF16, NF4 or NF4X8 matrix as floats in dst[(r1 - r0) * cols]: the tiles
 * prompt batches give sgemm. A scalar reference and SIMD variants (matmul_float*.c; NF4's in
 * matmul_nf4_avx512.c); slm_float_rows() picks one. NF4 comes out exactly as slm_dequantize_nf4 gives it. */
void slm_float_rows_scalar(float *dst, const slm_mat *W, int r0, int r1);
void slm_float_rows_avx2(float *dst, const slm_mat *W, int r0, int r1);
void slm_float_rows_avx512(float *dst, const slm_mat *W, int r0, int r1);
void slm_nf4_rows_avx512(float *dst, const slm_mat *W, int r0, int r1);
void slm_float_rows(float *dst, const slm_mat *W, int r0, int r1);

/* Prompt batches of Q8_0, Q4_0 and NF4 weights, in either layout (matmul_int8_avx512.c; AVX-512 VNNI): out[t * ostride + r]
 * for tokens t < n and rows [r0, r1), at most SLM_GEMM_INT8_ROWS of them, from n activation rows prepared
 * by slm_act_q8_quantize (pb bytes apart) and their int8 block sums (isum: n rows of cols/32, from
 * slm_gemm_int8_sums). pack: 64-byte aligned scratch of slm_gemm_int8_pack_bytes(cols). Q8_0 and Q4_0:
 * exact integer block products, and the float sum over blocks rounds differently from the matvec
 * kernels. NF4 (when slm_gemm_int8_nf4_ok): the codes rounded to the int8 table of slm_nf4_int8_table. */
enum { SLM_GEMM_INT8_ROWS = 64 };
size_t slm_gemm_int8_pack_bytes(int cols);
int slm_gemm_int8_nf4_ok(const slm_mat *W); /* cols % 64 == 0, block % 64 == 0: as nf4/avx512 decodes in int8 */
void slm_gemm_int8_sums(int32_t *isum, const void *xp, int cols);
void slm_gemm_int8_avx512(float *out, size_t ostride, const slm_mat *W, const void *xp, size_t pb, const int32_t *isum,
                          int n, int r0, int r1, void *pack);

/* Prompt batches of F16 and BF16 weights, F16B and BF16B too (matmul_half_avx512.c): out[t * ostride + r] = Σ_k x[t][k]·W[r][k]
 * for tokens t < n and rows [r0, r1), the weights widened to float as they are read, float sums. */
void slm_gemm_half_avx512(float *out, size_t ostride, const slm_mat *W, const float *x, int n, int r0, int r1);

/* Dequantizes row r of W into dst[W->cols] (embedding lookups, tests). */
void slm_mat_row(const slm_mat *W, int r, float *dst);

/* The matvec variants of each format, defined in matmul_<format>*.c. */
extern const slm_matvec_kernel slm_mv_f32_scalar, slm_mv_f32_avx2, slm_mv_f32_avx512;
extern const slm_matvec_kernel slm_mv_f16_scalar, slm_mv_f16_avx2, slm_mv_f16_avx512;
extern const slm_matvec_kernel slm_mv_bf16_scalar, slm_mv_bf16_avx2, slm_mv_bf16_avx512;
extern const slm_matvec_kernel slm_mv_q8_0_scalar, slm_mv_q8_0_avx2, slm_mv_q8_0_avx512;
extern const slm_matvec_kernel slm_mv_q4_0_scalar, slm_mv_q4_0_avx2, slm_mv_q4_0_avx512;
extern const slm_matvec_kernel slm_mv_nf4_scalar, slm_mv_nf4_avx2, slm_mv_nf4_avx512;
extern const slm_matvec_kernel slm_mv_q4_0x8_scalar, slm_mv_q4_0x8_avx512;
extern const slm_matvec_kernel slm_mv_nf4x8_scalar, slm_mv_nf4x8_avx512;
extern const slm_matvec_kernel slm_mv_f16b_scalar, slm_mv_f16b_avx512, slm_mv_bf16b_scalar, slm_mv_bf16b_avx512;
/* The AVX-512 kernels without VNNI (NF4: its float path), which the avx512 variants run on CPUs that lack it;
 * named here so the tests can check them on any AVX-512 machine. */
extern const slm_matvec_kernel slm_mv_q8_0_avx512bw, slm_mv_q4_0_avx512bw, slm_mv_nf4_avx512bw, slm_mv_q4_0x8_avx512bw;
/* The Q4_0X8 and NF4X8 kernels with VNNI and without GFNI (AVX-512 VNNI CPUs before Ice Lake). */
extern const slm_matvec_kernel slm_mv_q4_0x8_avx512vnni, slm_mv_nf4x8_avx512vnni;

/* Whether Q4_0 and NF4 matrices should be regrouped (Q4_0X8, NF4X8), and F16 and BF16 rows wider than 4096
 * columns held in column blocks (F16B, BF16B), for this CPU: when the engine runs AVX-512 with VNNI, where
 * these layouts decode faster (model/weights.c). */
int slm_regroup_wanted(void);

#endif
