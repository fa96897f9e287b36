/* `slm route --calibrate`: choose the decision threshold from data.
 *
 * Each line of the input is one request: its "signals" (as in a decision log line), or a "prompt" /
 * "messages" to run through the local model; "ok": true / false optionally says whether the local
 * answer was acceptable. Lines whose signals are null (a rule decided without a local answer) are
 * skipped and counted.
 *
 * The threshold for a target escalation rate r is the r-quantile of the scores (linear
 * interpolation, slm_quantile; RouteLLM calibrates the same way), so that about r of the requests
 * score below it and escalate. With labels, each threshold also has a share of the bad local
 * answers it catches (escalates) and a share of the good ones it escalates needlessly. */
#ifndef SLM_ROUTER_CALIBRATE_H
#define SLM_ROUTER_CALIBRATE_H

#include <stdio.h>

#include "config.h"
#include "route.h"

typedef struct {
    double score;
    int label; /* 1 ok, 0 bad, -1 unknown */
} slm_calib_point;

typedef struct {
    slm_calib_point *p; /* sorted by score, ascending */
    int n, n_labelled, n_bad, n_skipped;
} slm_calib_set;

typedef struct {
    double threshold;
    int n_escalated, n_bad_caught, n_good_escalated;
    double rate;           /* n_escalated / n */
    double caught;         /* n_bad_caught / n_bad (NAN without bad labels) */
    double good_escalated; /* n_good_escalated / good labels (NAN without good labels) */
} slm_calib_row;

/* Reads the input; lm may be NULL when no line has a prompt. Fails with "PATH:LINE: problem". */
int slm_calib_load(const char *path, const slm_router_config *c, const slm_local_model *lm, slm_calib_set *set);
void slm_calib_free(slm_calib_set *set);
/* Adds one point (kept sorted by slm_calib_sort). */
int slm_calib_add(slm_calib_set *set, double score, int label);
void slm_calib_sort(slm_calib_set *set);

/* The threshold that escalates about a share rate of the set (rate 1: all of it). n >= 1. */
double slm_calib_threshold(const slm_calib_set *set, double rate);
/* What escalating every score < threshold does on the set. */
slm_calib_row slm_calib_at(const slm_calib_set *set, double threshold);
/* ROC AUC: area under the curve of bad answers caught against good answers escalated, thresholds
 * swept over all scores; the chance that a bad answer scores below a good one, ties counting half
 * (0.5: no better than escalating at random, 1: perfect). NAN without both labels. */
double slm_calib_auc(const slm_calib_set *set);

/* The table for rates 0, 0.1, ..., 1 and the target. */
void slm_calib_print(FILE *f, const slm_calib_set *set, const slm_policy *policy, double target);
/* The curve as a plain SVG file (needs labels with at least one bad answer). */
int slm_calib_svg(const char *path, const slm_calib_set *set, double target);

#endif
