/* Router library: confidence signals against independently computed values, the decision policy,
 * the rules, the config file, the log line, and whole requests through a canned local model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../router/batch.h"
#include "../router/config.h"
#include "../router/escalate.h"
#include "../router/jsonl.h"
#include "../router/log.h"
#include "../router/policy.h"
#include "../router/route.h"
#include "../router/rules.h"
#include "../router/signals.h"
#include "../runtime/error.h"
#include "test.h"

static int close_to(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

/* ---- signals ---- */

/* Three hand-made distributions whose values are known in closed form:
 *   [ln 2, 0, 0] token 0:   p = (1/2, 1/4, 1/4), log p = -ln 2, H = 1.5 ln 2, margin 1/4
 *   [0, 0] token 1:         p = (1/2, 1/2),      log p = -ln 2, H = ln 2,     margin 0
 *   [-inf, 1, 1, 1, 1] t 2: p = (0, 1/4 x 4),   log p = -ln 4, H = ln 4,     margin 0 */
static void test_signals_closed_form(void) {
    float l1[3] = {(float)log(2.0), 0, 0}, l2[2] = {0, 0}, l3[5] = {-INFINITY, 1, 1, 1, 1};
    slm_signal_acc a;
    slm_signal_acc_init(&a);
    CHECK(slm_signal_acc_add(&a, 0, l1, 3) == 0, "add 1: %s", slm_error());
    CHECK(slm_signal_acc_add(&a, 1, l2, 2) == 0, "add 2: %s", slm_error());
    CHECK(slm_signal_acc_add(&a, 2, l3, 5) == 0, "add 3: %s", slm_error());
    slm_signal_opts o = slm_signal_opts_default();
    slm_signals s;
    CHECK(slm_signals_finish(&a, &o, 1, &s) == 0, "finish");
    double ln2 = log(2.0);
    CHECK(s.n_tokens == 3, "n_tokens %d", s.n_tokens);
    CHECK(close_to(s.v[SLM_SIG_MEAN_LOGPROB], -4 * ln2 / 3, 1e-6), "mean_logprob %.9f", s.v[SLM_SIG_MEAN_LOGPROB]);
    CHECK(close_to(s.v[SLM_SIG_MIN_LOGPROB], -2 * ln2, 1e-6), "min_logprob %.9f", s.v[SLM_SIG_MIN_LOGPROB]);
    /* sorted: -2ln2, -ln2, -ln2; h = 2 * 0.1 = 0.2: -2ln2 + 0.2 ln2 */
    CHECK(close_to(s.v[SLM_SIG_Q_LOGPROB], -1.8 * ln2, 1e-6), "q_logprob %.9f", s.v[SLM_SIG_Q_LOGPROB]);
    CHECK(close_to(s.v[SLM_SIG_MEAN_ENTROPY], 1.5 * ln2, 1e-6), "mean_entropy %.9f", s.v[SLM_SIG_MEAN_ENTROPY]);
    CHECK(close_to(s.v[SLM_SIG_MEAN_MARGIN], 0.25 / 3, 1e-6), "mean_margin %.9f", s.v[SLM_SIG_MEAN_MARGIN]);
    CHECK(s.v[SLM_SIG_EOS] == 1, "eos");
    CHECK(s.v[SLM_SIG_REP_FRAC] == 0 && s.v[SLM_SIG_LOOP] == 0, "repetition on 2 tokens");
    slm_signal_acc_free(&a);
}

/* Random logits with a large offset (stress for the normaliser) against a reference that computes
 * each probability directly, p_i = exp(z_i - c) / sum_j exp(z_j - c), H = -sum p log p, in double. */
static void test_signals_random(void) {
    enum { V = 1000, T = 37 };
    static float logits[T][V];
    int tokens[T];
    double lp[T], ent = 0, margin = 0;
    slm_signal_acc a;
    slm_signal_acc_init(&a);
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < V; i++) logits[t][i] = 50.0f + 4.0f * test_randf() * (1 + t % 3);
        tokens[t] = (t * 7919) % V;
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)logits[t][i] - 50.0);
        double h = 0, p1 = 0, p2 = 0;
        for (int i = 0; i < V; i++) {
            double p = exp((double)logits[t][i] - 50.0) / sum;
            h -= p * log(p);
            if (p > p1) {
                p2 = p1;
                p1 = p;
            } else if (p > p2) {
                p2 = p;
            }
        }
        lp[t] = log(exp((double)logits[t][tokens[t]] - 50.0) / sum);
        ent += h / T;
        margin += (p1 - p2) / T;
        CHECK(slm_signal_acc_add(&a, tokens[t], logits[t], V) == 0, "add %d", t);
    }
    slm_signal_opts o = {0.25, 2};
    slm_signals s;
    slm_signals_finish(&a, &o, 0, &s);
    /* reference order statistics by selection, not by the library's sort */
    double sorted[T], mean = 0, mn = 0;
    for (int t = 0; t < T; t++) {
        mean += lp[t] / T;
        int rank = 0;
        for (int u = 0; u < T; u++) rank += lp[u] < lp[t] || (lp[u] == lp[t] && u < t);
        sorted[rank] = lp[t];
    }
    mn = sorted[0];
    double h = 0.25 * (T - 1); /* = 9: exactly the 10th smallest */
    double q = sorted[(int)h];
    CHECK(close_to(s.v[SLM_SIG_MEAN_LOGPROB], mean, 1e-9), "mean %.12f vs %.12f", s.v[SLM_SIG_MEAN_LOGPROB], mean);
    CHECK(close_to(s.v[SLM_SIG_MIN_LOGPROB], mn, 1e-9), "min %.12f vs %.12f", s.v[SLM_SIG_MIN_LOGPROB], mn);
    CHECK(close_to(s.v[SLM_SIG_Q_LOGPROB], q, 1e-9), "q25 %.12f vs %.12f", s.v[SLM_SIG_Q_LOGPROB], q);
    CHECK(close_to(s.v[SLM_SIG_MEAN_ENTROPY], ent, 1e-9), "entropy %.12f vs %.12f", s.v[SLM_SIG_MEAN_ENTROPY], ent);
    CHECK(close_to(s.v[SLM_SIG_MEAN_MARGIN], margin, 1e-9), "margin %.12f vs %.12f", s.v[SLM_SIG_MEAN_MARGIN], margin);
    CHECK(s.v[SLM_SIG_EOS] == 0, "eos");
    /* every per-token log-probability, not only their summaries */
    float got[T];
    for (int t = 0; t < T; t++) {
        got[t] = (float)a.logprob[t];
        CHECK(close_to(a.logprob[t], lp[t], 1e-9), "token %d: %.12f vs %.12f", t, a.logprob[t], lp[t]);
    }
    CHECK(rel_l2(got, lp, T) < 1e-6, "rel_l2 %g", rel_l2(got, lp, T));
    slm_signal_acc_free(&a);
}

static void test_signals_bad_logits(void) {
    slm_signal_acc a;
    slm_signal_acc_init(&a);
    float nanl[3] = {0, NAN, 1}, infl[2] = {INFINITY, 0}, dead[2] = {-INFINITY, -INFINITY}, ok[2] = {0, 1};
    CHECK(slm_signal_acc_add(&a, 0, nanl, 3) == -1 && strstr(slm_error(), "not finite"), "NaN accepted");
    CHECK(slm_signal_acc_add(&a, 0, infl, 2) == -1, "+inf accepted");
    CHECK(slm_signal_acc_add(&a, 0, dead, 2) == -1, "all -inf accepted");
    CHECK(slm_signal_acc_add(&a, 5, ok, 2) == -1 && strstr(slm_error(), "outside"), "token out of range accepted");
    /* a masked token that was sampled anyway gets the floor, not -inf */
    float masked[3] = {-INFINITY, 2, 1};
    CHECK(slm_signal_acc_add(&a, 0, masked, 3) == 0, "masked token");
    slm_signals s;
    slm_signal_opts o = slm_signal_opts_default();
    slm_signals_finish(&a, &o, 0, &s);
    CHECK(s.v[SLM_SIG_MIN_LOGPROB] == -100, "floor %g", s.v[SLM_SIG_MIN_LOGPROB]);
    slm_signal_acc_free(&a);
    /* no tokens at all */
    slm_signal_acc_init(&a);
    slm_signals_finish(&a, &o, 0, &s);
    CHECK(s.n_tokens == 0 && s.v[SLM_SIG_Q_LOGPROB] == 0, "empty generation");
}

static void test_quantile(void) {
    double v[5] = {-5, -4, -2, -1, 0};
    CHECK(slm_quantile(v, 5, 0) == -5 && slm_quantile(v, 5, 1) == 0, "ends");
    CHECK(close_to(slm_quantile(v, 5, 0.1), -4.6, 1e-12), "q10 %g", slm_quantile(v, 5, 0.1)); /* h = 0.4 */
    CHECK(close_to(slm_quantile(v, 5, 0.5), -2, 1e-12), "median");
    CHECK(close_to(slm_quantile(v, 5, 0.6), -1.6, 1e-12), "q60 %g", slm_quantile(v, 5, 0.6)); /* h = 2.4 */
    CHECK(slm_quantile(v, 1, 0.3) == -5, "single value");
}

static void test_repetition(void) {
    int cyc[9] = {1, 2, 3, 1, 2, 3, 1, 2, 3};
    /* 7 trigrams, the last 4 repeat earlier ones */
    CHECK(close_to(slm_repeated_ngram_fraction(cyc, 9, 3), 4.0 / 7, 1e-12), "cycle %g", slm_repeated_ngram_fraction(cyc, 9, 3));
    CHECK(slm_ends_in_loop(cyc, 9) == 1, "period 3 x 3 is a loop");
    CHECK(slm_ends_in_loop(cyc, 8) == 0, "8 tokens of period 3: fewer than 3 repeats");
    int same[8] = {5, 5, 5, 5, 5, 5, 5, 5};
    CHECK(slm_ends_in_loop(same, 7) == 0 && slm_ends_in_loop(same, 8) == 1, "8 equal tokens");
    int distinct[6] = {1, 2, 3, 4, 5, 6};
    CHECK(slm_repeated_ngram_fraction(distinct, 6, 2) == 0, "no repeats");
    CHECK(slm_repeated_ngram_fraction(distinct, 2, 3) == 0, "shorter than n");
    /* unigrams of 1 1 2 1: the 2nd and 4th repeat */
    int u[4] = {1, 1, 2, 1};
    CHECK(slm_repeated_ngram_fraction(u, 4, 1) == 0.5, "unigrams");
    /* a long text: every trigram of a 3-token cycle after the first period repeats */
    int *big = malloc(3000 * sizeof *big);
    for (int i = 0; i < 3000; i++) big[i] = i % 3;
    CHECK(close_to(slm_repeated_ngram_fraction(big, 3000, 3), 2995.0 / 2998, 1e-12), "long cycle");
    for (int i = 0; i < 3000; i++) big[i] = i;
    CHECK(slm_repeated_ngram_fraction(big, 3000, 3) == 0 && !slm_ends_in_loop(big, 3000), "long distinct");
    free(big);
    /* eos: the stop token does not count for repetition */
    slm_signal_acc a;
    slm_signal_acc_init(&a);
    float l[4] = {0, 1, 2, 3};
    int toks[9] = {1, 1, 1, 1, 1, 1, 1, 1, 2};
    for (int i = 0; i < 9; i++) slm_signal_acc_add(&a, toks[i], l, 4);
    slm_signal_opts o = slm_signal_opts_default();
    slm_signals s;
    slm_signals_finish(&a, &o, 1, &s);
    CHECK(s.v[SLM_SIG_LOOP] == 1, "loop before the stop token");
    CHECK(close_to(s.v[SLM_SIG_REP_FRAC], 5.0 / 6, 1e-12), "rep_frac %g", s.v[SLM_SIG_REP_FRAC]);
    slm_signal_acc_free(&a);
}

/* ---- policy ---- */

static slm_signals sig_with(double q, double ent) {
    slm_signals s = {0};
    s.n_tokens = 10;
    s.v[SLM_SIG_MEAN_LOGPROB] = q / 2;
    s.v[SLM_SIG_MIN_LOGPROB] = q * 2;
    s.v[SLM_SIG_Q_LOGPROB] = q;
    s.v[SLM_SIG_MEAN_ENTROPY] = ent;
    s.v[SLM_SIG_MEAN_MARGIN] = 0.5;
    s.v[SLM_SIG_EOS] = 1;
    return s;
}

static void test_policy(void) {
    slm_policy p;
    slm_policy_default(&p);
    char why[256];
    double score;
    slm_signals hi = sig_with(-1.0, 1), lo = sig_with(-3.0, 1);
    CHECK(slm_policy_decide(&p, &hi, &score, why, sizeof why) == 0 && score == -1.0, "confident escalated: %s", why);
    CHECK(slm_policy_decide(&p, &lo, &score, why, sizeof why) == 1 && strstr(why, "score -3 < threshold -2"), "%s", why);
    /* a weighted sum: 1*q - 0.5*entropy + 1 */
    p.weight[SLM_SIG_MEAN_ENTROPY] = -0.5;
    p.bias = 1;
    p.threshold = -1;
    slm_signals s = sig_with(-1.5, 2);
    CHECK(close_to(slm_policy_score(&p, &s), -1.5, 1e-12), "score %g", slm_policy_score(&p, &s));
    CHECK(slm_policy_decide(&p, &s, NULL, why, sizeof why) == 1, "weighted: %s", why);
    char f[256];
    slm_policy_describe(&p, f, sizeof f);
    CHECK(!strcmp(f, "1 + 1*q_logprob - 0.5*mean_entropy"), "formula '%s'", f);
    /* limits act on their own, in the direction of each signal */
    slm_policy_default(&p);
    p.has_limit[SLM_SIG_MEAN_ENTROPY] = 1;
    p.limit[SLM_SIG_MEAN_ENTROPY] = 1.5;
    CHECK(slm_policy_decide(&p, &hi, NULL, why, sizeof why) == 0, "entropy 1 under limit: %s", why);
    s = sig_with(-1.0, 2);
    CHECK(slm_policy_decide(&p, &s, NULL, why, sizeof why) == 1 && strstr(why, "mean_entropy 2 > limit 1.5"), "%s", why);
    p.has_limit[SLM_SIG_MIN_LOGPROB] = 1;
    p.limit[SLM_SIG_MIN_LOGPROB] = -1.5;
    CHECK(slm_policy_decide(&p, &hi, NULL, why, sizeof why) == 1 && strstr(why, "min_logprob -2 < limit -1.5"), "%s", why);
}

/* ---- rules ---- */

static void test_rules(void) {
    slm_rules r;
    slm_rules_init(&r);
    CHECK(slm_rules_add_default_tasks(&r) == 0, "defaults");
    CHECK(slm_rules_add_regex(&r, "reasoning", "(?i)\\b(prove|step by step)\\b", SLM_ROUTE_ESCALATE) == 0, "regex");
    const char *kw[] = {"opening hours", "C++", "café"};
    CHECK(slm_rules_add_keywords(&r, "faq", kw, 3, SLM_ROUTE_LOCAL) == 0, "keywords: %s", slm_error());
    CHECK(slm_rules_add_regex(&r, "broken", "(unclosed", SLM_ROUTE_LOCAL) == -1 && strstr(slm_error(), "offset 9"),
          "bad regex: %s", slm_error());
    r.max_local_tokens = 100;
    char why[256];
    CHECK(slm_rules_check(&r, NULL, "Once upon a time", 5, why, sizeof why) == SLM_ROUTE_AUTO, "no rule: %s", why);
    CHECK(slm_rules_check(&r, NULL, "Please PROVE it", 5, why, sizeof why) == SLM_ROUTE_ESCALATE && strstr(why, "reasoning"),
          "regex: %s", why);
    CHECK(slm_rules_check(&r, NULL, "what are the Opening Hours?", 5, why, sizeof why) == SLM_ROUTE_LOCAL, "kw: %s", why);
    CHECK(slm_rules_check(&r, NULL, "I write c++ daily", 5, why, sizeof why) == SLM_ROUTE_LOCAL, "c++: %s", why);
    CHECK(slm_rules_check(&r, NULL, "un CAFÉ noir", 5, why, sizeof why) == SLM_ROUTE_LOCAL, "café: %s", why);
    CHECK(slm_rules_check(&r, NULL, "cafés", 5, why, sizeof why) == SLM_ROUTE_AUTO, "whole words only: %s", why);
    CHECK(slm_rules_check(&r, NULL, "reopening hours", 5, why, sizeof why) == SLM_ROUTE_AUTO, "inside a word: %s", why);
    CHECK(slm_rules_check(&r, NULL, "bad \xff utf-8 prove", 5, why, sizeof why) == SLM_ROUTE_ESCALATE, "invalid UTF-8");
    /* order: length before task before patterns */
    CHECK(slm_rules_check(&r, "classify", "prove it", 5, why, sizeof why) == SLM_ROUTE_LOCAL && !strcmp(why, "task classify"),
          "task: %s", why);
    CHECK(slm_rules_check(&r, "reason", "hello", 5, why, sizeof why) == SLM_ROUTE_ESCALATE, "reason task");
    CHECK(slm_rules_check(&r, "classify", "hello", 101, why, sizeof why) == SLM_ROUTE_ESCALATE && strstr(why, "101 tokens"),
          "length: %s", why);
    CHECK(slm_rules_check(&r, NULL, "hello", -1, why, sizeof why) == SLM_ROUTE_AUTO, "unknown length");
    CHECK(slm_rules_check(&r, "poetry", "hello", 5, why, sizeof why) == -1 && strstr(slm_error(), "'poetry'"), "unknown task");
    r.mode = SLM_ROUTE_ESCALATE;
    CHECK(slm_rules_check(&r, "classify", "hello", 5, why, sizeof why) == SLM_ROUTE_ESCALATE && !strcmp(why, "forced escalate"),
          "forced: %s", why);
    r.mode = SLM_ROUTE_LOCAL;
    CHECK(slm_rules_check(&r, NULL, "hello", 500, why, sizeof why) == SLM_ROUTE_LOCAL, "forced local beats length");
    slm_rules_free(&r);
}

/* ---- config ---- */

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text) {
    static char path[8][128];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_config(void) {
    slm_router_config c;
    slm_router_config_init(&c);
    const char *path = write_tmp("good.json",
        "{\n"
        "  \"model\": \"../shared/models/stories260K\", \"n_predict\": 32, \"ctx\": 256, \"threads\": 1,\n"
        "  \"sampling\": {\"temp\": 0, \"top_k\": 5, \"top_p\": 0.9, \"min_p\": 0.01, \"repeat_penalty\": 1.1, \"seed\": 7},\n"
        "  \"mode\": \"auto\", \"max_local_tokens\": 200,\n"
        "  \"tasks\": {\"classify\": \"escalate\", \"summarize\": \"local\"},\n"
        "  \"rules\": [{\"name\": \"math\", \"regex\": \"[0-9]+ *[-+*/] *[0-9]+\", \"route\": \"escalate\"},\n"
        "            {\"keywords\": [\"refund\"], \"route\": \"local\"}],\n"
        "  \"signals\": {\"quantile\": 0.2, \"ngram\": 4},\n"
        "  \"decision\": {\"threshold\": -1.25, \"bias\": 0.5, \"weights\": {\"min_logprob\": 0.5, \"eos\": 1},\n"
        "               \"limits\": {\"rep_frac\": 0.6}},\n"
        "  \"escalate\": {\"cmd\": [\"sh\", \"-c\", \"not run by a shell here\"], \"format\": \"json\", \"timeout\": 2.5,\n"
        "               \"max_bytes\": 4096},\n"
        "  \"prices\": {\"local_in\": 0, \"local_out\": 1e-7, \"remote_in\": 3e-6, \"remote_out\": 1.5e-5},\n"
        "  \"log\": {\"file\": \"route.log\", \"prompts\": true}\n"
        "}\n");
    CHECK(slm_router_config_load(&c, path) == 0, "load: %s", slm_error());
    CHECK(c.model && !strcmp(c.model, "../shared/models/stories260K") && c.n_predict == 32 && c.ctx == 256, "model");
    CHECK(c.temp == 0 && c.top_k == 5 && c.top_p == 0.9 && c.has_seed && c.seed == 7, "sampling");
    CHECK(c.rules.max_local_tokens == 200 && c.rules.n_patterns == 2, "rules");
    CHECK(c.signals.quantile == 0.2 && c.signals.ngram == 4, "signals");
    CHECK(c.policy.threshold == -1.25 && c.policy.bias == 0.5 && c.policy.weight[SLM_SIG_Q_LOGPROB] == 0 &&
              c.policy.weight[SLM_SIG_MIN_LOGPROB] == 0.5 && c.policy.weight[SLM_SIG_EOS] == 1,
          "decision");
    CHECK(c.policy.has_limit[SLM_SIG_REP_FRAC] && c.policy.limit[SLM_SIG_REP_FRAC] == 0.6, "limits");
    CHECK(c.escalate_argv && !strcmp(c.escalate_argv[2], "not run by a shell here") && !c.escalate_argv[3], "cmd");
    CHECK(c.escalate_json && c.escalate_timeout == 2.5 && c.escalate_max_bytes == 4096, "escalate");
    CHECK(c.price_remote_out == 1.5e-5 && c.price_local_out == 1e-7, "prices");
    CHECK(c.log_file && !strcmp(c.log_file, "route.log") && c.log_prompts, "log");
    char why[128];
    CHECK(slm_rules_check(&c.rules, "classify", "x", 1, why, sizeof why) == SLM_ROUTE_ESCALATE, "task override");
    CHECK(slm_rules_check(&c.rules, "faq", "x", 1, why, sizeof why) == SLM_ROUTE_LOCAL, "default task kept");
    CHECK(slm_rules_check(&c.rules, NULL, "what is 12 * 7", 5, why, sizeof why) == SLM_ROUTE_ESCALATE, "regex rule");
    slm_router_config_free(&c);

    /* the command as a string goes through the same splitting as --escalate-cmd */
    slm_router_config_init(&c);
    path = write_tmp("cmd.json", "{\"escalate\": {\"cmd\": \"prog 'a b' c\"}}");
    CHECK(slm_router_config_load(&c, path) == 0 && !strcmp(c.escalate_argv[1], "a b"), "string cmd");
    slm_router_config_free(&c);

    /* every kind of mistake names the file and the key or the line */
    struct {
        const char *text, *want;
    } bad[] = {
        {"{\"n_predict\": 10,\n \"oops\": 1}", ": oops: unknown key"},
        {"{\"decision\": {\"threshold\": \"low\"}}", ": decision.threshold: expected a number"},
        {"{\"decision\": {\"weights\": {\"q10\": 1}}}", ": decision.weights.q10: unknown key"},
        {"{\"signals\": {\"quantile\": 1.5}}", ": signals.quantile: 1.5 is out of range [0, 1]"},
        {"{\"tasks\": {\"faq\": \"remote\"}}", ": tasks.faq: expected \"local\", \"escalate\" or \"auto\""},
        {"{\"rules\": [{\"regex\": \"(x\", \"route\": \"local\"}]}", ": rules[0].regex: regex at offset 2"},
        {"{\"rules\": [{\"route\": \"local\"}]}", ": rules[0]: needs exactly one of"},
        {"{\"rules\": [{\"regex\": \"x\"}]}", ": rules[0].route: missing"},
        {"{\"escalate\": {\"cmd\": []}}", ": escalate.cmd: expected a non-empty array of strings"},
        {"{\"escalate\": {\"cmd\": \"prog 'open\"}}", ": escalate.cmd: command: unterminated quote"},
        {"{\"escalate\": {\"format\": \"xml\"}}", ": escalate.format: expected \"plain\" or \"json\""},
        {"{\"n_predict\": 1.5}", ": n_predict: expected an integer"},
        {"{\"log\": {\"prompts\": 1}}", ": log.prompts: expected true or false"},
        {"[1, 2]", ": expected a JSON object at the top"},
        {"{\n  \"n_predict\": 10,\n  \"ctx\": ,\n}", ":3:10: not valid JSON"},
        {"{} {}", ":1:4: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        slm_router_config_init(&c);
        path = write_tmp("bad.json", bad[i].text);
        int rc = slm_router_config_load(&c, path);
        CHECK(rc == -1 && strstr(slm_error(), path) && strstr(slm_error(), bad[i].want), "case %zu: rc %d '%s' (want '%s')",
              i, rc, slm_error(), bad[i].want);
        slm_router_config_free(&c);
    }
    slm_router_config_init(&c);
    CHECK(slm_router_config_load(&c, "/nonexistent/route.json") == -1 && strstr(slm_error(), "/nonexistent/route.json"),
          "missing file: %s", slm_error());
    slm_router_config_free(&c);
}

/* ---- log helpers ---- */

static void test_log_helpers(void) {
    /* FNV-1a 64 test vectors (Fowler, Noll, Vo) */
    CHECK(slm_fnv1a64("", 0) == 0xcbf29ce484222325ull, "fnv empty");
    CHECK(slm_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull, "fnv a");
    CHECK(slm_fnv1a64("foobar", 6) == 0x85944171f73967e8ull, "fnv foobar");
    char t[32];
    slm_iso8601_now(t);
    CHECK(strlen(t) == 24 && t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[23] == 'Z', "time '%s'", t);
    slm_signals s = sig_with(-1.234567891, 0.5);
    cJSON *o = slm_signals_to_json(&s);
    slm_signals back;
    CHECK(slm_signals_from_json(o, &back) == 0, "round trip: %s", slm_error());
    CHECK(close_to(back.v[SLM_SIG_Q_LOGPROB], -1.234568, 1e-12) && back.n_tokens == 10, "rounded to 6 decimals");
    cJSON_DeleteItemFromObject(o, "loop");
    CHECK(slm_signals_from_json(o, &back) == -1 && !strcmp(slm_error(), "signals.loop: missing"), "%s", slm_error());
    cJSON_Delete(o);
    char *r = slm_utf8_repair("a\xff" "b\xc3");
    CHECK(!strcmp(r, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD"), "repair '%s'", r);
    free(r);
}

/* ---- whole requests through a canned local model ---- */

typedef struct {
    int calls, fail;
} fake;

/* Signals come from the prompt: "conf:-0.5 ..." gives q_logprob -0.5. The answer says so. */
static int fake_generate(void *user, const char *prompt, const slm_signal_opts *opts, slm_local_answer *out) {
    fake *f = user;
    f->calls++;
    if (f->fail) return slm_fail("the prompt does not fit in the context");
    double q = -1;
    sscanf(prompt, "conf:%lf", &q);
    memset(out, 0, sizeof *out);
    out->sig = sig_with(q, 1);
    out->n_prompt = (int)strlen(prompt);
    out->n_generated = 10;
    out->seconds = 0.002;
    out->text = malloc(64);
    snprintf(out->text, 64, "local answer %g", q);
    return 0;
}

static int fake_count(void *user, const char *text) { return (int)strlen(text); }

static void test_route_requests(void) {
    slm_router_config c;
    slm_router_config_init(&c);
    c.price_remote_in = 1;
    c.price_remote_out = 2;
    c.price_local_out = 0.5;
    slm_router_config_set_command(&c, "sh tests/router/answer.sh");
    fake f = {0, 0};
    slm_local_model lm = {&f, fake_count, fake_generate, NULL};
    slm_route_result res;

    /* confident: local */
    slm_request req = {NULL, "conf:-0.5 tell me a story", NULL, NULL};
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0, "route: %s", slm_error());
    CHECK(res.route == SLM_ROUTE_LOCAL && !res.by_rule && !res.answered_remotely, "route %d", res.route);
    CHECK(!strcmp(res.answer, "local answer -0.5") && res.has_signals && res.score == -0.5, "answer '%s'", res.answer);
    CHECK(res.escalate_s < 0 && res.tokens_in == 25 && res.tokens_out == 10, "tokens %d %d", res.tokens_in, res.tokens_out);
    /* local cost 10 * 0.5; all-escalate 25 * 1 + 10 * 2 */
    CHECK(res.cost == 5 && res.cost_all_escalate == 45, "cost %g %g", res.cost, res.cost_all_escalate);
    slm_route_result_free(&res);

    /* unsure: escalated, remote answer */
    req.prompt = "conf:-4 what is the derivative of x^3";
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0, "route: %s", slm_error());
    CHECK(res.route == SLM_ROUTE_ESCALATE && !res.by_rule && res.answered_remotely, "escalate");
    CHECK(!strcmp(res.answer, "remote answer to 37 bytes"), "answer '%s'", res.answer);
    CHECK(strstr(res.reason, "score -4 < threshold -2") != NULL, "reason '%s'", res.reason);
    /* local 10 * 0.5 + remote 37 * 1 + 25 * 2 (answer length 25 counted as tokens by fake_count) */
    CHECK(res.tokens_out == 25 && res.cost == 5 + 37 + 50 && res.cost_all_escalate == 87, "cost %g %g out %d", res.cost,
          res.cost_all_escalate, res.tokens_out);
    slm_route_result_free(&res);

    /* escalation fails: the local answer comes back, and the reason is kept */
    slm_router_config_set_command(&c, "sh tests/router/fail.sh");
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0, "route: %s", slm_error());
    CHECK(res.route == SLM_ROUTE_ESCALATE && !res.answered_remotely && !strcmp(res.answer, "local answer -4"), "fallback");
    CHECK(strstr(res.escalate_error, "exited with status 3") != NULL, "error '%s'", res.escalate_error);
    CHECK(res.escalate_s > 0 && res.cost == 5 + 37 && res.cost_all_escalate == 37 + 20, "cost %g %g", res.cost,
          res.cost_all_escalate);
    slm_route_result_free(&res);

    /* a rule escalates without generating; when the escalation fails, generation runs after all */
    f.calls = 0;
    req.task = "reason";
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0, "route: %s", slm_error());
    CHECK(res.by_rule && res.route == SLM_ROUTE_ESCALATE && f.calls == 1 && !strcmp(res.answer, "local answer -4"),
          "rule fallback: calls %d", f.calls);
    slm_route_result_free(&res);
    slm_router_config_set_command(&c, "sh tests/router/answer.sh");
    f.calls = 0;
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0 && f.calls == 0 && res.answered_remotely && !res.has_signals,
          "rule escalation needs no local run: calls %d", f.calls);
    slm_route_result_free(&res);

    /* a rule keeps a doubtful answer local */
    req.task = "classify";
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0 && res.route == SLM_ROUTE_LOCAL && res.by_rule, "task local");
    slm_route_result_free(&res);
    req.task = NULL;

    /* local generation fails: escalate; both fail: -1 with both reasons */
    f.fail = 1;
    req.prompt = "conf:-0.1 too long";
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0 && res.answered_remotely && strstr(res.local_error, "context"),
          "local failure escalates: %s", res.local_error);
    slm_route_result_free(&res);
    slm_router_config_set_command(&c, "slm-no-such-program-here");
    CHECK(slm_route_request(&c, &req, &lm, &res) == -1 && strstr(slm_error(), "not found") && strstr(slm_error(), "context"),
          "both fail: %s", slm_error());
    slm_route_result_free(&res);
    f.fail = 0;

    /* no escalation command at all */
    slm_argv_free(c.escalate_argv);
    c.escalate_argv = NULL;
    req.prompt = "conf:-9 x";
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0 && strstr(res.escalate_error, "no escalation command"), "no cmd");
    slm_route_result_free(&res);
    slm_router_config_free(&c);
}

static void test_json_request(void) {
    /* --escalate-format json: the command sees prompt, messages, draft and signals */
    slm_router_config c;
    slm_router_config_init(&c);
    slm_router_config_set_command(&c, "sh tests/router/echo.sh");
    c.escalate_json = 1;
    fake f = {0, 0};
    slm_local_model lm = {&f, fake_count, fake_generate, NULL};
    cJSON *msgs = cJSON_Parse("[{\"role\":\"system\",\"content\":\"conf:-5 be brief\"},{\"role\":\"user\",\"content\":\"hi\"}]");
    char *prompt = slm_messages_join(msgs);
    CHECK(prompt && !strcmp(prompt, "conf:-5 be brief\n\nhi"), "joined '%s'", prompt);
    cJSON *id = cJSON_CreateNumber(42);
    slm_request req = {id, prompt, msgs, NULL};
    slm_route_result res;
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0 && res.answered_remotely, "route: %s", slm_error());
    cJSON *got = cJSON_Parse(res.answer);
    CHECK(got != NULL, "not JSON: %s", res.answer);
    if (got) {
        cJSON *p = cJSON_GetObjectItem(got, "prompt"), *m = cJSON_GetObjectItem(got, "messages");
        cJSON *d = cJSON_GetObjectItem(got, "draft"), *s = cJSON_GetObjectItem(got, "signals");
        CHECK(cJSON_IsString(p) && !strcmp(p->valuestring, prompt), "prompt");
        CHECK(cJSON_Compare(m, msgs, 1), "messages");
        CHECK(cJSON_IsString(d) && !strcmp(d->valuestring, "local answer -5"), "draft");
        slm_signals back;
        CHECK(slm_signals_from_json(s, &back) == 0 && back.v[SLM_SIG_Q_LOGPROB] == -5, "signals");
        cJSON_Delete(got);
    }
    CHECK(!strcmp(res.id, "42"), "numeric id '%s'", res.id);
    /* the log line: prompt only when asked, the hash always */
    cJSON *line = slm_result_to_json(&c, &req, &res, 0);
    char *text = cJSON_PrintUnformatted(line);
    CHECK(!strstr(text, "be brief") && strstr(text, "\"prompt_hash\":\"fnv1a64:") && strstr(text, "\"id\":42") &&
              strstr(text, "\"route\":\"escalate\"") && strstr(text, "\"answered_by\":\"remote\"") &&
              strstr(text, "\"local_ms\":2,"),
          "log line %s", text);
    free(text);
    cJSON_Delete(line);
    line = slm_result_to_json(&c, &req, &res, SLM_RESULT_PROMPT);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(line, "prompt")), "prompt logged when asked");
    cJSON_Delete(line);
    slm_route_result_free(&res);
    /* without messages, a one-turn conversation is sent */
    req.messages = NULL;
    req.id = NULL;
    CHECK(slm_route_request(&c, &req, &lm, &res) == 0, "route");
    CHECK(strstr(res.answer, "\"messages\":[{\"role\":\"user\",\"content\":\"conf:-5 be brief\\n\\nhi\"}]") != NULL, "%s",
          res.answer);
    slm_route_result_free(&res);
    cJSON_Delete(id);
    cJSON_Delete(msgs);
    free(prompt);
    slm_router_config_free(&c);
}

static void test_batch(void) {
    slm_router_config c;
    slm_router_config_init(&c);
    slm_router_config_set_command(&c, "sh tests/router/answer.sh");
    fake f = {0, 0};
    slm_local_model lm = {&f, fake_count, fake_generate, NULL};
    const char *in = write_tmp("in.jsonl",
                               "{\"id\": \"a\", \"prompt\": \"conf:-0.5 story\"}\n"
                               "\n"
                               "{\"id\": 2, \"messages\": [{\"role\": \"user\", \"content\": \"conf:-7 code\"}], \"ok\": false}\n"
                               "{\"prompt\": \"conf:-1 faq\", \"task\": \"faq\"}\n");
    char out[128], logp[128];
    snprintf(out, sizeof out, "%s/out.jsonl", tmpdir);
    snprintf(logp, sizeof logp, "%s/batch.log", tmpdir);
    FILE *log = fopen(logp, "w");
    slm_batch_totals t;
    CHECK(slm_route_batch(&c, in, out, &lm, log, &t) == 0, "batch: %s", slm_error());
    fclose(log);
    CHECK(t.n == 3 && t.n_local == 2 && t.n_escalated == 1 && t.n_remote == 1 && t.n_failed == 0, "totals %d %d %d %d %d",
          t.n, t.n_local, t.n_escalated, t.n_remote, t.n_failed);
    slm_jsonl j;
    cJSON *o;
    int n = 0;
    slm_jsonl_open(&j, out);
    const char *want_answer[3] = {"local answer -0.5", "remote answer to 12 bytes", "local answer -1"};
    while (slm_jsonl_next(&j, &o) > 0) {
        cJSON *a = cJSON_GetObjectItem(o, "answer");
        CHECK(n < 3 && cJSON_IsString(a) && !strcmp(a->valuestring, want_answer[n]), "line %d answer", n);
        if (n == 1) CHECK(cJSON_GetObjectItem(o, "id")->valuedouble == 2, "numeric id kept");
        if (n == 2) CHECK(!strcmp(cJSON_GetObjectItem(o, "decided_by")->valuestring, "rule"), "task rule");
        cJSON_Delete(o);
        n++;
    }
    slm_jsonl_close(&j);
    CHECK(n == 3, "%d output lines", n);
    n = 0;
    slm_jsonl_open(&j, logp);
    while (slm_jsonl_next(&j, &o) > 0) {
        CHECK(!cJSON_GetObjectItem(o, "answer") && !cJSON_GetObjectItem(o, "prompt"), "log line %d has text", n);
        cJSON_Delete(o);
        n++;
    }
    slm_jsonl_close(&j);
    CHECK(n == 3, "%d log lines", n);

    /* malformed lines: nothing runs, the message names file and line */
    struct {
        const char *text, *want;
    } bad[] = {
        {"{\"prompt\": \"ok\"}\n{\"prompt\": \"x\",}\n", "in2.jsonl:2:"},
        {"{\"prompt\": \"ok\"}\n\n[1]\n", "in2.jsonl:3: expected a JSON object"},
        {"{\"prompt\": 5}\n", "in2.jsonl:1: prompt: expected a string"},
        {"{\"id\": 1}\n", "in2.jsonl:1: needs exactly one of \"prompt\" and \"messages\""},
        {"{\"messages\": [{\"role\": \"user\"}]}\n", "in2.jsonl:1: messages[0].content: expected a string"},
        {"{\"prompt\": \"x\", \"task\": \"poetry\"}\n", "in2.jsonl:1: task: 'poetry' is not in the task table"},
        {"{\"prompt\": \"x\"} trailing\n", "in2.jsonl:1:17: text after the JSON value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f.calls = 0;
        in = write_tmp("in2.jsonl", bad[i].text);
        int rc = slm_route_batch(&c, in, out, &lm, NULL, &t);
        CHECK(rc == -1 && strstr(slm_error(), bad[i].want) && f.calls == 0, "case %zu: '%s' calls %d", i, slm_error(), f.calls);
    }
    CHECK(slm_route_batch(&c, "/nonexistent.jsonl", out, &lm, NULL, &t) == -1 && strstr(slm_error(), "/nonexistent.jsonl"),
          "missing input");

    /* a request with no answer at all becomes an error line, and the batch goes on */
    in = write_tmp("in3.jsonl", "{\"id\": \"x\", \"prompt\": \"conf:-9 a\"}\n{\"id\": \"y\", \"prompt\": \"conf:-0.1 b\"}\n");
    f.fail = 1;
    slm_router_config_set_command(&c, "sh tests/router/fail.sh");
    CHECK(slm_route_batch(&c, in, out, &lm, NULL, &t) == 0 && t.n_failed == 2, "failed %d", t.n_failed);
    char *text = slm_read_file(out, NULL);
    CHECK(text && strstr(text, "\"id\":\"x\"") && strstr(text, "\"route\":\"failed\"") && strstr(text, "\"error\":\"no answer"),
          "%s", text ? text : "");
    free(text);
    slm_router_config_free(&c);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/slm-router-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_signals_closed_form);
    RUN(test_signals_random);
    RUN(test_signals_bad_logits);
    RUN(test_quantile);
    RUN(test_repetition);
    RUN(test_policy);
    RUN(test_rules);
    RUN(test_config);
    RUN(test_log_helpers);
    RUN(test_route_requests);
    RUN(test_json_request);
    RUN(test_batch);
    const char *names[] = {"good.json", "cmd.json", "bad.json", "in.jsonl", "in2.jsonl", "in3.jsonl", "out.jsonl", "batch.log"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return test_summary();
}
