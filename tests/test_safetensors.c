/* Strict validation of safetensors files and model folders: every malformed input is refused
 * with a message naming the file and the field, never a crash. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../model/model.h"
#include "../model/safetensors.h"
#include "../model/st_write.h"
#include "../runtime/error.h"
#include "test.h"

/* 8-byte length + header + data_len bytes of data (a non-zero pattern). */
static unsigned char *build(const char *header, size_t data_len, size_t *size) {
    size_t n = strlen(header);
    *size = 8 + n + data_len;
    unsigned char *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((unsigned long long)n >> (8 * i));
    memcpy(b + 8, header, n);
    for (size_t i = 0; i < data_len; i++) b[8 + n + i] = (unsigned char)(i * 37 + 11);
    return b;
}

/* Parses header+data; expects failure with `want` in the message (or success when want is NULL). */
static void expect(const char *header, size_t data_len, const char *want) {
    size_t size;
    unsigned char *b = build(header, data_len, &size);
    slm_st st;
    int rc = slm_st_parse(&st, "x.safetensors", b, size);
    if (want) {
        CHECK(rc != 0, "accepted but expected '%s': %s", want, header);
        CHECK(rc == 0 || strstr(slm_error(), want), "message '%s' lacks '%s'", slm_error(), want);
        CHECK(rc == 0 || strstr(slm_error(), "x.safetensors"), "message '%s' does not name the file", slm_error());
    } else {
        CHECK(rc == 0, "rejected a valid header (%s): %s", slm_error(), header);
        if (rc == 0) slm_st_close(&st);
    }
    free(b);
}

static void test_valid_headers(void) {
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, NULL);
    /* key order does not matter; sorted by offsets */
    expect("{\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[8,16]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16, NULL);
    expect("  {\"a\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}}   ", 2, NULL); /* padding, scalar */
    expect("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
           "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3, NULL);
}

static void test_sizes(void) {
    slm_st st;
    unsigned char tiny[5] = {0};
    CHECK(slm_st_parse(&st, "x.safetensors", tiny, 5) != 0 && strstr(slm_error(), "too short"), "%s", slm_error());
    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    CHECK(slm_st_parse(&st, "x.safetensors", big, 16) != 0 && strstr(slm_error(), "limit"), "%s", slm_error());
    unsigned char past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(slm_st_parse(&st, "x.safetensors", past, 16) != 0 && strstr(slm_error(), "truncated"), "%s", slm_error());
}

static void test_bad_json(void) {
    expect("{\"a\":", 0, "not valid JSON");
    expect("[1,2]", 0, "not a JSON object");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "after the JSON");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\xff", 4, "UTF-8");
    expect("{\"a\":3}", 0, "not an object");
}

static void test_bad_entries(void) {
    expect("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unexpected key");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "exactly");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "before begin");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "need 8");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[4000000000,4000000000,4000000000],\"data_offsets\":[0,4]}}", 4,
           "overflows");
    expect("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, "whole number of bytes");
    expect("{\"__metadata__\":{\"format\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
           "not a string");
}

static void test_offsets(void) {
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "beyond the end");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap or overlap");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap or overlap");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6, "trailing");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice");
}

/* Random bytes and truncations of a real header never crash the parser. */
static void test_mutations(void) {
    FILE *f = fopen("tests/fixtures/llama/gqa2/model.safetensors", "rb");
    CHECK(f != NULL, "fixture missing");
    if (!f) return;
    unsigned char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    unsigned char *copy = malloc(n);
    unsigned long long hdr = 0;
    for (int i = 7; i >= 0; i--) hdr = (hdr << 8) | buf[i];
    int accepted = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, buf, n);
        size_t len = n;
        int k = round % 3;
        if (k == 0) len = (size_t)((test_randf() + 1) / 2 * (8 + hdr + 64)) % n;
        else {
            size_t at = 8 + (size_t)((test_randf() + 1) / 2 * hdr) % hdr;
            copy[at] = (unsigned char)(round * 131);
        }
        slm_st st;
        if (slm_st_parse(&st, "m.safetensors", copy, len) == 0) {
            accepted++;
            slm_st_close(&st);
        }
    }
    CHECK(accepted < 3000, "every mutation accepted");
    free(buf);
    free(copy);
}

/* ---- model folders with one thing wrong ---- */

static char tmpdir[64];

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

/* A copy of the gqa2 fixture in tmpdir whose safetensors header went through edit(). */
static void make_model(void (*edit)(cJSON *hdr), int pad) {
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    copy_file("tests/fixtures/llama/gqa2/config.json", path);
    FILE *f = fopen("tests/fixtures/llama/gqa2/model.safetensors", "rb");
    unsigned char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    unsigned long long hdr = 0;
    for (int i = 7; i >= 0; i--) hdr = (hdr << 8) | buf[i];
    char *json = strndup((char *)buf + 8, hdr);
    cJSON *root = cJSON_Parse(json);
    if (edit) edit(root);
    char *text = cJSON_PrintUnformatted(root);
    size_t tl = strlen(text) + (size_t)pad;
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    FILE *o = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((tl >> (8 * i)) & 0xff), o);
    fputs(text, o);
    for (int i = 0; i < pad; i++) fputc(' ', o);
    fwrite(buf + 8 + hdr, 1, n - 8 - hdr, o);
    fclose(o);
    free(text);
    cJSON_Delete(root);
    free(json);
    free(buf);
}

static void expect_load_error(const char *want) {
    slm_model *m;
    int rc = slm_model_load(&m, tmpdir, NULL);
    CHECK(rc != 0, "loaded but expected '%s'", want);
    if (rc == 0) {
        slm_model_free(m);
        return;
    }
    CHECK(strstr(slm_error(), want) != NULL, "message '%s' lacks '%s'", slm_error(), want);
}

static void rename_norm(cJSON *h) {
    cJSON *t = cJSON_DetachItemFromObject(h, "model.norm.weight");
    cJSON_AddItemToObject(h, "model.norm.weigh_", t);
}
static void transpose_k(cJSON *h) {
    cJSON *shape = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "model.layers.0.self_attn.k_proj.weight"), "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(64));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(32));
}
static void int_dtype(cJSON *h) {
    cJSON *t = cJSON_GetObjectItem(h, "model.layers.1.mlp.up_proj.weight");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I32"));
}

static void test_model_errors(void) {
    char path[256];
    make_model(rename_norm, 0);
    expect_load_error("tensor 'model.norm.weight' is missing");
    make_model(transpose_k, 0);
    expect_load_error("k_proj.weight': shape [64, 32], expected [32, 64]");
    make_model(int_dtype, 0);
    expect_load_error("dtype I32 is not supported");
    /* truncated file */
    make_model(NULL, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    CHECK(truncate(path, 5000) == 0, "truncate");
    expect_load_error("model.safetensors");
    /* config problems */
    make_model(NULL, 0);
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\": \"llama\", \"hidden_size\": \"big\"}", f);
    fclose(f);
    expect_load_error("config.json: field 'hidden_size': expected an integer");
    f = fopen(path, "w");
    fputs("{\"model_type\": \"llama\",\n \"hidden_size\": 64,,}", f);
    fclose(f);
    expect_load_error("config.json: not valid JSON (line 2)");
    f = fopen(path, "w");
    fputs("{\"model_type\": \"gpt_neox\"}", f);
    fclose(f);
    expect_load_error("'gpt_neox' is not supported");
    f = fopen(path, "w");
    fputs("{\"model_type\": \"llama\", \"num_attention_heads\": 8, \"num_key_value_heads\": 3, \"hidden_size\": 64}", f);
    fclose(f);
    expect_load_error("num_key_value_heads");
    f = fopen(path, "w");
    fputs("{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", f);
    fclose(f);
    expect_load_error("'yarn' is not supported");
    remove(path);
    expect_load_error("config.json: cannot read");
    /* a folder that does not exist */
    slm_model *m;
    CHECK(slm_model_load(&m, "/nonexistent/model", NULL) != 0 && strstr(slm_error(), "/nonexistent/model"), "%s",
          slm_error());
}

/* A header whose length is odd leaves every tensor misaligned: the loader copies and still matches. */
static void test_unaligned_data(void) {
    make_model(NULL, 3);
    slm_model *m;
    if (slm_model_load(&m, tmpdir, NULL)) {
        CHECK(0, "%s", slm_error());
        return;
    }
    int tokens[4] = {1, 5, 9, 77}, V = slm_model_config(m)->vocab_size;
    float *a = malloc((size_t)V * sizeof(float)), *b = malloc((size_t)V * sizeof(float));
    double *ad = malloc((size_t)V * sizeof(double));
    slm_session *s = slm_session_new(m, 16);
    slm_eval(s, tokens, 4, a, 0);
    slm_session_free(s);
    slm_model_free(m);
    CHECK(slm_model_load(&m, "tests/fixtures/llama/gqa2", NULL) == 0, "%s", slm_error());
    s = slm_session_new(m, 16);
    slm_eval(s, tokens, 4, b, 0);
    for (int i = 0; i < V; i++) ad[i] = b[i];
    CHECK(rel_l2(a, ad, V) == 0, "unaligned copy gives different logits");
    slm_session_free(s);
    slm_model_free(m);
    free(a);
    free(b);
    free(ad);
}

/* The writer's layout: data on a 64-byte boundary of the file, tensors sized in multiples of 64 bytes on
 * such boundaries (the NF4 kernel loads 64 code bytes at a time), every tensor at a multiple of its
 * element size, and the bytes read back unchanged. */
static void test_written_alignment(void) {
    enum { N = 6 };
    static unsigned char buf[N][4096];
    size_t sizes[N] = {4096, 6, 130, 64, 1000, 2048};
    const char *dtypes[N] = {"U8", "F16", "U8", "F32", "F32", "U8"};
    const char *names[N] = {"a", "b", "c", "d", "e", "f"};
    slm_st_out t[N];
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < sizes[i]; k++) buf[i][k] = (unsigned char)(k * 13 + i * 7 + 1);
        int es = !strcmp(dtypes[i], "F32") ? 4 : !strcmp(dtypes[i], "F16") ? 2 : 1;
        t[i] = (slm_st_out){.name = names[i], .dtype = dtypes[i], .ndim = 1, .shape = {(int64_t)(sizes[i] / es)},
                            .data = buf[i], .nbytes = sizes[i]};
    }
    char path[300];
    snprintf(path, sizeof path, "%s/aligned.safetensors", tmpdir);
    const char *key = "k", *value = "a value of some length";
    CHECK(slm_st_write(path, t, N, &key, &value, 1) == 0, "%s", slm_error());
    slm_st st;
    if (slm_st_open_file(&st, path)) {
        CHECK(0, "%s", slm_error());
        return;
    }
    for (int i = 0; i < N; i++) {
        const slm_st_tensor *r = slm_st_find(&st, names[i]);
        CHECK(r != NULL, "tensor %s missing", names[i]);
        if (!r) continue;
        uintptr_t at = (uintptr_t)r->data;
        int es = !strcmp(dtypes[i], "F32") ? 4 : !strcmp(dtypes[i], "F16") ? 2 : 1;
        CHECK(sizes[i] % 64 || at % 64 == 0, "tensor %s (%zu bytes) at %zu mod 64", names[i], sizes[i], (size_t)(at % 64));
        CHECK(at % (uintptr_t)es == 0, "tensor %s not aligned to its element size", names[i]);
        CHECK(r->nbytes == sizes[i] && memcmp(r->data, buf[i], sizes[i]) == 0, "tensor %s read back differs", names[i]);
    }
    slm_st_close(&st);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/slm-test-st-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_valid_headers);
    RUN(test_sizes);
    RUN(test_bad_json);
    RUN(test_bad_entries);
    RUN(test_offsets);
    RUN(test_mutations);
    RUN(test_model_errors);
    RUN(test_unaligned_data);
    RUN(test_written_alignment);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) return 1;
    return test_summary();
}
