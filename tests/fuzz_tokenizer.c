/* libFuzzer harness for the tokenizer, built and run by `make fuzz` (tests/fuzz.sh).
 *
 * The first input byte picks what is fuzzed:
 *   0: the rest is text, encoded with every tokenizer (any bytes: invalid UTF-8 must be an error)
 *   1: the rest is ids (2 bytes each), decoded whole and streaming, which must agree
 *   2: the rest is a tokenizer.json, loaded (it must load or fail with a message, never crash)
 *   3, 4, 5: the rest is a tokenizer_config.json, special_tokens_map.json or generation_config.json
 *      beside the tokenizer.json of stories260K, loaded the same way; then its chat template is looked up
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "../tokenizer/chat.h"
#include "../tokenizer/tokenizer.h"

static const char *dirs[] = {"../shared/tokenizers/llama3", "../shared/tokenizers/mistral-v0.3",
                             "../shared/models/stories260K", "tests/fixtures/tokenizer/synth_norm",
                             "tests/fixtures/tokenizer/synth_split"};
#define N_DIRS (int)(sizeof dirs / sizeof *dirs)
static slm_tokenizer *toks[N_DIRS];
static char tmpdir[] = "/tmp/fuzz_tok_XXXXXX";
/* what modes 2-5 write into tmpdir, in mode order; each input starts from an empty folder */
static const char *files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                              "generation_config.json"};
static char *small_json; /* stories260K's tokenizer.json */
static size_t small_json_n;

static void put(const char *name, const void *data, size_t size) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fuzz_write(path, data, size, NULL, 0);
}

static void empty_tmpdir(void) {
    char path[128];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (int i = 0; i < N_DIRS; i++)
        if (!(toks[i] = slm_tokenizer_load(dirs[i]))) {
            fprintf(stderr, "%s\n", slm_error());
            abort();
        }
    fuzz_temp_dir(tmpdir);
    small_json = fuzz_slurp("../shared/models/stories260K/tokenizer.json", &small_json_n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int mode = fuzz_mode(&data, &size, 6);
    if (mode < 0) return 0;
    if (mode == 0) {
        for (int i = 0; i < N_DIRS; i++) {
            int *ids, n;
            if (slm_tokenize(toks[i], (const char *)data, size, 1, (int)(size & 1), &ids, &n) == 0) free(ids);
        }
    } else if (mode == 1) {
        for (int i = 0; i < N_DIRS; i++) {
            int n = (int)(size / 2), v = slm_tokenizer_vocab_size(toks[i]);
            int *ids = malloc(sizeof(int) * (size_t)(n + 1));
            for (int k = 0; k < n; k++) ids[k] = (data[2 * k] | data[2 * k + 1] << 8) % (v + 2) - 1;
            char *whole;
            size_t len;
            int rc = slm_detokenize(toks[i], ids, n, n & 1, &whole, &len);
            slm_detok_stream *s = slm_detok_stream_new(toks[i], n & 1);
            char *acc = malloc(len * 2 + 16);
            size_t acc_n = 0;
            int src = 0;
            for (int k = 0; k <= n && src == 0; k++) {
                const char *b;
                size_t bn;
                src = k < n ? slm_detok_stream_push(s, ids[k], &b, &bn) : slm_detok_stream_flush(s, &b, &bn);
                if (src == 0 && rc == 0) {
                    if (acc_n + bn > len) abort(); /* stream gave more than the whole decode */
                    memcpy(acc + acc_n, b, bn);
                    acc_n += bn;
                }
            }
            if ((rc == 0) != (src == 0)) abort();
            if (rc == 0 && (acc_n != len || memcmp(acc, whole, len))) abort();
            if (rc == 0) free(whole);
            free(acc);
            slm_detok_stream_free(s);
            free(ids);
        }
    } else {
        empty_tmpdir();
        if (mode > 2) put(files[0], small_json, small_json_n);
        put(files[mode - 2], data, size);
        slm_tokenizer *t = slm_tokenizer_load(tmpdir);
        if (t) {
            slm_tokenizer_is_eot(t, slm_tokenizer_eos_id(t));
            int *ids, n;
            if (slm_tokenize(t, "Hello <s> wörld 123!", 21, 1, 1, &ids, &n) == 0) {
                char *out;
                size_t len;
                if (slm_detokenize(t, ids, n, 0, &out, &len) == 0) free(out);
                free(ids);
            }
            slm_tokenizer_free(t);
        } else {
            fuzz_check_error(-1, NULL);
        }
        char *tpl = slm_chat_template_load(tmpdir);
        fuzz_check_error(tpl ? 0 : -1, NULL);
        free(tpl);
    }
    return 0;
}
