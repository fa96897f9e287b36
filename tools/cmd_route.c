/* slm route: answer with the local model when it is confident, escalate to an external command when
 * it is not; plus batch mode, statistics over the decision log, and threshold calibration. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../model/model.h"
#include "../router/batch.h"
#include "../router/calibrate.h"
#include "../router/config.h"
#include "../router/jsonl.h"
#include "../router/log.h"
#include "../router/route.h"
#include "../router/stats.h"
#include "../runtime/error.h"
#include "../runtime/generate.h"
#include "../tokenizer/chat.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"
#include "gen_options.h"

static const char usage[] =
    "usage: slm route -m DIR -p TEXT [options]                 answer one prompt\n"
    "       slm route -m DIR --batch IN.jsonl --out OUT.jsonl   answer a file of requests\n"
    "       slm route --stats LOG                              summarise a decision log\n"
    "       slm route --calibrate FILE [--target-rate R] [--svg FILE] [-m DIR]\n"
    "                                                          choose the threshold from data\n"
    "  -p, --prompt TEXT        the request (a plain completion; a chat turn with --system or --chat-template)\n"
    "routing:\n"
    "      --config FILE        JSON config (router/README.md); options below override it\n"
    "      --task NAME          task type for the task table (classify, extract, faq -> local; reason -> escalate)\n"
    "      --max-local-tokens N escalate prompts longer than N tokens\n"
    "      --always-local       never escalate          --always-escalate   always escalate\n"
    "      --threshold T        escalate when the score (default: q_logprob) is below T (default -2)\n"
    "      --quantile Q         the low quantile of token log-probabilities behind q_logprob (default 0.1)\n"
    "escalation:\n"
    "      --escalate-cmd CMD   command to run, split into words without a shell ('...', \"...\", \\ quote)\n"
    "      --escalate-format F  plain (the prompt on stdin, default) or json ({prompt, messages, draft, signals})\n"
    "      --escalate-timeout S seconds before the command's process group is killed (default 30)\n"
    "      --escalate-max-bytes N  largest answer accepted (default 1048576)\n"
    "output:\n"
    "      --log FILE           append one JSON line per request     --log-prompts  include the prompt text\n"
    "      --json               print the result as JSON instead of the answer\n"
    "  -q, --quiet              no decision line on stderr\n"
    "      --target-rate R      calibration: share of requests to escalate (default 0.2)\n"
    "      --svg FILE           calibration: write the curve as SVG\n"
    "local model (as slm run; -n defaults to 64 here):\n";

/* ---- the local model behind the router's callbacks ---- */

typedef struct {
    const slm_router_config *c;
    const gen_options *g;
    slm_model *m;
    slm_session *s;
    slm_tokenizer *tok;
    char *chat; /* the chat template source, NULL when the model has none */
    int *stop_ids, n_stop;
} local_model;

typedef struct {
    slm_signal_acc acc;
    slm_detok_stream *detok;
    char *text;
    size_t len, cap;
    int failed;
} gen_state;

static int append(gen_state *g, const char *s, size_t n) {
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < g->len + n + 1) cap *= 2;
        char *t = realloc(g->text, cap);
        if (!t) return -1;
        g->text = t;
        g->cap = cap;
    }
    memcpy(g->text + g->len, s, n);
    g->len += n;
    g->text[g->len] = 0;
    return 0;
}

/* Signals come from the logits the token was sampled from: no second pass over the model. */
static int on_token(void *user, int token, const float *logits, int vocab) {
    gen_state *g = user;
    const char *bytes;
    size_t n;
    if (slm_signal_acc_add(&g->acc, token, logits, vocab) || slm_detok_stream_push(g->detok, token, &bytes, &n) ||
        append(g, bytes, n)) {
        g->failed = 1;
        return 1;
    }
    return 0;
}

static int count_tokens(void *user, const char *text) {
    local_model *lm = user;
    int *ids, n;
    if (slm_tokenize(lm->tok, text, strlen(text), !lm->g->no_bos, 0, &ids, &n)) return -1;
    free(ids);
    return n;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int generate(void *user, const char *prompt, const slm_signal_opts *opts, slm_local_answer *out) {
    local_model *lm = user;
    double t0 = now();
    int *ids, n;
    if (slm_tokenize(lm->tok, prompt, strlen(prompt), !lm->g->no_bos, 0, &ids, &n)) return -1;
    int ctx = slm_session_ctx(lm->s);
    if (n >= ctx) {
        free(ids);
        return slm_fail("the prompt has %d tokens and the context holds %d", n, ctx);
    }
    gen_state g = {0};
    slm_signal_acc_init(&g.acc);
    g.detok = slm_detok_stream_new(lm->tok, !lm->g->special);
    if (!g.detok || append(&g, "", 0)) {
        free(ids);
        slm_detok_stream_free(g.detok);
        return slm_fail("out of memory");
    }
    slm_gen_params gp = {0};
    gp.n_predict = lm->c->n_predict;
    gp.sampling = lm->g->sampling;
    gp.stop_ids = lm->stop_ids;
    gp.n_stop = lm->n_stop;
    gp.on_token = on_token;
    gp.user = &g;
    slm_gen_stats st;
    slm_session_reset(lm->s);
    int rc = slm_generate(lm->s, ids, n, &gp, &st);
    free(ids);
    const char *bytes;
    size_t len;
    if (!rc && g.failed) rc = -1; /* slm_error says which step */
    if (!rc && (slm_detok_stream_flush(g.detok, &bytes, &len) || append(&g, bytes, len))) rc = -1;
    if (!rc) rc = slm_signals_finish(&g.acc, opts, st.hit_stop, &out->sig);
    slm_signal_acc_free(&g.acc);
    slm_detok_stream_free(g.detok);
    if (rc) {
        free(g.text);
        return -1;
    }
    out->text = g.text;
    out->n_prompt = n;
    out->n_generated = st.n_generated;
    out->seconds = now() - t0;
    return 0;
}

static char *render_chat(void *user, const cJSON *messages) {
    local_model *lm = user;
    if (!lm->chat) return slm_messages_join(messages);
    char *json = cJSON_PrintUnformatted(messages);
    if (!json) {
        slm_fail("out of memory");
        return NULL;
    }
    slm_chat_request req = {.messages_json = json, .add_generation_prompt = 1, .bos_token = slm_tokenizer_bos(lm->tok),
                            .eos_token = slm_tokenizer_eos(lm->tok)};
    char *text = slm_chat_render_request(lm->chat, &req);
    free(json);
    return text;
}

static void open_model(local_model *lm, const slm_router_config *c, const gen_options *g) {
    memset(lm, 0, sizeof *lm);
    lm->c = c;
    lm->g = g;
    load_model_and_tokenizer(g, &lm->m, &lm->tok, 0);
    if (!(lm->s = slm_session_new(lm->m, gen_context(g, lm->m)))) die("%s", slm_error());
    lm->stop_ids = gen_stop_ids(lm->m, lm->tok, &lm->n_stop);
    /* Chat messages use the model's template, or a built-in one named by --chat-template; a model
     * without one gets the contents joined. */
    lm->chat = g->chat_template ? gen_chat_template(g) : slm_chat_template_load(g->dir);
}

/* The config's local-model settings, under whatever the command line says. */
static void config_to_options(const slm_router_config *c, gen_options *g) {
    if (c->model) g->dir = c->model;
    g->n_predict = c->n_predict;
    if (c->ctx) g->ctx = c->ctx;
    if (c->threads) g->load.threads = c->threads;
    if (!isnan(c->temp)) g->sampling.temperature = (float)c->temp;
    if (!isnan(c->top_p)) g->sampling.top_p = (float)c->top_p;
    if (!isnan(c->min_p)) g->sampling.min_p = (float)c->min_p;
    if (!isnan(c->repeat_penalty)) g->sampling.repeat_penalty = (float)c->repeat_penalty;
    if (c->top_k >= 0) g->sampling.top_k = c->top_k;
    if (c->repeat_last_n >= 0) g->sampling.repeat_last_n = c->repeat_last_n;
    if (c->has_seed) {
        g->sampling.seed = c->seed;
        g->seed_given = 1;
    }
}

static void close_model(local_model *lm) {
    free(lm->chat);
    free(lm->stop_ids);
    slm_tokenizer_free(lm->tok);
    slm_session_free(lm->s);
    slm_model_free(lm->m);
}

/* ---- the command ---- */

static FILE *open_log(const char *path) {
    FILE *f = fopen(path, "ae");
    if (!f) die("%s: %s", path, strerror(errno));
    return f;
}

static void print_decision(const slm_route_result *r) {
    fprintf(stderr, "route: %s by %s (%s)", slm_route_name(r->route), r->by_rule ? "rule" : "signals", r->reason);
    if (r->local_s >= 0) fprintf(stderr, ", local %d tokens in %.1f ms", r->local_tokens_out, r->local_s * 1e3);
    if (r->escalate_s >= 0) fprintf(stderr, ", escalation %.1f ms", r->escalate_s * 1e3);
    if (r->escalate_error[0]) fprintf(stderr, "; escalation failed: %s; returning the local answer", r->escalate_error);
    else if (r->answered_remotely) fprintf(stderr, "; answered remotely");
    fputc('\n', stderr);
}

/* One prompt from the command line: a plain completion, or a chat turn when --system or
 * --chat-template asks for one. */
static void route_one(const slm_router_config *c, const gen_options *g, local_model *lm, const slm_local_model *cb,
                      const char *prompt, const char *task, FILE *log, int json, int quiet) {
    cJSON *messages = NULL;
    char *text = NULL;
    if (g->system || g->chat_template) {
        messages = cJSON_CreateArray();
        if (g->system) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "system");
            cJSON_AddStringToObject(m, "content", g->system);
            cJSON_AddItemToArray(messages, m);
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", prompt);
        cJSON_AddItemToArray(messages, m);
        if (!(text = render_chat(lm, messages))) die("%s", slm_error());
    }
    slm_request req = {NULL, text ? text : prompt, messages, task};
    slm_route_result res;
    if (slm_route_request(c, &req, cb, &res)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", slm_error());
        if (log) {
            cJSON *line = slm_failure_to_json(&req, &res, msg, c->log_prompts ? SLM_RESULT_PROMPT : 0);
            slm_json_line(log, line);
            cJSON_Delete(line);
        }
        die("%s", msg);
    }
    if (log) {
        cJSON *line = slm_result_to_json(c, &req, &res, c->log_prompts ? SLM_RESULT_PROMPT : 0);
        if (slm_json_line(log, line)) die("%s: %s", c->log_file, slm_error());
        cJSON_Delete(line);
    }
    if (json) {
        cJSON *o = slm_result_to_json(c, &req, &res, SLM_RESULT_ANSWER);
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%s\n", res.answer);
    }
    if (!quiet) print_decision(&res);
    slm_route_result_free(&res);
    cJSON_Delete(messages);
    free(text);
}

int cmd_route(int argc, char **argv) {
    slm_router_config c;
    slm_router_config_init(&c);
    /* The config file first, wherever it appears: the other options override it. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config")) {
            const char *path = cli_value(argc, argv, &i);
            if (slm_router_config_load(&c, path)) die("%s", slm_error());
        }
    gen_options g;
    gen_options_init(&g);
    config_to_options(&c, &g);
    const char *prompt = NULL, *task = NULL, *batch = NULL, *out = NULL, *stats = NULL, *calib = NULL, *svg = NULL;
    double target = 0.2;
    int json = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (gen_options_parse(&g, argc, argv, &i, NULL)) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            fputs(gen_options_help, stdout);
            slm_router_config_free(&c);
            return 0;
        } else if (!strcmp(a, "--config")) i++;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--task")) task = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--max-local-tokens")) c.rules.max_local_tokens = cli_int(a, cli_value(argc, argv, &i), 1, 1 << 30);
        else if (!strcmp(a, "--always-local")) c.rules.mode = SLM_ROUTE_LOCAL;
        else if (!strcmp(a, "--always-escalate")) c.rules.mode = SLM_ROUTE_ESCALATE;
        else if (!strcmp(a, "--threshold")) c.policy.threshold = cli_float(a, cli_value(argc, argv, &i), -1e9, 1e9);
        else if (!strcmp(a, "--quantile")) c.signals.quantile = cli_float(a, cli_value(argc, argv, &i), 0, 1);
        else if (!strcmp(a, "--escalate-cmd")) {
            if (slm_router_config_set_command(&c, cli_value(argc, argv, &i))) die("option --escalate-cmd: %s", slm_error());
        } else if (!strcmp(a, "--escalate-format")) {
            const char *f = cli_value(argc, argv, &i);
            if (!strcmp(f, "plain")) c.escalate_json = 0;
            else if (!strcmp(f, "json")) c.escalate_json = 1;
            else die("option --escalate-format: '%s' is not plain or json", f);
        } else if (!strcmp(a, "--escalate-timeout")) c.escalate_timeout = cli_float(a, cli_value(argc, argv, &i), 0.001, 86400);
        else if (!strcmp(a, "--escalate-max-bytes")) {
            unsigned long long v = cli_u64(a, cli_value(argc, argv, &i));
            if (v < 1) die("option --escalate-max-bytes: must be at least 1");
            c.escalate_max_bytes = (size_t)v;
        } else if (!strcmp(a, "--log")) {
            free(c.log_file);
            c.log_file = strdup(cli_value(argc, argv, &i));
        } else if (!strcmp(a, "--log-prompts")) c.log_prompts = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--batch")) batch = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--out")) out = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--stats")) stats = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--calibrate")) calib = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--target-rate")) target = cli_float(a, cli_value(argc, argv, &i), 0, 1);
        else if (!strcmp(a, "--svg")) svg = cli_value(argc, argv, &i);
        else die("route: unknown option '%s' (slm route --help)", a);
    }
    if (!!prompt + !!batch + !!stats + !!calib != 1)
        die("route: give exactly one of -p TEXT, --batch FILE, --stats LOG, --calibrate FILE (slm route --help)");
    c.n_predict = g.n_predict;

    if (stats) {
        slm_log_stats st;
        if (slm_log_stats_load(stats, &st)) die("%s", slm_error());
        slm_log_stats_print(stdout, &st);
        slm_log_stats_free(&st);
        slm_router_config_free(&c);
        return 0;
    }

    local_model lm;
    slm_local_model cb = {&lm, count_tokens, generate, render_chat};
    int have_model = 0;
    if (calib) {
        if (g.dir) {
            gen_options_finish(&g, "route");
            open_model(&lm, &c, &g);
            have_model = 1;
        }
        slm_calib_set set;
        if (slm_calib_load(calib, &c, have_model ? &cb : NULL, &set)) die("%s", slm_error());
        slm_calib_print(stdout, &set, &c.policy, target);
        if (svg && slm_calib_svg(svg, &set, target)) die("%s", slm_error());
        slm_calib_free(&set);
    } else {
        gen_options_finish(&g, "route");
        if (batch && !out) die("route: --batch needs --out FILE");
        open_model(&lm, &c, &g);
        have_model = 1;
        FILE *log = c.log_file ? open_log(c.log_file) : NULL;
        if (batch) {
            slm_batch_totals t;
            if (slm_route_batch(&c, batch, out, &cb, log, &t)) die("%s", slm_error());
            if (!quiet)
                fprintf(stderr, "batch: %d requests, %d local, %d escalated (%d answered remotely), %d without an answer\n",
                        t.n, t.n_local, t.n_escalated, t.n_remote, t.n_failed);
            if (t.n_failed) die("%d of %d requests got no answer (their lines in %s say why)", t.n_failed, t.n, out);
        } else {
            route_one(&c, &g, &lm, &cb, prompt, task, log, json, quiet);
        }
        if (log && fclose(log)) die("%s: write error", c.log_file);
    }
    if (have_model) close_model(&lm);
    slm_router_config_free(&c);
    return 0;
}
