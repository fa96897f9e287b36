#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/error.h"
#include "escalate.h"
#include "log.h"

int slm_messages_check(const cJSON *messages) {
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0)
        return slm_fail("messages: expected a non-empty array");
    int i = 0;
    for (const cJSON *m = messages->child; m; m = m->next, i++) {
        if (!cJSON_IsObject(m)) return slm_fail("messages[%d]: expected an object", i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role)) return slm_fail("messages[%d].role: expected a string", i);
        if (!cJSON_IsString(content)) return slm_fail("messages[%d].content: expected a string", i);
    }
    return 0;
}

char *slm_messages_join(const cJSON *messages) {
    if (slm_messages_check(messages)) return NULL;
    size_t len = 1;
    for (const cJSON *m = messages->child; m; m = m->next)
        len += strlen(cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring) + 2;
    char *s = malloc(len);
    if (!s) {
        slm_fail("messages: out of memory");
        return NULL;
    }
    size_t n = 0;
    for (const cJSON *m = messages->child; m; m = m->next) {
        const char *c = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
        if (n) {
            memcpy(s + n, "\n\n", 2);
            n += 2;
        }
        memcpy(s + n, c, strlen(c));
        n += strlen(c);
    }
    s[n] = 0;
    return s;
}

char *slm_escalation_request(const slm_request *req, int json, const slm_route_result *res, const char *draft) {
    if (!json) return strdup(req->prompt);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "prompt", req->prompt);
    if (req->messages) {
        cJSON_AddItemToObject(o, "messages", cJSON_Duplicate(req->messages, 1));
    } else {
        /* A one-turn conversation, so that chat-style commands need no special case. */
        cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", req->prompt);
        cJSON_AddItemToArray(msgs, m);
    }
    if (draft) cJSON_AddStringToObject(o, "draft", draft);
    else cJSON_AddNullToObject(o, "draft");
    if (res->has_signals) cJSON_AddItemToObject(o, "signals", slm_signals_to_json(&res->sig));
    else cJSON_AddNullToObject(o, "signals");
    if (req->task) cJSON_AddStringToObject(o, "task", req->task);
    cJSON_AddStringToObject(o, "reason", res->reason);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int count_tokens(const slm_local_model *lm, const char *text) {
    int n = lm->count_tokens ? lm->count_tokens(lm->user, text) : -1;
    return n >= 0 ? n : (int)((strlen(text) + 3) / 4);
}

/* Runs the local model once; on failure the reason is kept in res->local_error. */
static int run_local(const slm_router_config *c, const slm_request *req, const slm_local_model *lm,
                     slm_local_answer *ans, slm_route_result *res) {
    memset(ans, 0, sizeof *ans);
    if (lm->generate(lm->user, req->prompt, &c->signals, ans)) {
        snprintf(res->local_error, sizeof res->local_error, "%s", slm_error());
        free(ans->text);
        ans->text = NULL;
        return -1;
    }
    res->has_signals = 1;
    res->sig = ans->sig;
    res->local_s = ans->seconds;
    res->local_tokens_out = ans->n_generated;
    return 0;
}

int slm_route_request(const slm_router_config *c, const slm_request *req, const slm_local_model *lm,
                      slm_route_result *res) {
    static unsigned long counter;
    memset(res, 0, sizeof *res);
    res->local_s = res->escalate_s = -1;
    slm_iso8601_now(res->time);
    char idbuf[64];
    if (req->id && cJSON_IsString(req->id)) {
        res->id = strdup(req->id->valuestring);
    } else {
        if (req->id && cJSON_IsNumber(req->id)) snprintf(idbuf, sizeof idbuf, "%.17g", req->id->valuedouble);
        else {
            /* time stamp digits, process, counter: unique across runs appending to one log */
            char stamp[32];
            size_t k = 0;
            for (const char *t = res->time; *t; t++)
                if ((*t >= '0' && *t <= '9') || *t == 'T') stamp[k++] = *t;
            stamp[k] = 0;
            snprintf(idbuf, sizeof idbuf, "%s-%ld-%lu", stamp, (long)getpid(), ++counter);
        }
        res->id = strdup(idbuf);
    }
    if (!res->id) return slm_fail("route: out of memory");

    int lm_count = lm->count_tokens ? lm->count_tokens(lm->user, req->prompt) : -1;
    res->tokens_in = lm_count >= 0 ? lm_count : (int)((strlen(req->prompt) + 3) / 4);
    int route = slm_rules_check(&c->rules, req->task, req->prompt, lm_count, res->reason, sizeof res->reason);
    if (route < 0) return -1;
    res->by_rule = route != SLM_ROUTE_AUTO;

    slm_local_answer ans = {0};
    int have_local = 0;
    if (route != SLM_ROUTE_ESCALATE) {
        have_local = run_local(c, req, lm, &ans, res) == 0;
        if (!have_local) {
            route = SLM_ROUTE_ESCALATE;
            res->by_rule = 0;
            snprintf(res->reason, sizeof res->reason, "local generation failed");
        } else if (route == SLM_ROUTE_AUTO) {
            route = slm_policy_decide(&c->policy, &ans.sig, &res->score, res->reason, sizeof res->reason)
                        ? SLM_ROUTE_ESCALATE
                        : SLM_ROUTE_LOCAL;
        } else {
            res->score = slm_policy_score(&c->policy, &ans.sig);
        }
    }
    res->route = (slm_route)route;

    int remote_out = 0, escalated_ok = 0;
    if (route == SLM_ROUTE_ESCALATE) {
        if (!c->escalate_argv) {
            snprintf(res->escalate_error, sizeof res->escalate_error, "no escalation command configured");
        } else {
            char *input = slm_escalation_request(req, c->escalate_json, res, have_local ? ans.text : NULL);
            if (!input) {
                snprintf(res->escalate_error, sizeof res->escalate_error, "out of memory");
            } else {
                slm_escalate_opts eo = {c->escalate_argv, c->escalate_timeout, c->escalate_max_bytes};
                slm_escalation e;
                if (slm_escalate(&eo, input, strlen(input), &e) == 0) {
                    res->answer = e.answer;
                    res->answered_remotely = 1;
                    escalated_ok = 1;
                    remote_out = count_tokens(lm, e.answer);
                } else {
                    snprintf(res->escalate_error, sizeof res->escalate_error, "%s", e.error);
                }
                res->escalate_s = e.seconds;
                free(input);
            }
        }
        /* The fallback: a rule skipped local generation, now it is needed after all. */
        if (!escalated_ok && !have_local && !res->local_error[0] && run_local(c, req, lm, &ans, res) == 0) {
            have_local = 1;
            res->score = slm_policy_score(&c->policy, &ans.sig);
        }
        if (!escalated_ok && !have_local) {
            slm_fail("no answer: escalation failed (%s) and local generation failed (%s)", res->escalate_error,
                     res->local_error[0] ? res->local_error : "not run");
            free(ans.text);
            return -1;
        }
    }
    if (!res->answered_remotely) {
        res->answer = ans.text;
        ans.text = NULL;
    }
    free(ans.text);
    res->tokens_out = res->answered_remotely ? remote_out : res->local_tokens_out;

    /* Cost: what ran (local tokens at local prices, an escalation at remote prices whether or not
     * its answer was used) against sending everything out (the local answer's length standing in
     * for a remote answer that was never asked for). */
    double local = res->has_signals ? c->price_local_in * res->tokens_in + c->price_local_out * res->local_tokens_out : 0;
    double remote = res->escalate_s >= 0 ? c->price_remote_in * res->tokens_in + c->price_remote_out * remote_out : 0;
    res->cost = local + remote;
    res->cost_all_escalate = c->price_remote_in * res->tokens_in +
                             c->price_remote_out * (escalated_ok ? remote_out : res->local_tokens_out);
    return 0;
}

void slm_route_result_free(slm_route_result *res) {
    free(res->id);
    free(res->answer);
    res->id = res->answer = NULL;
}
