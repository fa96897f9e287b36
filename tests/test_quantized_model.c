/* Quantized models end to end: quantize-on-load, `slm quantize` output read back by mmap, quality
 * against F32, and corrupt packed tensors refused. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../kernels/cpu/matmul.h"
#include "../model/model.h"
#include "../model/model_impl.h"
#include "../model/st_write.h"
#include "../runtime/error.h"
#include "../runtime/generate.h"
#include "test.h"

static char tmpdir[64];
static const char *STORIES = "../shared/models/stories260K";
static const int prompt[] = {1, 403, 407, 261, 378, 298, 315, 421, 395, 317, 426, 338};
enum { NP = sizeof prompt / sizeof prompt[0] };

/* logits at every prompt position */
static float *logits_of(slm_model *m) {
    int V = slm_model_config(m)->vocab_size;
    float *l = malloc((size_t)NP * V * sizeof(float));
    slm_session *s = slm_session_new(m, 64);
    CHECK(s && slm_eval(s, prompt, NP, l, 1) == 0, "eval: %s", slm_error());
    slm_session_free(s);
    return l;
}

/* The worst relative L2 error of a against ref over n positions of V logits each. */
static double worst_error(const float *a, const float *ref, int n, int V) {
    double worst = 0, *r = malloc((size_t)V * sizeof(double));
    for (int t = 0; t < n; t++) {
        for (int i = 0; i < V; i++) r[i] = ref[(size_t)t * V + i];
        double e = rel_l2(a + (size_t)t * V, r, V);
        if (e > worst) worst = e;
    }
    free(r);
    return worst;
}

/* Quantized logits stay close to F32, and the saved folder gives exactly the in-memory result. */
static void check_format(slm_dtype type, double bound) {
    slm_model *f32, *q, *saved;
    CHECK(slm_model_load(&f32, STORIES, NULL) == 0, "%s", slm_error());
    slm_load_opts lo = {.quantize = 1, .quant_type = type};
    CHECK(slm_model_load(&q, STORIES, &lo) == 0, "%s", slm_error());
    int V = slm_model_config(f32)->vocab_size;
    float *a = logits_of(f32), *b = logits_of(q);
    double e = worst_error(b, a, NP, V);
    printf("     %-5s vs f32: worst relative L2 error of the logits %.3g (bound %.3g)\n", slm_dtype_name(type), e, bound);
    CHECK(e < bound, "%s: error %.3g exceeds %.3g", slm_dtype_name(type), e, bound);
    char out[128];
    snprintf(out, sizeof out, "%s/%s", tmpdir, slm_dtype_name(type));
    CHECK(slm_model_save(q, STORIES, out, type) == 0, "save: %s", slm_error());
    if (slm_model_load(&saved, out, NULL) != 0) {
        CHECK(0, "load saved: %s", slm_error());
        return;
    }
    float *c = logits_of(saved);
    CHECK(memcmp(b, c, (size_t)NP * V * sizeof(float)) == 0, "%s: the saved folder gives other logits",
          slm_dtype_name(type));
    free(a);
    free(b);
    free(c);
    slm_model_free(f32);
    slm_model_free(q);
    slm_model_free(saved);
}

/* Worst position of 12 on stories260K, whose rows are only 64 wide (2 blocks), so 4-bit error is
 * large: measured Q8_0 1.5e-2, Q4_0 0.38, NF4 0.35; the bounds leave a factor 2. Perplexity on a
 * TinyStories-style text moves 3.69 -> 3.69 / 4.09 / 4.37 (bench/RESULTS.md). */
static void test_q8_0(void) { check_format(SLM_Q8_0, 3e-2); }
static void test_q4_0(void) { check_format(SLM_Q4_0, 0.75); }
static void test_nf4(void) { check_format(SLM_NF4, 0.7); }

typedef struct {
    int *ids, n;
} collect;
static int take(void *u, int tok, const float *l, int v) {
    collect *c = u;
    c->ids[c->n++] = tok;
    return 0;
}

static void greedy(slm_model *m, int *out) {
    slm_session *s = slm_session_new(m, 128);
    collect c = {out, 0};
    slm_gen_params gp = {.n_predict = 60, .on_token = take, .user = &c};
    gp.sampling = slm_sampler_defaults();
    gp.sampling.temperature = 0;
    CHECK(slm_generate(s, prompt, 5, &gp, NULL) == 0, "%s", slm_error());
    CHECK(c.n == 60, "generated %d tokens", c.n);
    slm_session_free(s);
}

static void test_q8_0_greedy_equals_f32(void) {
    slm_model *f32, *q;
    slm_load_opts lo = {.quantize = 1, .quant_type = SLM_Q8_0};
    CHECK(slm_model_load(&f32, STORIES, NULL) == 0 && slm_model_load(&q, STORIES, &lo) == 0, "%s", slm_error());
    int a[64], b[64];
    greedy(f32, a);
    greedy(q, b);
    for (int i = 0; i < 60; i++) CHECK(a[i] == b[i], "token %d: f32 %d, q8_0 %d", i, a[i], b[i]);
    slm_model_free(f32);
    slm_model_free(q);
}

/* ---- corrupt packed files: rewrite the header of a saved q4_0 / nf4 folder ---- */

static void rewrite(const char *dir, void (*edit)(cJSON *)) {
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n, "read");
    fclose(f);
    unsigned long long hdr = 0;
    for (int i = 7; i >= 0; i--) hdr = (hdr << 8) | buf[i];
    char *json = strndup((char *)buf + 8, hdr);
    cJSON *root = cJSON_Parse(json);
    edit(root);
    char *text = cJSON_PrintUnformatted(root);
    size_t tl = strlen(text);
    f = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((tl >> (8 * i)) & 0xff), f);
    fputs(text, f);
    fwrite(buf + 8 + hdr, 1, (size_t)n - 8 - hdr, f);
    fclose(f);
    free(text);
    free(json);
    free(buf);
    cJSON_Delete(root);
}

static void unknown_format(cJSON *h) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(h, "__metadata__"), "slm.quantization", cJSON_CreateString("q4_9"));
}
static void wrong_length(cJSON *h) {
    /* shape says 3 blocks per row where 2 are needed; data_offsets still cover the bytes */
    cJSON *t = cJSON_GetObjectItem(h, "model.layers.0.self_attn.q_proj.weight");
    cJSON *shape = cJSON_GetObjectItem(t, "shape");
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(32));
    cJSON_ReplaceItemInArray(shape, 1, cJSON_CreateNumber(72));
}
static void missing_scales(cJSON *h) { cJSON_DeleteItemFromObject(h, "model.layers.1.mlp.up_proj.weight.absmax"); }
static void codes_as_i8(cJSON *h) {
    cJSON *t = cJSON_GetObjectItem(h, "model.layers.0.self_attn.q_proj.weight");
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("I8"));
}

static void expect_error(const char *dir, const char *want) {
    slm_model *m;
    int rc = slm_model_load(&m, dir, NULL);
    CHECK(rc != 0, "loaded a corrupt folder (%s)", want);
    if (rc == 0) slm_model_free(m);
    else CHECK(strstr(slm_error(), want) != NULL, "message '%s' lacks '%s'", slm_error(), want);
}

static void test_corrupt_packed(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/q4_0", tmpdir);
    rewrite(dir, unknown_format);
    expect_error(dir, "unknown format 'q4_9'");
    slm_model *m;
    slm_load_opts lo = {.quantize = 1, .quant_type = SLM_Q4_0};
    CHECK(slm_model_load(&m, STORIES, &lo) == 0 && slm_model_save(m, STORIES, dir, SLM_Q4_0) == 0, "%s", slm_error());
    slm_model_free(m);
    rewrite(dir, wrong_length);
    expect_error(dir, "packed shape is not [64, 36]");
    snprintf(dir, sizeof dir, "%s/nf4", tmpdir);
    rewrite(dir, missing_scales);
    /* the header no longer covers the absmax bytes: refused by the file check or the weight check */
    expect_error(dir, "model.safetensors");
    slm_load_opts nf4 = {.quantize = 1, .quant_type = SLM_NF4, .keep_layout = 1};
    CHECK(slm_model_load(&m, STORIES, &nf4) == 0 && slm_model_save(m, STORIES, dir, SLM_NF4) == 0, "%s", slm_error());
    slm_model_free(m);
    rewrite(dir, codes_as_i8);
    expect_error(dir, "4-bit codes stored as I8");
}

/* A Llama folder of random F32 weights with rows 256, 288 and 960 wide: as Q4_0 they have runs of 8
 * blocks, the 288-wide ones a block after the last run and the 960-wide ones 6; as NF4 the 960-wide rows
 * are a run and a short run of 7 blocks. */
enum { WIDE_H = 288, WIDE_F = 960, WIDE_V = 512, WIDE_L = 2, WIDE_HEADS = 4, WIDE_KV = 2, WIDE_HD = 64 };
/* The wide model's shape with ffn columns in the down projections, its matrices stored as F32 or (f16) F16. */
static int write_model(const char *dir, int ffn, int f16) {
    char config[512];
    snprintf(config, sizeof config,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 288, "
             "\"intermediate_size\": %d, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
             "\"head_dim\": 64, \"vocab_size\": 512, \"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-05, "
             "\"rope_theta\": 10000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"%s\"}\n",
             ffn, f16 ? "float16" : "float32");
    if (mkdir(dir, 0755) != 0) return -1;
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(config, f);
    fclose(f);
    const int q = WIDE_HEADS * WIDE_HD, kv = WIDE_KV * WIDE_HD;
    struct { const char *name; int rows, cols; } mats[] = {
        {"self_attn.q_proj.weight", q, WIDE_H}, {"self_attn.k_proj.weight", kv, WIDE_H}, {"self_attn.v_proj.weight", kv, WIDE_H},
        {"self_attn.o_proj.weight", WIDE_H, q}, {"mlp.gate_proj.weight", ffn, WIDE_H}, {"mlp.up_proj.weight", ffn, WIDE_H},
        {"mlp.down_proj.weight", WIDE_H, ffn}, {"input_layernorm.weight", WIDE_H, 0}, {"post_attention_layernorm.weight", WIDE_H, 0}};
    enum { PER_LAYER = sizeof mats / sizeof mats[0], N = 3 + WIDE_L * PER_LAYER };
    slm_st_out t[N];
    char names[N][64];
    float *data[N];
    int n = 0;
    for (int i = 0; i < N; i++) {
        int rows, cols;
        if (i == 0) rows = WIDE_V, cols = WIDE_H, snprintf(names[i], 64, "model.embed_tokens.weight");
        else if (i == 1) rows = WIDE_V, cols = WIDE_H, snprintf(names[i], 64, "lm_head.weight");
        else if (i == 2) rows = WIDE_H, cols = 0, snprintf(names[i], 64, "model.norm.weight");
        else {
            int l = (i - 3) / PER_LAYER, k = (i - 3) % PER_LAYER;
            rows = mats[k].rows, cols = mats[k].cols;
            snprintf(names[i], 64, "model.layers.%d.%s", l, mats[k].name);
        }
        size_t count = (size_t)rows * (cols ? cols : 1);
        data[i] = malloc(count * sizeof(float));
        for (size_t j = 0; j < count; j++) data[i][j] = cols ? 0.08f * test_randf() : 1.0f + 0.1f * test_randf();
        if (f16 && cols) { /* the halves packed in place over the floats */
            uint16_t *h = (uint16_t *)data[i];
            for (size_t j = 0; j < count; j++) h[j] = slm_f32_to_f16(data[i][j]);
            t[n++] = (slm_st_out){names[i], "F16", 2, {rows, cols}, data[i], count * sizeof(uint16_t)};
        } else {
            t[n++] = (slm_st_out){names[i], "F32", cols ? 2 : 1, {rows, cols}, data[i], count * sizeof(float)};
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *keys[] = {"format"}, *values[] = {"pt"};
    int rc = slm_st_write(path, t, n, keys, values, 1);
    for (int i = 0; i < N; i++) free(data[i]);
    return rc;
}

static int write_wide_model(const char *dir) { return write_model(dir, WIDE_F, 0); }

/* logits of 20 tokens as one batch (the int8 prompt kernel takes batches of 16 and more) and one by one */
enum { NT = 20 };
static float *logits20(slm_model *m, int batch) {
    int tokens[NT], V = slm_model_config(m)->vocab_size;
    for (int t = 0; t < NT; t++) tokens[t] = (t * 37 + 11) % V;
    float *l = malloc((size_t)NT * V * sizeof(float));
    slm_session *s = slm_session_new(m, 64);
    if (batch) CHECK(s && slm_eval(s, tokens, NT, l, 1) == 0, "eval: %s", slm_error());
    else
        for (int t = 0; t < NT; t++) CHECK(s && slm_eval(s, &tokens[t], 1, l + (size_t)t * V, 0) == 0, "eval: %s", slm_error());
    slm_session_free(s);
    return l;
}

/* The worst relative L2 error of grouped's logits against plain's, evaluated as a batch and one by one;
 * saved (when given) must give exactly grouped's. */
static double against_plain(slm_model *plain, slm_model *grouped, slm_model *saved) {
    double worst = 0;
    for (int batch = 0; batch < 2; batch++) {
        float *a = logits20(plain, batch), *b = logits20(grouped, batch), *c = saved ? logits20(saved, batch) : NULL;
        double e = worst_error(b, a, NT, WIDE_V);
        worst = e > worst ? e : worst;
        CHECK(!c || memcmp(b, c, (size_t)NT * WIDE_V * sizeof(float)) == 0, "%s: the saved folder gives other logits",
              batch ? "batch" : "one by one");
        free(a);
        free(b);
        free(c);
    }
    return worst;
}

/* What the layout tests share: every layer's down projection is `want` in grouped and `stored` in plain
 * (keep_layout), and the logits agree within bound (against_plain). Both models are freed. */
static void check_layouts(slm_model *plain, slm_model *grouped, slm_dtype stored, slm_dtype want, double bound, const char *what) {
    for (int l = 0; l < WIDE_L; l++) {
        CHECK(grouped->host.layers[l].w_down.type == want, "%s: layer %d down_proj is %s, not %s", what, l,
              slm_dtype_name(grouped->host.layers[l].w_down.type), slm_dtype_name(want));
        CHECK(plain->host.layers[l].w_down.type == stored, "%s, keep_layout: layer %d down_proj is %s", what, l,
              slm_dtype_name(plain->host.layers[l].w_down.type));
    }
    const double worst = against_plain(plain, grouped, NULL);
    CHECK(worst < bound, "%s: relative L2 %.3g against the %s layout", what, worst, slm_dtype_name(stored));
    printf("     %s: worst relative L2 against the %s layout %.2e\n", what, slm_dtype_name(stored), worst);
    slm_model_free(plain);
    slm_model_free(grouped);
}

/* The wide model's config with ffn columns in the down projections (its folder written under name). */
static int wide_config(slm_config *cfg, const char *name, int ffn) {
    char src[128];
    snprintf(src, sizeof src, "%s/%s", tmpdir, name);
    if (write_wide_model(src) || slm_config_load(cfg, src)) return -1;
    cfg->intermediate_size = ffn;
    return 0;
}

/* Random weights of cfg in type, once in their stored layout (keep_layout) and once in the CPU layouts. */
static int random_pair(const slm_config *cfg, slm_dtype type, slm_model **plain, slm_model **grouped) {
    slm_load_opts keep = {.keep_layout = 1}, lo = {0};
    if (slm_model_random(plain, cfg, type, 7, &keep)) return -1;
    if (slm_model_random(grouped, cfg, type, 7, &lo)) {
        slm_model_free(*plain);
        return -1;
    }
    return 0;
}

/* On a CPU with AVX-512 VNNI the CPU backend regroups Q4_0 matrices (Q4_0X8): quantized on load, in place,
 * and read from a saved folder, copied. The saved folder gives exactly the logits of the model quantized
 * on load, and `slm quantize` (keep_layout) still writes Q4_0. Against the Q4_0 layout each product
 * differs only in the order of its float sums (1e-7, tests/test_quant.c), but the next product's int8
 * activations round those differences now and then to a whole step of 1/127 of a block's largest value:
 * 2.4e-7 relative L2 on these logits (2.0e-3 with 512 in place of 960), checked against 1e-2. Elsewhere
 * nothing is regrouped. */
static void test_q4_0_regrouped(void) {
    char src[128], out[128];
    snprintf(src, sizeof src, "%s/wide", tmpdir);
    snprintf(out, sizeof out, "%s/wide-q4_0", tmpdir);
    CHECK(write_wide_model(src) == 0, "writing %s: %s", src, slm_error());
    slm_model *plain, *grouped, *saved;
    slm_load_opts keep = {.quantize = 1, .quant_type = SLM_Q4_0, .keep_layout = 1};
    slm_load_opts lo = {.quantize = 1, .quant_type = SLM_Q4_0};
    if (slm_model_load(&plain, src, &keep) || slm_model_load(&grouped, src, &lo)) {
        CHECK(0, "%s", slm_error());
        return;
    }
    CHECK(slm_model_save(plain, src, out, SLM_Q4_0) == 0, "save: %s", slm_error());
    CHECK(slm_model_load(&saved, out, NULL) == 0, "load saved: %s", slm_error());
    const slm_dtype want = slm_regroup_wanted() ? SLM_Q4_0X8 : SLM_Q4_0;
    const slm_mat *check[] = {&grouped->host.lm_head, &grouped->host.layers[1].wq, &grouped->host.layers[1].wo,
                              &grouped->host.layers[1].w_down, &saved->host.lm_head, &saved->host.layers[0].w_up};
    for (size_t i = 0; i < sizeof check / sizeof check[0]; i++)
        CHECK(check[i]->type == want, "matrix %zu is %s, not %s", i, slm_dtype_name(check[i]->type), slm_dtype_name(want));
    CHECK(plain->host.layers[0].wq.type == SLM_Q4_0, "keep_layout: %s", slm_dtype_name(plain->host.layers[0].wq.type));
    CHECK(slm_model_save(grouped, src, out, SLM_Q4_0) == (want == SLM_Q4_0X8 ? -1 : 0), "saving a regrouped model");
    if (want == SLM_Q4_0X8) CHECK(strstr(slm_error(), "q4_0x8") != NULL, "message: %s", slm_error());
    const double worst = against_plain(plain, grouped, saved);
    CHECK(worst < 1e-2, "regrouped vs q4_0 layout: relative L2 %.3g", worst);
    printf("     %s: worst relative L2 against the q4_0 layout %.2e\n", slm_dtype_name(want), worst);
    slm_model_free(plain);
    slm_model_free(grouped);
    slm_model_free(saved);
}

/* NF4 quantized on load, with blocks of 64: the matrices whose rows are whole blocks and at least a run
 * (here the down projections, a run and 7 blocks after it) are written as NF4X8 on a CPU with AVX-512
 * VNNI, the rest stay NF4. The two layouts round codes and activations alike and differ in the
 * order of float sums: 1.9e-7 relative L2 here (prompt batches give identical products in both). The
 * bound, 1e-2, leaves room for the int8 activation flips described above. */
static void test_nf4_regrouped(void) {
    char src[128];
    snprintf(src, sizeof src, "%s/wide-nf4-src", tmpdir);
    CHECK(write_wide_model(src) == 0, "writing %s: %s", src, slm_error());
    slm_model *plain, *grouped;
    slm_load_opts keep = {.quantize = 1, .quant_type = SLM_NF4, .keep_layout = 1};
    slm_load_opts lo = {.quantize = 1, .quant_type = SLM_NF4};
    if (slm_model_load(&plain, src, &keep) || slm_model_load(&grouped, src, &lo)) {
        CHECK(0, "%s", slm_error());
        return;
    }
    for (int l = 0; l < WIDE_L; l++) {
        const slm_layer_weights *L = &grouped->host.layers[l];
        CHECK(L->w_up.type == SLM_NF4 && L->wo.type == SLM_NF4, "layer %d: rows of 288 and 256 stay nf4", l);
    }
    check_layouts(plain, grouped, SLM_NF4, slm_regroup_wanted() ? SLM_NF4X8 : SLM_NF4, 1e-2, "nf4 quantized on load");
}

/* Random NF4 weights (slm bench --preset) are written as NF4X8 where the shape allows, and are the same
 * weights the NF4 layout gets from the same seed: the logits differ only in the order of float sums. */
static void test_random_nf4x8(void) {
    slm_config cfg;
    slm_model *plain, *grouped;
    if (wide_config(&cfg, "wide-random", WIDE_F) || random_pair(&cfg, SLM_NF4, &plain, &grouped)) {
        CHECK(0, "%s", slm_error());
        return;
    }
    for (int l = 0; l < WIDE_L; l++) CHECK(grouped->host.layers[l].w_up.type == SLM_NF4, "layer %d: rows of 288 stay nf4", l);
    check_layouts(plain, grouped, SLM_NF4, slm_regroup_wanted() ? SLM_NF4X8 : SLM_NF4, 1e-2, "random nf4");
}

/* F16 and BF16 down projections 4160 columns wide (two blocks of 2048 and one of 64) are written in column
 * blocks (F16B, BF16B) on a CPU with AVX-512 VNNI, built in memory or copied from an F16 model folder, and the
 * rest stays as it is; the logits, one token at a time and as a batch, differ from the row-major layout's
 * only in the order of float sums. */
static void test_col_blocks(void) {
    slm_config cfg;
    if (wide_config(&cfg, "wide-blocks", 4160)) {
        CHECK(0, "%s", slm_error());
        return;
    }
    const slm_dtype types[] = {SLM_F16, SLM_BF16}, blocked[] = {SLM_F16B, SLM_BF16B};
    for (int ti = 0; ti < 2; ti++) {
        slm_model *plain, *grouped;
        if (random_pair(&cfg, types[ti], &plain, &grouped)) {
            CHECK(0, "%s", slm_error());
            return;
        }
        for (int l = 0; l < WIDE_L; l++)
            CHECK(grouped->host.layers[l].w_up.type == types[ti], "layer %d up_proj (288 columns) is %s", l,
                  slm_dtype_name(grouped->host.layers[l].w_up.type));
        check_layouts(plain, grouped, types[ti], slm_regroup_wanted() ? blocked[ti] : types[ti], 1e-5, "random column blocks");
    }
    /* an F16 model folder: the down projections copied from the file into blocks */
    char dir[128];
    snprintf(dir, sizeof dir, "%s/wide-f16", tmpdir);
    CHECK(write_model(dir, 4160, 1) == 0, "writing %s: %s", dir, slm_error());
    slm_model *plain, *grouped;
    slm_load_opts keep = {.keep_layout = 1}, lo = {0};
    if (slm_model_load(&plain, dir, &keep) || slm_model_load(&grouped, dir, &lo)) {
        CHECK(0, "%s", slm_error());
        return;
    }
    check_layouts(plain, grouped, SLM_F16, slm_regroup_wanted() ? SLM_F16B : SLM_F16, 1e-5, "column blocks from a folder");
}

/* A bitsandbytes checkpoint as transformers saves it (NF4, double quantization), whose down projections
 * have rows of 576 (a run and a block): on a CPU with AVX-512 VNNI they are copied once from the file's codes
 * and absmax values into NF4X8; kept in their own layout (keep_layout) they stay NF4. Decoded
 * one token at a time, the two give the same logits but for the order of float sums (bound 1e-5), and both
 * stay within the int8 path's rounding of transformers' logits (bound 0.1; measured 4.6e-2, as codes and
 * activations round to 1/127 of their block's largest value, here with every row but the down
 * projections' only 64 wide). Prompt
 * batches are checked against transformers at 1e-4 in tests/test_model.c. */
static void test_bnb_regrouped(void) {
    const char *dir = "tests/fixtures/bnb/nf4_wide";
    int tokens[64];
    char path[256];
    snprintf(path, sizeof path, "%s/tokens.txt", dir);
    const int n = test_read_ids(path, tokens, 64);
    slm_model *plain, *grouped;
    slm_load_opts keep = {.keep_layout = 1};
    if (n <= 0 || slm_model_load(&plain, dir, &keep) || slm_model_load(&grouped, dir, NULL)) {
        CHECK(0, "%s: %s", dir, n <= 0 ? "no tokens" : slm_error());
        return;
    }
    const int V = slm_model_config(grouped)->vocab_size;
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    float *ref = test_read_floats(path, (size_t)n * V);
    const slm_dtype want = slm_regroup_wanted() ? SLM_NF4X8 : SLM_NF4;
    for (int l = 0; l < 2; l++) {
        CHECK(grouped->host.layers[l].w_down.type == want, "layer %d down_proj is %s, not %s", l,
              slm_dtype_name(grouped->host.layers[l].w_down.type), slm_dtype_name(want));
        CHECK(grouped->host.layers[l].w_up.type == SLM_NF4, "layer %d up_proj (rows of 64) is not nf4", l);
        CHECK(plain->host.layers[l].w_down.type == SLM_NF4, "keep_layout: layer %d down_proj regrouped", l);
    }
    float *got[2];
    slm_model *models[2] = {plain, grouped};
    for (int k = 0; k < 2; k++) {
        got[k] = malloc((size_t)n * V * sizeof(float));
        slm_session *s = slm_session_new(models[k], 64);
        for (int t = 0; t < n; t++)
            CHECK(s && slm_eval(s, &tokens[t], 1, got[k] + (size_t)t * V, 0) == 0, "eval: %s", slm_error());
        slm_session_free(s);
    }
    const double same = worst_error(got[1], got[0], n, V), a = ref ? worst_error(got[0], ref, n, V) : 1,
                 b = ref ? worst_error(got[1], ref, n, V) : 1;
    CHECK(same < 1e-5, "regrouped vs nf4 layout: relative L2 %.3g", same);
    CHECK(a < 0.1 && b < 0.1, "against transformers: nf4 layout %.3g, regrouped %.3g", a, b);
    printf("     %s vs nf4 layout %.2e; against transformers %.2e and %.2e\n", slm_dtype_name(want), same, b, a);
    free(got[0]);
    free(got[1]);
    free(ref);
    slm_model_free(plain);
    slm_model_free(grouped);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/slm-test-quant-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_q8_0);
    RUN(test_q4_0);
    RUN(test_nf4);
    RUN(test_q8_0_greedy_equals_f32);
    RUN(test_corrupt_packed);
    RUN(test_q4_0_regrouped);
    RUN(test_nf4_regrouped);
    RUN(test_random_nf4x8);
    RUN(test_col_blocks);
    RUN(test_bnb_regrouped);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) return 1;
    return test_summary();
}
