/* `slm route --stats LOG`: what a decision log says about the routing: the local / escalated split,
 * latency percentiles, escalation failures and the estimated cost against sending every request
 * out. Percentiles interpolate linearly between order statistics (slm_quantile). */
#ifndef SLM_ROUTER_STATS_H
#define SLM_ROUTER_STATS_H

#include <stdio.h>

typedef struct {
    char *reason; /* the failure text up to its first ": " (details vary per request) */
    int count;
} slm_failure_kind;

typedef struct {
    int n;            /* log lines */
    int n_local;      /* decided local */
    int n_escalated;  /* decided escalate */
    int n_no_answer;  /* route "failed": neither side answered */
    int n_remote;     /* answered by the escalation command */
    int n_fallback;   /* escalated, but the local answer was returned */
    int n_rule;       /* decided by a rule before generation */
    /* latency_ms, sorted ascending: all answered requests, the local ones, the escalated ones */
    double *lat_all, *lat_local, *lat_escalated;
    int n_lat_all, n_lat_local, n_lat_escalated;
    slm_failure_kind *failures; /* escalation failures by kind, most frequent first */
    int n_failure_kinds, n_failures;
    double cost, cost_all_escalate;
} slm_log_stats;

/* Reads a decision log; a malformed line fails with "PATH:LINE: field: problem". */
int slm_log_stats_load(const char *path, slm_log_stats *st);
void slm_log_stats_print(FILE *f, const slm_log_stats *st);
void slm_log_stats_free(slm_log_stats *st);

#endif
