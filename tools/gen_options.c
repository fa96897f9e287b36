#include "gen_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../runtime/error.h"
#include "../tokenizer/chat.h"
#include "cli.h"

const char gen_options_help[] =
    "  -m, --model DIR        Hugging Face model folder (config.json, *.safetensors, tokenizer.json)\n"
    "  -n, --n-predict N      generate at most N tokens (default 128)\n"
    "      --temp T           temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K          keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P          nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P          drop tokens below P x the top probability; 0 = off (default 0.05)\n"
    "      --repeat-penalty R penalise tokens among the last 64; 1 = off (default 1.0)\n"
    "      --seed S           random seed (default: from the clock, printed to stderr)\n"
    "  -t, --threads N        CPU threads (default: physical cores)\n"
    "      --ctx N            context size in tokens (default: min(max_position_embeddings, 4096))\n"
    "      --device D         cpu (default) or cuda\n"
    "      --quant TYPE       convert the weights on load: q8_0, q4_0 or nf4\n"
    "      --keep-head        with --quant: leave the LM head (and a tied embedding) unconverted\n"
    "      --special          print special tokens (hidden by default)\n"
    "      --no-bos           do not add the tokenizer's BOS/EOS template to the prompt\n"
    "      --system TEXT      system message (chat)\n"
    "      --chat-template N  use a built-in chat format instead of the model's template:\n"
    "                         chatml, llama3, llama2, mistral, phi3, gemma, zephyr\n";

void gen_options_init(gen_options *g) {
    memset(g, 0, sizeof *g);
    g->sampling = slm_sampler_defaults();
    g->n_predict = 128;
}

int gen_options_parse(gen_options *g, int argc, char **argv, int *i, const char *usage_head) {
    const char *a = argv[*i];
    if (usage_head && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
        fputs(usage_head, stdout);
        fputs(gen_options_help, stdout);
        exit(0);
    }
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) g->dir = cli_value(argc, argv, i);
    else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) g->n_predict = cli_int(a, cli_value(argc, argv, i), 0, 1 << 30);
    else if (!strcmp(a, "--temp")) g->sampling.temperature = (float)cli_float(a, cli_value(argc, argv, i), 0, 100);
    else if (!strcmp(a, "--top-k")) g->sampling.top_k = cli_int(a, cli_value(argc, argv, i), 0, 1 << 30);
    else if (!strcmp(a, "--top-p")) g->sampling.top_p = (float)cli_float(a, cli_value(argc, argv, i), 0, 1);
    else if (!strcmp(a, "--min-p")) g->sampling.min_p = (float)cli_float(a, cli_value(argc, argv, i), 0, 1);
    else if (!strcmp(a, "--repeat-penalty")) g->sampling.repeat_penalty = (float)cli_float(a, cli_value(argc, argv, i), 0.01, 100);
    else if (!strcmp(a, "--seed")) {
        g->sampling.seed = cli_u64(a, cli_value(argc, argv, i));
        g->seed_given = 1;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) g->load.threads = cli_int(a, cli_value(argc, argv, i), 1, 1024);
    else if (!strcmp(a, "--ctx")) g->ctx = cli_int(a, cli_value(argc, argv, i), 1, 1 << 24);
    else if (!strcmp(a, "--device")) {
        g->load.device = cli_value(argc, argv, i);
        if (strcmp(g->load.device, "cpu") && strcmp(g->load.device, "cuda"))
            die("option --device: '%s' is not one of cpu, cuda", g->load.device);
    } else if (!strcmp(a, "--quant")) {
        const char *v = cli_value(argc, argv, i);
        if (slm_dtype_parse(v, &g->load.quant_type) || g->load.quant_type < SLM_Q8_0)
            die("option --quant: '%s' is not one of q8_0, q4_0, nf4", v);
        g->load.quantize = 1;
    } else if (!strcmp(a, "--keep-head")) g->load.keep_head = 1;
    else if (!strcmp(a, "--special")) g->special = 1;
    else if (!strcmp(a, "--no-bos")) g->no_bos = 1;
    else if (!strcmp(a, "--system")) g->system = cli_value(argc, argv, i);
    else if (!strcmp(a, "--chat-template")) {
        g->chat_template = cli_value(argc, argv, i);
        if (!slm_chat_builtin(g->chat_template))
            die("option --chat-template: unknown format '%s' (chatml, llama3, llama2, mistral, phi3, gemma, zephyr)",
                g->chat_template);
    } else return 0;
    return 1;
}

void gen_options_finish(gen_options *g, const char *cmd) {
    if (!g->dir) die("%s: -m DIR is required (slm %s --help)", cmd, cmd);
    if (!g->seed_given) g->sampling.seed = (uint64_t)time(NULL);
}

void load_model_and_tokenizer(const gen_options *g, slm_model **m, slm_tokenizer **tok, int allow_no_tokenizer) {
    char path[4096];
    struct stat sb;
    if (stat(g->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) die("%s: model folder not found", g->dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", g->dir);
    *tok = NULL;
    if (stat(path, &sb) == 0 || !allow_no_tokenizer) {
        *tok = slm_tokenizer_load(g->dir);
        if (!*tok) die("%s", slm_error());
    }
    if (slm_model_load(m, g->dir, &g->load)) die("%s", slm_error());
    if (*tok && slm_tokenizer_vocab_size(*tok) > slm_model_config(*m)->vocab_size)
        die("%s: the tokenizer has %d ids but config.json vocab_size is %d", g->dir, slm_tokenizer_vocab_size(*tok),
            slm_model_config(*m)->vocab_size);
}

int gen_context(const gen_options *g, const slm_model *m) {
    const slm_config *c = slm_model_config(m);
    if (g->ctx) return g->ctx;
    return c->max_position_embeddings < 4096 ? c->max_position_embeddings : 4096;
}

int *gen_stop_ids(const slm_model *m, const slm_tokenizer *tok, int *n) {
    const slm_config *c = slm_model_config(m);
    const int *eot = NULL;
    int neot = tok ? slm_tokenizer_eot_ids(tok, &eot) : 0;
    int *ids = malloc((size_t)(c->n_eos + neot + 1) * sizeof *ids);
    if (!ids) die("out of memory");
    *n = 0;
    for (int i = 0; i < c->n_eos; i++) ids[(*n)++] = c->eos_ids[i];
    for (int i = 0; i < neot; i++) {
        int dup = 0;
        for (int k = 0; k < *n; k++) dup |= ids[k] == eot[i];
        if (!dup) ids[(*n)++] = eot[i];
    }
    return ids;
}

char *gen_chat_template(const gen_options *g) {
    if (g->chat_template) {
        char *t = strdup(slm_chat_builtin(g->chat_template));
        if (!t) die("out of memory");
        return t;
    }
    char *t = slm_chat_template_load(g->dir);
    if (!t) die("%s (use --chat-template NAME for a built-in format)", slm_error());
    return t;
}
