#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/error.h"
#include "jsonl.h"

uint64_t slm_fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void slm_iso8601_now(char buf[32]) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

/* Six decimals are plenty for signals and milliseconds, and keep the lines readable. */
static double round6(double x) { return round(x * 1e6) / 1e6; }
static double round3(double x) { return round(x * 1e3) / 1e3; }

cJSON *slm_signals_to_json(const slm_signals *s) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "n_tokens", s->n_tokens);
    for (int i = 0; i < SLM_SIG_COUNT; i++) cJSON_AddNumberToObject(o, slm_signal_name(i), round6(s->v[i]));
    return o;
}

int slm_signals_from_json(const cJSON *o, slm_signals *s) {
    memset(s, 0, sizeof *s);
    if (!cJSON_IsObject(o)) return slm_fail("signals: expected an object");
    for (int i = 0; i < SLM_SIG_COUNT; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, slm_signal_name(i));
        if (!v) return slm_fail("signals.%s: missing", slm_signal_name(i));
        if (!cJSON_IsNumber(v)) return slm_fail("signals.%s: expected a number", slm_signal_name(i));
        s->v[i] = v->valuedouble;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "n_tokens");
    if (n && !cJSON_IsNumber(n)) return slm_fail("signals.n_tokens: expected a number");
    s->n_tokens = n ? n->valueint : 0;
    return 0;
}

/* Text into JSON: invalid UTF-8 would make the line unreadable for strict parsers. */
static void add_text(cJSON *o, const char *key, const char *s) {
    char *t = slm_utf8_repair(s ? s : "");
    cJSON_AddStringToObject(o, key, t ? t : "");
    free(t);
}

static void add_hash(cJSON *o, const char *prompt) {
    char hash[32];
    snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)slm_fnv1a64(prompt, strlen(prompt)));
    cJSON_AddStringToObject(o, "prompt_hash", hash);
}

static void add_ms(cJSON *o, const char *key, double seconds) {
    if (seconds < 0) cJSON_AddNullToObject(o, key);
    else cJSON_AddNumberToObject(o, key, round3(seconds * 1000));
}

cJSON *slm_result_to_json(const slm_router_config *c, const slm_request *req, const slm_route_result *res, int flags) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "time", res->time);
    if (req->id) cJSON_AddItemToObject(o, "id", cJSON_Duplicate(req->id, 1));
    else add_text(o, "id", res->id);
    add_hash(o, req->prompt);
    if (flags & SLM_RESULT_PROMPT) add_text(o, "prompt", req->prompt);
    if (req->task) add_text(o, "task", req->task);
    cJSON_AddStringToObject(o, "route", slm_route_name(res->route));
    cJSON_AddStringToObject(o, "decided_by", res->by_rule ? "rule" : "signals");
    add_text(o, "reason", res->reason);
    cJSON_AddStringToObject(o, "answered_by", res->answered_remotely ? "remote" : "local");
    if (res->escalate_error[0]) add_text(o, "escalate_error", res->escalate_error);
    if (res->local_error[0]) add_text(o, "local_error", res->local_error);
    if (res->has_signals) {
        cJSON_AddItemToObject(o, "signals", slm_signals_to_json(&res->sig));
        cJSON_AddNumberToObject(o, "score", round6(res->score));
    } else {
        cJSON_AddNullToObject(o, "signals");
        cJSON_AddNullToObject(o, "score");
    }
    cJSON_AddNumberToObject(o, "threshold", c->policy.threshold);
    add_ms(o, "local_ms", res->local_s);
    add_ms(o, "escalate_ms", res->escalate_s);
    add_ms(o, "latency_ms", (res->local_s > 0 ? res->local_s : 0) + (res->escalate_s > 0 ? res->escalate_s : 0));
    cJSON_AddNumberToObject(o, "tokens_in", res->tokens_in);
    cJSON_AddNumberToObject(o, "tokens_out", res->tokens_out);
    cJSON_AddNumberToObject(o, "cost", res->cost);
    cJSON_AddNumberToObject(o, "cost_all_escalate", res->cost_all_escalate);
    if (flags & SLM_RESULT_ANSWER) add_text(o, "answer", res->answer);
    return o;
}

cJSON *slm_failure_to_json(const slm_request *req, const slm_route_result *res, const char *error, int flags) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "time", res->time);
    if (req->id) cJSON_AddItemToObject(o, "id", cJSON_Duplicate(req->id, 1));
    else add_text(o, "id", res->id);
    add_hash(o, req->prompt);
    if (flags & SLM_RESULT_PROMPT) add_text(o, "prompt", req->prompt);
    cJSON_AddStringToObject(o, "route", "failed");
    add_text(o, "error", error);
    return o;
}

int slm_json_line(FILE *f, const cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    if (!s) return slm_fail("log: out of memory");
    /* One write(2) per line: several processes appending to one log never interleave in a line. */
    size_t n = strlen(s), done = 0;
    s[n++] = '\n';
    int rc = fflush(f) == 0 ? 0 : -1;
    while (!rc && done < n) {
        ssize_t w = write(fileno(f), s + done, n - done);
        if (w > 0) done += (size_t)w;
        else if (w < 0 && errno != EINTR) rc = -1;
    }
    free(s);
    return rc ? slm_fail("log: write error: %s", strerror(errno)) : 0;
}
