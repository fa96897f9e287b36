/* slm bench: prompt and generation speed of a model folder or of a random-weight model of a
 * published shape, against the memory roofline, in the manner of llama-bench. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/bench.h"
#include "../bench/tokenizer_bench.h"
#include "../kernels/cpu/cpu_features.h"
#ifdef SLM_CUDA
#include "../kernels/cuda/backend_cuda.h"
#endif
#include "../runtime/error.h"
#include "../runtime/version.h"
#include "cli.h"

static const char usage[] =
    "usage: slm bench (-m DIR | --preset NAME[,NAME...]) [options]\n"
    "       slm bench --preset list          the shapes --preset knows\n"
    "       slm bench --membw [-t LIST]      read bandwidth per thread count\n"
    "       slm bench --tokenizer DIR [-f TEXT]  tokenizer load, encode and decode speed\n"
    "\n"
    "Lists are comma-separated; every combination is run.\n"
    "  -m, --model DIR          a Hugging Face model folder\n"
    "      --preset LIST        random-weight models of published shapes (see --preset list)\n"
    "      --type LIST          weight formats: f32 f16 bf16 q8_0 q4_0 nf4 (presets: default f16;\n"
    "                           -m: as stored, or converted on load to q8_0, q4_0, nf4)\n"
    "      --kv-type LIST       KV cache: f32 (default) or f16\n"
    "  -p, --n-prompt LIST      ppN: N prompt tokens in one batch (default 512; 0: none)\n"
    "  -n, --n-gen LIST         tgN: N tokens generated one at a time (default 128; 0: none)\n"
    "  -pg PP,TG                ppPP+tgTG: a prompt of PP tokens, then TG generated, timed together\n"
    "                           (may be given several times)\n"
    "  -d, --depth LIST         tokens already in the KV cache (default 0)\n"
    "  -t, --threads LIST       CPU threads (default: physical cores)\n"
    "      --device D           cpu (default) or cuda: the whole model on the GPU, the roofline from\n"
    "                           the GPU's measured read bandwidth\n"
    "  -r, --repetitions N      timed runs after one warm-up (default 5)\n"
    "  -o, --output FMT         md (default), json, jsonl (one object a line) or csv\n"
    "      --bandwidth GBPS     memory bandwidth for the roofline (default: read by the probe before\n"
    "                           each model is built, with its thread count)\n"
    "      --membw              measure the read bandwidth for each -t and exit\n"
    "      --membw-mib N        size of the probe's buffer (default: 16x the last-level cache)\n"
    "      --compare            set the results beside published figures of the same models\n"
    "      --published FILE     the published figures (default bench/published.json)\n"
    "      --svg FILE           draw tokens/s against depth (or threads) as SVG\n"
    "      --seed N             weights and token ids (default 1)\n"
    "      --progress           report each step on stderr\n";

enum { MAX_LIST = 64 };

static char gpu_name[160] = "no GPU";

typedef struct {
    const char *dir;
    const slm_preset *presets[MAX_LIST];
    int n_presets;
    slm_dtype types[MAX_LIST];
    int n_types, types_given;
    int kv_f16[2], n_kv;
    int prompts[MAX_LIST], n_prompts;
    int gens[MAX_LIST], n_gens;
    int pg[MAX_LIST][2], n_pg; /* -pg PP,TG */
    int depths[MAX_LIST], n_depths;
    int threads[MAX_LIST], n_threads;
    int reps;
    slm_bench_format fmt;
    double bandwidth; /* 0: probe */
    size_t membw_bytes;
    const char *published, *svg;
    int cuda; /* --device cuda */
    const char *tokenizer, *text; /* --tokenizer DIR [-f TEXT] */
    unsigned long long seed;
    int membw, compare, progress, list_presets;
} bench_opts;

static void parse_list(const char *opt, const char *val, int *out, int *n, long lo, long hi) {
    *n = slm_bench_parse_ints(opt, val, out, MAX_LIST, lo, hi);
    if (*n < 0) die("%s", slm_error());
}

/* Splits a comma-separated list of names into words; each is passed to fn. */
static void each_word(const char *opt, const char *val, void (*fn)(const char *opt, const char *w, bench_opts *o),
                      bench_opts *o) {
    char buf[512];
    if (strlen(val) >= sizeof buf) die("option %s: value too long", opt);
    snprintf(buf, sizeof buf, "%s", val);
    char *save = NULL;
    int any = 0;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        fn(opt, w, o);
        any = 1;
    }
    if (!any) die("option %s: empty list", opt);
}

static void add_preset(const char *opt, const char *w, bench_opts *o) {
    if (!strcmp(w, "list")) {
        o->list_presets = 1;
        return;
    }
    const slm_preset *p = slm_preset_find(w);
    if (!p) die("option %s: unknown preset '%s' (slm bench --preset list)", opt, w);
    if (o->n_presets == MAX_LIST) die("option %s: more than %d presets", opt, MAX_LIST);
    o->presets[o->n_presets++] = p;
}

static void add_type(const char *opt, const char *w, bench_opts *o) {
    slm_dtype t;
    if (slm_dtype_parse(w, &t)) die("option %s: '%s' is not one of f32, f16, bf16, q8_0, q4_0, nf4", opt, w);
    if (o->n_types == MAX_LIST) die("option %s: more than %d formats", opt, MAX_LIST);
    o->types[o->n_types++] = t;
}

static void add_kv(const char *opt, const char *w, bench_opts *o) {
    int f16;
    if (!strcmp(w, "f32")) f16 = 0;
    else if (!strcmp(w, "f16")) f16 = 1;
    else die("option %s: '%s' is not f32 or f16", opt, w);
    if (o->n_kv == 2) die("option %s: give f32 and f16 at most once each", opt);
    o->kv_f16[o->n_kv++] = f16;
}

static void parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->prompts[0] = 512;
    o->gens[0] = 128;
    o->n_prompts = o->n_gens = o->n_depths = o->n_threads = 1;
    o->threads[0] = slm_physical_cores();
    o->reps = 5;
    o->published = "bench/published.json";
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->dir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--preset")) each_word(a, cli_value(argc, argv, &i), add_preset, o);
        else if (!strcmp(a, "--type")) {
            each_word(a, cli_value(argc, argv, &i), add_type, o);
            o->types_given = 1;
        } else if (!strcmp(a, "--kv-type")) each_word(a, cli_value(argc, argv, &i), add_kv, o);
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) parse_list(a, cli_value(argc, argv, &i), o->prompts, &o->n_prompts, 0, 1 << 20);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) parse_list(a, cli_value(argc, argv, &i), o->gens, &o->n_gens, 0, 1 << 20);
        else if (!strcmp(a, "-pg")) {
            if (o->n_pg == MAX_LIST) die("option %s: given more than %d times", a, MAX_LIST);
            int v[MAX_LIST], n;
            parse_list(a, cli_value(argc, argv, &i), v, &n, 1, 1 << 20);
            if (n != 2) die("option %s: give two numbers, PP,TG (a prompt of PP tokens, then TG generated)", a);
            o->pg[o->n_pg][0] = v[0];
            o->pg[o->n_pg][1] = v[1];
            o->n_pg++;
        } else if (!strcmp(a, "-d") || !strcmp(a, "--depth")) parse_list(a, cli_value(argc, argv, &i), o->depths, &o->n_depths, 0, 1 << 22);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) parse_list(a, cli_value(argc, argv, &i), o->threads, &o->n_threads, 1, 1024);
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) o->reps = cli_int(a, cli_value(argc, argv, &i), 1, SLM_BENCH_MAX_REPS);
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            const char *v = cli_value(argc, argv, &i);
            if (!strcmp(v, "md")) o->fmt = SLM_BENCH_MD;
            else if (!strcmp(v, "json")) o->fmt = SLM_BENCH_JSON;
            else if (!strcmp(v, "jsonl")) o->fmt = SLM_BENCH_JSONL;
            else if (!strcmp(v, "csv")) o->fmt = SLM_BENCH_CSV;
            else die("option %s: '%s' is not md, json, jsonl or csv", a, v);
        } else if (!strcmp(a, "--bandwidth")) o->bandwidth = cli_float(a, cli_value(argc, argv, &i), 0.001, 1e6);
        else if (!strcmp(a, "--device")) {
            const char *v = cli_value(argc, argv, &i);
            if (!strcmp(v, "cuda")) o->cuda = 1;
            else if (strcmp(v, "cpu")) die("option %s: '%s' is not one of cpu, cuda", a, v);
        } else if (!strcmp(a, "--membw")) o->membw = 1;
        else if (!strcmp(a, "--membw-mib")) o->membw_bytes = (size_t)cli_int(a, cli_value(argc, argv, &i), 1, 1 << 20) << 20;
        else if (!strcmp(a, "--compare")) o->compare = 1;
        else if (!strcmp(a, "--published")) o->published = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--svg")) o->svg = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--seed")) o->seed = cli_u64(a, cli_value(argc, argv, &i));
        else if (!strcmp(a, "--progress")) o->progress = 1;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = cli_value(argc, argv, &i);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->text = cli_value(argc, argv, &i);
        else die("bench: unknown option '%s' (slm bench --help)", a);
    }
    if (!o->n_kv) o->n_kv = 1; /* kv_f16[0] = 0: f32 */
}

static void list_presets(void) {
    printf("| preset | arch | hidden | ffn | layers | heads | kv heads | head_dim | vocab | tied | params | shape from |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |\n");
    for (int i = 0; i < slm_preset_count(); i++) {
        const slm_preset *p = slm_preset_at(i);
        printf("| %s | %s | %d | %d | %d | %d | %d | %d | %d | %s | %.3fB | %s |\n", p->name, p->arch, p->hidden, p->ffn,
               p->layers, p->heads, p->kv_heads, p->head_dim, p->vocab, p->tied ? "yes" : "no",
               slm_preset_params(p) / 1e9, p->source);
    }
    for (int i = 0; i < slm_preset_count(); i++) {
        const slm_preset *p = slm_preset_at(i);
        if (p->unsupported) printf("\nnote: %s: %s", p->name, p->unsupported);
    }
    printf("\n");
}

/* The GPU probe reads 2 GiB (many times any L2 cache) unless --membw-mib says otherwise. median, when not
 * NULL, receives the CPU probe's median pass. */
static double probe(int threads, const bench_opts *o, double *median) {
    double gbps;
    if (o->cuda) {
#ifdef SLM_CUDA
        gbps = slm_cuda_membw_read(o->membw_bytes ? o->membw_bytes : (size_t)2 << 30, 10);
#else
        gbps = -1;
#endif
    } else {
        size_t bytes = o->membw_bytes ? o->membw_bytes : slm_membw_default_bytes();
        gbps = slm_membw_read(threads, bytes, 10, median);
    }
    if (gbps < 0) die("%s", slm_error());
    return gbps;
}

static void run_membw(const bench_opts *o) {
    if (o->cuda) {
        printf("| device | read GB/s |\n| --- | ---: |\n| %s | %.1f |\n", gpu_name, probe(1, o, NULL));
        printf("\nstreaming read of a %zu MiB device buffer, best of 10 passes\n",
               (o->membw_bytes ? o->membw_bytes : (size_t)2 << 30) >> 20);
        return;
    }
    size_t bytes = o->membw_bytes ? o->membw_bytes : slm_membw_default_bytes();
    printf("| threads | read GB/s | median pass GB/s |\n| ---: | ---: | ---: |\n");
    for (int i = 0; i < o->n_threads; i++) {
        double median, best = probe(o->threads[i], o, &median);
        printf("| %d | %.2f | %.2f |\n", o->threads[i], best, median);
    }
    printf("\nstreaming read of a %zu MiB buffer, best of 10 passes (the roofline's bandwidth) and their median\n",
           bytes >> 20);
}

/* Bytes per weight of each format, for the memory check before building a preset. */
static double bytes_per_weight(slm_dtype t) {
    switch (t) {
    case SLM_F32: return 4;
    case SLM_F16:
    case SLM_BF16: return 2;
    case SLM_Q8_0: return 34.0 / 32;
    case SLM_Q4_0: return 18.0 / 32;
    default: return 0.5 + 4.0 / 64;
    }
}

typedef struct {
    slm_bench_result *r;
    int n, cap;
} results;

static slm_bench_result *new_result(results *rs) {
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->r = realloc(rs->r, (size_t)rs->cap * sizeof *rs->r);
        if (!rs->r) die("out of memory");
    }
    slm_bench_result *x = &rs->r[rs->n++];
    memset(x, 0, sizeof *x);
    return x;
}

/* Every test of the options on one model: the depths, each with its pp tests, its tg tests, then its
 * pp+tg tests. */
/* Positions the longest test fills: its depth and its tokens. */
static int tests_ctx(const bench_opts *o) {
    int ctx = 1;
    for (int d = 0; d < o->n_depths; d++) {
        for (int i = 0; i < o->n_prompts; i++)
            if (o->depths[d] + o->prompts[i] > ctx) ctx = o->depths[d] + o->prompts[i];
        for (int i = 0; i < o->n_gens; i++)
            if (o->depths[d] + o->gens[i] > ctx) ctx = o->depths[d] + o->gens[i];
        for (int i = 0; i < o->n_pg; i++)
            if (o->depths[d] + o->pg[i][0] + o->pg[i][1] > ctx) ctx = o->depths[d] + o->pg[i][0] + o->pg[i][1];
    }
    return ctx;
}

static void run_tests(slm_model *m, const char *name, const char *note, const char *type, int kv_f16, int threads,
                      double gbps, const bench_opts *o, results *rs) {
    int ctx = tests_ctx(o);
    int max = slm_model_config(m)->max_position_embeddings;
    if (max > 0 && ctx > max) die("%s: the tests need %d positions (depth + tokens), the model has %d", name, ctx, max);
    slm_bench_costs k;
    slm_bench_model_costs(m, kv_f16, ctx, &k);
    /* the cache is filled as the tests run: refused here rather than by the kernel's OOM killer later (on the
     * CPU; a GPU's cache lives in its own memory) */
    size_t avail = slm_bench_mem_available();
    if (!o->cuda && avail && k.kv_total > 0.9 * (double)avail)
        die("%s: the KV cache of %d positions needs %.1f GB of memory, %.1f GB are available", name, ctx, k.kv_total / 1e9,
            avail / 1e9);
    slm_session *s = slm_session_new(m, ctx);
    if (!s) die("%s: %s", name, slm_error());
    if (o->cuda && strcmp(slm_model_backend(m), "cuda")) die("%s: the model did not go to the GPU", name);
    double *tps = malloc((size_t)o->reps * sizeof *tps);
    if (!tps) die("out of memory");
    for (int d = 0; d < o->n_depths; d++) {
        for (int kind = 0; kind < 3; kind++) {
            int count = kind == 0 ? o->n_prompts : kind == 1 ? o->n_gens : o->n_pg;
            for (int i = 0; i < count; i++) {
                slm_bench_test t = {0, 0, o->depths[d], o->reps};
                if (kind == 0) t.n_prompt = o->prompts[i];
                else if (kind == 1) t.n_gen = o->gens[i];
                else {
                    t.n_prompt = o->pg[i][0];
                    t.n_gen = o->pg[i][1];
                }
                if (t.n_prompt + t.n_gen == 0) continue;
                char tn[64];
                slm_bench_test_name(&t, tn, sizeof tn);
                if (o->progress) fprintf(stderr, "bench: %s %s t%d %s\n", name, type, threads, tn);
                if (slm_bench_run(s, &t, o->seed, tps)) die("%s %s: %s", name, tn, slm_error());
                slm_bench_result *x = new_result(rs);
                snprintf(x->model, sizeof x->model, "%s", name);
                snprintf(x->note, sizeof x->note, "%s", note ? note : "");
                snprintf(x->type, sizeof x->type, "%s", type);
                snprintf(x->kv_type, sizeof x->kv_type, "%s", kv_f16 ? "f16" : "f32");
                snprintf(x->device, sizeof x->device, "%s", o->cuda ? "cuda" : "cpu");
                snprintf(x->build, sizeof x->build, "%s", slm_build_commit());
                snprintf(x->hardware, sizeof x->hardware, "%s", o->cuda ? gpu_name : slm_cpu_name());
                x->params = k.params;
                x->weights = k.weights;
                x->kv_bytes = k.kv_total;
                x->threads = threads;
                x->test = t;
                slm_bench_stats(tps, o->reps, &x->mean, &x->sd);
                x->samples = malloc((size_t)o->reps * sizeof *x->samples);
                if (!x->samples) die("out of memory");
                memcpy(x->samples, tps, (size_t)o->reps * sizeof *tps);
                x->gbps = gbps;
                if (kind == 1) {
                    /* token i of the test attends over depth + i + 1 positions; the mean of those */
                    x->bytes_per_token = slm_roofline_tg_bytes(&k, t.depth + (t.n_gen + 1) / 2.0);
                    x->roofline_tps = slm_roofline_tps(gbps, x->bytes_per_token);
                    x->roofline_pct = x->roofline_tps > 0 ? 100 * x->mean / x->roofline_tps : 0;
                } else if (kind == 0) {
                    x->gflops = slm_roofline_pp_flops(slm_model_config(m), t.n_prompt, t.depth) * x->mean / t.n_prompt / 1e9;
                }
            }
        }
    }
    free(tps);
    slm_session_free(s);
    size_t rss = slm_bench_peak_rss();
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].model, name) && !strcmp(rs->r[i].type, type) && rs->r[i].threads == threads &&
            !strcmp(rs->r[i].kv_type, kv_f16 ? "f16" : "f32") && rs->r[i].peak_rss == 0)
            rs->r[i].peak_rss = (double)rss;
}

static const char *dir_name(const char *dir) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    static char name[64];
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/') start--;
    size_t n = len - start < sizeof name - 1 ? len - start : sizeof name - 1;
    memcpy(name, dir + start, n);
    name[n] = 0;
    return name;
}

/* Checks that a GPU is there before anything is built, and names it for the report. */
static void open_gpu(void) {
#ifdef SLM_CUDA
    if (slm_cuda_device_name(gpu_name, sizeof gpu_name)) die("bench: --device cuda: %s", slm_error());
#else
    die("bench: --device cuda: this build has no CUDA backend (nvcc was not found when it was built)");
#endif
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    parse_args(argc, argv, &o);
    if (o.cuda && o.tokenizer) die("bench: --tokenizer runs on the CPU; leave out --device cuda");
    if (o.cuda && !o.list_presets) open_gpu();
    if (o.list_presets) {
        list_presets();
        return 0;
    }
    if (o.membw) {
        run_membw(&o);
        return 0;
    }
    if (o.text && !o.tokenizer) die("bench: -f TEXT goes with --tokenizer DIR");
    if (o.tokenizer) {
        if (o.dir || o.n_presets) die("bench: --tokenizer runs alone, without -m or --preset");
        if (slm_bench_tokenizer(o.tokenizer, o.text, stdout)) die("%s", slm_error());
        return 0;
    }
    if (!o.dir && !o.n_presets) die("bench: give -m DIR or --preset NAME (slm bench --preset list)");
    if (o.dir && o.n_presets) die("bench: give -m DIR or --preset, not both");
    int tokens = 0;
    for (int i = 0; i < o.n_prompts; i++) tokens += o.prompts[i];
    for (int i = 0; i < o.n_gens; i++) tokens += o.gens[i];
    if (!tokens && !o.n_pg) die("bench: nothing to run: every -p and -n value is 0, and no -pg");
    if (!o.types_given) {
        o.n_types = 1;
        o.types[0] = SLM_F16;
    }
    if (o.dir && o.types_given)
        for (int i = 0; i < o.n_types; i++)
            if (o.types[i] < SLM_Q8_0)
                die("option --type: a model folder runs as stored or converted to q8_0, q4_0 or nf4, not %s",
                    slm_dtype_name(o.types[i]));
    slm_published *pub = NULL;
    int npub = 0;
    if (o.compare && (npub = slm_published_load(o.published, &pub)) < 0) die("%s", slm_error());

    /* The GPU's bandwidth is read once. On the CPU the probe reads again before each model is built, with
     * that model's thread count, so that its roofline is the bandwidth of the same minute: on a shared
     * host the reading moves by up to 20% from one minute to the next. */
    double gpu_gbps = o.bandwidth;
    if (o.cuda && gpu_gbps <= 0) {
        if (o.progress) fprintf(stderr, "bench: device read probe\n");
        gpu_gbps = probe(1, &o, NULL);
    }

    results rs = {0};
    int n_models = o.dir ? 1 : o.n_presets;
    int n_types = o.dir && !o.types_given ? 1 : o.n_types;
    for (int mi = 0; mi < n_models; mi++)
        for (int ty = 0; ty < n_types; ty++)
            for (int kv = 0; kv < o.n_kv; kv++)
                for (int ti = 0; ti < o.n_threads; ti++) {
                    slm_load_opts lo = {.threads = o.threads[ti], .kv_f16 = o.kv_f16[kv], .device = o.cuda ? "cuda" : "cpu"};
                    slm_model *m = NULL;
                    const char *name, *note = NULL, *type;
                    double gbps = gpu_gbps;
                    if (gbps <= 0) {
                        if (o.progress) fprintf(stderr, "bench: read probe, %d thread%s\n", o.threads[ti], o.threads[ti] > 1 ? "s" : "");
                        gbps = probe(o.threads[ti], &o, NULL);
                    }
                    slm_bench_reset_peak_rss(); /* after the probe, whose buffer is not the model's */
                    if (o.dir) {
                        name = dir_name(o.dir);
                        if (o.types_given) {
                            lo.quantize = 1;
                            lo.quant_type = o.types[ty];
                        }
                        if (o.progress) fprintf(stderr, "bench: loading %s\n", o.dir);
                        if (slm_model_load(&m, o.dir, &lo)) die("%s", slm_error());
                        type = o.types_given ? slm_dtype_name(o.types[ty]) : slm_model_config(m)->dtype;
                    } else {
                        const slm_preset *p = o.presets[mi];
                        name = p->name;
                        note = p->unsupported;
                        type = slm_dtype_name(o.types[ty]);
                        /* the weights, and on the CPU the KV cache as far as the longest test fills it */
                        slm_config pc;
                        slm_preset_config(p, &pc);
                        double kv_bytes = o.cuda ? 0 : slm_kv_bytes_per_pos(&pc, o.kv_f16[kv]) * tests_ctx(&o);
                        double need = slm_preset_params(p) * bytes_per_weight(o.types[ty]) + kv_bytes;
                        size_t avail = slm_bench_mem_available();
                        if (avail && need > 0.9 * (double)avail)
                            die("%s %s: needs %.1f GB of memory (%.1f GB of it the KV cache), %.1f GB are available",
                                name, type, need / 1e9, kv_bytes / 1e9, avail / 1e9);
                        if (o.progress) fprintf(stderr, "bench: building %s %s (%.2f GB)\n", name, type, need / 1e9);
                        if (slm_bench_preset_model(&m, p, o.types[ty], o.seed, &lo)) die("%s: %s", name, slm_error());
                    }
                    run_tests(m, name, note, type, o.kv_f16[kv], o.threads[ti], gbps, &o, &rs);
                    slm_model_free(m);
                }

    if (o.fmt == SLM_BENCH_MD) {
        printf("slm bench, build %s: ", slm_build_commit());
        if (o.cuda) printf("CUDA kernels on %s; roofline bandwidth %s %.1f GB/s", gpu_name,
                           o.bandwidth > 0 ? "given:" : "measured (device read probe):", gpu_gbps);
        else if (o.bandwidth > 0)
            printf("%s CPU kernels on %s; roofline bandwidth given: %.1f GB/s", slm_isa_name(slm_isa_best()), slm_cpu_name(),
                   o.bandwidth);
        else
            printf("%s CPU kernels on %s; roofline bandwidth: the BW column, read by the probe just before each "
                   "model was built", slm_isa_name(slm_isa_best()), slm_cpu_name());
        printf("\n\n");
    }
    slm_bench_print(stdout, rs.r, rs.n, o.fmt);
    if (o.compare) slm_bench_compare(stdout, rs.r, rs.n, pub, npub, o.published);
    if (o.svg && slm_bench_svg(o.svg, rs.r, rs.n)) die("%s", slm_error());
    free(pub);
    for (int i = 0; i < rs.n; i++) free(rs.r[i].samples);
    free(rs.r);
    return 0;
}
