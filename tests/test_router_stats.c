/* --stats and --calibrate on the hand-checked log tests/router/sample.log.
 *
 * The log, one request per line (latency ms, cost / all-escalate cost, q_logprob, ok):
 *   r1  local     signals  10     0   / 1.0   -0.5  ok
 *   r2  local     signals  12     0   / 1.2   -0.8  ok
 *   r3  local     rule      8     0   / 0.8   -1.5  bad
 *   r4  local     signals  20     0   / 2.0   -1.2  ok
 *   r5  escalate  remote  500     3.0 / 3.0   -3.0  bad
 *   r6  escalate  remote  700     2.5 / 2.5   -2.5  bad
 *   r7  escalate  timeout, local answer  5020  0.5 / 1.5  -2.2  ok
 *   r8  escalate  rule, remote   400   2.0 / 2.0   (no signals, no label)
 *   r9  escalate  exit 3, local answer   60    0.4 / 1.1  -4.0  bad
 *   r10 local     signals   9     0   / 0.9   -0.3  ok
 * Worked out by hand:
 *   split 5 local / 5 escalated; 3 answered remotely, 2 fell back; 2 decided by rule; 2 failures
 *   latency, all (8 9 10 12 20 60 400 500 700 5020): p50 = 20 + 0.5 (60 - 20) = 40,
 *     p95 = 700 + 0.55 (5020 - 700) = 3076, p99 = 700 + 0.91 * 4320 = 4631.2
 *   local (8 9 10 12 20): p50 10, p95 12 + 0.8 * 8 = 18.4, p99 19.68
 *   escalated (60 400 500 700 5020): p50 500, p95 700 + 0.8 * 4320 = 4156, p99 4847.2
 *   cost 8.4 against 16.0
 *   calibration on the 9 lines with signals, sorted -4b -3b -2.5b -2.2g -1.5b -1.2g -0.8g -0.5g -0.3g:
 *     rate 0.2: h = 8 * 0.2 = 1.6, threshold -3 + 0.6 * 0.5 = -2.7: escalates 2 (22%), catches 2 of 4
 *       bad, escalates 0 of 5 good
 *     rate 0.5: h = 4, threshold -1.5: escalates 4, catches 3 of 4 bad, 1 of 5 good
 *     ROC AUC: of the 4 x 5 (bad, good) pairs, the bad one scores lower in all but (-1.5, -1.2):
 *       19 / 20 = 0.95 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../router/calibrate.h"
#include "../router/config.h"
#include "../router/jsonl.h"
#include "../router/stats.h"
#include "../runtime/error.h"
#include "test.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-9 * (1 + fabs(b)); }

static void test_stats_sample(void) {
    slm_log_stats st;
    CHECK(slm_log_stats_load("tests/router/sample.log", &st) == 0, "load: %s", slm_error());
    CHECK(st.n == 10 && st.n_local == 5 && st.n_escalated == 5 && st.n_remote == 3 && st.n_fallback == 2 && st.n_rule == 2,
          "split %d %d %d %d %d %d", st.n, st.n_local, st.n_escalated, st.n_remote, st.n_fallback, st.n_rule);
    CHECK(st.n_failures == 2 && st.n_failure_kinds == 2, "failures %d kinds %d", st.n_failures, st.n_failure_kinds);
    if (st.n_failure_kinds == 2) {
        CHECK(!strcmp(st.failures[0].reason, "command exited with status 3") && st.failures[0].count == 1, "kind 0 '%s'",
              st.failures[0].reason);
        CHECK(!strcmp(st.failures[1].reason, "timed out after 5 s"), "kind 1 '%s'", st.failures[1].reason);
    }
    CHECK(st.n_lat_all == 10 && st.n_lat_local == 5 && st.n_lat_escalated == 5, "latency counts");
    CHECK(near(slm_quantile(st.lat_all, 10, 0.50), 40), "p50 %g", slm_quantile(st.lat_all, 10, 0.50));
    CHECK(near(slm_quantile(st.lat_all, 10, 0.95), 3076), "p95 %g", slm_quantile(st.lat_all, 10, 0.95));
    CHECK(near(slm_quantile(st.lat_all, 10, 0.99), 4631.2), "p99 %g", slm_quantile(st.lat_all, 10, 0.99));
    CHECK(near(slm_quantile(st.lat_local, 5, 0.50), 10) && near(slm_quantile(st.lat_local, 5, 0.95), 18.4) &&
              near(slm_quantile(st.lat_local, 5, 0.99), 19.68),
          "local percentiles");
    CHECK(near(slm_quantile(st.lat_escalated, 5, 0.50), 500) && near(slm_quantile(st.lat_escalated, 5, 0.95), 4156) &&
              near(slm_quantile(st.lat_escalated, 5, 0.99), 4847.2),
          "escalated percentiles");
    CHECK(near(st.cost, 8.4) && near(st.cost_all_escalate, 16.0), "cost %g %g", st.cost, st.cost_all_escalate);
    /* the printed report carries the same numbers */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    slm_log_stats_print(f, &st);
    fclose(f);
    CHECK(strstr(buf, "requests                10") && strstr(buf, "  local                  5   50.0%") &&
              strstr(buf, "(3 answered remotely, 2 fell back to the local answer)") &&
              strstr(buf, "  all            10       40.0     3076.0     4631.2") &&
              strstr(buf, "escalated       5      500.0     4156.0     4847.2") &&
              strstr(buf, "cost                8.4  (all-escalate baseline 16: 52.5% of it, 7.6 saved)"),
          "report:\n%s", buf);
    free(buf);
    slm_log_stats_free(&st);
}

static void test_calibrate_sample(void) {
    slm_router_config c;
    slm_router_config_init(&c);
    slm_calib_set set;
    CHECK(slm_calib_load("tests/router/sample.log", &c, NULL, &set) == 0, "load: %s", slm_error());
    CHECK(set.n == 9 && set.n_labelled == 9 && set.n_bad == 4 && set.n_skipped == 1, "counts %d %d %d %d", set.n,
          set.n_labelled, set.n_bad, set.n_skipped);
    double t = slm_calib_threshold(&set, 0.2);
    CHECK(near(t, -2.7), "threshold at 0.2: %.12g", t);
    slm_calib_row r = slm_calib_at(&set, t);
    CHECK(r.n_escalated == 2 && r.n_bad_caught == 2 && r.n_good_escalated == 0 && near(r.rate, 2.0 / 9) &&
              near(r.caught, 0.5) && r.good_escalated == 0,
          "row at 0.2: %d %d %d", r.n_escalated, r.n_bad_caught, r.n_good_escalated);
    t = slm_calib_threshold(&set, 0.5);
    r = slm_calib_at(&set, t);
    CHECK(near(t, -1.5) && r.n_escalated == 4 && r.n_bad_caught == 3 && r.n_good_escalated == 1, "row at 0.5: %g %d %d %d", t,
          r.n_escalated, r.n_bad_caught, r.n_good_escalated);
    r = slm_calib_at(&set, slm_calib_threshold(&set, 1));
    CHECK(r.n_escalated == 9 && near(r.caught, 1) && near(r.good_escalated, 1), "rate 1 escalates everything");
    r = slm_calib_at(&set, slm_calib_threshold(&set, 0));
    CHECK(r.n_escalated == 0, "rate 0 escalates nothing");
    CHECK(near(slm_calib_auc(&set), 0.95), "auc %.12g", slm_calib_auc(&set));

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    slm_calib_print(f, &set, &c.policy, 0.2);
    fclose(f);
    CHECK(strstr(buf, "requests 9 (9 labelled, 4 bad local answers), 1 skipped without signals") &&
              strstr(buf, "score = 1*q_logprob") && strstr(buf, "     20%         -2.7      2    22.2%     50.0%      0.0%") &&
              strstr(buf, "ROC AUC 0.9500") && strstr(buf, "\"decision\": {\"threshold\": -2.7}"),
          "table:\n%s", buf);
    free(buf);

    char svg[64];
    snprintf(svg, sizeof svg, "/tmp/slm-calib-%d.svg", (int)getpid());
    CHECK(slm_calib_svg(svg, &set, 0.2) == 0, "svg: %s", slm_error());
    char *text = slm_read_file(svg, NULL);
    CHECK(text && !strncmp(text, "<svg ", 5) && strstr(text, "</svg>\n") && strstr(text, "<polyline") &&
              strstr(text, ">threshold -2.7:</text>") && strstr(text, ">22% escalated,</text>") &&
              strstr(text, ">50% of bad caught</text>"),
          "svg content");
    /* the caught curve: 10 corners, from (0,0) at the bottom left to (1,1) at the top right */
    CHECK(text && strstr(text, "points=\"70.0,420.0 ") && strstr(text, " 530.0,40.0\"/>"), "curve ends");
    free(text);
    unlink(svg);
    slm_calib_free(&set);
    slm_router_config_free(&c);
}

static void test_calibrate_weights(void) {
    /* the score follows the configured weights: here min_logprob = 2 * q_logprob in the sample */
    slm_router_config c;
    slm_router_config_init(&c);
    c.policy.weight[SLM_SIG_Q_LOGPROB] = 0;
    c.policy.weight[SLM_SIG_MIN_LOGPROB] = 1;
    slm_calib_set set;
    CHECK(slm_calib_load("tests/router/sample.log", &c, NULL, &set) == 0, "load");
    CHECK(near(slm_calib_threshold(&set, 0.2), -5.4), "threshold %g", slm_calib_threshold(&set, 0.2));
    slm_calib_free(&set);
    slm_router_config_free(&c);
}

static char tmp[64];

static const char *write_tmp(const char *text) {
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    return tmp;
}

static void test_bad_lines(void) {
    const char *good =
        "{\"route\":\"local\",\"answered_by\":\"local\",\"latency_ms\":1,\"cost\":0,\"cost_all_escalate\":1}\n";
    struct {
        const char *second, *want;
    } bad[] = {
        {"{\"route\":\"sideways\",\"answered_by\":\"local\",\"latency_ms\":1,\"cost\":0,\"cost_all_escalate\":1}", ":2: route:"},
        {"{\"route\":\"local\",\"answered_by\":\"local\",\"cost\":0,\"cost_all_escalate\":1}", ":2: latency_ms: missing"},
        {"{\"route\":\"local\",\"answered_by\":\"local\",\"latency_ms\":\"1\",\"cost\":0,\"cost_all_escalate\":1}",
         ":2: latency_ms: expected a number"},
        {"{\"route\":\"local\",\"answered_by\":\"local\",\"latency_ms\":1,\"cost\":0,", ":2:"},
        {"not json", ":2:1: not valid JSON"},
    };
    snprintf(tmp, sizeof tmp, "/tmp/slm-stats-%d.log", (int)getpid());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s\n", good, bad[i].second);
        write_tmp(text);
        slm_log_stats st;
        CHECK(slm_log_stats_load(tmp, &st) == -1 && strstr(slm_error(), tmp) && strstr(slm_error(), bad[i].want),
              "case %zu: '%s'", i, slm_error());
    }
    slm_router_config c;
    slm_router_config_init(&c);
    slm_calib_set set;
    write_tmp("{\"signals\": {\"q_logprob\": -1}, \"ok\": true}\n");
    CHECK(slm_calib_load(tmp, &c, NULL, &set) == -1 && strstr(slm_error(), ":1: signals.mean_logprob: missing"), "'%s'",
          slm_error());
    write_tmp("{\"prompt\": \"Once upon a time\", \"ok\": true}\n");
    CHECK(slm_calib_load(tmp, &c, NULL, &set) == -1 && strstr(slm_error(), ":1: has a prompt to run but no model"), "'%s'",
          slm_error());
    write_tmp("{\"signals\": null}\n{\"ok\": \"yes\"}\n");
    CHECK(slm_calib_load(tmp, &c, NULL, &set) == -1 && strstr(slm_error(), ":2: ok: expected true or false"), "'%s'",
          slm_error());
    write_tmp("{\"signals\": null}\n");
    CHECK(slm_calib_load(tmp, &c, NULL, &set) == -1 && strstr(slm_error(), "no line with signals"), "'%s'", slm_error());
    /* the plot needs bad labels */
    slm_calib_set plain = {0};
    slm_calib_add(&plain, -1, -1);
    CHECK(slm_calib_svg("/tmp/never-written.svg", &plain, 0.2) == -1 && strstr(slm_error(), "\"ok\": false"), "svg");
    slm_calib_free(&plain);
    slm_router_config_free(&c);
    unlink(tmp);
}

int main(void) {
    (void)rel_l2;
    (void)test_randf;
    RUN(test_stats_sample);
    RUN(test_calibrate_sample);
    RUN(test_calibrate_weights);
    RUN(test_bad_lines);
    return test_summary();
}
