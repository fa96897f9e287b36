/* slm run: load a model, generate text from a prompt, stream it to stdout. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/error.h"
#include "../runtime/generate.h"
#include "../tokenizer/chat.h"
#include "cli.h"
#include "gen_options.h"

static const char usage_head[] =
    "usage: slm run -m DIR (-p TEXT | --tokens \"ID ID ...\") [options]\n"
    "  -p, --prompt TEXT      prompt text (\"-\" reads it from stdin)\n"
    "      --tokens IDS       prompt as token ids instead of text\n"
    "      --chat             wrap the prompt in the model's chat template (as a user message)\n"
    "      --logits FILE      write the float32 logits of every evaluated position (format: README)\n";

typedef struct {
    FILE *logits_file;
    int rows, failed;
    slm_detok_stream *detok; /* NULL: print ids */
} run_ctx;

static int on_token(void *user, int token, const float *logits, int vocab) {
    run_ctx *r = user;
    if (r->detok) {
        const char *bytes;
        size_t len;
        if (slm_detok_stream_push(r->detok, token, &bytes, &len) == 0) fwrite(bytes, 1, len, stdout);
    } else {
        printf("%d ", token);
    }
    fflush(stdout);
    return 0;
}

static void on_logits(void *user, int pos, const float *logits, int vocab) {
    run_ctx *r = user;
    if (fwrite(logits, sizeof(float), (size_t)vocab, r->logits_file) != (size_t)vocab) r->failed = 1;
    r->rows++;
}

/* Header of a --logits file: "SLMLOGIT", then version, positions, vocab, reserved as little-endian uint32. */
static void write_logits_header(FILE *f, uint32_t rows, uint32_t vocab) {
    uint32_t h[4] = {1, rows, vocab, 0};
    fwrite("SLMLOGIT", 1, 8, f);
    fwrite(h, sizeof h, 1, f);
}

static int *parse_ids(const char *s, int *n) {
    int cap = 16, *ids = malloc(cap * sizeof *ids);
    *n = 0;
    const char *p = s;
    while (ids) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 0x7fffffff) die("option --tokens: '%s' is not a list of token ids", s);
        if (*n == cap) {
            cap *= 2;
            int *g = realloc(ids, cap * sizeof *ids);
            if (!g) break;
            ids = g;
        }
        ids[(*n)++] = (int)v;
        p = end;
    }
    if (!ids) die("out of memory");
    if (*n == 0) die("option --tokens: no token ids given");
    return ids;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmd_run(int argc, char **argv) {
    const char *prompt = NULL, *tokens = NULL, *logits_path = NULL;
    int chat = 0;
    gen_options g;
    gen_options_init(&g);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (gen_options_parse(&g, argc, argv, &i, usage_head)) continue;
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--tokens")) tokens = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--logits")) logits_path = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--chat")) chat = 1;
        else die("run: unknown option '%s' (slm run --help)", a);
    }
    gen_options_finish(&g, "run");
    if (!prompt && !tokens) die("run: give a prompt with -p TEXT or --tokens IDS");
    if (prompt && tokens) die("run: -p and --tokens exclude each other");
    if (chat && tokens) die("run: --chat needs a text prompt (-p)");

    double t0 = seconds();
    slm_model *m;
    slm_tokenizer *tok;
    load_model_and_tokenizer(&g, &m, &tok, tokens != NULL);
    double load_s = seconds() - t0;
    const slm_config *c = slm_model_config(m);

    int n_prompt = 0, *ids = NULL;
    char *owned_text = NULL;
    if (tokens) {
        ids = parse_ids(tokens, &n_prompt);
    } else {
        size_t len = strlen(prompt);
        if (!strcmp(prompt, "-")) prompt = owned_text = cli_read_file("-", &len);
        if (chat) {
            char *tmpl = gen_chat_template(&g);
            slm_chat_msg msgs[2];
            int nm = 0;
            if (g.system) msgs[nm++] = (slm_chat_msg){"system", g.system};
            msgs[nm++] = (slm_chat_msg){"user", prompt};
            char *text = slm_chat_render(tmpl, msgs, nm, 1, slm_tokenizer_bos(tok), slm_tokenizer_eos(tok));
            if (!text) die("%s", slm_error());
            free(tmpl);
            /* the template already holds the special tokens: add none, parse those written in it */
            if (slm_tokenize(tok, text, strlen(text), 0, 1, &ids, &n_prompt)) die("%s", slm_error());
            free(text);
        } else if (slm_tokenize(tok, prompt, len, !g.no_bos, 1, &ids, &n_prompt)) {
            die("%s", slm_error());
        }
        if (n_prompt == 0) die("run: the prompt encodes to no tokens");
    }
    int ctx = gen_context(&g, m);
    if (n_prompt > ctx) die("the prompt has %d tokens, more than --ctx %d", n_prompt, ctx);
    slm_session *s = slm_session_new(m, ctx);
    if (!s) die("%s", slm_error());

    run_ctx rc = {0};
    if (tok) rc.detok = slm_detok_stream_new(tok, !g.special);
    if (logits_path) {
        rc.logits_file = fopen(logits_path, "wb");
        if (!rc.logits_file) die("%s: cannot write: %s", logits_path, strerror(errno));
        write_logits_header(rc.logits_file, 0, (uint32_t)c->vocab_size);
    }
    int n_stop;
    int *stop = gen_stop_ids(m, tok, &n_stop);
    slm_gen_params gp = {.n_predict = g.n_predict, .sampling = g.sampling, .stop_ids = stop, .n_stop = n_stop,
                         .on_token = on_token, .on_logits = logits_path ? on_logits : NULL, .user = &rc};
    slm_gen_stats st;
    if (slm_generate(s, ids, n_prompt, &gp, &st)) die("%s", slm_error());
    if (rc.detok) {
        const char *bytes;
        size_t len;
        if (slm_detok_stream_flush(rc.detok, &bytes, &len) == 0) fwrite(bytes, 1, len, stdout);
    }
    printf("\n");
    fflush(stdout);
    if (rc.logits_file) {
        fseek(rc.logits_file, 0, SEEK_SET);
        write_logits_header(rc.logits_file, (uint32_t)rc.rows, (uint32_t)c->vocab_size);
        if (fclose(rc.logits_file) != 0 || rc.failed) die("%s: write failed", logits_path);
    }
    double pp = st.prompt_seconds > 0 ? st.n_prompt / st.prompt_seconds : 0;
    double tg = st.n_generated > 1 && st.gen_seconds > 0 ? (st.n_generated - 1) / st.gen_seconds : 0;
    fprintf(stderr,
            "load %.0f ms | prompt %d tokens, %.1f tok/s | generated %d tokens, %.1f tok/s | %s, %d threads, seed %llu\n",
            load_s * 1e3, st.n_prompt, pp, st.n_generated, tg, slm_model_backend(m), slm_model_threads(m),
            (unsigned long long)g.sampling.seed);
    slm_detok_stream_free(rc.detok);
    slm_session_free(s);
    slm_model_free(m);
    slm_tokenizer_free(tok);
    free(stop);
    free(ids);
    free(owned_text);
    return 0;
}
