/* Confidence signals of a local generation, computed from the raw logits each token was sampled
 * from (log-softmax at temperature 1, whatever sampling settings chose the token). No extra model
 * pass: the generation loop hands every token's logits to slm_signal_acc_add().
 *
 *   slm_signal_acc acc; slm_signal_acc_init(&acc);
 *   per token: slm_signal_acc_add(&acc, token, logits, vocab);
 *   slm_signals_finish(&acc, &opts, hit_eos, &sig); slm_signal_acc_free(&acc);
 */
#ifndef SLM_ROUTER_SIGNALS_H
#define SLM_ROUTER_SIGNALS_H

#include <stddef.h>

#include "../runtime/order_stats.h" /* slm_quantile, which the signals and the router's reports use */

/* The signals, by index into slm_signals.v. Units:
 *   logprob signals: natural log of the probability of the sampled token (nats, <= 0), floored at -100
 *   q_logprob: the low quantile (opts.quantile, 0.1 by default) of the per-token log-probabilities
 *   mean_entropy: nats
 *   mean_margin: top-1 minus top-2 probability of each distribution, in [0, 1]
 *   eos: 1 when a stop token ended the generation before the token limit
 *   rep_frac: share of the generated n-grams (opts.ngram tokens) that repeat an earlier one, [0, 1]
 *   loop: 1 when the answer ends in a loop: a unit of 1..32 tokens repeated >= 3 times, >= 8 tokens */
enum {
    SLM_SIG_MEAN_LOGPROB,
    SLM_SIG_MIN_LOGPROB,
    SLM_SIG_Q_LOGPROB,
    SLM_SIG_MEAN_ENTROPY,
    SLM_SIG_MEAN_MARGIN,
    SLM_SIG_EOS,
    SLM_SIG_REP_FRAC,
    SLM_SIG_LOOP,
    SLM_SIG_COUNT
};

typedef struct {
    int n_tokens;
    double v[SLM_SIG_COUNT];
} slm_signals;

typedef struct {
    double quantile; /* the q of q_logprob, in [0, 1] */
    int ngram;       /* n-gram length of rep_frac, >= 1 */
} slm_signal_opts;

/* Per-token values of one generation, filled as tokens arrive. */
typedef struct {
    int n, cap;
    int *tokens;
    double *logprob;
    double sum_entropy, sum_margin;
} slm_signal_acc;

/* Name of signal i as used in JSON ("q_logprob", ...), or NULL when out of range. */
const char *slm_signal_name(int i);
/* Index of a signal name, or -1. */
int slm_signal_index(const char *name);
/* 1 when larger values of signal i mean more confidence, 0 when smaller values do. */
int slm_signal_higher_is_better(int i);

slm_signal_opts slm_signal_opts_default(void);

void slm_signal_acc_init(slm_signal_acc *a);
void slm_signal_acc_free(slm_signal_acc *a);
/* Adds one generated token and the logits it was sampled from. -inf logits are allowed (masked
 * tokens); NaN or +inf fail. Returns 0 or -1 (slm_error). */
int slm_signal_acc_add(slm_signal_acc *a, int token, const float *logits, int vocab);
/* Turns the per-token values into signals. eos: the generation ended on a stop token (that token is
 * the last one added; it counts for the log-probabilities but not for repetition). With no tokens
 * every log-probability signal is 0. Returns 0 or -1 (out of memory). */
int slm_signals_finish(const slm_signal_acc *a, const slm_signal_opts *o, int eos, slm_signals *out);

/* Share of the n-grams of tokens[0..n) that already occurred at an earlier start. */
double slm_repeated_ngram_fraction(const int *tokens, int n, int ngram);
/* 1 when tokens[0..n) ends in a loop as defined above. */
int slm_ends_in_loop(const int *tokens, int n);

#endif
