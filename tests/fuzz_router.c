/* libFuzzer harness for the router's inputs, built and run by `make fuzz` (tests/fuzz.sh); the config of
 * router/README.md, the requests of tests/router/e2e_prompts.jsonl and the log tests/router/sample.log
 * seed its corpus.
 *
 * The first input byte picks what is fuzzed:
 *   0: the rest is a router config file (JSON)
 *   1: the rest is a batch of requests (JSON lines), each turned into its prompt
 *   2: the rest is a calibration file (JSON lines of signals and labels)
 *   3: the rest is an escalation command line, split into its words
 *   4: the rest is a decision log, summed up and printed as `slm route --stats` does
 * Each must be read or fail with a one-line message, never crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../router/batch.h"
#include "../router/calibrate.h"
#include "../router/config.h"
#include "../router/escalate.h"
#include "../router/jsonl.h"
#include "../router/stats.h"
#include "fuzz.h"

static char path[] = "/tmp/fuzz_router_XXXXXX";
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_temp_file(path);
    sink = fuzz_sink();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int mode = fuzz_mode(&data, &size, 5);
    if (mode < 0) return 0;
    slm_router_config c;
    slm_router_config_init(&c);
    if (mode == 0) {
        fuzz_write(path, data, size, NULL, 0);
        fuzz_check_error(slm_router_config_load(&c, path), NULL);
    } else if (mode == 1) {
        fuzz_write(path, data, size, NULL, 0);
        slm_jsonl j;
        if (slm_jsonl_open(&j, path)) abort();
        cJSON *o;
        int r;
        while ((r = slm_jsonl_next(&j, &o)) == 1) {
            char *prompt = slm_batch_prompt(o, path, j.line, NULL, NULL);
            fuzz_check_error(prompt ? 0 : -1, NULL);
            free(prompt);
            cJSON_Delete(o);
        }
        fuzz_check_error(r, NULL);
        slm_jsonl_close(&j);
    } else if (mode == 2) {
        fuzz_write(path, data, size, NULL, 0);
        slm_calib_set set = {0};
        fuzz_check_error(slm_calib_load(path, &c, NULL, &set), NULL);
        slm_calib_free(&set);
    } else if (mode == 4) {
        fuzz_write(path, data, size, NULL, 0);
        slm_log_stats st;
        int rc = slm_log_stats_load(path, &st);
        fuzz_check_error(rc, NULL);
        if (rc == 0) {
            slm_log_stats_print(sink, &st);
            slm_log_stats_free(&st);
        }
    } else {
        char *line = malloc(size + 1);
        memcpy(line, data, size);
        line[size] = 0;
        char **argv = NULL;
        int rc = slm_split_command(line, &argv);
        fuzz_check_error(rc < 0 ? -1 : 0, NULL);
        if (rc >= 0) slm_argv_free(argv);
        free(line);
    }
    slm_router_config_free(&c);
    return 0;
}
