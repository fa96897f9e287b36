#include "calibrate.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "batch.h"
#include "jsonl.h"
#include "log.h"

int slm_calib_add(slm_calib_set *set, double score, int label) {
    slm_calib_point *p = realloc(set->p, (size_t)(set->n + 1) * sizeof *p);
    if (!p) return slm_fail("calibrate: out of memory");
    set->p = p;
    p[set->n].score = score;
    p[set->n].label = label;
    set->n++;
    set->n_labelled += label >= 0;
    set->n_bad += label == 0;
    return 0;
}

static int cmp_point(const void *x, const void *y) {
    const slm_calib_point *a = x, *b = y;
    return (a->score > b->score) - (a->score < b->score);
}

void slm_calib_sort(slm_calib_set *set) {
    if (set->n) qsort(set->p, (size_t)set->n, sizeof *set->p, cmp_point);
}

void slm_calib_free(slm_calib_set *set) {
    free(set->p);
    memset(set, 0, sizeof *set);
}

static int load_line(const cJSON *o, const char *path, int line, const slm_router_config *c, const slm_local_model *lm,
                     slm_calib_set *set) {
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "ok");
    if (ok && !cJSON_IsBool(ok)) return slm_fail("%s:%d: ok: expected true or false", path, line);
    int label = ok ? cJSON_IsTrue(ok) : -1;
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(o, "signals");
    slm_signals s;
    if (sig) {
        if (cJSON_IsNull(sig)) {
            set->n_skipped++;
            return 0;
        }
        if (slm_signals_from_json(sig, &s)) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", slm_error());
            return slm_fail("%s:%d: %s", path, line, msg);
        }
    } else {
        if (!cJSON_GetObjectItemCaseSensitive(o, "prompt") && !cJSON_GetObjectItemCaseSensitive(o, "messages"))
            return slm_fail("%s:%d: needs \"signals\", \"prompt\" or \"messages\"", path, line);
        if (!lm) return slm_fail("%s:%d: has a prompt to run but no model was given", path, line);
        char *prompt = slm_batch_prompt(o, path, line, lm, NULL);
        if (!prompt) return -1;
        slm_local_answer a = {0};
        int rc = lm->generate(lm->user, prompt, &c->signals, &a);
        free(prompt);
        free(a.text);
        if (rc) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", slm_error());
            return slm_fail("%s:%d: %s", path, line, msg);
        }
        s = a.sig;
    }
    return slm_calib_add(set, slm_policy_score(&c->policy, &s), label);
}

int slm_calib_load(const char *path, const slm_router_config *c, const slm_local_model *lm, slm_calib_set *set) {
    memset(set, 0, sizeof *set);
    slm_jsonl j;
    if (slm_jsonl_open(&j, path)) return -1;
    int rc;
    cJSON *o;
    while ((rc = slm_jsonl_next(&j, &o)) > 0) {
        rc = load_line(o, path, j.line, c, lm, set);
        cJSON_Delete(o);
        if (rc) break;
    }
    slm_jsonl_close(&j);
    if (!rc && set->n == 0) rc = slm_fail("%s: no line with signals to calibrate on", path);
    if (rc) {
        slm_calib_free(set);
        return -1;
    }
    slm_calib_sort(set);
    return 0;
}

double slm_calib_threshold(const slm_calib_set *set, double rate) {
    if (rate >= 1) return nextafter(set->p[set->n - 1].score, INFINITY);
    double *s = malloc((size_t)set->n * sizeof *s);
    if (!s) return set->p[0].score;
    for (int i = 0; i < set->n; i++) s[i] = set->p[i].score;
    double t = slm_quantile(s, (size_t)set->n, rate);
    free(s);
    return t;
}

slm_calib_row slm_calib_at(const slm_calib_set *set, double threshold) {
    slm_calib_row r = {threshold, 0, 0, 0, 0, NAN, NAN};
    int n_good = 0;
    for (int i = 0; i < set->n; i++) {
        int esc = set->p[i].score < threshold;
        r.n_escalated += esc;
        r.n_bad_caught += esc && set->p[i].label == 0;
        r.n_good_escalated += esc && set->p[i].label == 1;
        n_good += set->p[i].label == 1;
    }
    r.rate = set->n ? (double)r.n_escalated / set->n : 0;
    if (set->n_bad) r.caught = (double)r.n_bad_caught / set->n_bad;
    if (n_good) r.good_escalated = (double)r.n_good_escalated / n_good;
    return r;
}

/* Calls fn for every corner of the curve: rate and share caught for the thresholds at each
 * distinct score and above the largest one. */
typedef void (*corner_fn)(void *user, double rate, double caught, double good);

static void sweep(const slm_calib_set *set, corner_fn fn, void *user) {
    int n_good = set->n_labelled - set->n_bad, esc = 0, bad = 0, good = 0;
    for (int i = 0; i <= set->n; i++) {
        if (i > 0 && i < set->n && set->p[i].score == set->p[i - 1].score) continue;
        /* scores < p[i].score are escalated: the first i points */
        for (; esc < i; esc++) {
            bad += set->p[esc].label == 0;
            good += set->p[esc].label == 1;
        }
        fn(user, (double)esc / set->n, set->n_bad ? (double)bad / set->n_bad : NAN,
           n_good ? (double)good / n_good : NAN);
    }
}

typedef struct {
    double area, x, y;
    int started;
} auc_state;

/* Trapezoids under caught (up) against good escalated (across): tied scores move both at once and
 * get half credit, as the rank statistic does. */
static void auc_corner(void *user, double rate, double caught, double good) {
    auc_state *a = user;
    if (a->started) a->area += (good - a->x) * (caught + a->y) / 2;
    a->x = good;
    a->y = caught;
    a->started = 1;
}

double slm_calib_auc(const slm_calib_set *set) {
    if (!set->n_bad || set->n_labelled == set->n_bad) return NAN;
    auc_state a = {0, 0, 0, 0};
    sweep(set, auc_corner, &a);
    return a.area;
}

static void share(FILE *f, double v) {
    if (isnan(v)) fprintf(f, "%10s", "-");
    else fprintf(f, "%9.1f%%", 100 * v);
}

static void row(FILE *f, const char *label, const slm_calib_row *r) {
    fprintf(f, "%8s %12.6g %6d %7.1f%%", label, r->threshold, r->n_escalated, 100 * r->rate);
    share(f, r->caught);
    share(f, r->good_escalated);
    fputc('\n', f);
}

void slm_calib_print(FILE *f, const slm_calib_set *set, const slm_policy *policy, double target) {
    char formula[256];
    slm_policy_describe(policy, formula, sizeof formula);
    fprintf(f, "requests %d (%d labelled, %d bad local answers), %d skipped without signals\n", set->n, set->n_labelled,
            set->n_bad, set->n_skipped);
    fprintf(f, "score = %s; escalate when score < threshold\n", formula);
    fprintf(f, "%8s %12s %6s %8s %10s %10s\n", "target", "threshold", "escal", "rate", "bad caught", "good escal");
    char label[32];
    for (int i = 0; i <= 10; i++) {
        slm_calib_row r = slm_calib_at(set, slm_calib_threshold(set, i / 10.0));
        snprintf(label, sizeof label, "%.0f%%", 10.0 * i);
        row(f, label, &r);
    }
    slm_calib_row r = slm_calib_at(set, slm_calib_threshold(set, target));
    snprintf(label, sizeof label, "%.4g%%", 100 * target);
    fprintf(f, "chosen:\n");
    row(f, label, &r);
    double auc = slm_calib_auc(set);
    if (!isnan(auc))
        fprintf(f, "ROC AUC %.4f: chance that a bad answer scores below a good one (0.5: random, 1: perfect)\n", auc);
    fprintf(f, "config: \"decision\": {\"threshold\": %.6g}\n", r.threshold);
}
