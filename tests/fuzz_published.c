/* libFuzzer harness for the published figures file that `slm bench --compare --published FILE` reads,
 * built and run by `make fuzz` (tests/fuzz.sh); bench/published.json seeds its corpus.
 *
 * The input is the file. It must load or fail with a one-line message naming it, never crash; what
 * loads is then set beside three results, as --compare prints them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench.h"
#include "fuzz.h"

static char path[] = "/tmp/fuzz_published_XXXXXX";
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_temp_file(path);
    sink = fuzz_sink();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(path, data, size, NULL, 0);
    slm_published *p;
    int n = slm_published_load(path, &p);
    fuzz_check_error(n < 0 ? -1 : 0, path);
    if (n < 0) return 0;
    /* a generation, a prompt and a prompt-with-generation result of a model the seed file has rows for */
    slm_bench_result r[3] = {
        {.model = "llama-3.2-1b", .type = "q4_0", .threads = 2, .test = {.n_gen = 128}, .mean = 40, .gbps = 30},
        {.model = "llama-3.2-1b", .type = "f16", .threads = 2, .test = {.n_prompt = 512}, .mean = 80},
        {.model = "llama-3.2-1b", .type = "q8_0", .threads = 2, .test = {.n_prompt = 512, .n_gen = 128, .depth = 64}, .mean = 60},
    };
    slm_bench_compare(sink, r, 3, p, n, path);
    free(p);
    return 0;
}
