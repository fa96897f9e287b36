/* Everything the router is told: the local model and its sampling, the rules, the signal options,
 * the decision, the escalation command, prices and the log. Filled with defaults, then from a
 * JSON file (router/README.md lists the keys), then from command-line options. */
#ifndef SLM_ROUTER_CONFIG_H
#define SLM_ROUTER_CONFIG_H

#include <stddef.h>

#include "policy.h"
#include "rules.h"
#include "signals.h"

typedef struct {
    /* local generation; sampling fields that were never set are NAN / -1 / has_seed 0, which
     * means the sampler's own defaults */
    char *model;
    int n_predict; /* default 64 */
    int ctx;       /* 0: the model's maximum */
    int threads;   /* 0: physical cores */
    double temp, top_p, min_p, repeat_penalty;
    int top_k, repeat_last_n;
    int has_seed;
    unsigned long long seed;

    slm_rules rules;
    slm_signal_opts signals;
    slm_policy policy;

    char **escalate_argv;      /* NULL: no escalation command (escalations then fall back) */
    int escalate_json;         /* request format: 0 plain prompt, 1 JSON object */
    double escalate_timeout;   /* seconds, default 30 */
    size_t escalate_max_bytes; /* default 1 MiB */

    /* estimated cost per token, in any currency unit */
    double price_local_in, price_local_out, price_remote_in, price_remote_out;

    char *log_file;
    int log_prompts;
} slm_router_config;

void slm_router_config_init(slm_router_config *c);
void slm_router_config_free(slm_router_config *c);
/* Reads a JSON config file over the current values. Unknown keys and wrong types fail with
 * "PATH: key.path: problem" (or "PATH:LINE:COL: not valid JSON"). Returns 0 or -1. */
int slm_router_config_load(slm_router_config *c, const char *path);
/* Sets the escalation command from a command line (see slm_split_command). */
int slm_router_config_set_command(slm_router_config *c, const char *line);

#endif
