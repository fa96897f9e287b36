#include "weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../kernels/cpu/matmul.h"
#include "../kernels/cpu/quant.h"
#include "../runtime/error.h"
#include "../runtime/hugemem.h"

static void release(struct slm_owned o) {
    if (o.huge_bytes) slm_huge_free(o.p, o.huge_bytes);
    else free(o.p);
}

static void *own(slm_weights *w, void *p, size_t huge_bytes) {
    if (!p) return NULL;
    struct slm_owned o = {p, huge_bytes};
    if (w->n_owned == w->cap_owned) {
        int cap = w->cap_owned ? 2 * w->cap_owned : 64;
        struct slm_owned *g = realloc(w->owned, (size_t)cap * sizeof *g);
        if (!g) {
            release(o);
            return NULL;
        }
        w->owned = g;
        w->cap_owned = cap;
    }
    w->owned[w->n_owned++] = o;
    return p;
}

void *slm_weights_own(slm_weights *w, void *p) { return own(w, p, 0); }

/* Matrices are packed into slabs rather than given a mapping each. A mapping of its own would leave a matrix's
 * last partial 2 MiB on 4 KiB pages, and every matrix under 2 MiB (Llama-3.2-1B's k and v, all of
 * SmolLM2's) wholly on them: decode read those at 20 GB/s instead of 26-28. Packed in the order the forward
 * pass reads them, one matrix's stream also runs on into the next. A slab's pages are committed as they are
 * written, so its unused end costs address space and not memory, except for the 2 MiB page it ends in:
 * slabs are large so that few are left part-full. */
enum { SLAB_BYTES = 1 << 30 };

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

void *slm_weights_alloc(slm_weights *w, size_t bytes) {
    size_t need = round_up(bytes ? bytes : 1, 64);
    if (w->slab && w->slab_size - w->slab_used >= need) {
        void *p = w->slab + w->slab_used;
        w->slab_used += need;
        return p;
    }
    /* one that would not leave room for much else gets a region of its own, and the current slab stays open */
    if (need > SLAB_BYTES / 2) {
        size_t len = round_up(need, SLM_HUGE_MIN);
        return own(w, slm_huge_alloc(len), len);
    }
    char *slab = own(w, slm_huge_alloc(SLAB_BYTES), SLAB_BYTES);
    if (!slab) return NULL;
    w->slab = slab;
    w->slab_size = SLAB_BYTES;
    w->slab_used = need;
    return slab;
}

static int float_type(const char *dtype, slm_dtype *t) {
    if (!strcmp(dtype, "F32")) *t = SLM_F32;
    else if (!strcmp(dtype, "F16")) *t = SLM_F16;
    else if (!strcmp(dtype, "BF16")) *t = SLM_BF16;
    else return -1;
    return 0;
}

static const slm_st_tensor *need(const slm_st *st, const char *name) {
    const slm_st_tensor *t = slm_st_find(st, name);
    if (!t) {
        const char *where = st->n_files == 1 ? st->files[0].path : "the model's safetensors files";
        slm_fail("%s: tensor '%s' is missing", where, name);
    }
    return t;
}

static int check_shape(const slm_st_tensor *t, int ndim, int64_t d0, int64_t d1) {
    int ok = t->ndim == ndim && t->shape[0] == d0 && (ndim == 1 || t->shape[1] == d1);
    if (ok) return 0;
    char got[128] = "", want[64];
    int at = 0;
    for (int i = 0; i < t->ndim && at < (int)sizeof got - 24; i++)
        at += snprintf(got + at, sizeof got - at, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (ndim == 1) snprintf(want, sizeof want, "%lld", (long long)d0);
    else snprintf(want, sizeof want, "%lld, %lld", (long long)d0, (long long)d1);
    return slm_fail("%s: tensor '%s': shape [%s], expected [%s]", t->file, t->name, got, want);
}

/* The pages of a mapped file that lie wholly inside tensor t are given back: t was copied and is not read
 * again, so its bytes do not count twice in resident memory. Tensors parsed from memory are left alone. */
static void release_range(const slm_st *st, const void *data, size_t nbytes) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), at = (uintptr_t)data;
    for (int i = 0; i < st->n_files; i++) {
        const uintptr_t map = (uintptr_t)st->files[i].map;
        if (!map || at < map || at + nbytes > map + st->files[i].size) continue;
        uintptr_t first = (at + page - 1) / page * page, end = (at + nbytes) / page * page;
        if (end > first) madvise((void *)first, end - first, MADV_DONTNEED);
    }
}

static void release_pages(const slm_st *st, const slm_st_tensor *t) { release_range(st, t->data, t->nbytes); }

/* Whether data lies in one of st's mapped files (read-only), rather than in memory the weights own. */
static int in_mapped_file(const slm_st *st, const void *data) {
    const uintptr_t at = (uintptr_t)data;
    for (int i = 0; i < st->n_files; i++) {
        const uintptr_t map = (uintptr_t)st->files[i].map;
        if (map && at >= map && at < map + st->files[i].size) return 1;
    }
    return 0;
}

/* Data used in place when aligned to `align` (at most 64) bytes, else copied once onto a 64-byte boundary,
 * the mapped pages it leaves given back (unaligned files are legal). */
static const void *aligned(slm_weights *w, const slm_st *st, const slm_st_tensor *t, size_t align) {
    if ((uintptr_t)t->data % align == 0) return t->data;
    void *copy = slm_weights_alloc(w, t->nbytes);
    if (!copy) {
        slm_fail("%s: tensor '%s': out of memory", t->file, t->name);
        return NULL;
    }
    memcpy(copy, t->data, t->nbytes);
    release_pages(st, t);
    return copy;
}

/* A float32 tensor of exactly n elements, aligned. */
static const float *f32_tensor(slm_weights *w, const slm_st *st, const char *name, int64_t n) {
    const slm_st_tensor *t = slm_st_find(st, name);
    if (!t) {
        slm_fail("%s: tensor '%s' is missing", st->files[0].path, name);
        return NULL;
    }
    if (strcmp(t->dtype, "F32") || slm_st_numel(t) != n) {
        slm_fail("%s: tensor '%s': %s with %lld elements, expected F32 with %lld", t->file, t->name, t->dtype,
                 (long long)slm_st_numel(t), (long long)n);
        return NULL;
    }
    return aligned(w, st, t, 4);
}

int slm_weights_nf4x8(const slm_weights *w, int block, int cols) {
    return (w->layout & SLM_LAYOUT_NF4X8) && block == 64 && cols % 64 == 0 && cols >= SLM_NF4X8_WEIGHTS;
}

slm_dtype slm_weights_float_layout(const slm_weights *w, slm_dtype type, int cols) {
    if (!(w->layout & SLM_LAYOUT_COL_BLOCKS) || cols <= SLM_COL_BLOCKED_ABOVE) return type;
    return type == SLM_F16 ? SLM_F16B : type == SLM_BF16 ? SLM_BF16B : type;
}

void slm_col_blocks_put_row(uint16_t *dst, const uint16_t *row, int rows, int cols, int r) {
    for (int b = 0; b * SLM_COL_BLOCK < cols; b++) {
        const int width = slm_col_block_width(cols, b);
        memcpy(dst + (size_t)rows * b * SLM_COL_BLOCK + (size_t)r * width, row + (size_t)b * SLM_COL_BLOCK, (size_t)width * 2);
    }
}

/* A bitsandbytes matrix written as NF4X8 from the file's codes and its absmax values (decoded, when double
 * quantized); the file's pages of both are given back. */
static const void *bnb_as_nf4x8(slm_weights *w, const slm_st *st, const slm_st_tensor *t, const float *absmax, int rows, int cols) {
    const size_t row_bytes = slm_nf4x8_row_bytes(cols);
    uint8_t *dst = slm_weights_alloc(w, row_bytes * (size_t)rows);
    if (!dst) {
        slm_fail("%s: tensor '%s': out of memory", t->file, t->name);
        return NULL;
    }
    const uint8_t *codes = t->data;
    for (int r = 0; r < rows; r++)
        slm_nf4x8_from_nf4(dst + (size_t)r * row_bytes, codes + (size_t)r * cols / 2, absmax + (size_t)r * (cols / 64), cols);
    release_pages(st, t);
    release_range(st, absmax, (size_t)rows * (cols / 64) * sizeof(float));
    return dst;
}

/* bitsandbytes 4-bit (formats.md §3): `name` holds the packed codes; its quant state sits in the
 * tensors name.absmax, name.quant_map, name.nested_* and a JSON blob name.quant_state.bitsandbytes__nf4
 * (or __fp4). The code table comes from quant_map, so FP4 runs on the same kernels as NF4. */
static int map_bnb(slm_weights *w, const slm_st *st, const slm_st_tensor *t, int rows, int cols, slm_mat *m) {
    char key[512];
    const slm_st_tensor *state = NULL;
    const char *kinds[] = {"nf4", "fp4"};
    for (int k = 0; k < 2 && !state; k++) {
        snprintf(key, sizeof key, "%s.quant_state.bitsandbytes__%s", t->name, kinds[k]);
        state = slm_st_find(st, key);
    }
    if (!state) return slm_fail("%s: tensor '%s': weight with an absmax but without a bitsandbytes quant_state", t->file, t->name);
    cJSON *js = cJSON_ParseWithLength(state->data, state->nbytes);
    if (!js) return slm_fail("%s: tensor '%s': quant_state is not valid JSON", t->file, state->name);
    int rc = -1;
    float *dec = NULL; /* absmax decoded from 8 bits (double quantization), held here until placed */
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(js, "blocksize");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(js, "shape");
    const cJSON *qt = cJSON_GetObjectItemCaseSensitive(js, "quant_type");
    int block = cJSON_IsNumber(bs) ? bs->valueint : 0;
    if (!cJSON_IsString(qt) || (strcmp(qt->valuestring, "nf4") && strcmp(qt->valuestring, "fp4"))) {
        slm_fail("%s: tensor '%s': quant_type is not nf4 or fp4", t->file, state->name);
        goto out;
    }
    if (block <= 0 || block > (1 << 20)) {
        slm_fail("%s: tensor '%s': blocksize missing or invalid", t->file, state->name);
        goto out;
    }
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != 2 || !cJSON_IsNumber(shape->child) ||
        !cJSON_IsNumber(shape->child->next) || shape->child->valuedouble != rows || shape->child->next->valuedouble != cols) {
        slm_fail("%s: tensor '%s': quant_state shape is not [%d, %d]", t->file, state->name, rows, cols);
        goto out;
    }
    int64_t n = (int64_t)rows * cols, nblocks = (n + block - 1) / block;
    /* bnb_4bit_quant_storage other than uint8 stores the same bytes as that dtype's elements, the last one padded */
    const int64_t unit = !strcmp(t->dtype, "U8") ? 1 : !strcmp(t->dtype, "BF16") || !strcmp(t->dtype, "F16") ? 2
                         : !strcmp(t->dtype, "F32")                                             ? 4
                                                                                                : 0;
    if (!unit) {
        slm_fail("%s: tensor '%s': 4-bit codes stored as %s (U8, BF16, F16 or F32 expected)", t->file, t->name, t->dtype);
        goto out;
    }
    if ((int64_t)t->nbytes != ((n + 1) / 2 + unit - 1) / unit * unit) {
        slm_fail("%s: tensor '%s': %zu bytes of 4-bit codes, expected %lld for [%d, %d]", t->file, t->name, t->nbytes,
                 (long long)(((n + 1) / 2 + unit - 1) / unit * unit), rows, cols);
        goto out;
    }
    snprintf(key, sizeof key, "%s.quant_map", t->name);
    const float *map = f32_tensor(w, st, key, 16);
    if (!map) goto out;
    snprintf(key, sizeof key, "%s.absmax", t->name);
    const slm_st_tensor *am = slm_st_find(st, key);
    if (!am) {
        slm_fail("%s: tensor '%s' is missing (the scales of '%s')", t->file, key, t->name);
        goto out;
    }
    const float *absmax;
    if (!strcmp(am->dtype, "U8")) { /* double quantization: decode the 8-bit absmax once */
        const cJSON *nb = cJSON_GetObjectItemCaseSensitive(js, "nested_blocksize");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(js, "nested_offset");
        int nested = cJSON_IsNumber(nb) ? nb->valueint : 0;
        if (nested <= 0 || !cJSON_IsNumber(off)) {
            slm_fail("%s: tensor '%s': double quantization without nested_blocksize/nested_offset", t->file, state->name);
            goto out;
        }
        if (slm_st_numel(am) != nblocks) {
            slm_fail("%s: tensor '%s': %lld scales, expected %lld", t->file, am->name, (long long)slm_st_numel(am),
                     (long long)nblocks);
            goto out;
        }
        snprintf(key, sizeof key, "%s.nested_absmax", t->name);
        const float *nabs = f32_tensor(w, st, key, (nblocks + nested - 1) / nested);
        snprintf(key, sizeof key, "%s.nested_quant_map", t->name);
        const float *nmap = nabs ? f32_tensor(w, st, key, 256) : NULL;
        if (!nabs || !nmap) goto out;
        if (!(dec = malloc((size_t)nblocks * sizeof(float)))) {
            slm_fail("out of memory");
            goto out;
        }
        slm_nf4_decode_absmax(dec, am->data, (int)nblocks, nabs, nmap, nested, (float)off->valuedouble);
        absmax = dec;
    } else if (!(absmax = f32_tensor(w, st, key, nblocks))) {
        goto out;
    }
    if (slm_weights_nf4x8(w, block, cols)) {
        const void *x8 = bnb_as_nf4x8(w, st, t, absmax, rows, cols);
        if (!x8) goto out;
        *m = (slm_mat){.type = SLM_NF4X8, .rows = rows, .cols = cols, .data = x8, .code = map, .block = block};
    } else {
        float *kept = dec; /* the weights free it from here on, even when owning it fails */
        dec = NULL;
        if (kept && !slm_weights_own(w, kept)) {
            slm_fail("out of memory");
            goto out;
        }
        /* the kernel loads 64 code bytes at a time and runs ~11% slower when the loads straddle cache lines;
         * transformers aligns tensors only to their element size */
        const void *codes = aligned(w, st, t, 64);
        if (!codes) goto out;
        *m = (slm_mat){.type = SLM_NF4, .rows = rows, .cols = cols, .data = codes, .absmax = absmax, .code = map, .block = block};
    }
    rc = 0;
out:
    free(dec);
    cJSON_Delete(js);
    return rc;
}

/* slm's own packed blocks (slm quantize): U8 [rows, bytes per row], the format named by the
 * file's __metadata__ "slm.quantization". */
static int map_slm_packed(slm_weights *w, const slm_st *st, const slm_st_tensor *t, int rows, int cols, slm_mat *m) {
    const char *fmt = slm_st_meta(st, "slm.quantization");
    slm_dtype type;
    if (!fmt) return slm_fail("%s: tensor '%s': U8 weight but the file names no quantization format", t->file, t->name);
    if (slm_dtype_parse(fmt, &type) || (type != SLM_Q8_0 && type != SLM_Q4_0))
        return slm_fail("%s: __metadata__ slm.quantization: unknown format '%s'", t->file, fmt);
    if (cols % SLM_QK) return slm_fail("%s: tensor '%s': %d columns cannot hold %s blocks", t->file, t->name, cols, fmt);
    size_t row_bytes = slm_dtype_bytes(type, 1, (size_t)cols);
    if (t->ndim != 2 || t->shape[0] != rows || (size_t)t->shape[1] != row_bytes)
        return slm_fail("%s: tensor '%s': packed shape is not [%d, %zu] (%s of [%d, %d])", t->file, t->name, rows,
                        row_bytes, fmt, rows, cols);
    const void *data = aligned(w, st, t, 2);
    if (!data) return -1;
    *m = (slm_mat){.type = type, .rows = rows, .cols = cols, .data = data};
    return 0;
}

/* A weight matrix: float tensors used in place when aligned (copied otherwise), or a packed format. */
static int map_mat(slm_weights *w, const slm_st *st, const char *name, int rows, int cols, slm_mat *m) {
    const slm_st_tensor *t = need(st, name);
    if (!t) return -1;
    slm_dtype type;
    char key[512];
    snprintf(key, sizeof key, "%s.absmax", name);
    if (slm_st_find(st, key)) return map_bnb(w, st, t, rows, cols, m); /* stored as U8, or as another dtype's bytes */
    if (!strcmp(t->dtype, "U8")) return map_slm_packed(w, st, t, rows, cols, m);
    if (float_type(t->dtype, &type))
        return slm_fail("%s: tensor '%s': dtype %s is not supported for a weight matrix (F32, F16, BF16, packed U8)",
                        t->file, t->name, t->dtype);
    if (check_shape(t, 2, rows, cols)) return -1;
    const slm_dtype layout = slm_weights_float_layout(w, type, cols);
    if (layout != type) { /* copied once into column blocks, the file's pages given back */
        uint16_t *blocks = slm_weights_alloc(w, t->nbytes);
        if (!blocks) return slm_fail("%s: tensor '%s': out of memory", t->file, t->name);
        for (int r = 0; r < rows; r++) slm_col_blocks_put_row(blocks, (const uint16_t *)t->data + (size_t)r * cols, rows, cols, r);
        release_pages(st, t);
        *m = (slm_mat){.type = layout, .rows = rows, .cols = cols, .data = blocks};
        return 0;
    }
    const void *data = aligned(w, st, t, type == SLM_F32 ? 4 : 2);
    if (!data) return -1;
    *m = (slm_mat){.type = type, .rows = rows, .cols = cols, .data = data};
    return 0;
}

/* A vector (norm weight or bias), always converted to float32. */
static int map_vec(slm_weights *w, const slm_st *st, const char *name, int n, float **out) {
    const slm_st_tensor *t = need(st, name);
    if (!t) return -1;
    slm_dtype type;
    if (float_type(t->dtype, &type))
        return slm_fail("%s: tensor '%s': dtype %s is not supported (F32, F16, BF16)", t->file, t->name, t->dtype);
    if (check_shape(t, 1, n, 0)) return -1;
    float *v = slm_weights_own(w, malloc((size_t)n * sizeof(float)));
    if (!v) return slm_fail("%s: tensor '%s': out of memory", t->file, t->name);
    const unsigned char *src = t->data;
    for (int i = 0; i < n; i++) {
        if (type == SLM_F32) memcpy(&v[i], src + 4 * (size_t)i, 4);
        else {
            uint16_t h;
            memcpy(&h, src + 2 * (size_t)i, 2);
            v[i] = type == SLM_F16 ? slm_f16_to_f32(h) : slm_bf16_to_f32(h);
        }
    }
    *out = v;
    return 0;
}

int slm_weights_map(slm_weights *w, const slm_config *c, const slm_st *st, int layout) {
    memset(w, 0, sizeof *w);
    w->layout = layout;
    int hd = c->head_dim, hidden = c->hidden_size, ffn = c->intermediate_size;
    int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    char name[256];
    w->n_layers = c->n_layers;
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) return slm_fail("out of memory for %d layers", c->n_layers);
    if (map_mat(w, st, "model.embed_tokens.weight", c->vocab_size, hidden, &w->embed)) return -1;
    if (map_vec(w, st, "model.norm.weight", hidden, &w->final_norm)) return -1;
    if (c->tie_word_embeddings) {
        w->lm_head = w->embed;
    } else if (map_mat(w, st, "lm_head.weight", c->vocab_size, hidden, &w->lm_head)) {
        return -1;
    }
    for (int l = 0; l < c->n_layers; l++) {
        slm_layer_weights *L = &w->layers[l];
        struct {
            const char *suffix;
            int rows, cols;
            slm_mat *m;
            float **bias;
            int has_bias;
        } mats[] = {
            {"self_attn.q_proj", qdim, hidden, &L->wq, &L->bq, c->attention_bias},
            {"self_attn.k_proj", kvdim, hidden, &L->wk, &L->bk, c->attention_bias},
            {"self_attn.v_proj", kvdim, hidden, &L->wv, &L->bv, c->attention_bias},
            {"self_attn.o_proj", hidden, qdim, &L->wo, &L->bo, c->attention_bias},
            {"mlp.gate_proj", ffn, hidden, &L->w_gate, &L->b_gate, c->mlp_bias},
            {"mlp.up_proj", ffn, hidden, &L->w_up, &L->b_up, c->mlp_bias},
            {"mlp.down_proj", hidden, ffn, &L->w_down, &L->b_down, c->mlp_bias},
        };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, mats[i].suffix);
            if (map_mat(w, st, name, mats[i].rows, mats[i].cols, mats[i].m)) return -1;
            if (mats[i].has_bias) {
                snprintf(name, sizeof name, "model.layers.%d.%s.bias", l, mats[i].suffix);
                if (map_vec(w, st, name, mats[i].rows, mats[i].bias)) return -1;
            }
        }
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        if (map_vec(w, st, name, hidden, &L->attn_norm)) return -1;
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        if (map_vec(w, st, name, hidden, &L->ffn_norm)) return -1;
    }
    return 0;
}

void slm_weights_each_mat(slm_weights *w, void (*fn)(slm_mat *m, const char *what, void *user), void *user) {
    static const char *const names[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
    for (int l = 0; l < w->n_layers; l++) {
        slm_layer_weights *L = &w->layers[l];
        slm_mat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            char what[96];
            snprintf(what, sizeof what, "model.layers.%d.%s.weight", l, names[i]);
            fn(mats[i], what, user);
        }
    }
}

/* One Q4_0 matrix to Q4_0X8: in place when the weights own its bytes, else copied once, the file's pages
 * it leaves given back as for realigned tensors. Matrices of fewer than 8 blocks a row stay Q4_0. */
static int regroup_q4_0(slm_weights *w, const slm_st *st, slm_mat *m, const char *what) {
    int nb = m->cols / SLM_QK;
    if (nb < SLM_X8_BLOCKS) return 0;
    size_t bytes = slm_dtype_bytes(m->type, (size_t)m->rows, (size_t)m->cols), stride = (size_t)nb * sizeof(slm_block_q4_0);
    const int copy = in_mapped_file(st, m->data);
    char *dst = copy ? slm_weights_alloc(w, bytes) : (char *)m->data;
    if (!dst) return slm_fail("%s: out of memory for %zu MiB of regrouped q4_0 weights", what, bytes >> 20);
    for (int r = 0; r < m->rows; r++)
        slm_q4_0x8_from_q4_0(dst + (size_t)r * stride, (const slm_block_q4_0 *)((const char *)m->data + (size_t)r * stride), nb);
    if (copy) release_range(st, m->data, bytes);
    m->data = dst;
    m->type = SLM_Q4_0X8;
    return 0;
}

static int regroup(slm_weights *w, const slm_st *st, slm_mat *m, const char *what) {
    return m->type == SLM_Q4_0 ? regroup_q4_0(w, st, m, what) : 0;
}

typedef struct {
    slm_weights *w;
    const slm_st *st;
    int failed;
} regroup_ctx;

static void regroup_each(slm_mat *m, const char *what, void *user) {
    regroup_ctx *c = user;
    if (!c->failed && regroup(c->w, c->st, m, what)) c->failed = 1;
}

int slm_weights_for_cpu(slm_weights *w, const slm_st *st) {
    if (!slm_regroup_wanted()) return 0;
    const void *embed = w->embed.data;
    if (regroup(w, st, &w->embed, "model.embed_tokens.weight")) return -1;
    if (w->lm_head.data == embed) w->lm_head = w->embed; /* tied: the same matrix */
    else if (regroup(w, st, &w->lm_head, "lm_head.weight")) return -1;
    regroup_ctx c = {w, st, 0};
    slm_weights_each_mat(w, regroup_each, &c);
    return c.failed ? -1 : 0;
}

void slm_weights_free(slm_weights *w) {
    for (int i = 0; i < w->n_owned; i++) release(w->owned[i]);
    free(w->owned);
    free(w->layers);
    memset(w, 0, sizeof *w);
}
