/* slm quantize: write a copy of a model folder with its weight matrices in Q8_0, Q4_0 or NF4. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../model/model.h"
#include "../runtime/error.h"
#include "cli.h"

static const char usage[] =
    "usage: slm quantize -m DIR -o OUTDIR --type q8_0|q4_0|nf4 [--keep-head] [-t N]\n"
    "  -m, --model DIR    source model folder (F32, F16 or BF16 weights)\n"
    "  -o, --out OUTDIR   folder to write: config, tokenizer files and one model.safetensors\n"
    "      --type TYPE    q8_0 or q4_0 (llama.cpp blocks), nf4 (bitsandbytes layout)\n"
    "      --keep-head    leave the LM head (and a tied embedding) in its stored format\n"
    "The output loads with slm run -m OUTDIR by mmap, with no conversion.\n";

int cmd_quantize(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *type_name = NULL;
    slm_load_opts lo = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--type")) type_name = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--keep-head")) lo.keep_head = 1;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) lo.threads = cli_int(a, cli_value(argc, argv, &i), 1, 1024);
        else die("quantize: unknown option '%s' (slm quantize --help)", a);
    }
    if (!dir || !out || !type_name) die("quantize: -m DIR, -o OUTDIR and --type are required");
    if (slm_dtype_parse(type_name, &lo.quant_type) || lo.quant_type < SLM_Q8_0)
        die("option --type: '%s' is not one of q8_0, q4_0, nf4", type_name);
    char rs[PATH_MAX], ro[PATH_MAX];
    if (realpath(dir, rs) && realpath(out, ro) && !strcmp(rs, ro)) die("quantize: -o must differ from the source folder");
    lo.quantize = 1;
    lo.keep_layout = 1;
    clock_t t0 = clock();
    slm_model *m;
    if (slm_model_load(&m, dir, &lo)) die("%s", slm_error());
    if (slm_model_save(m, dir, out, lo.quant_type)) die("%s", slm_error());
    fprintf(stderr, "wrote %s: %.1f MiB of weights as %s in %.1f s\n", out, slm_model_weight_bytes(m) / 1048576.0,
            type_name, (double)(clock() - t0) / CLOCKS_PER_SEC);
    slm_model_free(m);
    return 0;
}
