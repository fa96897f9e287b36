/* One request through the router:
 *   rules (before any generation) -> local answer + signals -> decision -> escalation -> result.
 * The local model is reached through callbacks, so the router runs the same with the real model
 * (tools/cmd_route.c) and with canned answers (tests).
 *
 * No request is lost: when escalation fails for any reason the local answer is returned (generated
 * then, if a rule had skipped it) and the result says why. When local generation fails (e.g. the
 * prompt does not fit the context) the request is escalated instead. Only when both fail does
 * slm_route_request return -1. */
#ifndef SLM_ROUTER_ROUTE_H
#define SLM_ROUTER_ROUTE_H

#include <cjson/cJSON.h>

#include "config.h"
#include "signals.h"

typedef struct {
    char *text; /* malloc'd */
    int n_prompt, n_generated;
    slm_signals sig;
    double seconds;
} slm_local_answer;

typedef struct {
    void *user;
    /* Tokens text takes as a prompt, or -1 when unknown (NULL: unknown). */
    int (*count_tokens)(void *user, const char *text);
    /* The local answer to prompt with its signals. Returns 0, or -1 with slm_error set. */
    int (*generate)(void *user, const char *prompt, const slm_signal_opts *opts, slm_local_answer *out);
    /* Chat messages as one prompt for the local model (malloc'd), or NULL on error. NULL callback:
     * the contents joined by blank lines. */
    char *(*render_chat)(void *user, const cJSON *messages);
} slm_local_model;

typedef struct {
    const cJSON *id;        /* the request's id as given (string or number), or NULL */
    const char *prompt;     /* what the rules and the local model see */
    const cJSON *messages;  /* chat messages as given, or NULL */
    const char *task;       /* or NULL */
} slm_request;

typedef struct {
    char time[32]; /* ISO-8601 UTC, when the request arrived */
    char *id;      /* the given id as text, or a generated one */
    slm_route route;   /* SLM_ROUTE_LOCAL or SLM_ROUTE_ESCALATE: the decision */
    int by_rule;       /* 1: a rule decided before generation; 0: the signals did */
    char reason[256];
    char *answer;
    int answered_remotely;
    int has_signals;   /* a local answer was generated */
    slm_signals sig;
    double score;
    double local_s, escalate_s; /* -1: not run */
    char escalate_error[512];   /* why an escalation's answer was not used ("" otherwise) */
    char local_error[256];      /* why local generation failed, when it did */
    int tokens_in;     /* prompt tokens (local tokenizer; bytes/4 when it cannot count) */
    int tokens_out;    /* tokens of the returned answer, same counting */
    int local_tokens_out;
    double cost, cost_all_escalate;
} slm_route_result;

int slm_route_request(const slm_router_config *c, const slm_request *req, const slm_local_model *lm,
                      slm_route_result *res);
void slm_route_result_free(slm_route_result *res);

/* The contents of chat messages joined by blank lines (malloc'd), or NULL with slm_error when
 * messages is not an array of {"role": string, "content": string}. */
char *slm_messages_join(const cJSON *messages);
/* Checks the shape of chat messages; -1 with slm_error "messages[i].field: problem". */
int slm_messages_check(const cJSON *messages);

/* The request the escalation command reads: the prompt, or with json a compact object
 * {"prompt", "messages", "draft", "signals", "task"} (malloc'd). */
char *slm_escalation_request(const slm_request *req, int json, const slm_route_result *res, const char *draft);

#endif
