/* The generation loop: prefill the prompt as one batch, then sample and decode token by token. */
#ifndef SLM_GENERATE_H
#define SLM_GENERATE_H

#include "../model/model.h"
#include "sampler.h"

/* Called once per generated token with the raw logits it was sampled from (before penalty and
 * temperature). Return non-zero to stop generation. */
typedef int (*slm_token_fn)(void *user, int token, const float *logits, int vocab);

/* Called with the logits of every evaluated position (prompt positions included), in order. */
typedef void (*slm_logits_fn)(void *user, int pos, const float *logits, int vocab);

typedef struct {
    int n_predict; /* at most this many new tokens */
    slm_sampler_params sampling;
    const int *stop_ids; /* generation stops after any of these (the token is still reported) */
    int n_stop;
    slm_token_fn on_token;
    slm_logits_fn on_logits; /* optional; costs an LM-head pass per prompt position */
    void *user;
} slm_gen_params;

typedef struct {
    int n_prompt, n_generated;
    int hit_stop; /* 1 when a stop id ended generation */
    double prompt_seconds, gen_seconds;
} slm_gen_stats;

/* Returns 0, or -1 with slm_error() set (e.g. the prompt does not fit in the context). */
int slm_generate(slm_session *s, const int *prompt, int n_prompt, const slm_gen_params *p, slm_gen_stats *stats);

#endif
