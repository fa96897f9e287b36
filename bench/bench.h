/* `slm bench`: prompt (ppN) and generation (tgN) speed at a context depth, set against the memory
 * roofline. Presets build random-weight models of published shapes in memory; a read probe measures
 * the bandwidth; results print as a markdown table, JSON or CSV, beside published figures, or as SVG.
 *
 *   slm_model *m; slm_bench_preset_model(&m, slm_preset_find("llama-3.2-1b"), SLM_Q4_0, &opts);
 *   slm_session *s = slm_session_new(m, depth + n);
 *   slm_bench_test t = {.n_gen = 128, .depth = 0, .reps = 5};
 *   slm_bench_run(s, &t, seed, tps);      // tokens/s of each repetition
 */
#ifndef SLM_BENCH_H
#define SLM_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../model/model.h"

/* ---- option lists and statistics (bench/stats.c) ---- */

/* Parses "1,2,8" into out[0..max); every value within [lo, hi]. Returns the count, or -1 with
 * slm_error() naming opt. */
int slm_bench_parse_ints(const char *opt, const char *s, int *out, int max, long lo, long hi);
/* Mean and sample standard deviation (n - 1 in the denominator; 0 for n < 2). */
void slm_bench_stats(const double *x, int n, double *mean, double *sd);

/* ---- model shapes (bench/presets.c) ---- */

typedef struct {
    const char *name;    /* "llama-3.2-1b" */
    const char *source;  /* the Hugging Face repository whose config.json gives the shape */
    const char *arch;    /* model_type of that config */
    int hidden, ffn, layers, heads, kv_heads, head_dim, vocab, tied;
    int qkv_bias;        /* q/k/v projections carry biases (qwen2) */
    int norms_per_layer; /* 2, or 4 for gemma2 (extra post-attention and post-FFN norms) */
    double rope_theta;
    double published_params; /* total parameters of the released checkpoint */
    /* NULL when the engine runs the architecture; otherwise what the Llama-shaped stand-in leaves out */
    const char *unsupported;
} slm_preset;

int slm_preset_count(void);
const slm_preset *slm_preset_at(int i);
const slm_preset *slm_preset_find(const char *name); /* NULL when unknown */
/* The Llama-family config the engine benchmarks for the preset. */
void slm_preset_config(const slm_preset *p, slm_config *c);
/* Parameters of the real architecture (biases and extra norms included), to check against published_params. */
double slm_preset_params(const slm_preset *p);
/* A random-weight model of the preset's shape in format type. */
int slm_bench_preset_model(slm_model **out, const slm_preset *p, slm_dtype type, uint64_t seed,
                           const slm_load_opts *opts);

/* ---- memory bandwidth (bench/membw.c) ---- */

/* Streaming read of a bytes-long buffer by threads pinned workers, best of passes; GB/s (1e9 bytes/s).
 * median, when not NULL, receives the median pass: on a shared host the best pass is the bound, and the
 * median is what a pass usually gets. Returns a negative value with slm_error() set
 * when the buffer cannot be allocated. */
double slm_membw_read(int threads, size_t bytes, int passes, double *median);
/* The buffer size the probe uses by default: 16x the last-level cache, within [256 MiB, 1 GiB]. */
size_t slm_membw_default_bytes(void);

/* ---- cost model (bench/roofline.c) ---- */

typedef struct {
    double weights_read; /* bytes of weights one decode step reads (one embedding row, the whole LM head) */
    double kv_per_pos;   /* bytes of K and V per cached position, all layers */
    double kv_total;     /* bytes of the KV cache of the session */
    double weights;      /* bytes of the weights as held in memory */
    double params;
} slm_bench_costs;

/* Bytes one decode step reads at context length ctx (positions already cached plus the new one). */
double slm_roofline_tg_bytes(const slm_bench_costs *k, double ctx);
/* tokens/s the bandwidth allows at that many bytes per token. */
double slm_roofline_tps(double gbps, double bytes_per_token);
/* Floating-point operations of a pp test: n tokens after depth cached ones, logits of the last only. */
double slm_roofline_pp_flops(const slm_config *c, int n, int depth);
/* Bytes per KV value for kv_f16 (2) or not (4). */
int slm_kv_value_bytes(int kv_f16);
/* Bytes of K and V per cached position, all layers of config c. */
double slm_kv_bytes_per_pos(const slm_config *c, int kv_f16);
/* The costs of model m with a session of ctx positions. */
void slm_bench_model_costs(const slm_model *m, int kv_f16, int ctx, slm_bench_costs *k);

/* ---- running a test (bench/run.c) ---- */

typedef struct {
    int n_prompt; /* ppN: N tokens in one batch (0: none) */
    int n_gen;    /* tgN: N tokens one at a time (0: none) */
    int depth;    /* positions cached before the test */
    int reps;
} slm_bench_test;

/* Fills the cache to t->depth, runs one warm-up and then t->reps timed repetitions, each from depth,
 * writing tokens/s of each to tps[reps]. The session needs depth + n_prompt + n_gen positions.
 * Returns 0, or -1 with slm_error(). */
int slm_bench_run(slm_session *s, const slm_bench_test *t, uint64_t seed, double *tps);
/* Peak resident memory of this process in bytes since the last reset (0 if unknown), and a reset. */
size_t slm_bench_peak_rss(void);
void slm_bench_reset_peak_rss(void);
/* Bytes of memory the system can still give (MemAvailable; 0 if unknown). */
size_t slm_bench_mem_available(void);

/* ---- results (bench/report.c, bench/svg.c, bench/published.c) ---- */

enum { SLM_BENCH_MAX_REPS = 1000 };

typedef struct {
    char model[64];     /* preset name or folder name */
    char note[160];     /* what a preset's stand-in leaves out ("" when none) */
    char type[16];      /* weight format */
    char kv_type[8];
    char device[8];     /* "cpu" or "cuda" */
    char build[32];     /* the commit slm was built from (runtime/version.h) */
    char hardware[160]; /* the CPU's name, or the GPU's with --device cuda */
    double params, weights, kv_bytes;
    int threads;
    slm_bench_test test;
    double mean, sd;    /* tokens/s */
    double *samples;    /* tokens/s of each repetition, test.reps of them (NULL: not kept); owned by the caller */
    double bytes_per_token, gbps, roofline_tps, roofline_pct; /* tg */
    double gflops;      /* pp; a pp+tg test has neither this nor a roofline */
    double peak_rss;    /* bytes */
} slm_bench_result;

typedef enum { SLM_BENCH_MD = 0, SLM_BENCH_JSON, SLM_BENCH_JSONL, SLM_BENCH_CSV } slm_bench_format;

/* "pp512", "tg128", "pp512+tg128", with " @ d2048" when the depth is not 0. */
void slm_bench_test_name(const slm_bench_test *t, char *buf, size_t size);
/* The same without the depth: what tests at several depths have in common. */
void slm_bench_test_kind(const slm_bench_test *t, char *buf, size_t size);
void slm_bench_print(FILE *f, const slm_bench_result *r, int n, slm_bench_format fmt);
/* Tokens/s against context depth (when several depths were run) or threads. Returns 0 or -1 (slm_error). */
int slm_bench_svg(const char *path, const slm_bench_result *r, int n);

typedef struct {
    char engine[32], model[48], quant[16], test[24], hardware[96], source[256], note[160];
    double tps, gbps;
    int threads; /* 0: a GPU or unstated */
} slm_published;

/* Reads bench/published.json. Returns the number of rows (allocated in *out) or -1 with slm_error(). */
int slm_published_load(const char *path, slm_published **out);
/* Prints each result beside the published rows of the same model and test kind, those rows scaled by
 * the ratio of this machine's bandwidth to theirs; `file` is where the rows came from. */
void slm_bench_compare(FILE *f, const slm_bench_result *r, int n, const slm_published *p, int np, const char *file);

#endif
