/* slm run: load a model, generate text from a prompt, stream it to stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../model/model.h"
#include "../runtime/error.h"
#include "../runtime/generate.h"
#include "cli.h"

static const char usage[] =
    "usage: slm run -m DIR (-p TEXT | --tokens \"ID ID ...\") [options]\n"
    "  -m, --model DIR        Hugging Face model folder (config.json, *.safetensors, tokenizer.json)\n"
    "  -p, --prompt TEXT      prompt text\n"
    "      --tokens IDS       prompt as token ids instead of text\n"
    "  -n, --n-predict N      generate at most N tokens (default 128)\n"
    "      --temp T           temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K          keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P          nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P          drop tokens below P x the top probability; 0 = off (default 0.05)\n"
    "      --repeat-penalty R penalise the last 64 tokens; 1 = off (default 1.0)\n"
    "      --seed S           random seed (default: from the clock, printed to stderr)\n"
    "  -t, --threads N        CPU threads (default: physical cores)\n"
    "      --ctx N            context size in tokens (default: min(max_position_embeddings, 4096))\n"
    "      --logits FILE      write the float32 logits of every evaluated position (format: README)\n"
    "      --device D         cpu (default) or cuda\n";

typedef struct {
    FILE *logits_file;
    int vocab, rows, failed;
} run_ctx;

static int on_token(void *user, int token, const float *logits, int vocab) {
    printf("%d ", token);
    fflush(stdout);
    return 0;
}

static void on_logits(void *user, int pos, const float *logits, int vocab) {
    run_ctx *r = user;
    if (fwrite(logits, sizeof(float), (size_t)vocab, r->logits_file) != (size_t)vocab) r->failed = 1;
    r->rows++;
}

/* Header of a --logits file: "SLMLOGIT", version, positions, vocab, reserved (little-endian uint32). */
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
    const char *dir = NULL, *prompt = NULL, *tokens = NULL, *logits_path = NULL;
    int n_predict = 128, ctx = 0, seed_given = 0;
    slm_load_opts lo = {0};
    slm_gen_params gp = {0};
    gp.sampling = slm_sampler_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--tokens")) tokens = cli_value(argc, argv, &i);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) n_predict = cli_int(a, cli_value(argc, argv, &i), 0, 1 << 30);
        else if (!strcmp(a, "--temp")) gp.sampling.temperature = (float)cli_float(a, cli_value(argc, argv, &i), 0, 100);
        else if (!strcmp(a, "--top-k")) gp.sampling.top_k = cli_int(a, cli_value(argc, argv, &i), 0, 1 << 30);
        else if (!strcmp(a, "--top-p")) gp.sampling.top_p = (float)cli_float(a, cli_value(argc, argv, &i), 0, 1);
        else if (!strcmp(a, "--min-p")) gp.sampling.min_p = (float)cli_float(a, cli_value(argc, argv, &i), 0, 1);
        else if (!strcmp(a, "--repeat-penalty")) gp.sampling.repeat_penalty = (float)cli_float(a, cli_value(argc, argv, &i), 0.01, 100);
        else if (!strcmp(a, "--seed")) {
            gp.sampling.seed = cli_u64(a, cli_value(argc, argv, &i));
            seed_given = 1;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) lo.threads = cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else if (!strcmp(a, "--ctx")) ctx = cli_int(a, cli_value(argc, argv, &i), 1, 1 << 24);
        else if (!strcmp(a, "--logits")) logits_path = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--device")) lo.device = cli_value(argc, argv, &i);
        else die("run: unknown option '%s' (slm run --help)", a);
    }
    if (!dir) die("run: -m DIR is required (slm run --help)");
    if (!prompt && !tokens) die("run: give a prompt with -p TEXT or --tokens IDS");
    if (!seed_given) gp.sampling.seed = (uint64_t)time(NULL);

    int n_prompt = 0, *ids = NULL;
    if (tokens) ids = parse_ids(tokens, &n_prompt);
    else die("run: text prompts need the tokenizer; use --tokens IDS");

    double t0 = seconds();
    slm_model *m;
    if (slm_model_load(&m, dir, &lo)) die("%s", slm_error());
    double load_s = seconds() - t0;
    const slm_config *c = slm_model_config(m);
    if (!ctx) ctx = c->max_position_embeddings < 4096 ? c->max_position_embeddings : 4096;
    if (n_prompt > ctx) die("the prompt has %d tokens, more than --ctx %d", n_prompt, ctx);
    slm_session *s = slm_session_new(m, ctx);
    if (!s) die("%s", slm_error());

    run_ctx rc = {0};
    rc.vocab = c->vocab_size;
    if (logits_path) {
        rc.logits_file = fopen(logits_path, "wb");
        if (!rc.logits_file) die("%s: cannot write: %s", logits_path, strerror(errno));
        write_logits_header(rc.logits_file, 0, (uint32_t)c->vocab_size);
        gp.on_logits = on_logits;
    }
    gp.n_predict = n_predict;
    gp.stop_ids = c->eos_ids;
    gp.n_stop = c->n_eos;
    gp.on_token = on_token;
    gp.user = &rc;
    slm_gen_stats st;
    if (slm_generate(s, ids, n_prompt, &gp, &st)) die("%s", slm_error());
    printf("\n");
    fflush(stdout);
    if (rc.logits_file) {
        fseek(rc.logits_file, 0, SEEK_SET);
        write_logits_header(rc.logits_file, (uint32_t)rc.rows, (uint32_t)c->vocab_size);
        if (fclose(rc.logits_file) != 0 || rc.failed) die("%s: write failed", logits_path);
    }
    double pp = st.prompt_seconds > 0 ? st.n_prompt / st.prompt_seconds : 0;
    double tg = st.n_generated > 1 && st.gen_seconds > 0 ? (st.n_generated - 1) / st.gen_seconds : 0;
    fprintf(stderr, "load %.0f ms | prompt %d tokens, %.1f tok/s | generated %d tokens, %.1f tok/s | %d threads, seed %llu\n",
            load_s * 1e3, st.n_prompt, pp, st.n_generated, tg, slm_model_threads(m),
            (unsigned long long)gp.sampling.seed);
    slm_session_free(s);
    slm_model_free(m);
    free(ids);
    return 0;
}
