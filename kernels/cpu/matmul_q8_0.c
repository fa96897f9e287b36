/* Scalar reference matrix-vector kernel for Q8_0 weights.
 * It does the integer kernels' arithmetic: the activation row is quantized to int8 blocks
 * (slm_act_q8_quantize), each block's integer dot product is exact, and only the two scales are
 * float; the sum over blocks runs in double. */
#include "matmul.h"
#include "quant.h"

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

static void prep(void *dst, const float *x, int cols) { slm_act_q8_quantize(dst, x, cols); }

static void rows_q8_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    int nb = W->cols / SLM_QK;
    const float *ad = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, W->cols);
    for (int r = r0; r < r1; r++) {
        const slm_block_q8_0 *w = (const slm_block_q8_0 *)W->data + (size_t)r * nb;
        double s = 0;
        for (int b = 0; b < nb; b++) {
            int dot = 0;
            for (int j = 0; j < SLM_QK; j++) dot += w[b].qs[j] * aq[b * SLM_QK + j];
            s += (double)slm_f16_to_f32(w[b].d) * ad[b] * dot;
        }
        y[r] = (float)s;
    }
}

const slm_matvec_kernel slm_mv_q8_0_scalar = {"q8_0/scalar", SLM_ISA_SCALAR, prep_bytes, prep, rows_q8_0};
