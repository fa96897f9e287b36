#include "generate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int slm_generate(slm_session *s, const int *prompt, int n_prompt, const slm_gen_params *p, slm_gen_stats *stats) {
    const slm_config *c = slm_model_config(slm_session_model(s));
    int V = c->vocab_size;
    slm_gen_stats st = {0};
    if (n_prompt < 1) return slm_fail("the prompt is empty");
    if (slm_session_pos(s) + n_prompt > slm_session_ctx(s))
        return slm_fail("the prompt (%d tokens) does not fit in the context (--ctx %d, %d already used)", n_prompt,
                        slm_session_ctx(s), slm_session_pos(s));
    float *logits = malloc((size_t)V * sizeof(float));
    float *raw = malloc((size_t)V * sizeof(float));
    slm_sampler *sampler = slm_sampler_new(&p->sampling, V);
    int rc = -1;
    if (!logits || !raw || !sampler) {
        slm_fail("out of memory");
        goto out;
    }
    for (int i = 0; i < n_prompt; i++) slm_sampler_accept(sampler, prompt[i]);

    double t0 = now();
    int pos0 = slm_session_pos(s);
    if (p->on_logits) {
        float *all = malloc((size_t)n_prompt * V * sizeof(float));
        if (!all) {
            slm_fail("out of memory for the logits of %d prompt positions", n_prompt);
            goto out;
        }
        if (slm_eval(s, prompt, n_prompt, all, 1)) {
            free(all);
            goto out;
        }
        for (int i = 0; i < n_prompt; i++) p->on_logits(p->user, pos0 + i, all + (size_t)i * V, V);
        memcpy(logits, all + (size_t)(n_prompt - 1) * V, (size_t)V * sizeof(float));
        free(all);
    } else if (slm_eval(s, prompt, n_prompt, logits, 0)) {
        goto out;
    }
    st.n_prompt = n_prompt;
    st.prompt_seconds = now() - t0;

    t0 = now();
    for (int i = 0; i < p->n_predict; i++) {
        memcpy(raw, logits, (size_t)V * sizeof(float));
        int tok = slm_sampler_sample(sampler, logits);
        slm_sampler_accept(sampler, tok);
        st.n_generated++;
        int stop = 0;
        for (int k = 0; k < p->n_stop; k++) stop |= tok == p->stop_ids[k];
        if (p->on_token && p->on_token(p->user, tok, raw, V)) break;
        if (stop) {
            st.hit_stop = 1;
            break;
        }
        /* the last token needs no forward pass; neither does one the context cannot hold */
        if (i + 1 == p->n_predict || slm_session_pos(s) >= slm_session_ctx(s)) break;
        if (slm_eval(s, &tok, 1, logits, 0)) goto out;
        if (p->on_logits) p->on_logits(p->user, slm_session_pos(s) - 1, logits, V);
    }
    st.gen_seconds = now() - t0;
    rc = 0;
out:
    if (stats) *stats = st;
    free(logits);
    free(raw);
    slm_sampler_free(sampler);
    return rc;
}
