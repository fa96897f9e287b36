/* slm chat: an interactive, multi-turn conversation rendered with the model's chat template.
 * Each turn re-renders the whole conversation and evaluates only the tokens after the longest
 * prefix already in the KV cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/error.h"
#include "../runtime/generate.h"
#include "../tokenizer/chat.h"
#include "cli.h"
#include "gen_options.h"

static const char usage_head[] =
    "usage: slm chat -m DIR [--system TEXT] [options]\n"
    "  Reads one user message per line from stdin and streams each answer to stdout.\n"
    "  An empty line or end of input ends the conversation; /reset starts a new one.\n";

typedef struct {
    slm_detok_stream *detok;
    int *gen, n; /* the reply's tokens */
} chat_ctx;

static int on_token(void *user, int token, const float *logits, int vocab) {
    chat_ctx *c = user;
    const char *bytes;
    size_t len;
    c->gen[c->n++] = token;
    if (slm_detok_stream_push(c->detok, token, &bytes, &len) == 0) fwrite(bytes, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int cmd_chat(int argc, char **argv) {
    gen_options g;
    gen_options_init(&g);
    g.n_predict = 512;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!gen_options_parse(&g, argc, argv, &i, usage_head)) die("chat: unknown option '%s' (slm chat --help)", a);
    }
    gen_options_finish(&g, "chat");
    slm_model *m;
    slm_tokenizer *tok;
    load_model_and_tokenizer(&g, &m, &tok, 0);
    char *tmpl = gen_chat_template(&g);
    int ctx = gen_context(&g, m);
    slm_session *s = slm_session_new(m, ctx);
    if (!s) die("%s", slm_error());
    int n_stop;
    int *stop = gen_stop_ids(m, tok, &n_stop);

    /* the conversation and the tokens held in the KV cache */
    int cap = 16, nmsg = 0;
    slm_chat_msg *msgs = malloc(cap * sizeof *msgs);
    int *cached = malloc((size_t)ctx * sizeof *cached), ncached = 0;
    if (!msgs || !cached) die("out of memory");
    if (g.system) msgs[nmsg++] = (slm_chat_msg){"system", strdup(g.system)};
    int interactive = isatty(0);
    char *line = NULL;
    size_t line_cap = 0;
    for (;;) {
        if (interactive) {
            fputs("> ", stderr);
            fflush(stderr);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got <= 0) break;
        if (line[got - 1] == '\n') line[--got] = 0;
        if (got == 0) break;
        if (!strcmp(line, "/reset")) {
            for (int i = g.system ? 1 : 0; i < nmsg; i++) free((char *)msgs[i].content);
            nmsg = g.system ? 1 : 0;
            continue;
        }
        if (nmsg + 2 > cap) {
            cap *= 2;
            slm_chat_msg *grown = realloc(msgs, cap * sizeof *msgs);
            if (!grown) die("out of memory");
            msgs = grown;
        }
        msgs[nmsg++] = (slm_chat_msg){"user", strdup(line)};
        char *text = slm_chat_render(tmpl, msgs, nmsg, 1, slm_tokenizer_bos(tok), slm_tokenizer_eos(tok));
        if (!text) die("%s", slm_error());
        int *ids, n;
        if (slm_tokenize(tok, text, strlen(text), 0, 1, &ids, &n)) die("%s", slm_error());
        free(text);
        if (n + 1 > ctx) die("the conversation (%d tokens) no longer fits in --ctx %d", n, ctx);
        int keep = 0;
        while (keep < ncached && keep < n - 1 && cached[keep] == ids[keep]) keep++;
        slm_session_rewind(s, keep);
        slm_gen_params gp = {.n_predict = g.n_predict, .sampling = g.sampling, .stop_ids = stop, .n_stop = n_stop,
                             .on_token = on_token};
        if (ctx - n < gp.n_predict) gp.n_predict = ctx - n;
        chat_ctx cc = {slm_detok_stream_new(tok, !g.special), malloc((size_t)(gp.n_predict + 1) * sizeof(int)), 0};
        if (!cc.detok || !cc.gen) die("out of memory");
        gp.user = &cc;
        slm_gen_stats st;
        if (slm_generate(s, ids + keep, n - keep, &gp, &st)) die("%s", slm_error());
        const char *bytes;
        size_t len;
        if (slm_detok_stream_flush(cc.detok, &bytes, &len) == 0) fwrite(bytes, 1, len, stdout);
        printf("\n");
        fflush(stdout);
        /* the KV cache now holds the prompt and every reply token but the last (never evaluated) */
        memcpy(cached, ids, (size_t)n * sizeof *ids);
        ncached = n;
        for (int i = 0; i + 1 < cc.n && ncached < ctx; i++) cached[ncached++] = cc.gen[i];
        char *reply;
        size_t rlen;
        if (slm_detokenize(tok, cc.gen, cc.n, 1, &reply, &rlen)) die("%s", slm_error());
        msgs[nmsg++] = (slm_chat_msg){"assistant", reply};
        free(ids);
        free(cc.gen);
        slm_detok_stream_free(cc.detok);
    }
    free(line);
    for (int i = 0; i < nmsg; i++) free((char *)msgs[i].content);
    free(msgs);
    free(cached);
    free(stop);
    free(tmpl);
    slm_session_free(s);
    slm_model_free(m);
    slm_tokenizer_free(tok);
    return 0;
}
