/* The tokenizer against the Hugging Face `tokenizers` library: fixtures written by
 * tools/py/make_tokenizer_fixtures.py hold the ids and decoded text it gives for a shared corpus,
 * for every tokenizer in ../shared/tokenizers (qwen3 has no vocabulary and is left out), the
 * stories260K model and a few small trained tokenizers with the less common pipeline parts.
 * Also: streaming decode against whole decode, the special-token accessors, and bad input. */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/error.h"
#include "../tokenizer/tokenizer.h"
#include "test.h"

#define FIX "tests/fixtures/tokenizer/"

static const char *fixture_files[] = {
    FIX "gpt2.json",        FIX "llama2.json",           FIX "llama3.json",
    FIX "mistral-v0.3.json", FIX "phi-3-mini.json",      FIX "qwen2.json",
    FIX "smollm2.json",     FIX "stories260K.json",      FIX "synth_norm/expected.json",
    FIX "synth_meta/expected.json", FIX "synth_split/expected.json",
    FIX "synth_first/expected.json", FIX "synth_bytes/expected.json",
};
#define N_FIXTURES (int)(sizeof fixture_files / sizeof *fixture_files)

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) p[n] = 0;
    if (len) *len = (size_t)n;
    return p;
}

static cJSON *read_json(const char *path) {
    char *text = read_file(path, NULL);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

/* 1 when s is valid UTF-8 on its own (no character cut at either end). */
static int valid_utf8(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
              : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!k || i + (size_t)k > n) return 0;
        for (int j = 1; j < k; j++)
            if ((s[i + (size_t)j] & 0xC0) != 0x80) return 0;
        i += (size_t)k;
    }
    return 1;
}

static int same_ids(const int *a, int na, const cJSON *want) {
    if (na != cJSON_GetArraySize(want)) return 0;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, want) if (it->valueint != a[i++]) return 0;
    return 1;
}

static int *ids_of(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int *ids = malloc((size_t)(*n + 1) * sizeof *ids);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) ids[i++] = it->valueint;
    return ids;
}

static void show_ids(const char *what, const int *ids, int n) {
    fprintf(stderr, "    %s:", what);
    for (int i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* Streams ids one at a time; checks every chunk is whole UTF-8 and that all chunks together equal
 * slm_detokenize. Returns 1 when all is well. */
static int stream_matches(const slm_tokenizer *tok, const int *ids, int n, int skip) {
    char *whole;
    size_t whole_len;
    if (slm_detokenize(tok, ids, n, skip, &whole, &whole_len)) return 0;
    slm_detok_stream *s = slm_detok_stream_new(tok, skip);
    char *acc = malloc(whole_len * 2 + 64);
    size_t acc_n = 0, cap = whole_len * 2 + 64;
    int ok = s != NULL && acc != NULL;
    for (int i = 0; ok && i <= n; i++) {
        const char *b;
        size_t bn;
        int rc = i < n ? slm_detok_stream_push(s, ids[i], &b, &bn) : slm_detok_stream_flush(s, &b, &bn);
        if (rc || !valid_utf8(b, bn) || acc_n + bn > cap) {
            ok = 0;
            break;
        }
        memcpy(acc + acc_n, b, bn);
        acc_n += bn;
    }
    ok = ok && acc_n == whole_len && memcmp(acc, whole, whole_len) == 0;
    slm_detok_stream_free(s);
    free(acc);
    free(whole);
    return ok;
}

static void check_decode(const slm_tokenizer *tok, const char *name, int ci, const int *ids, int n,
                         const cJSON *want, int skip) {
    if (!cJSON_IsString(want)) return; /* null: the library itself fails on this one */
    char *out;
    size_t len;
    int rc = slm_detokenize(tok, ids, n, skip, &out, &len);
    CHECK(rc == 0, "%s case %d: detokenize failed: %s", name, ci, slm_error());
    if (rc) return;
    CHECK(len == strlen(want->valuestring) && memcmp(out, want->valuestring, len) == 0,
          "%s case %d skip=%d: decoded '%s', want '%s'", name, ci, skip, out, want->valuestring);
    CHECK(stream_matches(tok, ids, n, skip), "%s case %d skip=%d: stream differs from whole decode",
          name, ci, skip);
    free(out);
}

static void run_fixture(const char *file, const cJSON *corpus) {
    cJSON *fx = read_json(file);
    CHECK(fx != NULL, "%s: cannot read (run tools/py/make_tokenizer_fixtures.py)", file);
    if (!fx) return;
    const char *dir = cJSON_GetObjectItem(fx, "dir")->valuestring;
    slm_tokenizer *tok = slm_tokenizer_load(dir);
    CHECK(tok != NULL, "%s: load failed: %s", dir, slm_error());
    if (!tok) {
        cJSON_Delete(fx);
        return;
    }
    CHECK(slm_tokenizer_vocab_size(tok) == cJSON_GetObjectItem(fx, "vocab_size")->valueint,
          "%s: vocab size %d, want %d", dir, slm_tokenizer_vocab_size(tok),
          cJSON_GetObjectItem(fx, "vocab_size")->valueint);
    const cJSON *piece;
    cJSON_ArrayForEach(piece, cJSON_GetObjectItem(fx, "pieces")) {
        int id = atoi(piece->string);
        const char *p = slm_tokenizer_piece(tok, id);
        CHECK(p && !strcmp(p, piece->valuestring), "%s: piece %d is '%s', want '%s'", dir, id,
              p ? p : "(null)", piece->valuestring);
        CHECK(slm_tokenizer_token_id(tok, piece->valuestring) == id, "%s: token_id('%s') != %d",
              dir, piece->valuestring, id);
    }
    int ci = 0, failures = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(fx, "cases")) {
        const char *text = cJSON_GetArrayItem(corpus, ci)->valuestring;
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        const cJSON *plain = cJSON_GetObjectItem(c, "plain");
        const cJSON *as_text = cJSON_GetObjectItem(c, "as_text");
        if (!plain) plain = want;
        if (!as_text) as_text = plain;
        const cJSON *expect[3] = {want, plain, as_text};
        int modes[3][2] = {{1, 1}, {0, 1}, {0, 0}};
        for (int m = 0; m < 3; m++) {
            int *ids, n;
            int rc = slm_tokenize(tok, text, strlen(text), modes[m][0], modes[m][1], &ids, &n);
            CHECK(rc == 0, "%s case %d: tokenize failed: %s", dir, ci, slm_error());
            if (rc) continue;
            int ok = same_ids(ids, n, expect[m]);
            CHECK(ok, "%s case %d (add_special=%d parse_special=%d) ids differ for \"%.60s\"", dir, ci,
                  modes[m][0], modes[m][1], text);
            if (!ok && failures++ < 3) {
                int wn, *w = ids_of(expect[m], &wn);
                show_ids("got ", ids, n);
                show_ids("want", w, wn);
                free(w);
            }
            free(ids);
        }
        int n, *ids = ids_of(want, &n);
        const cJSON *dec = cJSON_GetObjectItem(c, "dec");
        const cJSON *dec_skip = cJSON_GetObjectItem(c, "dec_skip");
        check_decode(tok, dir, ci, ids, n, dec, 0);
        check_decode(tok, dir, ci, ids, n, dec_skip ? dec_skip : dec, 1);
        free(ids);
        ci++;
    }
    CHECK(ci == cJSON_GetArraySize(corpus), "%s: %d cases for a corpus of %d", file, ci,
          cJSON_GetArraySize(corpus));
    int di = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(fx, "decode")) {
        int n, *ids = ids_of(cJSON_GetObjectItem(c, "ids"), &n);
        const cJSON *dec = cJSON_GetObjectItem(c, "dec");
        const cJSON *dec_skip = cJSON_GetObjectItem(c, "dec_skip");
        check_decode(tok, dir, 1000 + di, ids, n, dec, 0);
        check_decode(tok, dir, 1000 + di, ids, n, dec_skip ? dec_skip : dec, 1);
        free(ids);
        di++;
    }
    slm_tokenizer_free(tok);
    cJSON_Delete(fx);
}

static cJSON *corpus;

static void test_gpt2(void) { run_fixture(fixture_files[0], corpus); }
static void test_llama2(void) { run_fixture(fixture_files[1], corpus); }
static void test_llama3(void) { run_fixture(fixture_files[2], corpus); }
static void test_mistral(void) { run_fixture(fixture_files[3], corpus); }
static void test_phi3(void) { run_fixture(fixture_files[4], corpus); }
static void test_qwen2(void) { run_fixture(fixture_files[5], corpus); }
static void test_smollm2(void) { run_fixture(fixture_files[6], corpus); }
static void test_stories260k(void) { run_fixture(fixture_files[7], corpus); }
static void test_synth_norm(void) { run_fixture(fixture_files[8], corpus); }
static void test_synth_meta(void) { run_fixture(fixture_files[9], corpus); }
static void test_synth_split(void) { run_fixture(fixture_files[10], corpus); }
static void test_synth_first(void) { run_fixture(fixture_files[11], corpus); }
static void test_synth_bytes(void) { run_fixture(fixture_files[12], corpus); }

/* Random id runs (including specials and lone bytes) stream exactly like the whole decode, and so does
 * a stream flushed with nothing pushed. */
static void test_stream_random(void) {
    const char *dirs[] = {"../shared/tokenizers/llama3", "../shared/tokenizers/mistral-v0.3",
                          "../shared/models/stories260K", FIX "synth_split", FIX "synth_first",
                          FIX "synth_meta", FIX "synth_norm"};
    for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
        slm_tokenizer *tok = slm_tokenizer_load(dirs[d]);
        CHECK(tok != NULL, "%s: %s", dirs[d], slm_error());
        if (!tok) continue;
        int v = slm_tokenizer_vocab_size(tok), bad = 0, none[1] = {0};
        CHECK(stream_matches(tok, none, 0, 0), "%s: an empty stream", dirs[d]);
        for (int r = 0; r < 200; r++) {
            int ids[40], n = 1 + (int)((test_randf() + 1) * 19);
            for (int i = 0; i < n; i++) {
                float x = (test_randf() + 1) / 2;
                /* mostly low ids: bytes and specials sit there in SentencePiece vocabularies */
                ids[i] = r % 2 ? (int)(x * 300) % v : (int)(x * (float)(v - 1));
                while (!slm_tokenizer_piece(tok, ids[i])) ids[i] = (ids[i] + 1) % v;
            }
            if (!stream_matches(tok, ids, n, r % 3 == 0) && bad++ < 3)
                CHECK(0, "%s: random run %d streams differently", dirs[d], r);
        }
        slm_tokenizer_free(tok);
    }
}

static void test_accessors(void) {
    slm_tokenizer *t = slm_tokenizer_load("../shared/tokenizers/llama3");
    CHECK(t != NULL, "llama3: %s", slm_error());
    if (t) {
        CHECK(slm_tokenizer_bos(t) && !strcmp(slm_tokenizer_bos(t), "<|begin_of_text|>"), "llama3 bos");
        CHECK(slm_tokenizer_eos(t) && !strcmp(slm_tokenizer_eos(t), "<|eot_id|>"), "llama3 eos");
        CHECK(slm_tokenizer_bos_id(t) == 128000 && slm_tokenizer_eos_id(t) == 128009, "llama3 ids");
        CHECK(slm_tokenizer_unk(t) == NULL && slm_tokenizer_unk_id(t) == -1, "llama3 unk");
        CHECK(slm_tokenizer_is_eot(t, 128001) && slm_tokenizer_is_eot(t, 128008) &&
                  slm_tokenizer_is_eot(t, 128009) && !slm_tokenizer_is_eot(t, 128000),
              "llama3 stop ids");
        CHECK(slm_tokenizer_is_special(t, 128000) && !slm_tokenizer_is_special(t, 9906),
              "llama3 is_special");
        CHECK(slm_tokenizer_token_id(t, "Hello") == 9906 && slm_tokenizer_token_id(t, "nope nope") == -1,
              "llama3 token_id");
        slm_tokenizer_free(t);
    }
    t = slm_tokenizer_load("../shared/tokenizers/qwen2");
    CHECK(t != NULL, "qwen2: %s", slm_error());
    if (t) {
        const int *ids;
        int n = slm_tokenizer_eot_ids(t, &ids);
        CHECK(slm_tokenizer_bos(t) == NULL && slm_tokenizer_bos_id(t) == -1, "qwen2 has no bos");
        CHECK(slm_tokenizer_eos_id(t) == 151645, "qwen2 eos");
        CHECK(n >= 2 && ids[0] == 151643 && ids[1] == 151645, "qwen2 stop ids");
        slm_tokenizer_free(t);
    }
    t = slm_tokenizer_load("../shared/models/stories260K");
    CHECK(t != NULL, "stories260K: %s", slm_error());
    if (t) {
        CHECK(slm_tokenizer_bos_id(t) == 1 && slm_tokenizer_eos_id(t) == 2 &&
                  slm_tokenizer_unk_id(t) == 0, "stories260K ids");
        CHECK(slm_tokenizer_is_eot(t, 2) && !slm_tokenizer_is_eot(t, 1), "stories260K stop ids");
        int *ids, n;
        CHECK(slm_tokenize(t, "Once upon a time", 16, 1, 1, &ids, &n) == 0 && n > 1 && ids[0] == 1,
              "stories260K adds bos");
        if (n) free(ids);
        slm_tokenizer_free(t);
    }
}

/* Writes a tokenizer.json into a fresh temporary folder; returns the folder. */
static char tmpdir[] = "/tmp/slm_tok_XXXXXX";
static const char *write_tok(const char *json) {
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(json, f);
        fclose(f);
    }
    return tmpdir;
}

#define TINY_MODEL                                                                              \
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"<0x41>\":3},\"merges\":[\"a b\"]}"

static void expect_load_error(const char *json, const char *pattern) {
    const char *dir = write_tok(json);
    slm_tokenizer *t = slm_tokenizer_load(dir);
    CHECK(t == NULL, "loaded a bad tokenizer.json (%s)", pattern);
    if (t) slm_tokenizer_free(t);
    else
        CHECK(strstr(slm_error(), pattern) && strstr(slm_error(), "tokenizer.json") &&
                  !strchr(slm_error(), '\n'),
              "error '%s' should name tokenizer.json and say '%s'", slm_error(), pattern);
}

static void test_bad_files(void) {
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
    CHECK(slm_tokenizer_load(tmpdir) == NULL && strstr(slm_error(), "cannot open"),
          "missing file: %s", slm_error());
    expect_load_error("", "not valid JSON");
    expect_load_error("{\"model\": {\"vocab\": {\"a\": 0}", "not valid JSON");
    expect_load_error("[1, 2, 3]", "expected an object");
    expect_load_error("{\"version\":\"1.0\"}", "model: missing");
    expect_load_error("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", "unsupported model type 'Unigram'");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"merges\":[]}}", "model.vocab: missing");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", "model.merges: missing");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", "not an integer");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a c\"]}}", "'c' is not in the vocab");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\"]}}", "one space");
    expect_load_error("{" TINY_MODEL ",\"normalizer\":{\"type\":\"Precompiled\"}}", "unsupported normalizer type 'Precompiled'");
    expect_load_error("{" TINY_MODEL ",\"normalizer\":{\"kind\":\"NFC\"}}", "normalizer: missing type");
    expect_load_error("{" TINY_MODEL ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Bert\"}]}}", "unsupported pre-tokenizer type 'Bert'");
    expect_load_error("{" TINY_MODEL ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\",\"invert\":false}}", "bad regex");
    expect_load_error("{" TINY_MODEL ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Sideways\",\"invert\":false}}", "unknown value 'Sideways'");
    expect_load_error("{" TINY_MODEL ",\"decoder\":{\"type\":\"WordPiece\"}}", "unsupported decoder type 'WordPiece'");
    expect_load_error("{" TINY_MODEL ",\"post_processor\":{\"type\":\"Weird\"}}", "unsupported post-processor type 'Weird'");
    expect_load_error("{" TINY_MODEL ",\"added_tokens\":[{\"id\":5}]}", "added_tokens[0].content");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\xff\":0},\"merges\":[]}}", "not valid UTF-8");
    /* a minimal good one, to show the bad ones fail for the reason given */
    const char *dir = write_tok("{" TINY_MODEL ",\"decoder\":{\"type\":\"ByteFallback\"}}");
    slm_tokenizer *t = slm_tokenizer_load(dir);
    CHECK(t != NULL, "tiny tokenizer: %s", slm_error());
    if (t) {
        int *ids, n;
        CHECK(slm_tokenize(t, "abab", 4, 1, 1, &ids, &n) == 0 && n == 2 && ids[0] == 2 && ids[1] == 2,
              "tiny: abab -> ab ab");
        free(ids);
        char *out;
        size_t len;
        int in[2] = {2, 3};
        CHECK(slm_detokenize(t, in, 2, 0, &out, &len) == 0 && !strcmp(out, "abA"), "tiny decode");
        free(out);
        slm_tokenizer_free(t);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

static void test_bad_input(void) {
    slm_tokenizer *t = slm_tokenizer_load("../shared/tokenizers/llama3");
    CHECK(t != NULL, "llama3: %s", slm_error());
    if (!t) return;
    int *ids, n;
    const char bad[] = "ok \xC3\x28 bad";
    CHECK(slm_tokenize(t, bad, sizeof bad - 1, 1, 1, &ids, &n) == -1 && strstr(slm_error(), "byte 3"),
          "invalid UTF-8 must name byte 3: %s", slm_error());
    const char cut[] = "cut \xE2\x82";
    CHECK(slm_tokenize(t, cut, sizeof cut - 1, 1, 1, &ids, &n) == -1 && strstr(slm_error(), "byte 4"),
          "a cut character must name byte 4: %s", slm_error());
    CHECK(slm_tokenize(t, "", 0, 0, 1, &ids, &n) == 0 && n == 0, "empty text, no specials");
    free(ids);
    char *out;
    size_t len;
    int bad_ids[3] = {9906, 128256, 1917};
    CHECK(slm_detokenize(t, bad_ids, 3, 0, &out, &len) == -1 && strstr(slm_error(), "128256"),
          "id outside the vocabulary: %s", slm_error());
    int neg[1] = {-5};
    CHECK(slm_detokenize(t, neg, 1, 0, &out, &len) == -1 && strstr(slm_error(), "-5"), "negative id");
    slm_detok_stream *s = slm_detok_stream_new(t, 1);
    const char *b;
    size_t bn;
    CHECK(slm_detok_stream_push(s, 999999, &b, &bn) == -1, "stream: bad id");
    CHECK(slm_detok_stream_push(s, 9906, &b, &bn) == 0 && bn == 5 && !memcmp(b, "Hello", 5),
          "stream goes on after a bad id");
    /* an emoji split over byte-level tokens comes out whole */
    const char *emoji = "\xF0\x9F\x98\x80!";
    int *e_ids, e_n;
    CHECK(slm_tokenize(t, emoji, strlen(emoji), 0, 1, &e_ids, &e_n) == 0, "emoji");
    size_t total = 0;
    for (int i = 0; i < e_n; i++) {
        CHECK(slm_detok_stream_push(s, e_ids[i], &b, &bn) == 0 && valid_utf8(b, bn), "emoji chunk");
        total += bn;
    }
    CHECK(slm_detok_stream_flush(s, &b, &bn) == 0 && total + bn == 5, "emoji bytes all out");
    free(e_ids);
    slm_detok_stream_free(s);
    slm_tokenizer_free(t);
}

/* Several threads share one tokenizer (and its cache): every result matches the single-thread one. */
typedef struct {
    const slm_tokenizer *tok;
    const int *want;
    const int *offsets;
    int bad;
} thread_job;

static void *tokenize_corpus(void *arg) {
    thread_job *j = arg;
    for (int rep = 0; rep < 3; rep++)
        for (int c = 0; c < cJSON_GetArraySize(corpus); c++) {
            const char *text = cJSON_GetArrayItem(corpus, c)->valuestring;
            int *ids, n;
            if (slm_tokenize(j->tok, text, strlen(text), 1, 1, &ids, &n)) {
                j->bad++;
                continue;
            }
            int start = j->offsets[c], len = j->offsets[c + 1] - start;
            if (n != len || memcmp(ids, j->want + start, (size_t)n * sizeof *ids)) j->bad++;
            free(ids);
        }
    return NULL;
}

static void test_threads(void) {
    slm_tokenizer *tok = slm_tokenizer_load("../shared/tokenizers/llama2");
    CHECK(tok != NULL, "llama2: %s", slm_error());
    if (!tok) return;
    int nc = cJSON_GetArraySize(corpus), *offsets = malloc((size_t)(nc + 1) * sizeof(int)), total = 0;
    int *want = NULL;
    for (int c = 0; c < nc; c++) {
        const char *text = cJSON_GetArrayItem(corpus, c)->valuestring;
        int *ids, n;
        CHECK(slm_tokenize(tok, text, strlen(text), 1, 1, &ids, &n) == 0, "tokenize");
        want = realloc(want, (size_t)(total + n + 1) * sizeof *want);
        memcpy(want + total, ids, (size_t)n * sizeof *ids);
        offsets[c] = total;
        total += n;
        free(ids);
    }
    offsets[nc] = total;
    pthread_t th[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){tok, want, offsets, 0};
        pthread_create(&th[i], NULL, tokenize_corpus, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].bad == 0, "thread %d: %d results differ", i, jobs[i].bad);
    }
    free(want);
    free(offsets);
    slm_tokenizer_free(tok);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reported, not checked: sanitizer builds are several times slower. bench/tokenizer_bench.c has
 * the figure that matters. */
static void test_load_time(void) {
    double t0 = now();
    slm_tokenizer *t = slm_tokenizer_load("../shared/tokenizers/llama3");
    double dt = now() - t0;
    CHECK(t != NULL, "llama3: %s", slm_error());
    printf("     llama3 tokenizer.json loads in %.3f s\n", dt);
    slm_tokenizer_free(t);
}

int main(void) {
    corpus = read_json(FIX "corpus.json");
    if (!corpus) {
        fprintf(stderr, "cannot read " FIX "corpus.json (run from the repository root)\n");
        return 1;
    }
    RUN(test_gpt2);
    RUN(test_llama2);
    RUN(test_llama3);
    RUN(test_mistral);
    RUN(test_phi3);
    RUN(test_qwen2);
    RUN(test_smollm2);
    RUN(test_stories260k);
    RUN(test_synth_norm);
    RUN(test_synth_meta);
    RUN(test_synth_split);
    RUN(test_synth_first);
    RUN(test_synth_bytes);
    RUN(test_stream_random);
    RUN(test_accessors);
    RUN(test_bad_files);
    RUN(test_bad_input);
    RUN(test_threads);
    RUN(test_load_time);
    cJSON_Delete(corpus);
    return test_summary();
}
