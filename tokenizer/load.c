/* slm_tokenizer_load: tokenizer.json into the structures of tok_internal.h, the special token
 * strings of tokenizer_config.json / special_tokens_map.json, and the stop ids; plus the small
 * accessors of the public API. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

#define CACHE_SLOTS 4096

static int load_file(const char *path, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return slm_fail("%s: cannot open", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    /* sized from the file length when it is known, with room to see the end of file */
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > 0 && (buf = malloc((size_t)size + 2))) cap = (size_t)size + 2;
        fseek(f, 0, SEEK_SET);
    }
    for (;;) {
        if (n + 1 >= cap) {
            size_t c = cap ? cap * 2 : 65536;
            char *p = realloc(buf, c);
            if (!p) {
                free(buf);
                fclose(f);
                return slm_fail("%s: out of memory", path);
            }
            buf = p;
            cap = c;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return slm_fail("%s: read error", path);
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Parses a small JSON file; a missing optional file gives *out = NULL and 0. */
static int parse_optional(const char *dir, const char *name, cJSON **out) {
    *out = NULL;
    char *path = join(dir, name);
    if (!path) return slm_fail("%s: out of memory", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        free(path);
        return 0;
    }
    fclose(f);
    char *text;
    size_t len;
    if (load_file(path, &text, &len)) {
        free(path);
        return -1;
    }
    *out = cJSON_ParseWithLength(text, len);
    int rc = 0;
    if (!*out) {
        const char *e = cJSON_GetErrorPtr();
        rc = slm_fail("%s: not valid JSON (byte %ld)", path,
                      e && e >= text && e <= text + len ? (long)(e - text) : -1L);
    }
    free(text);
    free(path);
    return rc;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} or null */
static const char *special_string(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int add_eot(slm_tokenizer *t, int id) {
    if (id < 0 || id >= t->n_ids || !t->piece[id]) return 0;
    for (int i = 0; i < t->n_eot; i++)
        if (t->eot[i] == id) return 0;
    int *p = realloc(t->eot, (size_t)(t->n_eot + 1) * sizeof *p);
    if (!p) return slm_fail("%s: out of memory", t->path);
    t->eot = p;
    int i = t->n_eot++;
    while (i > 0 && t->eot[i - 1] > id) {
        t->eot[i] = t->eot[i - 1];
        i--;
    }
    t->eot[i] = id;
    return 0;
}

static int load_configs(slm_tokenizer *t, const char *dir) {
    cJSON *cfg = NULL, *map = NULL, *gen = NULL;
    int rc = -1;
    if (parse_optional(dir, "tokenizer_config.json", &cfg) ||
        parse_optional(dir, "special_tokens_map.json", &map) ||
        parse_optional(dir, "generation_config.json", &gen))
        goto out;
    const char *keys[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    char **dst[4] = {&t->bos, &t->eos, &t->unk, &t->pad};
    int *ids[4] = {&t->bos_id, &t->eos_id, &t->unk_tok_id, &t->pad_id};
    for (int i = 0; i < 4; i++) {
        /* tokenizer_config.json wins; special_tokens_map.json fills what it leaves out */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[i]);
        const char *s = v ? special_string(cfg, keys[i]) : special_string(map, keys[i]);
        *ids[i] = -1;
        if (!s) continue;
        if (!(*dst[i] = strdup(s))) {
            slm_fail("%s: out of memory", t->path);
            goto out;
        }
        *ids[i] = slm_tokenizer_token_id(t, s);
    }
    if (add_eot(t, t->eos_id)) goto out;
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(gen, "eos_token_id");
    if (cJSON_IsNumber(eos) && add_eot(t, eos->valueint)) goto out;
    const cJSON *it;
    if (cJSON_IsArray(eos))
        cJSON_ArrayForEach(it, eos) if (cJSON_IsNumber(it) && add_eot(t, it->valueint)) goto out;
    static const char *names[] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>",
                                  "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<eos>"};
    /* only as added tokens: "</s>" is plain text in some vocabularies (Qwen2) */
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (add_eot(t, tok_strmap_get(&t->added_map, names[i], strlen(names[i])))) goto out;
    rc = 0;
out:
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    cJSON_Delete(gen);
    return rc;
}

static int get_flag(slm_tokenizer *t, const cJSON *j, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return slm_fail("%s: model.%s: expected true or false", t->path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* Reads added_tokens. Ids are given the way the reference gives them: the id the token already
 * has (as an added token or in the model vocabulary), else the next free one after the vocabulary. */
static int load_added(slm_tokenizer *t, const cJSON *list) {
    if (!list || cJSON_IsNull(list)) return 0;
    if (!cJSON_IsArray(list)) return slm_fail("%s: added_tokens: expected an array", t->path);
    int n = cJSON_GetArraySize(list);
    t->added = calloc((size_t)(n ? n : 1), sizeof *t->added);
    if (!t->added || tok_strmap_init(&t->added_map, (size_t)n + 8, 0))
        return slm_fail("%s: out of memory", t->path);
    int next_id = (int)t->vocab.n, i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(c))
            return slm_fail("%s: added_tokens[%d].content: missing or not a string", t->path, i);
        const char *s = c->valuestring;
        size_t len = strlen(s);
        int flags[5], dflt[5] = {0, 0, 0, 1, 0};
        const char *names[5] = {"single_word", "lstrip", "rstrip", "normalized", "special"};
        for (int k = 0; k < 5; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, names[k]);
            if (v && !cJSON_IsBool(v))
                return slm_fail("%s: added_tokens[%d].%s: expected true or false", t->path, i,
                                names[k]);
            flags[k] = v ? cJSON_IsTrue(v) : dflt[k];
        }
        i++;
        if (len == 0) continue;
        int32_t id = tok_strmap_get(&t->added_map, s, len);
        int slot = -1;
        if (id >= 0) {
            for (int k = 0; k < t->n_added; k++)
                if (t->added[k].id == id) slot = k;
        } else {
            id = tok_strmap_get(&t->vocab, s, len);
            if (id < 0) id = next_id++;
        }
        if (slot < 0) {
            slot = t->n_added++;
            t->added[slot].content = strdup(s);
            if (!t->added[slot].content) return slm_fail("%s: out of memory", t->path);
            t->added[slot].len = len;
            if (tok_strmap_put(&t->added_map, s, len, id))
                return slm_fail("%s: out of memory", t->path);
        }
        tok_added *a = &t->added[slot];
        a->id = id;
        a->single_word = (unsigned char)flags[0];
        a->lstrip = (unsigned char)flags[1];
        a->rstrip = (unsigned char)flags[2];
        a->normalized = (unsigned char)flags[3];
        /* once special, a content stays in the special set */
        a->special = (unsigned char)(a->special | flags[4]);
    }
    return 0;
}

static int build_tables(slm_tokenizer *t) {
    int n_ids = 0;
    size_t pos = 0;
    const char *key;
    uint32_t len;
    int32_t val;
    while (tok_strmap_next(&t->vocab, &pos, &key, &len, &val))
        if (val + 1 > n_ids) n_ids = val + 1;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id + 1 > n_ids) n_ids = t->added[i].id + 1;
    t->n_ids = n_ids;
    size_t m = (size_t)(n_ids ? n_ids : 1);
    t->piece = calloc(m, sizeof *t->piece);
    t->piece_len = calloc(m, sizeof *t->piece_len);
    t->dec_piece = calloc(m, sizeof *t->dec_piece);
    t->dec_len = calloc(m, sizeof *t->dec_len);
    t->special = calloc(m, 1);
    t->char_id = malloc(0x10000 * sizeof *t->char_id);
    if (!t->piece || !t->piece_len || !t->dec_piece || !t->dec_len || !t->special || !t->char_id)
        return slm_fail("%s: out of memory", t->path);
    for (int c = 0; c < 0x10000; c++) t->char_id[c] = -1;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_strmap_get(&t->vocab, name, 6);
    }
    /* a key given twice in the vocab keeps its last id; the earlier id then has no string */
    t->split_before_meta = !t->cont_prefix && !t->word_suffix &&
                           tok_strmap_get(&t->vocab, "\xE2\x96\x81", 3) >= 0;
    pos = 0;
    while (tok_strmap_next(&t->vocab, &pos, &key, &len, &val)) {
        for (const char *m = key + 1; t->split_before_meta && m + 3 <= key + len; m++)
            if (!memcmp(m, "\xE2\x96\x81", 3) && (m - key < 3 || memcmp(m - 3, "\xE2\x96\x81", 3)))
                t->split_before_meta = 0;
        t->piece[val] = key;
        t->piece_len[val] = len;
        int32_t cp;
        if (len > 0 && len <= 3 && (size_t)tok_utf8_next(key, len, &cp) == len && cp < 0x10000)
            t->char_id[cp] = val;
    }
    for (int i = 0; i < t->n_added; i++) {
        t->piece[t->added[i].id] = t->added[i].content;
        t->piece_len[t->added[i].id] = (uint32_t)t->added[i].len;
    }
    memcpy(t->dec_piece, t->piece, m * sizeof *t->piece);
    memcpy(t->dec_len, t->piece_len, m * sizeof *t->piece_len);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].match != t->added[i].content) {
            t->dec_piece[t->added[i].id] = t->added[i].match;
            t->dec_len[t->added[i].id] = (uint32_t)t->added[i].match_len;
        }
    /* Decoding skips an id when its string is one of the special contents. */
    tok_strmap specials;
    if (tok_strmap_init(&specials, (size_t)t->n_added + 8, 0))
        return slm_fail("%s: out of memory", t->path);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].special &&
            tok_strmap_put(&specials, t->added[i].content, t->added[i].len, 1)) {
            tok_strmap_free(&specials);
            return slm_fail("%s: out of memory", t->path);
        }
    for (int i = 0; i < t->n_added; i++) {
        int id = t->added[i].id;
        if (tok_strmap_get(&specials, t->dec_piece[id], t->dec_len[id]) >= 0) t->special[id] = 1;
    }
    pos = 0;
    while (tok_strmap_next(&specials, &pos, &key, &len, &val)) {
        int32_t id = tok_strmap_get(&t->vocab, key, len);
        if (id >= 0 && t->dec_piece[id] == t->piece[id]) t->special[id] = 1;
    }
    tok_strmap_free(&specials);
    return 0;
}

/* The added tokens' matching strings (normalized ones go through the normalizer) and the tries. */
static int build_added(slm_tokenizer *t) {
    tok_matcher m;
    if (tok_matcher_init(&m)) return -1;
    int rc = 0;
    for (int i = 0; i < t->n_added && rc == 0; i++) {
        tok_added *a = &t->added[i];
        a->match = a->content;
        a->match_len = a->len;
        if (a->normalized && t->n_norm) {
            tok_buf out = {0};
            int lead;
            rc = tok_normalize(t, &m, a->content, a->len, &out, &lead);
            if (rc == 0 && (out.n != a->len || memcmp(out.p, a->content, a->len) != 0)) {
                a->match = out.p;
                a->match_len = out.n;
                out.p = NULL;
            }
            tok_buf_free(&out);
        }
        if (rc == 0 && tok_trie_add(a->normalized ? &t->norm_trie : &t->raw_trie, a->match,
                                    a->match_len, i))
            rc = slm_fail("%s: out of memory", t->path);
    }
    tok_matcher_free(&m);
    return rc;
}

static void bytelevel_tables(slm_tokenizer *t) {
    int n = 0;
    for (int i = 0; i < 0x144; i++) t->bl_char_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        int cp = printable ? b : 0x100 + n++;
        t->bl_len[b] = tok_utf8_encode(cp, t->bl_chars[b]);
        t->bl_char_byte[cp] = (int16_t)b;
    }
}

slm_tokenizer *slm_tokenizer_load(const char *dir) {
    if (!dir) {
        slm_fail("tokenizer: no folder given");
        return NULL;
    }
    slm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        slm_fail("tokenizer: out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->cache_lock, NULL);
    t->unk_id = -1;
    t->path = join(dir, "tokenizer.json");
    char *text = NULL;
    size_t len;
    cJSON *root = NULL;
    if (!t->path) {
        slm_fail("tokenizer: out of memory");
        goto fail;
    }
    if (load_file(t->path, &text, &len)) goto fail;
    size_t bad = tok_utf8_invalid_at(text, len);
    if (bad < len) {
        slm_fail("%s: not valid UTF-8 (byte %zu)", t->path, bad);
        goto fail;
    }
    if (tok_parse_model(t, text, len)) goto fail;
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        slm_fail("%s: not valid JSON (byte %ld)", t->path,
                 e && e >= text && e <= text + len ? (long)(e - text) : -1L);
        goto fail;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (cJSON_IsString(version) && strcmp(version->valuestring, "1.0")) {
        slm_fail("%s: version: unknown tokenizer version '%s'", t->path, version->valuestring);
        goto fail;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    const cJSON *suffix = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (get_flag(t, model, "fuse_unk", &t->fuse_unk) ||
        get_flag(t, model, "byte_fallback", &t->byte_fallback) ||
        get_flag(t, model, "ignore_merges", &t->ignore_merges))
        goto fail;
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0)) {
        slm_fail("%s: model.dropout: BPE dropout is not supported (must be null)", t->path);
        goto fail;
    }
    if (cJSON_IsString(unk)) {
        t->unk_id = tok_strmap_get(&t->vocab, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0) t->unk_id = -2; /* an error only when a character needs it */
    } else if (unk && !cJSON_IsNull(unk)) {
        slm_fail("%s: model.unk_token: expected a string", t->path);
        goto fail;
    }
    if (cJSON_IsString(suffix)) {
        t->word_suffix = strdup(suffix->valuestring);
        t->word_suffix_len = strlen(suffix->valuestring);
        if (!t->word_suffix) {
            slm_fail("%s: out of memory", t->path);
            goto fail;
        }
    }
    bytelevel_tables(t);
    if (tok_parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer")) ||
        tok_parse_pretokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")) ||
        tok_parse_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder")) ||
        tok_parse_postprocessor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor")) ||
        load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")) || build_added(t) ||
        build_tables(t))
        goto fail;
    for (int k = 0; k < t->n_post; k++)
        for (int i = 0; i < t->post[k].n; i++)
            if (t->post[k].ids[i] >= t->n_ids) {
                slm_fail("%s: post_processor: id %d is not in the vocabulary", t->path,
                         t->post[k].ids[i]);
                goto fail;
            }
    if (load_configs(t, dir)) goto fail;
    t->cache = calloc(CACHE_SLOTS, sizeof *t->cache);
    t->cache_mask = t->cache ? CACHE_SLOTS - 1 : 0;
    cJSON_Delete(root);
    free(text);
    return t;
fail:
    cJSON_Delete(root);
    free(text);
    slm_tokenizer_free(t);
    return NULL;
}

void slm_tokenizer_free(slm_tokenizer *t) {
    if (!t) return;
    tok_strmap_free(&t->vocab);
    tok_pairmap_free(&t->merges);
    free(t->char_id);
    free(t->cont_prefix);
    free(t->word_suffix);
    free(t->piece);
    free(t->piece_len);
    free(t->dec_piece);
    free(t->dec_len);
    free(t->special);
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].match != t->added[i].content) free(t->added[i].match);
        free(t->added[i].content);
    }
    free(t->added);
    tok_strmap_free(&t->added_map);
    tok_trie_free(&t->raw_trie);
    tok_trie_free(&t->norm_trie);
    tok_components_free(t);
    free(t->bos);
    free(t->eos);
    free(t->unk);
    free(t->pad);
    free(t->eot);
    tok_cache_free(t);
    pthread_mutex_destroy(&t->cache_lock);
    free(t->path);
    free(t);
}

int slm_tokenizer_vocab_size(const slm_tokenizer *t) { return t->n_ids; }

int slm_tokenizer_token_id(const slm_tokenizer *t, const char *piece) {
    if (!piece) return -1;
    size_t n = strlen(piece);
    int32_t id = tok_strmap_get(&t->added_map, piece, n);
    return id >= 0 ? id : tok_strmap_get(&t->vocab, piece, n);
}

const char *slm_tokenizer_piece(const slm_tokenizer *t, int id) {
    return id >= 0 && id < t->n_ids ? t->dec_piece[id] : NULL;
}

int slm_tokenizer_is_special(const slm_tokenizer *t, int id) {
    return id >= 0 && id < t->n_ids && t->special[id];
}

const char *slm_tokenizer_bos(const slm_tokenizer *t) { return t->bos; }
const char *slm_tokenizer_eos(const slm_tokenizer *t) { return t->eos; }
const char *slm_tokenizer_unk(const slm_tokenizer *t) { return t->unk; }
const char *slm_tokenizer_pad(const slm_tokenizer *t) { return t->pad; }
int slm_tokenizer_bos_id(const slm_tokenizer *t) { return t->bos_id; }
int slm_tokenizer_eos_id(const slm_tokenizer *t) { return t->eos_id; }
int slm_tokenizer_unk_id(const slm_tokenizer *t) { return t->unk_tok_id; }
int slm_tokenizer_pad_id(const slm_tokenizer *t) { return t->pad_id; }

int slm_tokenizer_eot_ids(const slm_tokenizer *t, const int **ids) {
    *ids = t->eot;
    return t->n_eot;
}

int slm_tokenizer_is_eot(const slm_tokenizer *t, int id) {
    for (int i = 0; i < t->n_eot; i++)
        if (t->eot[i] == id) return 1;
    return 0;
}
