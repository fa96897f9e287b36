/* slm: the command line. Each subcommand lives in tools/cmd_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "../kernels/cpu/cpu_features.h"
#include "../runtime/version.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "interactive chat with the model's chat template"},
    {"info", cmd_info, "describe a model folder: architecture, parameters, dtypes, memory"},
    {"tokenize", cmd_tokenize, "text to token ids"},
    {"detokenize", cmd_detokenize, "token ids to text"},
    {"quantize", cmd_quantize, "write a quantized copy of a model folder"},
    {"perplexity", cmd_perplexity, "perplexity of a model over a text file"},
    {"bench", cmd_bench, "measure prompt and generation speed against the hardware limit"},
    {"route", cmd_route, "answer locally or escalate to an external command"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: slm COMMAND [options]   (slm COMMAND --help for its options)\n"
               "       slm --version           the build and the kernels this CPU runs\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) die("no command given (slm --help lists them)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("slm %s, built with %s\n", slm_build_commit(), slm_build_compiler());
#ifdef SLM_CUDA
        const char *cuda = "built in";
#else
        const char *cuda = "not built";
#endif
        printf("CPU kernels: %s on %s; CUDA backend: %s\n", slm_isa_name(slm_isa_best()), slm_cpu_name(), cuda);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    die("unknown command '%s' (slm --help lists them)", argv[1]);
}
