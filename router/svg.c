/* The calibration curve as a small hand-written SVG: escalation rate across, share of bad local
 * answers caught (and of good ones escalated needlessly) up, the diagonal of random escalation,
 * and the chosen threshold marked. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/error.h"
#include "calibrate.h"

enum { W = 760, H = 480, LEFT = 70, RIGHT = 230, TOP = 40, BOTTOM = 60 };

static double px(double rate) { return LEFT + rate * (W - LEFT - RIGHT); }
static double py(double share) { return H - BOTTOM - share * (H - TOP - BOTTOM); }

typedef struct {
    FILE *f;
    int good; /* 0: the caught curve, 1: the good-escalated curve */
    double last_x, last_y;
    int n;
} curve;

static void point(void *user, double rate, double caught, double good) {
    curve *c = user;
    double y = c->good ? good : caught;
    if (isnan(y)) return;
    /* Corners joined by straight lines: ties in the score move both coordinates at once. */
    fprintf(c->f, "%s%.1f,%.1f", c->n++ ? " " : "", px(rate), py(y));
}

/* Same walk as calibrate.c's sweep, written out here: SVG needs the corners in order. */
static void corners(const slm_calib_set *set, curve *c) {
    int n_good = set->n_labelled - set->n_bad, esc = 0, bad = 0, good = 0;
    for (int i = 0; i <= set->n; i++) {
        if (i > 0 && i < set->n && set->p[i].score == set->p[i - 1].score) continue;
        for (; esc < i; esc++) {
            bad += set->p[esc].label == 0;
            good += set->p[esc].label == 1;
        }
        point(c, (double)esc / set->n, set->n_bad ? (double)bad / set->n_bad : NAN, n_good ? (double)good / n_good : NAN);
    }
}

int slm_calib_svg(const char *path, const slm_calib_set *set, double target) {
    if (!set->n_bad) return slm_fail("%s: the plot needs labelled lines with at least one bad answer (\"ok\": false)", path);
    FILE *f = fopen(path, "w");
    if (!f) return slm_fail("%s: %s", path, strerror(errno));
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\">Escalation threshold: %d requests, %d bad local answers</text>\n",
            LEFT, set->n, set->n_bad);
    /* grid, ticks and labels */
    for (int i = 0; i <= 5; i++) {
        double v = i / 5.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px(v), py(0), px(v), py(1));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px(0), py(v), px(1), py(v));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f%%</text>\n", px(v), py(0) + 18, 100 * v);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f%%</text>\n", px(0) - 8, py(v) + 4, 100 * v);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", px(0),
            py(1), px(1) - px(0), py(0) - py(1));
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">requests escalated</text>\n", (px(0) + px(1)) / 2,
            H - 18);
    fprintf(f, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\">share of answers</text>\n",
            (py(0) + py(1)) / 2);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"5,4\"/>\n",
            px(0), py(0), px(1), py(1));
    /* the curves */
    const char *colour[2] = {"#c0392b", "#2471a3"};
    const char *name[2] = {"bad answers caught", "good answers escalated"};
    for (int g = 0; g < 2; g++) {
        if (g == 1 && set->n_labelled - set->n_bad == 0) continue;
        curve c = {f, g, 0, 0, 0};
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour[g]);
        corners(set, &c);
        fprintf(f, "\"/>\n");
        double ly = TOP + 20 + 20 * g;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", W - RIGHT + 12,
                ly, W - RIGHT + 32, ly, colour[g]);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\">%s</text>\n", W - RIGHT + 38, ly + 4, name[g]);
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\" stroke-dasharray=\"5,4\"/>\n", W - RIGHT + 12,
            TOP + 60, W - RIGHT + 32, TOP + 60);
    fprintf(f, "<text x=\"%d\" y=\"%d\">random escalation</text>\n", W - RIGHT + 38, TOP + 64);
    /* the chosen threshold */
    slm_calib_row r = slm_calib_at(set, slm_calib_threshold(set, target));
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-dasharray=\"2,3\"/>\n",
            px(r.rate), py(0), px(r.rate), py(1));
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", px(r.rate), py(r.caught), colour[0]);
    int lx = W - RIGHT + 12, ly = TOP + 100;
    fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>\n", lx + 10, ly - 4, colour[0]);
    fprintf(f, "<text x=\"%d\" y=\"%d\">threshold %.4g:</text>\n", lx + 26, ly, r.threshold);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.0f%% escalated,</text>\n", lx + 26, ly + 18, 100 * r.rate);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.0f%% of bad caught</text>\n", lx + 26, ly + 36, 100 * r.caught);
    fprintf(f, "</svg>\n");
    if (fclose(f)) return slm_fail("%s: write error", path);
    return 0;
}
