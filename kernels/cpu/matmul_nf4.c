/* Scalar reference matrix-vector kernels for NF4 weights, in their own layout and regrouped (NF4X8):
 * each weight is dequantized exactly as slm_dequantize_nf4 does (code value times block absmax, in
 * float) and the products are summed in double. NF4 blocks may cross rows and the last one may be short. */
#include "matmul.h"
#include "quant.h"

static void rows_nf4(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    const uint8_t *codes = W->data;
    const float *code = W->code ? W->code : slm_nf4_code;
    size_t cols = (size_t)W->cols, block = (size_t)W->block;
    for (int r = r0; r < r1; r++) {
        size_t e = (size_t)r * cols;
        double s = 0;
        for (size_t c = 0; c < cols; c++, e++) {
            int q = e & 1 ? codes[e >> 1] & 0x0F : codes[e >> 1] >> 4;
            float w = code[q] * W->absmax[e / block];
            s += (double)w * x[c];
        }
        y[r] = (float)s;
    }
}

static void rows_nf4x8(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)xp;
    const float *code = W->code ? W->code : slm_nf4_code;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)W->data + (size_t)r * slm_nf4x8_row_bytes(W->cols);
        double s = 0;
        for (int c = 0; c < W->cols; c++) {
            float w = code[slm_nf4x8_code(row, W->cols, c)] * slm_nf4x8_absmax(row, W->cols, c);
            s += (double)w * x[c];
        }
        y[r] = (float)s;
    }
}

const slm_matvec_kernel slm_mv_nf4_scalar = {"nf4/scalar", SLM_ISA_SCALAR, NULL, NULL, rows_nf4};
const slm_matvec_kernel slm_mv_nf4x8_scalar = {"nf4x8/scalar", SLM_ISA_SCALAR, NULL, NULL, rows_nf4x8};
