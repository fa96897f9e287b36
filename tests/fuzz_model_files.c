/* libFuzzer harness for model folders: safetensors files and config.json, built and run by `make fuzz`
 * (tests/fuzz.sh); the config and safetensors header of tests/fixtures/llama/gqa2 seed its corpus.
 *
 * The first input byte picks what is fuzzed:
 *   0: the rest is a whole safetensors file, parsed from memory
 *   1: the rest is config.json, loaded as a model with the fixture's weights
 *   2: the rest is a safetensors header (the JSON), loaded as a model with the fixture's config and data
 * A load must succeed or fail with a one-line message, never crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/model.h"
#include "../model/safetensors.h"
#include "fuzz.h"

#define FIXTURE "tests/fixtures/llama/gqa2"

static char tmpdir[] = "/tmp/fuzz_model_XXXXXX";
static char *config, *weights;
static size_t config_n, weights_n, header_n;

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) abort();
    fclose(f);
    return b;
}

static void put(const char *name, const void *a, size_t an, const void *b, size_t bn) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fuzz_write(path, a, an, b, bn);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    config = slurp(FIXTURE "/config.json", &config_n);
    weights = slurp(FIXTURE "/model.safetensors", &weights_n);
    for (int i = 7; i >= 0; i--) header_n = (header_n << 8) | (unsigned char)weights[i];
    if (!mkdtemp(tmpdir)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int mode = fuzz_mode(&data, &size, 3);
    if (mode < 0) return 0;
    if (mode == 0) {
        slm_st st;
        int rc = slm_st_parse(&st, "fuzz.safetensors", data, size);
        fuzz_check_error(rc, NULL);
        if (rc == 0) slm_st_close(&st);
        return 0;
    }
    if (mode == 1) {
        put("config.json", data, size, NULL, 0);
        put("model.safetensors", weights, weights_n, NULL, 0);
    } else {
        uint8_t len[8];
        for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)size >> (8 * i));
        char *file = malloc(8 + size);
        memcpy(file, len, 8);
        memcpy(file + 8, data, size);
        put("config.json", config, config_n, NULL, 0);
        put("model.safetensors", file, 8 + size, weights + 8 + header_n, weights_n - 8 - header_n);
        free(file);
    }
    slm_load_opts opts = {.threads = 1};
    slm_model *m = NULL;
    int rc = slm_model_load(&m, tmpdir, &opts);
    fuzz_check_error(rc, NULL);
    if (rc == 0) slm_model_free(m);
    return 0;
}
