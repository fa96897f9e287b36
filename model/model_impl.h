/* What model.c (loading, sessions) and forward.c (the transformer) share. */
#ifndef SLM_MODEL_IMPL_H
#define SLM_MODEL_IMPL_H

#include "../runtime/backend.h"
#include "model.h"
#include "safetensors.h"
#include "weights.h"

struct slm_model {
    slm_config cfg;
    slm_st st;         /* the mapped files */
    slm_weights host;  /* weights as mapped (or converted) on the host */
    slm_weights dev;   /* the backend's copies (the same matrices on the CPU) */
    slm_backend *be;
    size_t params, weight_bytes;
};

enum { SLM_HEAD_ROWS = 32 }; /* LM-head rows per pass when every position's logits are wanted */

struct slm_session {
    slm_model *m;
    int ctx, pos;
    int batch;                  /* rows per forward pass; longer inputs are split */
    slm_kv *kv;
    float *x, *xb;              /* [batch][hidden]: residual stream, normalised copy */
    float *q, *k, *v, *att;     /* [batch][heads*hd], [batch][kv*hd] x2, [batch][heads*hd] */
    float *hb, *hb2;            /* [batch][ffn] */
    float *logits;              /* [HEAD_ROWS][vocab] */
    float *cos_t, *sin_t;       /* [batch][hd/2], backend copies of the host tables */
    float *cos_h, *sin_h, *inv_freq;
};

/* Runs n <= s->batch tokens at s->pos (see slm_eval). */
int slm_forward(slm_session *s, const int *tokens, int n, float *logits, int all);

#endif
