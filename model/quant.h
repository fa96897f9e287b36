/* Weight matrices converted to a quantized format when a model is loaded (--quant). */
#ifndef SLM_MODEL_QUANT_H
#define SLM_MODEL_QUANT_H

#include "../runtime/tensor.h"
#include "weights.h"

/* Converts every linear layer (and the LM head unless keep_head) of w into type:
 * SLM_Q8_0, SLM_Q4_0 or SLM_NF4. A tied LM head converts the embedding it shares.
 * Matrices whose width does not suit the format stay as they are. */
int slm_quantize_weights(slm_weights *w, const slm_config *c, slm_dtype type, int keep_head);
/* Converts one float matrix in place (new data owned by w); what names it in errors. */
int slm_quantize_mat(slm_weights *w, slm_mat *m, slm_dtype type, const char *what);

#endif
