#include "stats.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "jsonl.h"
#include "signals.h"

static int push(double **a, int *n, double v) {
    double *b = realloc(*a, (size_t)(*n + 1) * sizeof *b);
    if (!b) return -1;
    b[(*n)++] = v;
    *a = b;
    return 0;
}

static int add_failure(slm_log_stats *st, const char *text) {
    size_t len = strlen(text);
    const char *colon = strstr(text, ": ");
    if (colon) len = (size_t)(colon - text);
    for (int i = 0; i < st->n_failure_kinds; i++)
        if (strlen(st->failures[i].reason) == len && !strncmp(st->failures[i].reason, text, len)) {
            st->failures[i].count++;
            return 0;
        }
    slm_failure_kind *f = realloc(st->failures, (size_t)(st->n_failure_kinds + 1) * sizeof *f);
    if (!f) return -1;
    st->failures = f;
    f += st->n_failure_kinds;
    if (!(f->reason = strndup(text, len))) return -1;
    f->count = 1;
    st->n_failure_kinds++;
    return 0;
}

static int cmp_failure(const void *x, const void *y) {
    const slm_failure_kind *a = x, *b = y;
    if (a->count != b->count) return b->count - a->count;
    return strcmp(a->reason, b->reason);
}

static int number(const cJSON *o, const char *key, const char *path, int line, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return slm_fail("%s:%d: %s: missing", path, line, key);
    if (!cJSON_IsNumber(v)) return slm_fail("%s:%d: %s: expected a number", path, line, key);
    *out = v->valuedouble;
    return 0;
}

static int read_line(slm_log_stats *st, const cJSON *o, const char *path, int line) {
    const cJSON *route = cJSON_GetObjectItemCaseSensitive(o, "route");
    if (!cJSON_IsString(route)) return slm_fail("%s:%d: route: expected a string", path, line);
    st->n++;
    if (!strcmp(route->valuestring, "failed")) {
        st->n_no_answer++;
        return 0;
    }
    int local = !strcmp(route->valuestring, "local");
    if (!local && strcmp(route->valuestring, "escalate"))
        return slm_fail("%s:%d: route: expected \"local\", \"escalate\" or \"failed\"", path, line);
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(o, "answered_by");
    if (!cJSON_IsString(by) || (strcmp(by->valuestring, "local") && strcmp(by->valuestring, "remote")))
        return slm_fail("%s:%d: answered_by: expected \"local\" or \"remote\"", path, line);
    const cJSON *decided = cJSON_GetObjectItemCaseSensitive(o, "decided_by");
    if (decided && !cJSON_IsString(decided)) return slm_fail("%s:%d: decided_by: expected a string", path, line);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "escalate_error");
    if (err && !cJSON_IsString(err)) return slm_fail("%s:%d: escalate_error: expected a string", path, line);
    double lat, cost, base;
    if (number(o, "latency_ms", path, line, &lat) || number(o, "cost", path, line, &cost) ||
        number(o, "cost_all_escalate", path, line, &base))
        return -1;
    if (lat < 0) return slm_fail("%s:%d: latency_ms: negative", path, line);
    int remote = !strcmp(by->valuestring, "remote");
    if (local) st->n_local++;
    else st->n_escalated++;
    st->n_remote += remote;
    st->n_fallback += !local && !remote;
    st->n_rule += decided && !strcmp(decided->valuestring, "rule");
    st->cost += cost;
    st->cost_all_escalate += base;
    if (err) {
        st->n_failures++;
        if (add_failure(st, err->valuestring)) return slm_fail("%s: out of memory", path);
    }
    if (push(&st->lat_all, &st->n_lat_all, lat) ||
        (local ? push(&st->lat_local, &st->n_lat_local, lat) : push(&st->lat_escalated, &st->n_lat_escalated, lat)))
        return slm_fail("%s: out of memory", path);
    return 0;
}

int slm_log_stats_load(const char *path, slm_log_stats *st) {
    memset(st, 0, sizeof *st);
    slm_jsonl j;
    if (slm_jsonl_open(&j, path)) return -1;
    int rc;
    cJSON *o;
    while ((rc = slm_jsonl_next(&j, &o)) > 0) {
        rc = read_line(st, o, path, j.line);
        cJSON_Delete(o);
        if (rc) break;
    }
    slm_jsonl_close(&j);
    if (rc) {
        slm_log_stats_free(st);
        return -1;
    }
    slm_sort_doubles(st->lat_all, (size_t)st->n_lat_all);
    slm_sort_doubles(st->lat_local, (size_t)st->n_lat_local);
    slm_sort_doubles(st->lat_escalated, (size_t)st->n_lat_escalated);
    /* (qsort must not see the NULL of an empty list) */
    if (st->n_failure_kinds) qsort(st->failures, (size_t)st->n_failure_kinds, sizeof *st->failures, cmp_failure);
    return 0;
}

void slm_log_stats_free(slm_log_stats *st) {
    free(st->lat_all);
    free(st->lat_local);
    free(st->lat_escalated);
    for (int i = 0; i < st->n_failure_kinds; i++) free(st->failures[i].reason);
    free(st->failures);
    memset(st, 0, sizeof *st);
}

static double pct(int k, int n) { return n ? 100.0 * k / n : 0; }

static void latency_row(FILE *f, const char *name, const double *v, int n) {
    if (!n) {
        fprintf(f, "  %-10s %6d          -          -          -\n", name, n);
        return;
    }
    fprintf(f, "  %-10s %6d %10.1f %10.1f %10.1f\n", name, n, slm_quantile(v, (size_t)n, 0.50),
            slm_quantile(v, (size_t)n, 0.95), slm_quantile(v, (size_t)n, 0.99));
}

void slm_log_stats_print(FILE *f, const slm_log_stats *st) {
    fprintf(f, "requests            %6d\n", st->n);
    fprintf(f, "  local             %6d  %5.1f%%\n", st->n_local, pct(st->n_local, st->n));
    fprintf(f, "  escalated         %6d  %5.1f%%  (%d answered remotely, %d fell back to the local answer)\n",
            st->n_escalated, pct(st->n_escalated, st->n), st->n_remote, st->n_fallback);
    if (st->n_no_answer) fprintf(f, "  no answer         %6d  %5.1f%%\n", st->n_no_answer, pct(st->n_no_answer, st->n));
    fprintf(f, "decided by rule     %6d, by signals %d\n", st->n_rule, st->n_local + st->n_escalated - st->n_rule);
    fprintf(f, "escalation failures %6d  %5.1f%% of escalations\n", st->n_failures, pct(st->n_failures, st->n_escalated));
    for (int i = 0; i < st->n_failure_kinds; i++) fprintf(f, "  %6d  %s\n", st->failures[i].count, st->failures[i].reason);
    fprintf(f, "%-12s %6s %10s %10s %10s\n", "latency ms", "count", "p50", "p95", "p99");
    latency_row(f, "all", st->lat_all, st->n_lat_all);
    latency_row(f, "local", st->lat_local, st->n_lat_local);
    latency_row(f, "escalated", st->lat_escalated, st->n_lat_escalated);
    fprintf(f, "cost                %.6g  (all-escalate baseline %.6g", st->cost, st->cost_all_escalate);
    if (st->cost_all_escalate > 0)
        fprintf(f, ": %.1f%% of it, %.6g saved", 100 * st->cost / st->cost_all_escalate,
                st->cost_all_escalate - st->cost);
    fprintf(f, ")\n");
}
