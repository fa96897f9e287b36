/* Choosing the next token from logits: greedy, temperature, top-k, top-p, min-p, repetition penalty. */
#ifndef SLM_SAMPLER_H
#define SLM_SAMPLER_H

#include <stdint.h>

typedef struct {
    float temperature;    /* 0: greedy */
    int top_k;            /* 0: off */
    float top_p;          /* 1: off */
    float min_p;          /* 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* window of recent tokens the penalty looks at */
    uint64_t seed;
} slm_sampler_params;

typedef struct slm_sampler slm_sampler;

slm_sampler_params slm_sampler_defaults(void);
slm_sampler *slm_sampler_new(const slm_sampler_params *p, int vocab);
void slm_sampler_free(slm_sampler *s);
/* Remembers a token for the repetition penalty (prompt and generated tokens). */
void slm_sampler_accept(slm_sampler *s, int token);
/* Picks a token. logits are modified in place (penalty, temperature). */
int slm_sampler_sample(slm_sampler *s, float *logits);

#endif
