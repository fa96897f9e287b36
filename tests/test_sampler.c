/* The sampling chain: greedy, temperature, top-k, top-p, min-p, repetition penalty, seeds. */
#include <math.h>
#include <string.h>

#include "../runtime/sampler.h"
#include "test.h"

enum { V = 8 };
static const float base[V] = {1.0f, 3.0f, 2.5f, -1.0f, 0.5f, 2.9f, -3.0f, 0.0f};

static slm_sampler_params plain(void) {
    slm_sampler_params p = slm_sampler_defaults();
    p.temperature = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.repeat_penalty = 1;
    p.seed = 42;
    return p;
}

static int draw(slm_sampler *s) {
    float l[V];
    memcpy(l, base, sizeof l);
    return slm_sampler_sample(s, l);
}

static void test_greedy(void) {
    slm_sampler_params p = plain();
    p.temperature = 0;
    slm_sampler *s = slm_sampler_new(&p, V);
    for (int i = 0; i < 10; i++) CHECK(draw(s) == 1, "greedy must pick the argmax");
    slm_sampler_free(s);
}

static void test_frequencies_follow_softmax(void) {
    slm_sampler_params p = plain();
    slm_sampler *s = slm_sampler_new(&p, V);
    int count[V] = {0}, N = 200000;
    for (int i = 0; i < N; i++) count[draw(s)]++;
    double z = 0;
    for (int i = 0; i < V; i++) z += exp(base[i]);
    for (int i = 0; i < V; i++) {
        double want = exp(base[i]) / z, got = (double)count[i] / N;
        double sigma = sqrt(want * (1 - want) / N);
        CHECK(fabs(got - want) < 5 * sigma + 1e-4, "token %d: frequency %.4f, softmax %.4f", i, got, want);
    }
    slm_sampler_free(s);
}

static void test_top_k_top_p_min_p(void) {
    slm_sampler_params p = plain();
    p.top_k = 2;
    slm_sampler *s = slm_sampler_new(&p, V);
    for (int i = 0; i < 2000; i++) {
        int t = draw(s);
        CHECK(t == 1 || t == 5, "top-k 2 drew %d", t);
    }
    slm_sampler_free(s);
    /* probabilities: 1 -> .34, 5 -> .31, 2 -> .21, ...: top-p .6 keeps {1, 5} */
    p = plain();
    p.top_p = 0.6f;
    s = slm_sampler_new(&p, V);
    for (int i = 0; i < 2000; i++) {
        int t = draw(s);
        CHECK(t == 1 || t == 5, "top-p 0.6 drew %d", t);
    }
    slm_sampler_free(s);
    /* min-p .5: keep tokens with p >= .5 * p(1): tokens 1, 5, 2 (2.5 -> e^-0.5 = .61) */
    p = plain();
    p.min_p = 0.5f;
    s = slm_sampler_new(&p, V);
    int seen[V] = {0};
    for (int i = 0; i < 5000; i++) seen[draw(s)]++;
    CHECK(seen[1] && seen[5] && seen[2], "min-p must keep 1, 5, 2");
    for (int t = 0; t < V; t++) CHECK(t == 1 || t == 5 || t == 2 || !seen[t], "min-p 0.5 drew %d", t);
    slm_sampler_free(s);
}

static void test_low_temperature_sharpens(void) {
    slm_sampler_params p = plain();
    p.temperature = 0.05f;
    slm_sampler *s = slm_sampler_new(&p, V);
    int ones = 0;
    for (int i = 0; i < 1000; i++) ones += draw(s) == 1;
    CHECK(ones > 850, "temperature 0.05 picked the top token %d/1000 times", ones);
    slm_sampler_free(s);
}

static void test_repetition_penalty(void) {
    slm_sampler_params p = plain();
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    slm_sampler *s = slm_sampler_new(&p, V);
    slm_sampler_accept(s, 1);
    slm_sampler_accept(s, 1); /* counted once, as transformers does */
    slm_sampler_accept(s, 3);
    float l[V];
    memcpy(l, base, sizeof l);
    int t = slm_sampler_sample(s, l);
    CHECK(fabsf(l[1] - 1.5f) < 1e-6f, "positive logit divided: %g", l[1]);
    CHECK(fabsf(l[3] + 2.0f) < 1e-6f, "negative logit multiplied: %g", l[3]);
    CHECK(t == 5, "after the penalty the argmax is 5, got %d", t);
    slm_sampler_free(s);
}

static void test_seed_repeats(void) {
    slm_sampler_params p = plain();
    p.seed = 1234;
    slm_sampler *a = slm_sampler_new(&p, V), *b = slm_sampler_new(&p, V);
    p.seed = 1235;
    slm_sampler *c = slm_sampler_new(&p, V);
    int same = 1, differ = 0;
    for (int i = 0; i < 200; i++) {
        int x = draw(a), y = draw(b), z = draw(c);
        same &= x == y;
        differ |= x != z;
    }
    CHECK(same, "the same seed must give the same draws");
    CHECK(differ, "another seed should give other draws");
    slm_sampler_free(a);
    slm_sampler_free(b);
    slm_sampler_free(c);
}

int main(void) {
    RUN(test_greedy);
    RUN(test_frequencies_follow_softmax);
    RUN(test_top_k_top_p_min_p);
    RUN(test_low_temperature_sharpens);
    RUN(test_repetition_penalty);
    RUN(test_seed_repeats);
    return test_summary();
}
