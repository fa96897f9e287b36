/* Scalar reference matrix-vector kernels for F32, F16 and BF16 weights.
 * Accumulates in double so the reference is more accurate than anything it checks. */
#include <string.h>

#include "matmul.h"
#include "quant.h"

static void rows_f32(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    const float *w = W->data;
    for (int r = r0; r < r1; r++) {
        const float *row = w + (size_t)r * W->cols;
        double s = 0;
        for (int c = 0; c < W->cols; c++) s += (double)row[c] * x[c];
        y[r] = (float)s;
    }
}

static void rows_f16(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    const uint16_t *w = W->data;
    for (int r = r0; r < r1; r++) {
        const uint16_t *row = w + (size_t)r * W->cols;
        double s = 0;
        for (int c = 0; c < W->cols; c++) s += (double)slm_f16_to_f32(row[c]) * x[c];
        y[r] = (float)s;
    }
}

static void rows_bf16(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    const uint16_t *w = W->data;
    for (int r = r0; r < r1; r++) {
        const uint16_t *row = w + (size_t)r * W->cols;
        double s = 0;
        for (int c = 0; c < W->cols; c++) s += (double)slm_bf16_to_f32(row[c]) * x[c];
        y[r] = (float)s;
    }
}

/* F16B and BF16B (tensor.h): the same sums, each weight found in its column block. */
static void rows_blocked(float *y, const slm_mat *W, const float *x, int r0, int r1, float (*value)(uint16_t)) {
    const uint16_t *w = W->data;
    for (int r = r0; r < r1; r++) {
        double s = 0;
        for (int c = 0; c < W->cols; c++) s += (double)value(w[slm_col_block_at(W->rows, W->cols, r, c)]) * x[c];
        y[r] = (float)s;
    }
}

static void rows_f16b(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_blocked(y, W, x, r0, r1, slm_f16_to_f32);
}

static void rows_bf16b(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    rows_blocked(y, W, x, r0, r1, slm_bf16_to_f32);
}

static void float_rows_f32(float *dst, const slm_mat *W, int r0, int r1) {
    memcpy(dst, (const float *)W->data + (size_t)r0 * W->cols, (size_t)(r1 - r0) * W->cols * sizeof(float));
}

static void float_rows_f16(float *dst, const slm_mat *W, int r0, int r1) {
    const uint16_t *w = (const uint16_t *)W->data + (size_t)r0 * W->cols;
    for (size_t i = 0; i < (size_t)(r1 - r0) * W->cols; i++) dst[i] = slm_f16_to_f32(w[i]);
}

static void float_rows_bf16(float *dst, const slm_mat *W, int r0, int r1) {
    const uint16_t *w = (const uint16_t *)W->data + (size_t)r0 * W->cols;
    for (size_t i = 0; i < (size_t)(r1 - r0) * W->cols; i++) dst[i] = slm_bf16_to_f32(w[i]);
}

void slm_float_rows_scalar(float *dst, const slm_mat *W, int r0, int r1) {
    if (W->type == SLM_F32) float_rows_f32(dst, W, r0, r1);
    else if (W->type == SLM_F16) float_rows_f16(dst, W, r0, r1);
    else if (W->type == SLM_BF16) float_rows_bf16(dst, W, r0, r1);
    else if (W->type == SLM_NF4X8)
        for (int r = r0; r < r1; r++) slm_quant_row(W, r, dst + (size_t)(r - r0) * W->cols);
    else slm_dequantize_nf4(dst, W->data, W->absmax, W->code, W->block, (size_t)r0 * W->cols, (size_t)(r1 - r0) * W->cols);
}

const slm_matvec_kernel slm_mv_f32_scalar = {"f32/scalar", SLM_ISA_SCALAR, NULL, NULL, rows_f32};
const slm_matvec_kernel slm_mv_f16_scalar = {"f16/scalar", SLM_ISA_SCALAR, NULL, NULL, rows_f16};
const slm_matvec_kernel slm_mv_bf16_scalar = {"bf16/scalar", SLM_ISA_SCALAR, NULL, NULL, rows_bf16};
const slm_matvec_kernel slm_mv_f16b_scalar = {"f16b/scalar", SLM_ISA_SCALAR, NULL, NULL, rows_f16b};
const slm_matvec_kernel slm_mv_bf16b_scalar = {"bf16b/scalar", SLM_ISA_SCALAR, NULL, NULL, rows_bf16b};
