/* slm info: what a model folder holds and what running it costs. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../model/config.h"
#include "../model/safetensors.h"
#include "../model/model.h"
#include "../runtime/error.h"
#include "cli.h"

static const char usage[] =
    "usage: slm info -m DIR [--ctx N]\n"
    "  -m, --model DIR   Hugging Face model folder\n"
    "      --ctx N       context size for the memory estimate (default: min(max_position_embeddings, 4096))\n";

static int ends_with(const char *s, const char *end) {
    size_t n = strlen(s), m = strlen(end);
    return n >= m && !strcmp(s + n - m, end);
}

/* The weights a bitsandbytes quant_state blob gives the shape of: rows × cols, or -1. */
static long long bnb_numel(const slm_st_tensor *state) {
    long long n = -1;
    cJSON *js = cJSON_ParseWithLength(state->data, state->nbytes);
    const cJSON *shape = js ? cJSON_GetObjectItemCaseSensitive(js, "shape") : NULL;
    if (cJSON_IsArray(shape)) {
        n = 1;
        for (const cJSON *d = shape->child; d && n >= 0; d = d->next)
            n = cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble <= 2147483647.0 && n <= (1LL << 31)
                    ? n * (long long)d->valuedouble
                    : -1;
    }
    cJSON_Delete(js);
    return n;
}

/* What a tensor holds, as the per-type lines name it, and how many parameters. Packed 4- and 8-bit weights
 * count their weights, not their bytes: bitsandbytes codes (with a quant_state, stored as U8 or as another
 * dtype's bytes) two per byte, slm's own
 * blocks ([rows, bytes per row]) 32 per block; their scales and code tables count none. */
static const char *tensor_kind(const slm_st *st, const slm_st_tensor *t, long long *params) {
    static const char *state[] = {".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"};
    *params = slm_st_numel(t);
    for (size_t k = 0; k < sizeof state / sizeof state[0]; k++)
        if (ends_with(t->name, state[k])) {
            *params = 0;
            return "scales";
        }
    if (strstr(t->name, ".quant_state.")) {
        *params = 0;
        return "scales";
    }
    static const char *kinds[] = {"nf4", "fp4"};
    for (int k = 0; k < 2; k++) {
        char key[512];
        snprintf(key, sizeof key, "%s.quant_state.bitsandbytes__%s", t->name, kinds[k]);
        const slm_st_tensor *q = slm_st_find(st, key);
        if (q) {
            long long n = bnb_numel(q);
            *params = n >= 0 ? n : 2 * (long long)t->nbytes;
            return kinds[k];
        }
    }
    if (strcmp(t->dtype, "U8")) return t->dtype;
    const char *fmt = slm_st_meta(st, "slm.quantization");
    int block = fmt && !strcmp(fmt, "q8_0") ? 34 : fmt && !strcmp(fmt, "q4_0") ? 18 : 0;
    if (block && t->ndim == 2) {
        *params = t->shape[0] * (t->shape[1] / block * 32);
        return fmt;
    }
    return t->dtype;
}

int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    int ctx = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--ctx")) ctx = cli_int(a, cli_value(argc, argv, &i), 1, 1 << 24);
        else die("info: unknown option '%s' (slm info --help)", a);
    }
    if (!dir) die("info: -m DIR is required");
    slm_config c;
    slm_st st;
    if (slm_config_load(&c, dir) || slm_st_open_dir(&st, dir)) die("%s", slm_error());
    if (!ctx) ctx = c.max_position_embeddings < 4096 ? c.max_position_embeddings : 4096;

    /* parameters and bytes per kind of tensor, straight from the files */
    const char *names[32];
    long long count[32] = {0}, bytes[32] = {0}, total = 0, total_bytes = 0;
    int ntypes = 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const slm_st_tensor *t = &st.tensors[i];
        long long params;
        const char *kind = tensor_kind(&st, t, &params);
        int k = 0;
        while (k < ntypes && strcmp(names[k], kind)) k++;
        if (k == ntypes && ntypes < 32) names[ntypes++] = kind;
        if (k < 32) {
            count[k] += params;
            bytes[k] += (long long)t->nbytes;
        }
        total += params;
        total_bytes += (long long)t->nbytes;
    }
    printf("model         %s\n", dir);
    printf("architecture  %s (model_type %s)\n", slm_arch_name(c.arch), c.model_type);
    printf("parameters    %lld (%.3f B) in %d tensors, %d file%s\n", total, total / 1e9, st.n_tensors, st.n_files,
           st.n_files == 1 ? "" : "s");
    for (int k = 0; k < ntypes; k++)
        if (strcmp(names[k], "scales")) printf("  %-10s  %lld parameters, %.2f MiB\n", names[k], count[k], bytes[k] / 1048576.0);
        else printf("  %-10s  %.2f MiB (absmax values, code tables, quant states)\n", names[k], bytes[k] / 1048576.0);
    printf("shape         hidden %d, intermediate %d, layers %d, heads %d, kv heads %d, head_dim %d, vocab %d\n",
           c.hidden_size, c.intermediate_size, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.vocab_size);
    printf("attention     %s%s, rope theta %g", c.n_kv_heads == c.n_heads ? "multi-head" : "grouped-query",
           c.sliding_window ? " (sliding window)" : "", c.rope_theta);
    if (c.rope_type == SLM_ROPE_LINEAR) printf(", linear scaling x%g", c.rope_factor);
    if (c.rope_type == SLM_ROPE_LLAMA3)
        printf(", llama3 scaling x%g (low %g, high %g, original %d)", c.rope_factor, c.rope_low_freq_factor,
               c.rope_high_freq_factor, c.rope_original_max_position_embeddings);
    printf("\n");
    printf("norm eps      %g; biases: attention %s, mlp %s; embeddings %s\n", c.rms_norm_eps,
           c.attention_bias ? "yes" : "no", c.mlp_bias ? "yes" : "no", c.tie_word_embeddings ? "tied" : "untied");
    printf("tokens        bos %d, eos", c.bos_id);
    for (int i = 0; i < c.n_eos; i++) printf(" %d", c.eos_ids[i]);
    printf("; max positions %d\n", c.max_position_embeddings);
    size_t kv = slm_kv_bytes(&c, ctx);
    printf("memory        weights %.2f MiB (mapped) + KV cache %.2f MiB for %d tokens (f32) = %.2f MiB\n",
           total_bytes / 1048576.0, kv / 1048576.0, ctx, (total_bytes + kv) / 1048576.0);
    slm_st_close(&st);
    return 0;
}
