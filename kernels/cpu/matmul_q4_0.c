/* Scalar reference matrix-vector kernels for Q4_0 weights, in their own layout and regrouped (Q4_0X8):
 * the integer kernels' arithmetic (int8 activation blocks, exact integer dot products of (q - 8) and
 * the activation, float scales), with the sum over blocks in double. */
#include "matmul.h"
#include "quant.h"

static size_t prep_bytes(int cols) { return slm_act_q8_bytes(cols); }

static void prep(void *dst, const float *x, int cols) { slm_act_q8_quantize(dst, x, cols); }

/* Σ (q - 8)·a over one Q4_0 block, exactly, in integers. */
static int block_dot(const slm_block_q4_0 *w, const int8_t *a) {
    int dot = 0;
    for (int j = 0; j < SLM_QK / 2; j++) dot += ((w->qs[j] & 0x0F) - 8) * a[j] + ((w->qs[j] >> 4) - 8) * a[j + SLM_QK / 2];
    return dot;
}

static void rows_q4_0(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    int nb = W->cols / SLM_QK;
    const float *ad = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, W->cols);
    for (int r = r0; r < r1; r++) {
        const slm_block_q4_0 *w = (const slm_block_q4_0 *)W->data + (size_t)r * nb;
        double s = 0;
        for (int b = 0; b < nb; b++) s += (double)slm_f16_to_f32(w[b].d) * ad[b] * block_dot(&w[b], aq + b * SLM_QK);
        y[r] = (float)s;
    }
}

/* Weight j of block i in a Q4_0X8 run p (layout in quant.h), and its block's scale. */
static int x8_code(const uint8_t *p, int i, int j) {
    const uint8_t q = p[16 + 32 * (j / 8) + 4 * i + j % 4];
    return j % 8 < 4 ? q & 0x0F : q >> 4;
}

static float x8_scale(const uint8_t *p, int i) {
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return slm_f16_to_f32(h);
}

static void rows_q4_0x8(float *y, const slm_mat *W, const float *x, const void *xp, int r0, int r1) {
    (void)x;
    int nb = W->cols / SLM_QK, runs = nb / SLM_X8_BLOCKS;
    const float *ad = slm_act_q8_scales(xp);
    const int8_t *aq = slm_act_q8_values(xp, W->cols);
    for (int r = r0; r < r1; r++) {
        const slm_block_q4_0 *w = (const slm_block_q4_0 *)W->data + (size_t)r * nb;
        double s = 0;
        for (int b = 0; b < nb; b++) {
            const int8_t *a = aq + b * SLM_QK;
            const uint8_t *run = (const uint8_t *)(w + b / SLM_X8_BLOCKS * SLM_X8_BLOCKS);
            int dot = 0, i = b % SLM_X8_BLOCKS;
            float d;
            if (b < runs * SLM_X8_BLOCKS) {
                for (int j = 0; j < SLM_QK; j++) dot += (x8_code(run, i, j) - 8) * a[j];
                d = x8_scale(run, i);
            } else { /* the blocks after the last run keep the Q4_0 layout */
                dot = block_dot(&w[b], a);
                d = slm_f16_to_f32(w[b].d);
            }
            s += (double)d * ad[b] * dot;
        }
        y[r] = (float)s;
    }
}

const slm_matvec_kernel slm_mv_q4_0_scalar = {"q4_0/scalar", SLM_ISA_SCALAR, prep_bytes, prep, rows_q4_0};
const slm_matvec_kernel slm_mv_q4_0x8_scalar = {"q4_0x8/scalar", SLM_ISA_SCALAR, prep_bytes, prep, rows_q4_0x8};
