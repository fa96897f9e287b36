/* libFuzzer harness for model folders: safetensors files and config.json, built and run by `make fuzz`
 * (tests/fuzz.sh); the configs and safetensors headers of the folders below seed its corpus.
 *
 * The first input byte picks what is fuzzed:
 *   0: the rest is a whole safetensors file, parsed from memory
 *   1, 2: the rest is config.json or generation_config.json, loaded as a model with the rest of
 *      tests/fixtures/llama/gqa2
 *   3-6: the rest is a safetensors header (the JSON), loaded as a model with the config and tensor data
 *      of one folder: 3 the F32 fixture gqa2; 4 the bitsandbytes NF4 checkpoint with double quantization
 *      (tests/fixtures/bnb/nf4_dq); 5 and 6 gqa2 as `slm quantize` writes it in Q4_0 and in NF4
 *   7: the rest is a model.safetensors.index.json, loaded with the config and the two shards of
 *      tests/fixtures/llama/sharded
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
#define SHARDED "tests/fixtures/llama/sharded"

/* A model folder whose config and tensor data go with a fuzzed header. */
typedef struct {
    char *config, *weights;
    size_t config_n, weights_n, header_n;
} base;

enum { N_BASES = 4 };
static base bases[N_BASES];
static char *sharded_config;
static size_t sharded_config_n;
static char tmpdir[] = "/tmp/fuzz_model_XXXXXX";

static void read_base(base *b, const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    b->config = fuzz_slurp(path, &b->config_n);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    b->weights = fuzz_slurp(path, &b->weights_n);
    for (int i = 7; i >= 0; i--) b->header_n = (b->header_n << 8) | (unsigned char)b->weights[i];
}

/* gqa2 converted to type on load and written out as `slm quantize` does, into tmpdir/name. */
static void quantized_base(base *b, const char *name, slm_dtype type) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    slm_load_opts opts = {.threads = 1, .quantize = 1, .quant_type = type, .keep_layout = 1};
    slm_model *m = NULL;
    if (slm_model_load(&m, FIXTURE, &opts) || slm_model_save(m, FIXTURE, dir, type)) {
        fprintf(stderr, "%s\n", slm_error());
        abort();
    }
    slm_model_free(m);
    read_base(b, dir);
}

static void put(const char *name, const void *a, size_t an, const void *b, size_t bn) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fuzz_write(path, a, an, b, bn);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_temp_dir(tmpdir);
    read_base(&bases[0], FIXTURE);
    read_base(&bases[1], "tests/fixtures/bnb/nf4_dq");
    quantized_base(&bases[2], "q4_0", SLM_Q4_0);
    quantized_base(&bases[3], "nf4", SLM_NF4);
    /* the shards sit in the folder from the start: only an index names them */
    const char *shards[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        size_t n;
        snprintf(path, sizeof path, SHARDED "/%s", shards[i]);
        char *b = fuzz_slurp(path, &n);
        put(shards[i], b, n, NULL, 0);
        free(b);
    }
    sharded_config = fuzz_slurp(SHARDED "/config.json", &sharded_config_n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int mode = fuzz_mode(&data, &size, 4 + N_BASES);
    if (mode < 0) return 0;
    if (mode == 0) {
        slm_st st;
        int rc = slm_st_parse(&st, "fuzz.safetensors", data, size);
        fuzz_check_error(rc, NULL);
        if (rc == 0) slm_st_close(&st);
        return 0;
    }
    /* files only some modes write: gone before each input, so that one input never sees another's */
    const char *optional[] = {"generation_config.json", "model.safetensors.index.json"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", tmpdir, optional[i]);
        unlink(path);
    }
    if (mode == 3 + N_BASES) {
        put("config.json", sharded_config, sharded_config_n, NULL, 0);
        put("model.safetensors.index.json", data, size, NULL, 0);
    } else if (mode <= 2) {
        put(mode == 1 ? "config.json" : "generation_config.json", data, size, NULL, 0);
        if (mode == 2) put("config.json", bases[0].config, bases[0].config_n, NULL, 0);
        put("model.safetensors", bases[0].weights, bases[0].weights_n, NULL, 0);
    } else {
        const base *b = &bases[mode - 3];
        uint8_t len[8];
        for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)size >> (8 * i));
        char *file = malloc(8 + size);
        memcpy(file, len, 8);
        memcpy(file + 8, data, size);
        put("config.json", b->config, b->config_n, NULL, 0);
        put("model.safetensors", file, 8 + size, b->weights + 8 + b->header_n, b->weights_n - 8 - b->header_n);
        free(file);
    }
    slm_load_opts opts = {.threads = 1};
    slm_model *m = NULL;
    int rc = slm_model_load(&m, tmpdir, &opts);
    fuzz_check_error(rc, NULL);
    if (rc == 0) slm_model_free(m);
    return 0;
}
