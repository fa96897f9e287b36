/* A loaded model and the sessions that run it.
 *
 *   slm_model *m; slm_model_load(&m, "path/to/hf-folder", &opts);
 *   slm_session *s = slm_session_new(m, ctx);
 *   slm_eval(s, tokens, n, logits, 0);   // appends n tokens at the current position
 */
#ifndef SLM_MODEL_H
#define SLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../runtime/tensor.h"
#include "config.h"

typedef struct slm_model slm_model;
typedef struct slm_session slm_session;

typedef struct {
    int quantize;         /* 0: keep weights as stored; 1: convert matrices to quant_type on load */
    slm_dtype quant_type; /* SLM_Q8_0, SLM_Q4_0, SLM_NF4 */
    int keep_head;        /* with quantize: leave the LM head in its stored format */
    const char *device;   /* "cpu" (default) or "cuda" */
    int threads;          /* CPU worker threads; <= 0: the number of physical cores */
    int kv_f16;           /* keep the KV cache in f16 instead of f32 (half the memory and reads) */
    int keep_layout;      /* leave the matrices in their stored layout, for writing them out again (slm quantize) */
} slm_load_opts;

/* Returns 0, or -1 with slm_error() set. opts may be NULL. */
int slm_model_load(slm_model **out, const char *dir, const slm_load_opts *opts);
/* A model of the shape c with random weights in format type, built in memory (benchmarks). */
int slm_model_random(slm_model **out, const slm_config *c, slm_dtype type, uint64_t seed, const slm_load_opts *opts);
void slm_model_free(slm_model *m);
/* Writes the loaded weights (as converted by opts.quantize) with the config and tokenizer files of
 * srcdir into the folder outdir; `type` names the quantized format (see model/save.c). */
int slm_model_save(const slm_model *m, const char *srcdir, const char *outdir, slm_dtype type);
const slm_config *slm_model_config(const slm_model *m);
/* Threads the model's CPU backend runs (1 for a GPU backend), and the backend's name. */
int slm_model_threads(const slm_model *m);
const char *slm_model_backend(const slm_model *m);
/* Number of parameters and bytes of the weights as loaded. */
size_t slm_model_params(const slm_model *m);
size_t slm_model_weight_bytes(const slm_model *m);
/* Bytes a session of ctx positions needs for its KV cache. */
size_t slm_kv_bytes(const slm_config *c, int ctx);

/* A session: KV cache + activations for one sequence of at most ctx positions.
 * Sessions of one model share its backend: run one at a time. NULL with slm_error() on failure. */
slm_session *slm_session_new(slm_model *m, int ctx);
void slm_session_free(slm_session *s);
int slm_session_pos(const slm_session *s);
slm_model *slm_session_model(const slm_session *s);
int slm_session_ctx(const slm_session *s);
/* Forgets the sequence (position back to 0). */
void slm_session_reset(slm_session *s);
/* Keeps the first pos positions and forgets the rest (pos <= the current position). */
void slm_session_rewind(slm_session *s, int pos);

/* Runs tokens[0..n) at positions pos..pos+n-1 as one batch and advances the position.
 * logits: [vocab] for the last token, or [n][vocab] when all is non-zero (NULL: none wanted).
 * Fails (-1, slm_error) when a token id is out of range or the context is full. */
int slm_eval(slm_session *s, const int *tokens, int n, float *logits, int all);

#endif
