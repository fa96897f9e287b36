/* The sampling chain, in the order transformers applies its logits processors:
 * repetition penalty, temperature, top-k, top-p, min-p, then a draw from what is left. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct slm_sampler {
    slm_sampler_params p;
    int vocab;
    uint64_t rng;
    int *recent; /* ring buffer of the last repeat_last_n tokens */
    int n_recent, at;
    unsigned char *seen; /* [vocab] scratch for the penalty */
    int *idx;            /* [vocab] candidate ids */
    float *prob;         /* [vocab] */
};

slm_sampler_params slm_sampler_defaults(void) {
    return (slm_sampler_params){
        .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
}

/* xorshift64*: small, fast, and the same sequence on every machine for a seed. */
static uint64_t next_u64(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static double next_unit(uint64_t *s) { return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

slm_sampler *slm_sampler_new(const slm_sampler_params *p, int vocab) {
    slm_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->vocab = vocab;
    s->rng = p->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (!s->rng) s->rng = 1;
    int n = p->repeat_last_n > 0 ? p->repeat_last_n : 1;
    s->recent = calloc((size_t)n, sizeof *s->recent);
    s->seen = calloc((size_t)vocab, 1);
    s->idx = malloc((size_t)vocab * sizeof *s->idx);
    s->prob = malloc((size_t)vocab * sizeof *s->prob);
    if (!s->recent || !s->seen || !s->idx || !s->prob) {
        slm_sampler_free(s);
        return NULL;
    }
    return s;
}

void slm_sampler_free(slm_sampler *s) {
    if (!s) return;
    free(s->recent);
    free(s->seen);
    free(s->idx);
    free(s->prob);
    free(s);
}

void slm_sampler_accept(slm_sampler *s, int token) {
    if (s->p.repeat_last_n <= 0) return;
    s->recent[s->at] = token;
    s->at = (s->at + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Sort candidates by descending logit; ties by ascending id so the order is deterministic. */
static const float *sort_logits;
static int by_logit(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_logits[i] != sort_logits[j]) return sort_logits[i] > sort_logits[j] ? -1 : 1;
    return i - j;
}

int slm_sampler_sample(slm_sampler *s, float *logits) {
    const slm_sampler_params *p = &s->p;
    int V = s->vocab;
    if (p->repeat_penalty != 1.0f && s->n_recent > 0) {
        /* transformers' RepetitionPenaltyLogitsProcessor: each distinct recent token once */
        for (int i = 0; i < s->n_recent; i++) {
            int t = s->recent[i];
            if (t < 0 || t >= V || s->seen[t]) continue;
            s->seen[t] = 1;
            logits[t] = logits[t] > 0 ? logits[t] / p->repeat_penalty : logits[t] * p->repeat_penalty;
        }
        for (int i = 0; i < s->n_recent; i++)
            if (s->recent[i] >= 0 && s->recent[i] < V) s->seen[s->recent[i]] = 0;
    }
    if (p->temperature <= 0) return argmax(logits, V);

    for (int i = 0; i < V; i++) logits[i] /= p->temperature;
    /* candidates: top-k first (a partial order is enough), then sorted */
    int n = V;
    for (int i = 0; i < V; i++) s->idx[i] = i;
    int k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    if (k < V) {
        /* selection of the k largest by a threshold: find the k-th value with nth_element-like partitioning */
        int lo = 0, hi = V - 1, want = k - 1;
        while (lo < hi) {
            float pivot = logits[s->idx[(lo + hi) / 2]];
            int i = lo, j = hi;
            while (i <= j) {
                while (logits[s->idx[i]] > pivot) i++;
                while (logits[s->idx[j]] < pivot) j--;
                if (i <= j) {
                    int t = s->idx[i];
                    s->idx[i] = s->idx[j];
                    s->idx[j] = t;
                    i++;
                    j--;
                }
            }
            if (want <= j) hi = j;
            else if (want >= i) lo = i;
            else break;
        }
        n = k;
    }
    sort_logits = logits;
    qsort(s->idx, (size_t)n, sizeof *s->idx, by_logit);

    float max = logits[s->idx[0]];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf(logits[s->idx[i]] - max);
        sum += s->prob[i];
    }
    for (int i = 0; i < n; i++) s->prob[i] = (float)(s->prob[i] / sum);
    if (p->top_p > 0 && p->top_p < 1) {
        /* keep the smallest prefix whose mass reaches top_p (at least one token) */
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += s->prob[i];
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0) {
        float floor_p = p->min_p * s->prob[0];
        int keep = 1;
        while (keep < n && s->prob[keep] >= floor_p) keep++;
        n = keep;
    }
    double mass = 0;
    for (int i = 0; i < n; i++) mass += s->prob[i];
    double r = next_unit(&s->rng) * mass, cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->prob[i];
        if (r < cum) return s->idx[i];
    }
    return s->idx[n - 1];
}
