#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "escalate.h"
#include "jsonl.h"

void slm_router_config_init(slm_router_config *c) {
    memset(c, 0, sizeof *c);
    c->n_predict = 64;
    c->temp = c->top_p = c->min_p = c->repeat_penalty = NAN;
    c->top_k = c->repeat_last_n = -1;
    slm_rules_init(&c->rules);
    slm_rules_add_default_tasks(&c->rules);
    c->signals = slm_signal_opts_default();
    slm_policy_default(&c->policy);
    c->escalate_timeout = 30;
    c->escalate_max_bytes = 1 << 20;
}

void slm_router_config_free(slm_router_config *c) {
    free(c->model);
    slm_rules_free(&c->rules);
    slm_argv_free(c->escalate_argv);
    free(c->log_file);
    memset(c, 0, sizeof *c);
}

int slm_router_config_set_command(slm_router_config *c, const char *line) {
    char **argv;
    if (slm_split_command(line, &argv) < 0) return -1;
    slm_argv_free(c->escalate_argv);
    c->escalate_argv = argv;
    return 0;
}

/* ---- checked accessors: each names the file and the key path on failure ---- */

typedef struct {
    const char *path;
} ctx;

static int bad(const ctx *x, const char *key, const char *what) { return slm_fail("%s: %s: %s", x->path, key, what); }

static int get_number(const ctx *x, const cJSON *v, const char *key, double lo, double hi, double *out) {
    if (!cJSON_IsNumber(v)) return bad(x, key, "expected a number");
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%g is out of range [%g, %g]", v->valuedouble, lo, hi);
        return bad(x, key, msg);
    }
    *out = v->valuedouble;
    return 0;
}

static int get_int(const ctx *x, const cJSON *v, const char *key, double lo, double hi, int *out) {
    double d;
    if (get_number(x, v, key, lo, hi, &d)) return -1;
    if (d != floor(d)) return bad(x, key, "expected an integer");
    *out = (int)d;
    return 0;
}

static int get_bool(const ctx *x, const cJSON *v, const char *key, int *out) {
    if (!cJSON_IsBool(v)) return bad(x, key, "expected true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_string(const ctx *x, const cJSON *v, const char *key, char **out) {
    if (!cJSON_IsString(v)) return bad(x, key, "expected a string");
    char *s = strdup(v->valuestring);
    if (!s) return bad(x, key, "out of memory");
    free(*out);
    *out = s;
    return 0;
}

static int get_route(const ctx *x, const cJSON *v, const char *key, slm_route *out) {
    int r = cJSON_IsString(v) ? slm_route_parse(v->valuestring) : -1;
    if (r < 0) return bad(x, key, "expected \"local\", \"escalate\" or \"auto\"");
    *out = (slm_route)r;
    return 0;
}

static int expect_object(const ctx *x, const cJSON *v, const char *key) {
    return cJSON_IsObject(v) ? 0 : bad(x, key, "expected an object");
}

static int unknown(const ctx *x, const char *parent, const char *key) {
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", parent, *parent ? "." : "", key);
    return bad(x, path, "unknown key");
}

/* ---- sections ---- */

static int load_sampling(slm_router_config *c, const ctx *x, const cJSON *o) {
    if (expect_object(x, o, "sampling")) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        const char *k = v->string;
        int rc;
        if (!strcmp(k, "temp")) rc = get_number(x, v, "sampling.temp", 0, 100, &c->temp);
        else if (!strcmp(k, "top_k")) rc = get_int(x, v, "sampling.top_k", 0, 1e9, &c->top_k);
        else if (!strcmp(k, "top_p")) rc = get_number(x, v, "sampling.top_p", 0, 1, &c->top_p);
        else if (!strcmp(k, "min_p")) rc = get_number(x, v, "sampling.min_p", 0, 1, &c->min_p);
        else if (!strcmp(k, "repeat_penalty")) rc = get_number(x, v, "sampling.repeat_penalty", 0, 100, &c->repeat_penalty);
        else if (!strcmp(k, "repeat_last_n")) rc = get_int(x, v, "sampling.repeat_last_n", 0, 1e9, &c->repeat_last_n);
        else if (!strcmp(k, "seed")) {
            double d;
            rc = get_number(x, v, "sampling.seed", 0, 9007199254740992.0, &d);
            if (!rc && d != floor(d)) rc = bad(x, "sampling.seed", "expected an integer");
            c->seed = (unsigned long long)d;
            c->has_seed = 1;
        } else rc = unknown(x, "sampling", k);
        if (rc) return -1;
    }
    return 0;
}

static int load_rules(slm_router_config *c, const ctx *x, const cJSON *a) {
    if (!cJSON_IsArray(a)) return bad(x, "rules", "expected an array of rule objects");
    int i = 0;
    for (const cJSON *r = a->child; r; r = r->next, i++) {
        char key[32], name[96];
        snprintf(key, sizeof key, "rules[%d]", i);
        if (expect_object(x, r, key)) return -1;
        const cJSON *regex = NULL, *keywords = NULL, *route = NULL, *nm = NULL;
        for (const cJSON *v = r->child; v; v = v->next) {
            if (!strcmp(v->string, "regex")) regex = v;
            else if (!strcmp(v->string, "keywords")) keywords = v;
            else if (!strcmp(v->string, "route")) route = v;
            else if (!strcmp(v->string, "name")) nm = v;
            else return unknown(x, key, v->string);
        }
        slm_route rt = SLM_ROUTE_AUTO;
        snprintf(name, sizeof name, "%s.route", key);
        if (!route) return bad(x, name, "missing");
        if (get_route(x, route, name, &rt)) return -1;
        if (nm && !cJSON_IsString(nm)) {
            snprintf(name, sizeof name, "%s.name", key);
            return bad(x, name, "expected a string");
        }
        snprintf(name, sizeof name, "%d", i);
        const char *label = nm ? nm->valuestring : name;
        if (!!regex == !!keywords) return bad(x, key, "needs exactly one of \"regex\" and \"keywords\"");
        if (regex) {
            snprintf(name, sizeof name, "%s.regex", key);
            if (!cJSON_IsString(regex)) return bad(x, name, "expected a string");
            if (slm_rules_add_regex(&c->rules, label, regex->valuestring, rt)) {
                char msg[256];
                snprintf(msg, sizeof msg, "%s", slm_error());
                return bad(x, name, msg);
            }
        } else {
            snprintf(name, sizeof name, "%s.keywords", key);
            int n = cJSON_GetArraySize(keywords);
            if (!cJSON_IsArray(keywords) || n == 0) return bad(x, name, "expected a non-empty array of strings");
            const char **kw = malloc((size_t)n * sizeof *kw);
            if (!kw) return bad(x, name, "out of memory");
            int k = 0;
            for (const cJSON *s = keywords->child; s; s = s->next) {
                if (!cJSON_IsString(s) || !s->valuestring[0]) {
                    free(kw);
                    return bad(x, name, "expected non-empty strings");
                }
                kw[k++] = s->valuestring;
            }
            int rc = slm_rules_add_keywords(&c->rules, label, kw, n, rt);
            free(kw);
            if (rc) return -1;
        }
    }
    return 0;
}

static int load_signal_map(const ctx *x, const cJSON *o, const char *key, double *val, int *has) {
    if (expect_object(x, o, key)) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        int i = slm_signal_index(v->string);
        if (i < 0) return unknown(x, key, v->string);
        char name[96];
        snprintf(name, sizeof name, "%s.%s", key, v->string);
        if (get_number(x, v, name, -1e9, 1e9, &val[i])) return -1;
        if (has) has[i] = 1;
    }
    return 0;
}

static int load_decision(slm_router_config *c, const ctx *x, const cJSON *o) {
    if (expect_object(x, o, "decision")) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        const char *k = v->string;
        int rc;
        if (!strcmp(k, "threshold")) rc = get_number(x, v, "decision.threshold", -1e9, 1e9, &c->policy.threshold);
        else if (!strcmp(k, "bias")) rc = get_number(x, v, "decision.bias", -1e9, 1e9, &c->policy.bias);
        else if (!strcmp(k, "weights")) {
            /* Given weights replace the default (q_logprob alone). */
            memset(c->policy.weight, 0, sizeof c->policy.weight);
            rc = load_signal_map(x, v, "decision.weights", c->policy.weight, NULL);
        } else if (!strcmp(k, "limits")) rc = load_signal_map(x, v, "decision.limits", c->policy.limit, c->policy.has_limit);
        else rc = unknown(x, "decision", k);
        if (rc) return -1;
    }
    return 0;
}

static int load_escalate(slm_router_config *c, const ctx *x, const cJSON *o) {
    if (expect_object(x, o, "escalate")) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        const char *k = v->string;
        int rc = 0;
        if (!strcmp(k, "cmd")) {
            if (cJSON_IsString(v)) {
                if (slm_router_config_set_command(c, v->valuestring)) {
                    char msg[256];
                    snprintf(msg, sizeof msg, "%s", slm_error());
                    return bad(x, "escalate.cmd", msg);
                }
                continue;
            }
            int n = cJSON_GetArraySize(v);
            if (!cJSON_IsArray(v) || n == 0) return bad(x, "escalate.cmd", "expected a non-empty array of strings");
            char **argv = calloc((size_t)n + 1, sizeof *argv);
            if (!argv) return bad(x, "escalate.cmd", "out of memory");
            int i = 0;
            for (const cJSON *s = v->child; s; s = s->next, i++)
                if (!cJSON_IsString(s) || !(argv[i] = strdup(s->valuestring))) {
                    slm_argv_free(argv);
                    return bad(x, "escalate.cmd", "expected a non-empty array of strings");
                }
            if (!argv[0][0]) {
                slm_argv_free(argv);
                return bad(x, "escalate.cmd", "the program name is empty");
            }
            slm_argv_free(c->escalate_argv);
            c->escalate_argv = argv;
        } else if (!strcmp(k, "format")) {
            if (cJSON_IsString(v) && !strcmp(v->valuestring, "plain")) c->escalate_json = 0;
            else if (cJSON_IsString(v) && !strcmp(v->valuestring, "json")) c->escalate_json = 1;
            else rc = bad(x, "escalate.format", "expected \"plain\" or \"json\"");
        } else if (!strcmp(k, "timeout")) {
            rc = get_number(x, v, "escalate.timeout", 0.001, 86400, &c->escalate_timeout);
        } else if (!strcmp(k, "max_bytes")) {
            double d;
            rc = get_number(x, v, "escalate.max_bytes", 1, 1e12, &d);
            c->escalate_max_bytes = (size_t)d;
        } else {
            rc = unknown(x, "escalate", k);
        }
        if (rc) return -1;
    }
    return 0;
}

static int load_prices(slm_router_config *c, const ctx *x, const cJSON *o) {
    if (expect_object(x, o, "prices")) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        const char *k = v->string;
        double *dst = !strcmp(k, "local_in")     ? &c->price_local_in
                      : !strcmp(k, "local_out")  ? &c->price_local_out
                      : !strcmp(k, "remote_in")  ? &c->price_remote_in
                      : !strcmp(k, "remote_out") ? &c->price_remote_out
                                                 : NULL;
        if (!dst) return unknown(x, "prices", k);
        char name[64];
        snprintf(name, sizeof name, "prices.%s", k);
        if (get_number(x, v, name, 0, 1e9, dst)) return -1;
    }
    return 0;
}

static int load_log(slm_router_config *c, const ctx *x, const cJSON *o) {
    if (expect_object(x, o, "log")) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        int rc;
        if (!strcmp(v->string, "file")) rc = get_string(x, v, "log.file", &c->log_file);
        else if (!strcmp(v->string, "prompts")) rc = get_bool(x, v, "log.prompts", &c->log_prompts);
        else rc = unknown(x, "log", v->string);
        if (rc) return -1;
    }
    return 0;
}

static int load_tasks(slm_router_config *c, const ctx *x, const cJSON *o) {
    if (expect_object(x, o, "tasks")) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        char name[128];
        snprintf(name, sizeof name, "tasks.%s", v->string);
        slm_route r = SLM_ROUTE_AUTO;
        if (get_route(x, v, name, &r) || slm_rules_add_task(&c->rules, v->string, r)) return -1;
    }
    return 0;
}

static int load_signals(slm_router_config *c, const ctx *x, const cJSON *o) {
    if (expect_object(x, o, "signals")) return -1;
    for (const cJSON *v = o->child; v; v = v->next) {
        int rc;
        if (!strcmp(v->string, "quantile")) rc = get_number(x, v, "signals.quantile", 0, 1, &c->signals.quantile);
        else if (!strcmp(v->string, "ngram")) rc = get_int(x, v, "signals.ngram", 1, 64, &c->signals.ngram);
        else rc = unknown(x, "signals", v->string);
        if (rc) return -1;
    }
    return 0;
}

int slm_router_config_load(slm_router_config *c, const char *path) {
    cJSON *root = slm_json_parse_file(path);
    if (!root) return -1;
    ctx x = {path};
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = slm_fail("%s: expected a JSON object at the top", path);
    for (const cJSON *v = root->child; v && !rc; v = v->next) {
        const char *k = v->string;
        if (!strcmp(k, "model")) rc = get_string(&x, v, "model", &c->model);
        else if (!strcmp(k, "n_predict")) rc = get_int(&x, v, "n_predict", 0, 1e7, &c->n_predict);
        else if (!strcmp(k, "ctx")) rc = get_int(&x, v, "ctx", 0, 1e8, &c->ctx);
        else if (!strcmp(k, "threads")) rc = get_int(&x, v, "threads", 0, 4096, &c->threads);
        else if (!strcmp(k, "sampling")) rc = load_sampling(c, &x, v);
        else if (!strcmp(k, "mode")) rc = get_route(&x, v, "mode", &c->rules.mode);
        else if (!strcmp(k, "max_local_tokens")) rc = get_int(&x, v, "max_local_tokens", 0, 1e9, &c->rules.max_local_tokens);
        else if (!strcmp(k, "tasks")) rc = load_tasks(c, &x, v);
        else if (!strcmp(k, "rules")) rc = load_rules(c, &x, v);
        else if (!strcmp(k, "signals")) rc = load_signals(c, &x, v);
        else if (!strcmp(k, "decision")) rc = load_decision(c, &x, v);
        else if (!strcmp(k, "escalate")) rc = load_escalate(c, &x, v);
        else if (!strcmp(k, "prices")) rc = load_prices(c, &x, v);
        else if (!strcmp(k, "log")) rc = load_log(c, &x, v);
        else rc = unknown(&x, "", k);
    }
    cJSON_Delete(root);
    return rc;
}
