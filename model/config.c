/* config.json readers. Missing fields take the defaults of the transformers class of the
 * model_type (LlamaConfig, MistralConfig), not generic ones. Both v4 spellings (rope_theta +
 * rope_scaling, torch_dtype) and v5 spellings (rope_parameters, dtype) are accepted. */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"

typedef struct {
    const char *path;
    const cJSON *root;
} json_file;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

/* Reads and parses a JSON file whose top level must be an object. */
static cJSON *load_json(const char *path) {
    size_t len;
    char *text = slurp(path, &len);
    if (!text) {
        slm_fail("%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        long line = 1;
        const char *err = cJSON_GetErrorPtr();
        for (const char *p = text; err && p < err && p < text + len; p++) line += *p == '\n';
        slm_fail("%s: not valid JSON (line %ld)", path, line);
    } else if (!cJSON_IsObject(root)) {
        slm_fail("%s: top level is not a JSON object", path);
        cJSON_Delete(root);
        root = NULL;
    }
    free(text);
    return root;
}

/* Field readers: absent or null keeps the default; a wrong type or range is an error. */
static int get_int(json_file f, const cJSON *obj, const char *key, int *out, long lo, long hi) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble)
        return slm_fail("%s: field '%s': expected an integer", f.path, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return slm_fail("%s: field '%s': %g is out of range [%ld, %ld]", f.path, key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_double(json_file f, const cJSON *obj, const char *key, double *out, double lo, double hi) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) return slm_fail("%s: field '%s': expected a number", f.path, key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return slm_fail("%s: field '%s': %g is out of range [%g, %g]", f.path, key, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return 0;
}

static int get_bool(json_file f, const cJSON *obj, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return slm_fail("%s: field '%s': expected true or false", f.path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_string(json_file f, const cJSON *obj, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return slm_fail("%s: field '%s': expected a string", f.path, key);
    snprintf(out, cap, "%s", v->valuestring);
    return 0;
}

/* eos_token_id: a number or a list of numbers; adds to the set without duplicates. */
static int add_token_ids(json_file f, const cJSON *obj, const char *key, slm_config *c) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return 0;
    const cJSON *first = cJSON_IsArray(v) ? v->child : v;
    for (const cJSON *e = first; e; e = cJSON_IsArray(v) ? e->next : NULL) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT_MAX || floor(e->valuedouble) != e->valuedouble)
            return slm_fail("%s: field '%s': expected a token id or a list of token ids", f.path, key);
        int id = (int)e->valuedouble, dup = 0;
        for (int i = 0; i < c->n_eos; i++) dup |= c->eos_ids[i] == id;
        if (!dup && c->n_eos < SLM_MAX_EOS) c->eos_ids[c->n_eos++] = id;
    }
    return 0;
}

static int read_rope(json_file f, const cJSON *root, slm_config *c) {
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    const char *field = "rope_scaling";
    if (params && !cJSON_IsNull(params)) {
        if (!cJSON_IsObject(params)) return slm_fail("%s: field 'rope_parameters': expected an object", f.path);
        if (get_double(f, params, "rope_theta", &c->rope_theta, 1e-3, 1e12)) return -1;
        scaling = params;
        field = "rope_parameters";
    }
    if (!scaling || cJSON_IsNull(scaling)) return 0;
    if (!cJSON_IsObject(scaling)) return slm_fail("%s: field '%s': expected an object", f.path, field);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(scaling, "rope_type");
    if (!type) type = cJSON_GetObjectItemCaseSensitive(scaling, "type"); /* legacy spelling */
    if (!type || cJSON_IsNull(type)) return 0;
    if (!cJSON_IsString(type)) return slm_fail("%s: field '%s.rope_type': expected a string", f.path, field);
    const char *t = type->valuestring;
    json_file sub = f;
    if (!strcmp(t, "default")) {
        c->rope_type = SLM_ROPE_DEFAULT;
        return 0;
    }
    if (!strcmp(t, "linear")) {
        c->rope_type = SLM_ROPE_LINEAR;
        c->rope_factor = 0;
        if (get_double(sub, scaling, "factor", &c->rope_factor, 1e-6, 1e6)) return -1;
        if (c->rope_factor == 0) return slm_fail("%s: field '%s.factor': required for linear scaling", f.path, field);
        return 0;
    }
    if (!strcmp(t, "llama3")) {
        c->rope_type = SLM_ROPE_LLAMA3;
        c->rope_factor = 0;
        c->rope_low_freq_factor = 0;
        c->rope_high_freq_factor = 0;
        c->rope_original_max_position_embeddings = 0;
        if (get_double(sub, scaling, "factor", &c->rope_factor, 1e-6, 1e6) ||
            get_double(sub, scaling, "low_freq_factor", &c->rope_low_freq_factor, 1e-6, 1e6) ||
            get_double(sub, scaling, "high_freq_factor", &c->rope_high_freq_factor, 1e-6, 1e6) ||
            get_int(sub, scaling, "original_max_position_embeddings", &c->rope_original_max_position_embeddings, 1, INT_MAX))
            return -1;
        if (!c->rope_factor || !c->rope_low_freq_factor || !c->rope_high_freq_factor ||
            !c->rope_original_max_position_embeddings)
            return slm_fail("%s: field '%s': llama3 scaling needs factor, low_freq_factor, high_freq_factor and "
                            "original_max_position_embeddings", f.path, field);
        if (c->rope_high_freq_factor <= c->rope_low_freq_factor)
            return slm_fail("%s: field '%s.high_freq_factor': must exceed low_freq_factor", f.path, field);
        return 0;
    }
    return slm_fail("%s: field '%s.rope_type': '%s' is not supported (supported: default, linear, llama3)", f.path, field, t);
}

static void set_defaults(slm_config *c, slm_arch arch) {
    memset(c, 0, sizeof *c);
    c->arch = arch;
    c->vocab_size = 32000;
    c->hidden_size = 4096;
    c->intermediate_size = arch == SLM_ARCH_MISTRAL ? 14336 : 11008;
    c->n_layers = 32;
    c->n_heads = 32;
    c->n_kv_heads = arch == SLM_ARCH_MISTRAL ? 8 : 0; /* llama: 0 means "same as heads" */
    c->max_position_embeddings = arch == SLM_ARCH_MISTRAL ? 131072 : 2048;
    c->rms_norm_eps = 1e-6f;
    c->rope_theta = 10000.0;
    c->sliding_window = arch == SLM_ARCH_MISTRAL ? 4096 : 0;
    c->bos_id = 1;
    c->gen_temperature = c->gen_top_p = c->gen_repetition_penalty = -1;
    c->gen_top_k = -1;
}

int slm_config_load(slm_config *c, const char *dir) {
    char path[PATH_MAX], gpath[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(gpath, sizeof gpath, "%s/generation_config.json", dir);
    cJSON *root = load_json(path);
    if (!root) return -1;
    json_file f = {path, root};
    int rc = -1;
    char model_type[32] = "";
    if (get_string(f, root, "model_type", model_type, sizeof model_type)) goto out;
    if (!model_type[0]) {
        slm_fail("%s: field 'model_type': missing", path);
        goto out;
    }
    if (!strcmp(model_type, "llama")) set_defaults(c, SLM_ARCH_LLAMA);
    else if (!strcmp(model_type, "mistral")) set_defaults(c, SLM_ARCH_MISTRAL);
    else {
        slm_fail("%s: field 'model_type': '%s' is not supported (supported: llama, mistral)", path, model_type);
        goto out;
    }
    snprintf(c->model_type, sizeof c->model_type, "%s", model_type);
    int eos_default = 2;
    const cJSON *hidden_act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (hidden_act && !(cJSON_IsString(hidden_act) && !strcmp(hidden_act->valuestring, "silu"))) {
        slm_fail("%s: field 'hidden_act': only \"silu\" is supported for %s", path, model_type);
        goto out;
    }
    double eps = c->rms_norm_eps;
    if (get_int(f, root, "vocab_size", &c->vocab_size, 1, 1 << 24) ||
        get_int(f, root, "hidden_size", &c->hidden_size, 1, 1 << 17) ||
        get_int(f, root, "intermediate_size", &c->intermediate_size, 1, 1 << 20) ||
        get_int(f, root, "num_hidden_layers", &c->n_layers, 1, 4096) ||
        get_int(f, root, "num_attention_heads", &c->n_heads, 1, 4096) ||
        get_int(f, root, "num_key_value_heads", &c->n_kv_heads, 1, 4096) ||
        get_int(f, root, "head_dim", &c->head_dim, 2, 4096) ||
        get_int(f, root, "max_position_embeddings", &c->max_position_embeddings, 1, INT_MAX) ||
        get_double(f, root, "rms_norm_eps", &eps, 0, 1) ||
        get_double(f, root, "rope_theta", &c->rope_theta, 1e-3, 1e12) ||
        get_bool(f, root, "tie_word_embeddings", &c->tie_word_embeddings) ||
        get_bool(f, root, "attention_bias", &c->attention_bias) || get_bool(f, root, "mlp_bias", &c->mlp_bias) ||
        get_int(f, root, "sliding_window", &c->sliding_window, 0, INT_MAX) ||
        get_int(f, root, "bos_token_id", &c->bos_id, 0, INT_MAX) ||
        get_string(f, root, "torch_dtype", c->dtype, sizeof c->dtype) ||
        get_string(f, root, "dtype", c->dtype, sizeof c->dtype) || read_rope(f, root, c) ||
        add_token_ids(f, root, "eos_token_id", c))
        goto out;
    c->rms_norm_eps = (float)eps;
    /* An explicit null sliding_window (Mistral v0.2+) means full attention. */
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(root, "sliding_window");
    if (sw && cJSON_IsNull(sw)) c->sliding_window = 0;
    const cJSON *bos = cJSON_GetObjectItemCaseSensitive(root, "bos_token_id");
    if (bos && cJSON_IsNull(bos)) c->bos_id = -1;
    if (!cJSON_GetObjectItemCaseSensitive(root, "eos_token_id")) c->eos_ids[c->n_eos++] = eos_default;
    if (c->n_kv_heads == 0) c->n_kv_heads = c->n_heads;
    if (c->head_dim == 0) {
        if (c->hidden_size % c->n_heads) {
            slm_fail("%s: field 'num_attention_heads': %d does not divide hidden_size %d (and no head_dim given)", path,
                     c->n_heads, c->hidden_size);
            goto out;
        }
        c->head_dim = c->hidden_size / c->n_heads;
    }
    if (c->head_dim % 2) {
        slm_fail("%s: field 'head_dim': %d is odd; rotary embeddings need an even size", path, c->head_dim);
        goto out;
    }
    if (c->n_heads % c->n_kv_heads) {
        slm_fail("%s: field 'num_key_value_heads': %d does not divide num_attention_heads %d", path, c->n_kv_heads,
                 c->n_heads);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) return rc;

    /* generation_config.json is optional; when present it must be valid. */
    FILE *probe = fopen(gpath, "rb");
    if (!probe) return 0;
    fclose(probe);
    cJSON *g = load_json(gpath);
    if (!g) return -1;
    json_file gf = {gpath, g};
    rc = -1;
    if (add_token_ids(gf, g, "eos_token_id", c) || get_int(gf, g, "bos_token_id", &c->bos_id, 0, INT_MAX) ||
        get_double(gf, g, "temperature", &c->gen_temperature, 0, 1e6) ||
        get_double(gf, g, "top_p", &c->gen_top_p, 0, 1) || get_int(gf, g, "top_k", &c->gen_top_k, 0, INT_MAX) ||
        get_double(gf, g, "repetition_penalty", &c->gen_repetition_penalty, 0, 1e6))
        goto gout;
    rc = 0;
gout:
    cJSON_Delete(g);
    return rc;
}

void slm_rope_inv_freq(const slm_config *c, float *inv_freq) {
    int d = c->head_dim;
    for (int i = 0; i < d / 2; i++) {
        /* torch builds these in float32: base ** (2i/d) on float tensors */
        float expo = (float)(2 * i) / (float)d;
        float inv = (float)(1.0 / pow(c->rope_theta, (double)expo));
        if (c->rope_type == SLM_ROPE_LINEAR) {
            inv = (float)(inv / c->rope_factor);
        } else if (c->rope_type == SLM_ROPE_LLAMA3) {
            double orig = c->rope_original_max_position_embeddings;
            double low_wl = orig / c->rope_low_freq_factor, high_wl = orig / c->rope_high_freq_factor;
            double wavelen = 2 * M_PI / inv;
            if (wavelen > low_wl) {
                inv = (float)(inv / c->rope_factor);
            } else if (wavelen >= high_wl) {
                double s = (orig / wavelen - c->rope_low_freq_factor) / (c->rope_high_freq_factor - c->rope_low_freq_factor);
                inv = (float)((1 - s) * inv / c->rope_factor + s * inv);
            }
        }
        inv_freq[i] = inv;
    }
}

const char *slm_arch_name(slm_arch a) { return a == SLM_ARCH_MISTRAL ? "mistral" : "llama"; }
