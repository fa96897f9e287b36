/* Batch mode: a JSON-lines file of requests in, one JSON line per request out.
 *   in:  {"id": ..., "prompt": "..."} or {"id": ..., "messages": [{"role", "content"}, ...]},
 *        optional "task"; other keys are ignored (labels, notes)
 *   out: {"id", "answer", "route", "reason", "answered_by", "signals", ...} (log.h fields), or
 *        {"id", "error"} for a request that got no answer at all
 * Every line is checked before the first request runs, so a malformed file is reported
 * ("IN:LINE: problem") without half a batch done. */
#ifndef SLM_ROUTER_BATCH_H
#define SLM_ROUTER_BATCH_H

#include <stdio.h>

#include "config.h"
#include "route.h"

typedef struct {
    int n, n_local, n_escalated, n_remote, n_failed; /* n_failed: requests with no answer */
} slm_batch_totals;

/* log may be NULL. Returns 0 when the input was read and the output written (requests that got no
 * answer are counted, not fatal), -1 with slm_error otherwise. */
int slm_route_batch(const slm_router_config *c, const char *in_path, const char *out_path, const slm_local_model *lm,
                    FILE *log, slm_batch_totals *t);

/* The prompt for one request line: "prompt", or the rendered "messages". Checks the line's fields
 * and fails with "PATH:LINE: field: problem". malloc'd. */
char *slm_batch_prompt(const cJSON *line, const char *path, int lineno, const slm_local_model *lm,
                       const slm_rules *rules);

#endif
