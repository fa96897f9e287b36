/* Results as a markdown table (the default), JSON, JSON lines or CSV. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void slm_bench_test_kind(const slm_bench_test *t, char *buf, size_t size) {
    slm_bench_test k = *t;
    k.depth = 0;
    slm_bench_test_name(&k, buf, size);
}

void slm_bench_test_name(const slm_bench_test *t, char *buf, size_t size) {
    int n = 0;
    if (t->n_prompt > 0 && t->n_gen > 0) n = snprintf(buf, size, "pp%d+tg%d", t->n_prompt, t->n_gen);
    else if (t->n_prompt > 0) n = snprintf(buf, size, "pp%d", t->n_prompt);
    else n = snprintf(buf, size, "tg%d", t->n_gen);
    if (t->depth > 0 && n >= 0 && (size_t)n < size) snprintf(buf + n, size - n, " @ d%d", t->depth);
}

static int is_tg(const slm_bench_result *r) { return r->test.n_prompt == 0; }
static int is_pp(const slm_bench_result *r) { return r->test.n_gen == 0; }

static void print_md(FILE *f, const slm_bench_result *r, int n) {
    fprintf(f, "| model | type | kv | threads | test | t/s | bytes/token | BW GB/s | roofline t/s | %% roofline | GFLOP/s "
               "| weights+KV MiB | peak RSS MiB |\n");
    fprintf(f, "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < n; i++) {
        const slm_bench_result *x = &r[i];
        char test[64];
        slm_bench_test_name(&x->test, test, sizeof test);
        char threads[16];
        if (!strcmp(x->device, "cuda")) snprintf(threads, sizeof threads, "GPU");
        else snprintf(threads, sizeof threads, "%d", x->threads);
        fprintf(f, "| %s | %s | %s | %s | %s | %.2f ± %.2f | ", x->model, x->type, x->kv_type, threads, test, x->mean,
                x->sd);
        if (is_tg(x)) fprintf(f, "%.1f MB | %.1f | %.2f | %.1f%% | - |", x->bytes_per_token / 1e6, x->gbps,
                              x->roofline_tps, x->roofline_pct);
        else if (is_pp(x)) fprintf(f, "- | - | - | - | %.1f |", x->gflops);
        else fprintf(f, "- | - | - | - | - |");
        fprintf(f, " %.0f | %.0f |\n", (x->weights + x->kv_bytes) / 1048576.0, x->peak_rss / 1048576.0);
    }
    /* each distinct note once */
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= !strcmp(r[j].model, r[i].model);
        if (!seen && r[i].note[0]) fprintf(f, "\nnote: %s: %s", r[i].model, r[i].note);
    }
    fputc('\n', f);
}

/* s as one CSV field: quoted, with its quotes doubled. */
static void put_csv_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void print_csv(FILE *f, const slm_bench_result *r, int n) {
    fprintf(f, "model,type,kv_type,params,weights_bytes,kv_bytes,threads,test,n_prompt,n_gen,depth,reps,tps_mean,tps_sd,"
               "bytes_per_token,bandwidth_gbps,roofline_tps,roofline_pct,gflops,peak_rss_bytes,device,build_commit,hardware\n");
    for (int i = 0; i < n; i++) {
        const slm_bench_result *x = &r[i];
        char test[64];
        slm_bench_test_name(&x->test, test, sizeof test);
        fprintf(f, "%s,%s,%s,%.0f,%.0f,%.0f,%d,%s,%d,%d,%d,%d,%.4f,%.4f,%.0f,%.3f,%.4f,%.2f,%.3f,%.0f,%s,%s,", x->model,
                x->type, x->kv_type, x->params, x->weights, x->kv_bytes, x->threads, test, x->test.n_prompt,
                x->test.n_gen, x->test.depth, x->test.reps, x->mean, x->sd, is_tg(x) ? x->bytes_per_token : 0,
                x->gbps, is_tg(x) ? x->roofline_tps : 0, is_tg(x) ? x->roofline_pct : 0, is_pp(x) ? x->gflops : 0,
                x->peak_rss, x->device[0] ? x->device : "cpu", x->build);
        put_csv_quoted(f, x->hardware);
        fputc('\n', f);
    }
}

static cJSON *result_object(const slm_bench_result *x) {
    char test[64];
    slm_bench_test_name(&x->test, test, sizeof test);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", x->model);
    if (x->note[0]) cJSON_AddStringToObject(o, "note", x->note);
    cJSON_AddStringToObject(o, "type", x->type);
    cJSON_AddStringToObject(o, "kv_type", x->kv_type);
    cJSON_AddNumberToObject(o, "params", x->params);
    cJSON_AddNumberToObject(o, "weights_bytes", x->weights);
    cJSON_AddNumberToObject(o, "kv_bytes", x->kv_bytes);
    cJSON_AddStringToObject(o, "device", x->device[0] ? x->device : "cpu");
    cJSON_AddStringToObject(o, "hardware", x->hardware);
    cJSON_AddStringToObject(o, "build_commit", x->build);
    cJSON_AddNumberToObject(o, "threads", x->threads);
    cJSON_AddStringToObject(o, "test", test);
    cJSON_AddNumberToObject(o, "n_prompt", x->test.n_prompt);
    cJSON_AddNumberToObject(o, "n_gen", x->test.n_gen);
    cJSON_AddNumberToObject(o, "depth", x->test.depth);
    cJSON_AddNumberToObject(o, "reps", x->test.reps);
    cJSON_AddNumberToObject(o, "tps_mean", x->mean);
    cJSON_AddNumberToObject(o, "tps_sd", x->sd);
    if (x->samples) cJSON_AddItemToObject(o, "samples_tps", cJSON_CreateDoubleArray(x->samples, x->test.reps));
    if (is_tg(x)) {
        cJSON_AddNumberToObject(o, "bytes_per_token", x->bytes_per_token);
        cJSON_AddNumberToObject(o, "bandwidth_gbps", x->gbps);
        cJSON_AddNumberToObject(o, "roofline_tps", x->roofline_tps);
        cJSON_AddNumberToObject(o, "roofline_pct", x->roofline_pct);
    } else if (is_pp(x)) {
        cJSON_AddNumberToObject(o, "gflops", x->gflops);
    }
    cJSON_AddNumberToObject(o, "peak_rss_bytes", x->peak_rss);
    return o;
}

static void print_json(FILE *f, const slm_bench_result *r, int n) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, result_object(&r[i]));
    char *s = cJSON_Print(arr);
    if (s) fprintf(f, "%s\n", s);
    free(s);
    cJSON_Delete(arr);
}

/* One object a line, as a log of runs appends them. */
static void print_jsonl(FILE *f, const slm_bench_result *r, int n) {
    for (int i = 0; i < n; i++) {
        cJSON *o = result_object(&r[i]);
        char *s = cJSON_PrintUnformatted(o);
        if (s) fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
}

void slm_bench_print(FILE *f, const slm_bench_result *r, int n, slm_bench_format fmt) {
    if (fmt == SLM_BENCH_JSON) print_json(f, r, n);
    else if (fmt == SLM_BENCH_JSONL) print_jsonl(f, r, n);
    else if (fmt == SLM_BENCH_CSV) print_csv(f, r, n);
    else print_md(f, r, n);
}
