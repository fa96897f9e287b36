/* The decision on a local answer: a confidence score, a weighted sum of the signals,
 *     score = bias + sum_i weight[i] * signal[i]
 * escalates when it falls below the threshold; optional per-signal limits escalate on their own
 * (a signal where higher is better escalates below its limit, one where lower is better above it).
 * The default score is q_logprob alone: the low quantile of token log-probabilities does not
 * drift with answer length as the mean does, and is less noisy than the minimum. */
#ifndef SLM_ROUTER_POLICY_H
#define SLM_ROUTER_POLICY_H

#include <stddef.h>

#include "signals.h"

typedef struct {
    double threshold; /* escalate when score < threshold */
    double bias;
    double weight[SLM_SIG_COUNT];
    int has_limit[SLM_SIG_COUNT];
    double limit[SLM_SIG_COUNT];
} slm_policy;

/* score = q_logprob, threshold SLM_DEFAULT_THRESHOLD, no limits. */
#define SLM_DEFAULT_THRESHOLD (-2.0)
void slm_policy_default(slm_policy *p);

double slm_policy_score(const slm_policy *p, const slm_signals *s);
/* 1: escalate, 0: keep the local answer. score (may be NULL) gets the score; reason one line. */
int slm_policy_decide(const slm_policy *p, const slm_signals *s, double *score, char *reason, size_t reason_size);
/* The score as a formula, e.g. "1*q_logprob - 0.5*mean_entropy". */
void slm_policy_describe(const slm_policy *p, char *buf, size_t size);

#endif
