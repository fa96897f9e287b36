/* Writing a loaded (usually quantized) model as a normal model folder: config, tokenizer files and
 * one model.safetensors that loads by mmap with no conversion.
 *   Q8_0 / Q4_0: each matrix is U8 [rows, bytes per row] of llama.cpp blocks, and the file's
 *                __metadata__ "slm.quantization" names the format.
 *   NF4:         the bitsandbytes layout transformers writes (codes, .absmax, .quant_map,
 *                .quant_state.bitsandbytes__nf4), and config.json gets a bitsandbytes
 *                quantization_config, so the folder also loads in transformers. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../kernels/cpu/quant.h"
#include "../runtime/error.h"
#include "model_impl.h"
#include "st_write.h"

typedef struct {
    slm_st_out *t;
    int n, cap;
    char **strings; /* names and blobs this writer allocated */
    int ns, caps;
} out_list;

static char *keep(out_list *o, char *s) {
    if (!s) return NULL;
    if (o->ns == o->caps) {
        o->caps = o->caps ? 2 * o->caps : 64;
        char **g = realloc(o->strings, (size_t)o->caps * sizeof *g);
        if (!g) return NULL;
        o->strings = g;
    }
    return o->strings[o->ns++] = s;
}

static int add(out_list *o, const char *name, const char *dtype, int ndim, int64_t d0, int64_t d1, const void *data,
               size_t nbytes) {
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 256;
        slm_st_out *g = realloc(o->t, (size_t)o->cap * sizeof *g);
        if (!g) return slm_fail("out of memory");
        o->t = g;
    }
    char *nm = keep(o, strdup(name));
    if (!nm) return slm_fail("out of memory");
    o->t[o->n++] = (slm_st_out){nm, dtype, ndim, {d0, d1}, data, nbytes};
    return 0;
}

/* The source dtype's torch name, for the bitsandbytes quant state. */
static const char *torch_dtype(const slm_config *c) {
    if (!strcmp(c->dtype, "bfloat16") || !strcmp(c->dtype, "float16")) return c->dtype;
    return "float32";
}

static int add_matrix(out_list *o, const slm_config *c, const char *name, const slm_mat *m) {
    size_t bytes = slm_dtype_bytes(m->type, (size_t)m->rows, (size_t)m->cols);
    switch (m->type) {
    case SLM_F32: return add(o, name, "F32", 2, m->rows, m->cols, m->data, bytes);
    case SLM_F16: return add(o, name, "F16", 2, m->rows, m->cols, m->data, bytes);
    case SLM_BF16: return add(o, name, "BF16", 2, m->rows, m->cols, m->data, bytes);
    case SLM_Q8_0:
    case SLM_Q4_0: return add(o, name, "U8", 2, m->rows, (int64_t)(bytes / (size_t)m->rows), m->data, bytes);
    case SLM_NF4: {
        int64_t n = (int64_t)m->rows * m->cols, nblocks = (n + m->block - 1) / m->block;
        char key[512], state[256];
        if (add(o, name, "U8", 2, (n + 1) / 2, 1, m->data, bytes)) return -1;
        snprintf(key, sizeof key, "%s.absmax", name);
        if (add(o, key, "F32", 1, nblocks, 0, m->absmax, (size_t)nblocks * sizeof(float))) return -1;
        snprintf(key, sizeof key, "%s.quant_map", name);
        if (add(o, key, "F32", 1, 16, 0, m->code ? m->code : slm_nf4_code, 16 * sizeof(float))) return -1;
        int len = snprintf(state, sizeof state, "{\"quant_type\": \"nf4\", \"blocksize\": %d, \"dtype\": \"%s\", \"shape\": [%d, %d]}",
                           m->block, torch_dtype(c), m->rows, m->cols);
        char *blob = keep(o, strdup(state));
        snprintf(key, sizeof key, "%s.quant_state.bitsandbytes__nf4", name);
        if (!blob) return slm_fail("out of memory");
        return add(o, key, "U8", 1, len, 0, blob, (size_t)len);
    }
    default: return slm_fail("%s: cannot write format %s", name, slm_dtype_name(m->type));
    }
}

static int copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb");
    if (!a) return errno == ENOENT ? 0 : slm_fail("%s: cannot read: %s", from, strerror(errno));
    FILE *b = fopen(to, "wb");
    if (!b) {
        fclose(a);
        return slm_fail("%s: cannot write: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    fclose(a);
    if (fclose(b) != 0 || !ok) return slm_fail("%s: write failed", to);
    return 0;
}

/* config.json as it was, plus a bitsandbytes quantization_config for NF4. */
static int write_config(const char *src, const char *dst, slm_dtype type, const slm_config *c) {
    if (type != SLM_NF4) return copy_file(src, dst);
    FILE *f = fopen(src, "rb");
    if (!f) return slm_fail("%s: cannot read: %s", src, strerror(errno));
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    size_t got = text ? fread(text, 1, (size_t)len, f) : 0;
    fclose(f);
    if (!text || got != (size_t)len) {
        free(text);
        return slm_fail("%s: cannot read", src);
    }
    text[len] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return slm_fail("%s: not valid JSON", src);
    cJSON_DeleteItemFromObject(root, "quantization_config");
    cJSON *q = cJSON_AddObjectToObject(root, "quantization_config");
    cJSON_AddStringToObject(q, "quant_method", "bitsandbytes");
    cJSON_AddBoolToObject(q, "load_in_4bit", 1);
    cJSON_AddBoolToObject(q, "load_in_8bit", 0);
    cJSON_AddStringToObject(q, "bnb_4bit_quant_type", "nf4");
    cJSON_AddBoolToObject(q, "bnb_4bit_use_double_quant", 0);
    cJSON_AddStringToObject(q, "bnb_4bit_compute_dtype", torch_dtype(c));
    cJSON_AddStringToObject(q, "bnb_4bit_quant_storage", "uint8");
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *o = fopen(dst, "wb");
    int ok = o && out && fputs(out, o) >= 0;
    if (o && fclose(o) != 0) ok = 0;
    free(out);
    return ok ? 0 : slm_fail("%s: write failed", dst);
}

int slm_model_save(const slm_model *m, const char *srcdir, const char *outdir, slm_dtype type) {
    const slm_config *c = &m->cfg;
    const slm_weights *w = &m->host;
    char path[PATH_MAX], from[PATH_MAX];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) return slm_fail("%s: cannot create: %s", outdir, strerror(errno));
    out_list o = {0};
    int rc = -1;
    /* every source tensor: matrices from the loaded model, the rest copied as stored */
    for (int i = 0; i < m->st.n_tensors; i++) {
        const slm_st_tensor *t = &m->st.tensors[i];
        const slm_mat *mat = NULL;
        int layer;
        if (strstr(t->name, ".weight.")) continue; /* the quant state of a packed source weight: rewritten below */
        char what[64];
        if (!strcmp(t->name, "model.embed_tokens.weight")) mat = &w->embed;
        else if (!strcmp(t->name, "lm_head.weight")) mat = &w->lm_head;
        else if (sscanf(t->name, "model.layers.%d.%63[a-z_.]", &layer, what) == 2 && layer >= 0 && layer < w->n_layers) {
            const slm_layer_weights *L = &w->layers[layer];
            const char *names[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                                   "self_attn.o_proj.weight", "mlp.gate_proj.weight",    "mlp.up_proj.weight",
                                   "mlp.down_proj.weight"};
            const slm_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            for (int k = 0; k < 7; k++)
                if (!strcmp(what, names[k])) mat = mats[k];
        }
        int r = mat ? add_matrix(&o, c, t->name, mat)
                    : add(&o, t->name, t->dtype, t->ndim, t->shape[0], t->ndim > 1 ? t->shape[1] : 0, t->data, t->nbytes);
        if (r) goto out;
        if (!mat && t->ndim > 2) {
            slm_fail("%s: tensor '%s': %d dimensions cannot be copied", t->file, t->name, t->ndim);
            goto out;
        }
    }
    const char *keys[] = {"format", "slm.quantization"};
    const char *values[] = {"pt", slm_dtype_name(type)};
    snprintf(path, sizeof path, "%s/model.safetensors", outdir);
    if (slm_st_write(path, o.t, o.n, keys, values, type == SLM_Q8_0 || type == SLM_Q4_0 ? 2 : 1)) goto out;
    snprintf(from, sizeof from, "%s/config.json", srcdir);
    snprintf(path, sizeof path, "%s/config.json", outdir);
    if (write_config(from, path, type, c)) goto out;
    const char *files[] = {"generation_config.json", "tokenizer.json",  "tokenizer_config.json", "special_tokens_map.json",
                           "tokenizer.model",        "added_tokens.json", "vocab.json",            "merges.txt",
                           "chat_template.jinja"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(from, sizeof from, "%s/%s", srcdir, files[i]);
        snprintf(path, sizeof path, "%s/%s", outdir, files[i]);
        if (copy_file(from, path)) goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < o.ns; i++) free(o.strings[i]);
    free(o.strings);
    free(o.t);
    return rc;
}
