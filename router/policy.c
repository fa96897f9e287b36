#include "policy.h"

#include <stdio.h>
#include <string.h>

void slm_policy_default(slm_policy *p) {
    memset(p, 0, sizeof *p);
    p->threshold = SLM_DEFAULT_THRESHOLD;
    p->weight[SLM_SIG_Q_LOGPROB] = 1;
}

double slm_policy_score(const slm_policy *p, const slm_signals *s) {
    double score = p->bias;
    for (int i = 0; i < SLM_SIG_COUNT; i++) score += p->weight[i] * s->v[i];
    return score;
}

int slm_policy_decide(const slm_policy *p, const slm_signals *s, double *score, char *reason, size_t reason_size) {
    double sc = slm_policy_score(p, s);
    if (score) *score = sc;
    for (int i = 0; i < SLM_SIG_COUNT; i++) {
        if (!p->has_limit[i]) continue;
        int up = slm_signal_higher_is_better(i);
        if (up ? s->v[i] < p->limit[i] : s->v[i] > p->limit[i]) {
            snprintf(reason, reason_size, "%s %.4g %s limit %.4g", slm_signal_name(i), s->v[i], up ? "<" : ">", p->limit[i]);
            return 1;
        }
    }
    if (sc < p->threshold) {
        snprintf(reason, reason_size, "score %.4g < threshold %.4g", sc, p->threshold);
        return 1;
    }
    snprintf(reason, reason_size, "score %.4g >= threshold %.4g", sc, p->threshold);
    return 0;
}

void slm_policy_describe(const slm_policy *p, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = 0;
    if (p->bias != 0) len += (size_t)snprintf(buf, size, "%g", p->bias);
    for (int i = 0; i < SLM_SIG_COUNT && len < size; i++) {
        double w = p->weight[i];
        if (w == 0) continue;
        const char *sign = len == 0 ? (w < 0 ? "-" : "") : (w < 0 ? " - " : " + ");
        len += (size_t)snprintf(buf + len, size - len, "%s%g*%s", sign, w < 0 ? -w : w, slm_signal_name(i));
    }
    if (len == 0) snprintf(buf, size, "0");
}
