/* The benchmark's arithmetic and plumbing: option lists, mean and standard deviation, the roofline
 * and FLOP counts, the presets' parameter counts against the published totals, a random-weight
 * model of a preset, a short run on ../shared/models/stories260K, the output formats, the SVG,
 * the published figures file and the read probe. Speed itself is never tested here. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../bench/bench.h"
#include "../runtime/error.h"
#include "test.h"

static void test_parse_lists(void) {
    int v[8];
    CHECK(slm_bench_parse_ints("-t", "1,2,8", v, 8, 1, 64) == 3 && v[0] == 1 && v[1] == 2 && v[2] == 8, "1,2,8");
    CHECK(slm_bench_parse_ints("-p", "512", v, 8, 0, 1 << 20) == 1 && v[0] == 512, "512");
    CHECK(slm_bench_parse_ints("-p", "0", v, 8, 0, 10) == 1 && v[0] == 0, "0");
    const char *bad[] = {"", "1,,2", "1,", ",1", "a", "1,b", "3.5", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(slm_bench_parse_ints("-t", bad[i], v, 8, 0, 64) == -1, "'%s' accepted", bad[i]);
        CHECK(strstr(slm_error(), "-t") != NULL, "'%s': error does not name the option: %s", bad[i], slm_error());
    }
    CHECK(slm_bench_parse_ints("-t", "0", v, 8, 1, 64) == -1 && strstr(slm_error(), "out of range"), "range: %s", slm_error());
    CHECK(slm_bench_parse_ints("-t", "1,2,3", v, 2, 1, 64) == -1 && strstr(slm_error(), "more than"), "too many: %s", slm_error());
}

static void test_stats(void) {
    double x[] = {2, 4, 4, 4, 5, 5, 7, 9}, mean, sd;
    slm_bench_stats(x, 8, &mean, &sd);
    CHECK(fabs(mean - 5) < 1e-12, "mean %g", mean);
    CHECK(fabs(sd - sqrt(32.0 / 7)) < 1e-12, "sample sd %g", sd);
    slm_bench_stats(x, 1, &mean, &sd);
    CHECK(mean == 2 && sd == 0, "one value: %g ± %g", mean, sd);
}

static void test_roofline(void) {
    slm_bench_costs k = {.weights_read = 1e9, .kv_per_pos = 1000};
    CHECK(slm_roofline_tg_bytes(&k, 500) == 1e9 + 5e5, "bytes per token");
    CHECK(fabs(slm_roofline_tps(20, 1e9) - 20) < 1e-12, "20 GB/s over 1 GB is 20 tokens/s");
    CHECK(slm_roofline_tps(20, 0) == 0, "no bytes");
    CHECK(slm_kv_value_bytes(1) == 2 && slm_kv_value_bytes(0) == 4, "kv value bytes");
    /* one layer, hidden 4, 2 heads of 2, 1 KV head, ffn 8, vocab 10: per token 2*(16 + 8 + 8 + 16 + 3*32) = 288
     * matmul flops (q, k, v, o, gate, up, down); the head 2*10*4 = 80 once; attention 4*2*ctx per head */
    slm_config c = {0};
    c.hidden_size = 4;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.head_dim = 2;
    c.intermediate_size = 8;
    c.vocab_size = 10;
    c.n_layers = 1;
    double want = 3 * 288 + 80 + 4.0 * 2 * (1 + 2 + 3) * 2;
    CHECK(fabs(slm_roofline_pp_flops(&c, 3, 0) - want) < 1e-9, "pp flops %g vs %g", slm_roofline_pp_flops(&c, 3, 0), want);
    want = 2 * 288 + 80 + 4.0 * 2 * (11 + 12) * 2;
    CHECK(fabs(slm_roofline_pp_flops(&c, 2, 10) - want) < 1e-9, "pp flops at depth 10");
}

static void test_preset_params(void) {
    CHECK(slm_preset_count() >= 12, "%d presets", slm_preset_count());
    const char *required[] = {"llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "phi-3-mini", "qwen2.5-0.5b", "qwen2.5-1.5b",
                              "qwen2.5-7b", "mistral-7b", "gemma-2-2b", "smollm2-135m", "smollm2-360m", "smollm2-1.7b"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        CHECK(slm_preset_find(required[i]) != NULL, "preset %s missing", required[i]);
    for (int i = 0; i < slm_preset_count(); i++) {
        const slm_preset *p = slm_preset_at(i);
        double n = slm_preset_params(p);
        CHECK(n == p->published_params, "%s: %.0f parameters from the shape, %.0f published", p->name, n, p->published_params);
        CHECK(p->heads % p->kv_heads == 0, "%s: heads not a multiple of kv heads", p->name);
        slm_config c;
        slm_preset_config(p, &c);
        CHECK(c.hidden_size == p->hidden && c.n_kv_heads == p->kv_heads && c.tie_word_embeddings == p->tied, "%s config", p->name);
    }
    CHECK(slm_preset_params(slm_preset_find("llama-3.2-1b")) == 1235814400.0, "llama-3.2-1b is 1.236B");
    CHECK(slm_preset_find("no-such-model") == NULL, "unknown preset");
    CHECK(slm_preset_find("gemma-2-2b")->unsupported != NULL, "gemma2 says it is a stand-in");
}

/* A preset built in memory has the preset's parameters, and its costs add up. */
static void test_preset_model(void) {
    const slm_preset *p = slm_preset_find("smollm2-135m");
    slm_load_opts o = {.threads = 1};
    slm_model *m;
    CHECK(slm_bench_preset_model(&m, p, SLM_Q4_0, 1, &o) == 0, "build: %s", slm_error());
    if (!m) return;
    CHECK((double)slm_model_params(m) == p->published_params, "params %zu", slm_model_params(m));
    slm_bench_costs k;
    slm_bench_model_costs(m, 1, 100, &k);
    /* tied: the whole embedding is read as the head, so a decode step reads every weight */
    CHECK(fabs(k.weights_read - k.weights) < 1, "tied: read %g of %g", k.weights_read, k.weights);
    CHECK(k.kv_per_pos == 2.0 * 30 * 3 * 64 * 2, "kv per position %g", k.kv_per_pos);
    CHECK(k.kv_total == k.kv_per_pos * 100, "kv total");
    double q4 = 18.0 / 32 * (p->published_params - 576.0 * 61); /* all matrices, norms in f32 */
    CHECK(fabs(k.weights - (q4 + 576.0 * 61 * 4)) < 1, "weights %g vs %g", k.weights, q4 + 576.0 * 61 * 4);
    slm_model_free(m);
}

static void test_run_stories(void) {
    slm_model *m;
    slm_load_opts o = {.threads = 2};
    if (slm_model_load(&m, "../shared/models/stories260K", &o)) {
        CHECK(0, "load: %s", slm_error());
        return;
    }
    slm_session *s = slm_session_new(m, 64);
    double tps[3];
    slm_bench_test pp = {.n_prompt = 16, .depth = 8, .reps = 3}, tg = {.n_gen = 8, .depth = 20, .reps = 3};
    CHECK(slm_bench_run(s, &pp, 1, tps) == 0, "pp: %s", slm_error());
    for (int i = 0; i < 3; i++) CHECK(isfinite(tps[i]) && tps[i] > 0, "pp rep %d: %g", i, tps[i]);
    CHECK(slm_session_pos(s) == 24, "pp ends at depth + n: %d", slm_session_pos(s));
    CHECK(slm_bench_run(s, &tg, 1, tps) == 0, "tg: %s", slm_error());
    for (int i = 0; i < 3; i++) CHECK(isfinite(tps[i]) && tps[i] > 0, "tg rep %d: %g", i, tps[i]);
    slm_bench_test pg = {.n_prompt = 8, .n_gen = 4, .depth = 4, .reps = 2};
    CHECK(slm_bench_run(s, &pg, 1, tps) == 0, "pp+tg: %s", slm_error());
    for (int i = 0; i < 2; i++) CHECK(isfinite(tps[i]) && tps[i] > 0, "pp+tg rep %d: %g", i, tps[i]);
    CHECK(slm_session_pos(s) == 16, "pp+tg ends at depth + both: %d", slm_session_pos(s));
    slm_bench_test big = {.n_gen = 60, .depth = 10, .reps = 1};
    CHECK(slm_bench_run(s, &big, 1, tps) == -1 && strstr(slm_error(), "positions"), "too long: %s", slm_error());
    slm_session_free(s);
    CHECK(slm_bench_peak_rss() > 0, "peak RSS");
    slm_model_free(m);
}

static slm_bench_result sample(const char *model, int threads, int depth, int gen) {
    slm_bench_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.model, sizeof r.model, "%s", model);
    snprintf(r.type, sizeof r.type, "q4_0");
    snprintf(r.kv_type, sizeof r.kv_type, "f16");
    r.threads = threads;
    r.test = (slm_bench_test){.n_prompt = gen ? 0 : 512, .n_gen = gen, .depth = depth, .reps = 5};
    r.mean = 100.0 / (1 + depth / 1024.0);
    r.sd = 1.5;
    r.bytes_per_token = 7e8;
    r.gbps = 20;
    r.roofline_tps = 28.57;
    r.roofline_pct = 90.1;
    r.gflops = 123.4;
    r.weights = 7e8;
    r.kv_bytes = 1 << 20;
    r.peak_rss = 8e8;
    snprintf(r.build, sizeof r.build, "0123abcd");
    snprintf(r.hardware, sizeof r.hardware, "CPU \"X\", 2 cores");
    return r;
}

/* A pp+tg test (-pg): a prompt, then generated tokens, timed together. */
static slm_bench_result sample_pg(const char *model) {
    slm_bench_result r = sample(model, 2, 0, 128);
    r.test.n_prompt = 512;
    r.roofline_tps = r.roofline_pct = r.gflops = 0;
    return r;
}

static void test_output_formats(void) {
    slm_bench_result r[4] = {sample("llama-3.2-1b", 2, 0, 128), sample("llama-3.2-1b", 2, 2048, 128), sample("llama-3.2-1b", 2, 0, 0),
                             sample_pg("llama-3.2-1b")};
    double reps[5] = {98.5, 101.5, 99, 100, 101};
    r[1].samples = reps;
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    slm_bench_print(f, r, 4, SLM_BENCH_MD);
    fclose(f);
    CHECK(strstr(buf, "| model |") && strstr(buf, "tg128 @ d2048") && strstr(buf, "90.1%") && strstr(buf, "123.4"), "markdown:\n%s", buf);
    CHECK(strstr(buf, "| pp512+tg128 | 100.00 ± 1.50 | - | - | - | - | - | "), "markdown pp+tg row:\n%s", buf);
    free(buf);
    f = open_memstream(&buf, &len);
    slm_bench_print(f, r, 4, SLM_BENCH_CSV);
    fclose(f);
    int lines = 0;
    for (char *p = buf; *p; p++) lines += *p == '\n';
    CHECK(lines == 5 && !strncmp(buf, "model,type,", 11), "csv: %d lines\n%s", lines, buf);
    CHECK(strstr(buf, ",pp512+tg128,512,128,0,5,"), "csv pp+tg row:\n%s", buf);
    /* the build and the hardware end each row, the name quoted as one field */
    CHECK(strstr(buf, ",device,build_commit,hardware\n") && strstr(buf, ",cpu,0123abcd,\"CPU \"\"X\"\", 2 cores\"\n"), "csv build and hardware:\n%s",
          buf);
    free(buf);
    f = open_memstream(&buf, &len);
    slm_bench_print(f, r, 4, SLM_BENCH_JSON);
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 4, "json array of 4");
    if (cJSON_IsArray(j)) {
        cJSON *o = cJSON_GetArrayItem(j, 1);
        CHECK(cJSON_GetObjectItem(o, "depth")->valueint == 2048, "json depth");
        CHECK(fabs(cJSON_GetObjectItem(o, "roofline_pct")->valuedouble - 90.1) < 1e-9, "json roofline");
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 2), "gflops") != NULL, "json pp has gflops");
        cJSON *samples = cJSON_GetObjectItem(o, "samples_tps");
        CHECK(cJSON_GetArraySize(samples) == 5 && cJSON_GetArrayItem(samples, 1)->valuedouble == 101.5 &&
                  !cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "samples_tps"),
              "json: each repetition's tokens/s where kept");
        CHECK(!strcmp(cJSON_GetObjectItem(o, "build_commit")->valuestring, "0123abcd") &&
                  !strcmp(cJSON_GetObjectItem(o, "hardware")->valuestring, "CPU \"X\", 2 cores"),
              "json build and hardware");
        cJSON *pg = cJSON_GetArrayItem(j, 3);
        CHECK(!strcmp(cJSON_GetObjectItem(pg, "test")->valuestring, "pp512+tg128") && !cJSON_GetObjectItem(pg, "gflops") &&
                  !cJSON_GetObjectItem(pg, "roofline_pct"),
              "json pp+tg: neither GFLOP/s nor a roofline");
    }
    cJSON_Delete(j);
    free(buf);
    /* JSON lines: one whole object a line, the same fields */
    f = open_memstream(&buf, &len);
    slm_bench_print(f, r, 4, SLM_BENCH_JSONL);
    fclose(f);
    int objects = 0;
    for (char *line = buf, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end) break;
        *end = 0;
        cJSON *o = cJSON_Parse(line);
        CHECK(cJSON_IsObject(o) && cJSON_GetObjectItem(o, "tps_mean"), "jsonl line %d: %s", objects, line);
        objects += cJSON_IsObject(o);
        cJSON_Delete(o);
    }
    CHECK(objects == 4, "jsonl: %d objects", objects);
    free(buf);
}

static void test_svg(void) {
    slm_bench_result r[3] = {sample("m", 2, 0, 128), sample("m", 2, 512, 128), sample("m", 2, 4096, 128)};
    char path[] = "/tmp/slm_bench_svg_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(slm_bench_svg(path, r, 3) == 0, "svg: %s", slm_error());
    FILE *f = fopen(path, "r");
    char text[16384] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f) fclose(f);
    CHECK(strstr(text, "<svg") && strstr(text, "</svg>") && strstr(text, "<polyline") && strstr(text, "context depth"),
          "svg content");
    unlink(path);
    CHECK(slm_bench_svg("/nonexistent-dir/x.svg", r, 3) == -1 && strstr(slm_error(), "--svg"), "bad path: %s", slm_error());
}

static void test_published(void) {
    slm_published *p;
    int n = slm_published_load("bench/published.json", &p);
    CHECK(n > 5, "published rows: %d (%s)", n, slm_error());
    for (int i = 0; i < n; i++) {
        CHECK(p[i].tps > 0 && p[i].source[0] && p[i].hardware[0], "row %d incomplete", i);
        CHECK(!strncmp(p[i].source, "http", 4) || strstr(p[i].source, "RESULTS.md") || strstr(p[i].source, "issue"),
              "row %d: source '%s'", i, p[i].source);
    }
    slm_bench_result r = sample("llama-3.2-1b", 2, 0, 128);
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    slm_bench_compare(f, &r, 1, p, n, "bench/published.json");
    fclose(f);
    CHECK(strstr(buf, "scaled") && strstr(buf, "Sources: bench/published.json"), "compare output:\n%s", buf);
    CHECK(strstr(buf, "llama-3.2-1b q4_0 t2 tg128"), "a CPU run names its threads:\n%s", buf);
    free(buf);
    snprintf(r.device, sizeof r.device, "cuda");
    f = open_memstream(&buf, &len);
    slm_bench_compare(f, &r, 1, p, n, "bench/published.json");
    fclose(f);
    CHECK(strstr(buf, "llama-3.2-1b q4_0 GPU tg128") && !strstr(buf, " t2 "), "a GPU run is named as one:\n%s", buf);
    free(buf);
    free(p);
    /* a pp+tg result meets only rows of the same two lengths; pp and tg results never meet a pp+tg row */
    slm_published rows[3] = {{.engine = "e", .model = "m", .quant = "q4_0", .test = "pp512", .hardware = "h", .tps = 11},
                             {.engine = "e", .model = "m", .quant = "q4_0", .test = "pp512+tg128", .hardware = "h", .tps = 22},
                             {.engine = "e", .model = "m", .quant = "q4_0", .test = "pp512+tg64", .hardware = "h", .tps = 33}};
    slm_bench_result mine[2] = {sample_pg("m"), sample("m", 2, 0, 0)};
    f = open_memstream(&buf, &len);
    slm_bench_compare(f, mine, 2, rows, 3, "x.json");
    fclose(f);
    CHECK(strstr(buf, "| m q4_0 t2 pp512+tg128 | 100.00 | e | h | 0 | q4_0 | pp512+tg128 | 22.00 |") &&
              strstr(buf, "| m q4_0 t2 pp512 | 100.00 | e | h | 0 | q4_0 | pp512 | 11.00 |") && !strstr(buf, "33.00") &&
              !strstr(buf, "| m q4_0 t2 pp512 | 100.00 | e | h | 0 | q4_0 | pp512+tg128 |"),
          "compare pp+tg:\n%s", buf);
    free(buf);
    CHECK(slm_published_load("no/such/file.json", &p) == -1 && strstr(slm_error(), "no/such/file.json"), "missing file: %s",
          slm_error());
}

/* A row that would be cut short or misread is refused, naming the row and the field. */
static void test_published_bad(void) {
    const char *row = "{\"engine\": \"e\", \"model\": \"%s\", \"quant\": \"f16\", \"test\": \"tg128\", \"tokens_per_s\": 10, "
                      "\"hardware\": \"h\", \"bandwidth_gbps\": 50, \"source\": \"s\", \"threads\": %s}";
    struct {
        const char *model, *threads, *error;
    } cases[] = {
        {"llama-3.2-1b", "4", NULL},
        {"llama-3.2-1b", "1e300", "rows[1]: field 'threads': not a whole number from 0 to 1024"},
        {"llama-3.2-1b", "2.5", "rows[1]: field 'threads': not a whole number"},
        {"llama-3.2-1b", "-1", "rows[1]: field 'threads': not a non-negative number"},
        {"a-model-name-longer-than-the-forty-seven-bytes-a-row-holds", "1", "rows[1]: field 'model': longer than 47 bytes"},
    };
    char path[] = "/tmp/slm-test-published-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path, "w");
        fprintf(f, "{\"rows\": [");
        fprintf(f, row, "smollm2-135m", "0");
        fprintf(f, ", ");
        fprintf(f, row, cases[i].model, cases[i].threads);
        fprintf(f, "]}");
        fclose(f);
        slm_published *p = NULL;
        int n = slm_published_load(path, &p);
        if (!cases[i].error) CHECK(n == 2 && p[1].threads == 4, "case %zu: %d rows (%s)", i, n, slm_error());
        else CHECK(n == -1 && strstr(slm_error(), path) && strstr(slm_error(), cases[i].error), "case %zu: %s", i, slm_error());
        free(p);
    }
    unlink(path);
}

static void test_membw(void) {
    double median, g = slm_membw_read(2, 8 << 20, 3, &median);
    CHECK(g > 0 && isfinite(g), "probe %g GB/s", g);
    CHECK(median > 0 && median <= g, "median pass %g GB/s, best %g", median, g);
    double median2, g2 = slm_membw_read(1, 8 << 20, 2, &median2);
    CHECK(g2 > 0 && median2 > 0 && median2 <= g2, "two passes: median %g, best %g", median2, g2);
    size_t d = slm_membw_default_bytes();
    CHECK(d >= (256u << 20) && d <= (1u << 30), "default %zu", d);
}

int main(void) {
    RUN(test_parse_lists);
    RUN(test_stats);
    RUN(test_roofline);
    RUN(test_preset_params);
    RUN(test_preset_model);
    RUN(test_run_stories);
    RUN(test_output_formats);
    RUN(test_svg);
    RUN(test_published);
    RUN(test_published_bad);
    RUN(test_membw);
    return test_summary();
}
