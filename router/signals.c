#include "signals.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"

/* A token the model gave (almost) no chance still needs a finite value for JSON and means. */
#define LOGPROB_FLOOR (-100.0)

static const char *const names[SLM_SIG_COUNT] = {
    "mean_logprob", "min_logprob", "q_logprob", "mean_entropy", "mean_margin", "eos", "rep_frac", "loop",
};
static const int higher_is_better[SLM_SIG_COUNT] = {1, 1, 1, 0, 1, 1, 0, 0};

const char *slm_signal_name(int i) { return i >= 0 && i < SLM_SIG_COUNT ? names[i] : NULL; }

int slm_signal_index(const char *name) {
    for (int i = 0; i < SLM_SIG_COUNT; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

int slm_signal_higher_is_better(int i) { return higher_is_better[i]; }

slm_signal_opts slm_signal_opts_default(void) {
    slm_signal_opts o = {0.1, 3};
    return o;
}

void slm_signal_acc_init(slm_signal_acc *a) { memset(a, 0, sizeof *a); }

void slm_signal_acc_free(slm_signal_acc *a) {
    free(a->tokens);
    free(a->logprob);
    memset(a, 0, sizeof *a);
}

int slm_signal_acc_add(slm_signal_acc *a, int token, const float *logits, int vocab) {
    if (vocab < 1 || token < 0 || token >= vocab) return slm_fail("signals: token %d is outside the vocabulary of %d", token, vocab);
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 256;
        int *t = realloc(a->tokens, (size_t)cap * sizeof *t);
        if (t) a->tokens = t;
        double *l = realloc(a->logprob, (size_t)cap * sizeof *l);
        if (l) a->logprob = l;
        if (!t || !l) return slm_fail("signals: out of memory");
        a->cap = cap;
    }
    /* One pass for the maximum and the runner-up, one for the normaliser, one for the entropy.
     * Sums run in double: vocabularies reach 150k entries. */
    float top1 = -INFINITY, top2 = -INFINITY;
    for (int i = 0; i < vocab; i++) {
        float z = logits[i];
        if (isnan(z) || z == INFINITY) return slm_fail("signals: logit %d of token %d is not finite", i, a->n);
        if (z > top1) {
            top2 = top1;
            top1 = z;
        } else if (z > top2) {
            top2 = z;
        }
    }
    if (top1 == -INFINITY) return slm_fail("signals: every logit of token %d is -inf", a->n);
    double sum = 0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - top1);
    double lse = top1 + log(sum);
    /* H = -sum p (z - lse) = lse - sum p z; masked tokens (p = 0) add nothing. */
    double pz = 0;
    for (int i = 0; i < vocab; i++)
        if (logits[i] != -INFINITY) pz += exp((double)logits[i] - lse) * logits[i];
    double entropy = lse - pz;
    if (entropy < 0) entropy = 0; /* rounding on one-hot distributions */
    double lp = (double)logits[token] - lse;
    if (!(lp > LOGPROB_FLOOR)) lp = LOGPROB_FLOOR;
    double p1 = exp((double)top1 - lse), p2 = top2 == -INFINITY ? 0 : exp((double)top2 - lse);
    a->tokens[a->n] = token;
    a->logprob[a->n] = lp;
    a->sum_entropy += entropy;
    a->sum_margin += p1 - p2;
    a->n++;
    return 0;
}

static uint64_t ngram_hash(const int *t, int n) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)t[i];
        h *= 1099511628211ull;
    }
    return h;
}

double slm_repeated_ngram_fraction(const int *tokens, int n, int ngram) {
    if (ngram < 1) ngram = 1;
    int count = n - ngram + 1;
    if (count <= 0) return 0;
    /* Open addressing over n-gram start positions: a load factor of at most 1/2. */
    size_t size = 16;
    while (size < 2 * (size_t)count) size *= 2;
    int *slot = malloc(size * sizeof *slot);
    if (!slot) return 0;
    for (size_t i = 0; i < size; i++) slot[i] = -1;
    int repeated = 0;
    for (int s = 0; s < count; s++) {
        size_t k = ngram_hash(tokens + s, ngram) & (size - 1);
        for (;;) {
            if (slot[k] < 0) {
                slot[k] = s;
                break;
            }
            if (!memcmp(tokens + slot[k], tokens + s, (size_t)ngram * sizeof *tokens)) {
                repeated++;
                break;
            }
            k = (k + 1) & (size - 1);
        }
    }
    free(slot);
    return (double)repeated / count;
}

int slm_ends_in_loop(const int *tokens, int n) {
    for (int p = 1; p <= 32 && 3 * p <= n; p++) {
        /* Length of the tail in which every token equals the one p places before it. */
        int len = p;
        while (len < n && tokens[n - 1 - len] == tokens[n - 1 - len + p]) len++;
        if (len >= 3 * p && len >= 8) return 1;
    }
    return 0;
}

int slm_signals_finish(const slm_signal_acc *a, const slm_signal_opts *o, int eos, slm_signals *out) {
    memset(out, 0, sizeof *out);
    out->n_tokens = a->n;
    out->v[SLM_SIG_EOS] = eos ? 1 : 0;
    if (a->n == 0) return 0;
    double *sorted = malloc((size_t)a->n * sizeof *sorted);
    if (!sorted) return slm_fail("signals: out of memory");
    double sum = 0;
    for (int i = 0; i < a->n; i++) {
        sorted[i] = a->logprob[i];
        sum += a->logprob[i];
    }
    slm_sort_doubles(sorted, (size_t)a->n);
    out->v[SLM_SIG_MEAN_LOGPROB] = sum / a->n;
    out->v[SLM_SIG_MIN_LOGPROB] = sorted[0];
    out->v[SLM_SIG_Q_LOGPROB] = slm_quantile(sorted, (size_t)a->n, o->quantile);
    out->v[SLM_SIG_MEAN_ENTROPY] = a->sum_entropy / a->n;
    out->v[SLM_SIG_MEAN_MARGIN] = a->sum_margin / a->n;
    free(sorted);
    int n_text = eos ? a->n - 1 : a->n;
    out->v[SLM_SIG_REP_FRAC] = slm_repeated_ngram_fraction(a->tokens, n_text, o->ngram);
    out->v[SLM_SIG_LOOP] = slm_ends_in_loop(a->tokens, n_text);
    return 0;
}
