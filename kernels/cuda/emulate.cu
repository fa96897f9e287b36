/* Host emulation of the device side (declared in backend_cuda.h): the device layout of a matrix is
 * built on the host exactly as upload_mat builds it, and the kernels' per-unit arithmetic from
 * cuda_layout.h runs in plain loops. Tests on machines without a GPU compare this with the CPU
 * reference, which checks the layouts, nibble orders, scale indexing and activation quantization;
 * what only a GPU can check is the kernels' thread mapping around these units. */
#include <stdlib.h>
#include <string.h>

#include "cuda_layout.h"
#include "cuda_ops.h"

extern "C" {
#include "../../runtime/error.h"
#include "../cpu/quant.h"
}
#include "backend_cuda.h"

/* W in its device layout, in host memory; *buf is to be freed. */
static int host_layout(slm_mat *out, void **buf, const slm_mat *W) {
    if ((unsigned)W->type >= SLM_NTYPES || W->rows < 0 || W->cols <= 0)
        return slm_fail("emulate: weight format or shape not valid");
    if ((W->type == SLM_Q8_0 || W->type == SLM_Q4_0 || W->type == SLM_NF4) && slm_quant_check(W, "emulate")) return -1;
    size_t bytes = dev_mat_bytes(W);
    *buf = malloc(bytes ? bytes : 1);
    if (!*buf) return slm_fail("out of memory");
    slm_cuda_relayout(*buf, W);
    *out = *W;
    out->data = *buf;
    if (W->type == SLM_NF4 && !W->code) out->code = slm_nf4_code;
    return 0;
}

extern "C" int slm_cuda_emulate_row(float *dst, const slm_mat *W, int r) {
    slm_mat m;
    void *buf;
    if (host_layout(&m, &buf, W)) return -1;
    for (int c = 0; c < W->cols; c++) dst[c] = weight_at(m, (size_t)r, (size_t)c);
    free(buf);
    return 0;
}

static int4 load16(const void *p) {
    int4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float4 load_f4(const float *p) {
    float4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Rows of F32/F16/BF16 as matvec_float_kernel computes them. */
static void float_rows(float *y, const slm_mat *m, const float *x) {
    int cols = m->cols, per = m->type == SLM_F32 ? 4 : 8;
    size_t esize = m->type == SLM_F32 ? 4 : 2;
    for (int r = 0; r < m->rows; r++) {
        const char *row = (const char *)m->data + (size_t)r * cols * esize;
        float acc = 0.0f;
        if (cols % per == 0) {
            for (int u = 0; u < cols / per; u++) {
                int4 v = load16(row + (size_t)u * 16);
                uint4 wv = make_uint4((unsigned)v.x, (unsigned)v.y, (unsigned)v.z, (unsigned)v.w);
                float w[8];
                if (m->type == SLM_F32) {
                    w[0] = bits_to_float(wv.x), w[1] = bits_to_float(wv.y);
                    w[2] = bits_to_float(wv.z), w[3] = bits_to_float(wv.w);
                } else if (m->type == SLM_F16) {
                    f16x8(wv, w);
                } else {
                    bf16x8(wv, w);
                }
                const float *xr = x + (size_t)u * per;
                float s = 0.0f;
                for (int i = 0; i < per; i++) s += w[i] * xr[i];
                acc += s;
            }
        } else {
            for (int c = 0; c < cols; c++) acc += weight_at(*m, (size_t)r, (size_t)c) * x[c];
        }
        y[r] = acc;
    }
}

/* One int8 activation row of x (the layout of cuda_layout.h), as act_q8_kernel makes it; NULL when
 * out of memory (slm_error() set). To be freed. */
static char *act_row(const float *x, int cols) {
    char *act = (char *)malloc(act_bytes(1, cols));
    if (!act) {
        slm_fail("out of memory");
        return NULL;
    }
    int8_t *aq = (int8_t *)act;
    float *ad = (float *)(act + act_scales_offset(1, cols));
    int *as = (int *)(act + act_sums_offset(1, cols));
    for (int b = 0; b < cols / SLM_QK; b++) act_q8_block(x + (size_t)b * SLM_QK, aq + (size_t)b * SLM_QK, &ad[b], &as[b]);
    return act;
}

/* Rows of Q8_0/Q4_0 from one int8 activation row, as the dp4a kernels compute them. */
static int quant_rows(float *y, const slm_mat *m, const float *x) {
    int cols = m->cols, nb = cols / SLM_QK;
    char *act = act_row(x, cols);
    if (!act) return -1;
    int8_t *aq = (int8_t *)act;
    float *ad = (float *)(act + act_scales_offset(1, cols));
    int *as = (int *)(act + act_sums_offset(1, cols));
    const uint16_t *wd = (const uint16_t *)m->data;
    const uint8_t *wq = (const uint8_t *)m->data + q_values_offset(m->rows, cols);
    for (int r = 0; r < m->rows; r++) {
        float acc = 0.0f;
        for (int b = 0; b < nb; b++) {
            float dw = f16_bits(wd[(size_t)r * nb + b]);
            if (m->type == SLM_Q8_0) {
                for (int half = 0; half < 2; half++) {
                    int4 w = load16(wq + (size_t)r * cols + (size_t)b * SLM_QK + 16 * half);
                    int4 a = load16(aq + (size_t)b * SLM_QK + 16 * half);
                    acc += dw * ad[b] * (float)q8_unit_dot(w, a);
                }
            } else {
                int4 w = load16(wq + (size_t)r * cols / 2 + (size_t)b * 16);
                int4 lo = load16(aq + (size_t)b * SLM_QK), hi = load16(aq + (size_t)b * SLM_QK + 16);
                acc += dw * ad[b] * (float)q4_block_dot(w, lo, hi, as[b]);
            }
        }
        y[r] = acc;
    }
    free(act);
    return 0;
}

/* Rows of NF4 as matvec_nf4_i8_kernel computes them from one int8 activation row. */
static int nf4_int8_rows(float *y, const slm_mat *m, const float *x) {
    int cols = m->cols, nb = cols / SLM_QK, per_block = m->block / SLM_QK;
    char *act = act_row(x, cols);
    if (!act) return -1;
    int8_t *aq = (int8_t *)act;
    float *ad = (float *)(act + act_scales_offset(1, cols));
    uint32_t t[4];
    float step = nf4_i8_table(m->code, t);
    for (int r = 0; r < m->rows; r++) {
        float acc = 0.0f;
        for (int u = 0; u < nb; u++) {
            int q = 0;
            for (int j = 0; j < 4; j++) {
                uint32_t w;
                int2 a;
                memcpy(&w, (const uint8_t *)m->data + (size_t)r * cols / 2 + (size_t)u * 16 + 4 * j, sizeof w);
                memcpy(&a, aq + (size_t)u * SLM_QK + 8 * j, sizeof a);
                q += nf4_word_dot_i8(w, t, a);
            }
            acc += m->absmax[((size_t)r * nb + (size_t)u) / (size_t)per_block] * ad[u] * (float)q;
        }
        y[r] = acc * step;
    }
    free(act);
    return 0;
}

/* Rows of NF4 as matvec_nf4_kernel computes them. */
static void nf4_rows(float *y, const slm_mat *m, const float *x) {
    int cols = m->cols;
    const uint8_t *codes = (const uint8_t *)m->data;
    for (int r = 0; r < m->rows; r++) {
        float acc = 0.0f;
        if (cols % 8 == 0 && m->block % 8 == 0) {
            for (int u = 0; u < cols / 8; u++) {
                uint32_t w;
                memcpy(&w, codes + (size_t)r * cols / 2 + (size_t)u * 4, sizeof w);
                float am = m->absmax[((size_t)r * cols / 8 + (size_t)u) / (size_t)(m->block / 8)];
                const float *xr = x + (size_t)u * 8;
                acc += am * nf4_word_dot(w, m->code, load_f4(xr), load_f4(xr + 4));
            }
        } else {
            for (int c = 0; c < cols; c++) acc += weight_at(*m, (size_t)r, (size_t)c) * x[c];
        }
        y[r] = acc;
    }
}

extern "C" int slm_cuda_emulate_matvec(float *y, const slm_mat *W, const float *x) {
    slm_mat m;
    void *buf;
    if (host_layout(&m, &buf, W)) return -1;
    int rc = 0;
    switch (W->type) {
    case SLM_Q8_0:
    case SLM_Q4_0: rc = quant_rows(y, &m, x); break;
    case SLM_NF4:
        if (slm_cuda_nf4_int8(&m)) rc = nf4_int8_rows(y, &m, x);
        else nf4_rows(y, &m, x);
        break;
    default: float_rows(y, &m, x); break;
    }
    free(buf);
    return rc;
}
