/* Published speeds of other engines (bench/published.json) and `slm bench --compare`. Decoding is
 * bound by memory bandwidth, so a generation figure from other hardware is scaled by the ratio of
 * the bandwidths before it is set beside ours; prompt figures are compute-bound and are shown as
 * published. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "bench.h"

/* as many as `slm bench -t` takes */
enum { MAX_THREADS = 1024 };

static int get_str(const cJSON *o, const char *key, char *dst, size_t size, int required, const char *path, int i) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (!required) return 0;
        return slm_fail("%s: rows[%d]: field '%s': missing", path, i, key);
    }
    if (!cJSON_IsString(v)) return slm_fail("%s: rows[%d]: field '%s': not a string", path, i, key);
    if (strlen(v->valuestring) >= size)
        return slm_fail("%s: rows[%d]: field '%s': longer than %zu bytes", path, i, key, size - 1);
    snprintf(dst, size, "%s", v->valuestring);
    return 0;
}

static int get_num(const cJSON *o, const char *key, double *dst, int required, const char *path, int i) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (!required) return 0;
        return slm_fail("%s: rows[%d]: field '%s': missing", path, i, key);
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0) return slm_fail("%s: rows[%d]: field '%s': not a non-negative number", path, i, key);
    *dst = v->valuedouble;
    return 0;
}

int slm_published_load(const char *path, slm_published **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return slm_fail("%s: cannot open (give the file with --published FILE)", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(text);
        return slm_fail("%s: cannot read", path);
    }
    fclose(f);
    text[len] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return slm_fail("%s: not valid JSON", path);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    if (!cJSON_IsArray(rows)) {
        cJSON_Delete(root);
        return slm_fail("%s: field 'rows': missing or not an array", path);
    }
    int n = cJSON_GetArraySize(rows);
    slm_published *p = calloc(n > 0 ? (size_t)n : 1, sizeof *p);
    if (!p) {
        cJSON_Delete(root);
        return slm_fail("out of memory");
    }
    for (int i = 0; i < n; i++) {
        const cJSON *o = cJSON_GetArrayItem(rows, i);
        double threads = 0;
        if (!cJSON_IsObject(o)) {
            slm_fail("%s: rows[%d]: not an object", path, i);
            goto fail;
        }
        if (get_str(o, "engine", p[i].engine, sizeof p[i].engine, 1, path, i) ||
            get_str(o, "model", p[i].model, sizeof p[i].model, 1, path, i) ||
            get_str(o, "quant", p[i].quant, sizeof p[i].quant, 1, path, i) ||
            get_str(o, "test", p[i].test, sizeof p[i].test, 1, path, i) ||
            get_str(o, "hardware", p[i].hardware, sizeof p[i].hardware, 1, path, i) ||
            get_str(o, "source", p[i].source, sizeof p[i].source, 1, path, i) ||
            get_str(o, "note", p[i].note, sizeof p[i].note, 0, path, i) ||
            get_num(o, "tokens_per_s", &p[i].tps, 1, path, i) || get_num(o, "bandwidth_gbps", &p[i].gbps, 1, path, i) ||
            get_num(o, "threads", &threads, 0, path, i))
            goto fail;
        if (threads > MAX_THREADS || threads != (double)(int)threads) {
            slm_fail("%s: rows[%d]: field 'threads': not a whole number from 0 to %d", path, i, MAX_THREADS);
            goto fail;
        }
        if (strncmp(p[i].test, "tg", 2) && strncmp(p[i].test, "pp", 2)) {
            slm_fail("%s: rows[%d]: field 'test': '%s' is not ppN or tgN", path, i, p[i].test);
            goto fail;
        }
        p[i].threads = (int)threads;
    }
    cJSON_Delete(root);
    *out = p;
    return n;
fail:
    free(p);
    cJSON_Delete(root);
    return -1;
}

/* A row measured at another thread count is left out when the same source has one at this count. */
static int other_threads(const slm_published *q, const slm_published *p, int np, int threads) {
    if (q->threads <= 0 || q->threads == threads) return 0;
    for (int j = 0; j < np; j++)
        if (p[j].threads == threads && !strcmp(p[j].engine, q->engine) && !strcmp(p[j].hardware, q->hardware) &&
            !strcmp(p[j].model, q->model) && !strcmp(p[j].quant, q->quant) && !strcmp(p[j].test, q->test))
            return 1;
    return 0;
}

void slm_bench_compare(FILE *f, const slm_bench_result *r, int n, const slm_published *p, int np, const char *file) {
    fprintf(f, "\nPublished figures of the same model (generation scaled by bandwidth: theirs x this machine's GB/s / "
               "their GB/s; prompts, alone or with generation (pp+tg), as published)\n\n");
    fprintf(f, "| this run | t/s | engine | hardware | GB/s | quant | test | published t/s | scaled t/s | this / scaled |\n");
    fprintf(f, "| --- | ---: | --- | --- | ---: | --- | --- | ---: | ---: | ---: |\n");
    int shown = 0;
    for (int i = 0; i < n; i++) {
        const slm_bench_result *x = &r[i];
        char test[64], run[160], kind[64];
        int tg = x->test.n_prompt == 0, pg = x->test.n_prompt > 0 && x->test.n_gen > 0;
        slm_bench_test_name(&x->test, test, sizeof test);
        slm_bench_test_kind(&x->test, kind, sizeof kind);
        if (!strcmp(x->device, "cuda")) snprintf(run, sizeof run, "%s %s GPU %s", x->model, x->type, test);
        else snprintf(run, sizeof run, "%s %s t%d %s", x->model, x->type, x->threads, test);
        /* rows of the same format first, then the others */
        for (int pass = 0; pass < 2; pass++)
            for (int j = 0; j < np; j++) {
                const slm_published *q = &p[j];
                /* pp and tg rows of any length; a pp+tg row only of the same two lengths */
                int same_kind = pg ? !strcmp(q->test, kind) : !strncmp(q->test, tg ? "tg" : "pp", 2) && !strchr(q->test, '+');
                if (strcmp(q->model, x->model) || !same_kind) continue;
                if ((strcmp(q->quant, x->type) == 0) != (pass == 0) || other_threads(q, p, np, x->threads)) continue;
                double scaled = tg && q->gbps > 0 && x->gbps > 0 ? q->tps * x->gbps / q->gbps : q->tps;
                fprintf(f, "| %s | %.2f | %s | %s | %.0f | %s | %s | %.2f | %.2f | %.2fx |\n", run, x->mean, q->engine,
                        q->hardware, q->gbps, q->quant, q->test, q->tps, scaled, scaled > 0 ? x->mean / scaled : 0);
                shown++;
            }
    }
    if (!shown) fprintf(f, "| (no published rows for these models) | | | | | | | | | |\n");
    fprintf(f, "\nSources: %s (each row names its source).\n", file);
}
