/* The decision log: one JSON object per line and request (router/README.md lists the fields).
 * Prompts are identified by the FNV-1a 64-bit hash of their UTF-8 bytes ("fnv1a64:%016x"); the
 * text itself is written only when asked (--log-prompts). */
#ifndef SLM_ROUTER_LOG_H
#define SLM_ROUTER_LOG_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "route.h"

uint64_t slm_fnv1a64(const void *data, size_t n);
/* Current UTC time as "2026-01-31T12:34:56.789Z". */
void slm_iso8601_now(char buf[32]);

/* {"n_tokens": ..., "mean_logprob": ..., ...} */
cJSON *slm_signals_to_json(const slm_signals *s);
/* Reads the signals from such an object; every signal must be present. Returns 0, or -1 with
 * slm_error "signals.NAME: problem". */
int slm_signals_from_json(const cJSON *o, slm_signals *s);

enum { SLM_RESULT_PROMPT = 1, SLM_RESULT_ANSWER = 2 };
/* A result as a JSON object: the log line (flags 0 or SLM_RESULT_PROMPT), or a batch output line
 * (SLM_RESULT_ANSWER). */
cJSON *slm_result_to_json(const slm_router_config *c, const slm_request *req, const slm_route_result *res, int flags);
/* The line for a request that got no answer at all: {"time", "id", "prompt_hash", "route": "failed",
 * "error"}. res is what slm_route_request left (time and id). */
cJSON *slm_failure_to_json(const slm_request *req, const slm_route_result *res, const char *error, int flags);
/* Writes o as one line and flushes. Returns 0 or -1. */
int slm_json_line(FILE *f, const cJSON *o);

#endif
