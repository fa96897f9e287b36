/* Reads the normalizer, pre_tokenizer, decoder and post_processor descriptions of tokenizer.json
 * into flat arrays (a Sequence becomes its members, in order). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

#define MAX_STEPS 64

static const char *type_of(const cJSON *j) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

/* A boolean field: absent or null gives dflt; anything but a boolean is an error. */
static int get_bool(const cJSON *j, const char *key, int dflt, int *out, const char *path,
                    const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsBool(v)) return slm_fail("%s: %s.%s: expected true or false", path, where, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_string(const cJSON *j, const char *key, const char **out, const char *path,
                      const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v)) return slm_fail("%s: %s.%s: missing or not a string", path, where, key);
    *out = v->valuestring;
    return 0;
}

/* One character, as Metaspace's replacement and Strip's content are. */
static int get_char(const cJSON *j, const char *key, char out[5], int *len, int32_t *cp,
                    const char *path, const char *where) {
    const char *s = NULL;
    if (get_string(j, key, &s, path, where)) return -1;
    size_t n = strlen(s);
    int32_t c = 0;
    int k = n ? tok_utf8_next(s, n, &c) : 0;
    if (n == 0 || (size_t)k != n)
        return slm_fail("%s: %s.%s: expected a single character", path, where, key);
    memcpy(out, s, n);
    out[n] = 0;
    if (len) *len = (int)n;
    if (cp) *cp = c;
    return 0;
}

static int prepend_scheme(const cJSON *j, int *out, const char *path, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "prepend_scheme");
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(j, "add_prefix_space");
    *out = PREPEND_ALWAYS;
    if (cJSON_IsString(v)) {
        if (!strcmp(v->valuestring, "always")) *out = PREPEND_ALWAYS;
        else if (!strcmp(v->valuestring, "first")) *out = PREPEND_FIRST;
        else if (!strcmp(v->valuestring, "never")) *out = PREPEND_NEVER;
        else
            return slm_fail("%s: %s.prepend_scheme: unknown value '%s'", path, where,
                            v->valuestring);
    } else if (v && !cJSON_IsNull(v))
        return slm_fail("%s: %s.prepend_scheme: expected a string", path, where);
    /* the older form: add_prefix_space false means never */
    if (cJSON_IsFalse(aps)) *out = PREPEND_NEVER;
    return 0;
}

/* ---- normalizers ---- */

static int add_normalizer(slm_tokenizer *t, const cJSON *j, const char *where) {
    if (cJSON_IsNull(j)) return 0;
    const char *type = type_of(j);
    if (!cJSON_IsObject(j) || !type) return slm_fail("%s: %s: missing type", t->path, where);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(list))
            return slm_fail("%s: %s.normalizers: missing or not an array", t->path, where);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", where, i++);
            if (add_normalizer(t, it, sub)) return -1;
        }
        return 0;
    }
    if (t->n_norm == MAX_STEPS) return slm_fail("%s: %s: too many normalizers", t->path, where);
    tok_normalizer *n = &t->norm[t->n_norm];
    memset(n, 0, sizeof *n);
    const char *s = NULL;
    if (!strcmp(type, "NFC")) n->kind = NORM_NFC;
    else if (!strcmp(type, "NFD")) n->kind = NORM_NFD;
    else if (!strcmp(type, "NFKC")) n->kind = NORM_NFKC;
    else if (!strcmp(type, "NFKD")) n->kind = NORM_NFKD;
    else if (!strcmp(type, "Lowercase")) n->kind = NORM_LOWERCASE;
    else if (!strcmp(type, "ByteLevel")) n->kind = NORM_BYTELEVEL;
    else if (!strcmp(type, "Strip")) {
        n->kind = NORM_STRIP;
        if (get_bool(j, "strip_left", 1, &n->left, t->path, where) ||
            get_bool(j, "strip_right", 1, &n->right, t->path, where))
            return -1;
    } else if (!strcmp(type, "Prepend")) {
        n->kind = NORM_PREPEND;
        if (get_string(j, "prepend", &s, t->path, where)) return -1;
        n->content = strdup(s);
        n->content_len = strlen(s);
    } else if (!strcmp(type, "Replace")) {
        n->kind = NORM_REPLACE;
        char sub[256];
        snprintf(sub, sizeof sub, "%s: %s.pattern", t->path, where);
        if (get_string(j, "content", &s, t->path, where)) return -1;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        if (tok_pattern_from_json(&n->pat, pat, sub)) return -1;
        n->content = strdup(s);
        n->content_len = strlen(s);
    } else
        return slm_fail("%s: %s: unsupported normalizer type '%s'", t->path, where, type);
    if ((n->kind == NORM_PREPEND || n->kind == NORM_REPLACE) && !n->content) {
        tok_pattern_free(&n->pat);
        return slm_fail("%s: out of memory", t->path);
    }
    t->n_norm++;
    return 0;
}

int tok_parse_normalizer(slm_tokenizer *t, const cJSON *j) {
    t->norm = calloc(MAX_STEPS, sizeof *t->norm);
    if (!t->norm) return slm_fail("%s: out of memory", t->path);
    return j ? add_normalizer(t, j, "normalizer") : 0;
}

/* ---- pre-tokenizers ---- */

#define RUST_WORD "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}"

static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int add_pretok(slm_tokenizer *t, const cJSON *j, const char *where) {
    if (cJSON_IsNull(j)) return 0;
    const char *type = type_of(j);
    if (!cJSON_IsObject(j) || !type) return slm_fail("%s: %s: missing type", t->path, where);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(list))
            return slm_fail("%s: %s.pretokenizers: missing or not an array", t->path, where);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", where, i++);
            if (add_pretok(t, it, sub)) return -1;
        }
        return 0;
    }
    if (t->n_pre == MAX_STEPS) return slm_fail("%s: %s: too many pre-tokenizers", t->path, where);
    tok_pretok *p = &t->pre[t->n_pre];
    memset(p, 0, sizeof *p);
    char sub[256];
    snprintf(sub, sizeof sub, "%s: %s.pattern", t->path, where);
    if (!strcmp(type, "Split")) {
        p->kind = PRE_SPLIT;
        const char *b = NULL;
        if (get_string(j, "behavior", &b, t->path, where)) return -1;
        if (!strcmp(b, "Removed")) p->behavior = SPLIT_REMOVED;
        else if (!strcmp(b, "Isolated")) p->behavior = SPLIT_ISOLATED;
        else if (!strcmp(b, "MergedWithPrevious")) p->behavior = SPLIT_MERGED_PREV;
        else if (!strcmp(b, "MergedWithNext")) p->behavior = SPLIT_MERGED_NEXT;
        else if (!strcmp(b, "Contiguous")) p->behavior = SPLIT_CONTIGUOUS;
        else return slm_fail("%s: %s.behavior: unknown value '%s'", t->path, where, b);
        if (get_bool(j, "invert", 0, &p->invert, t->path, where)) return -1;
        if (tok_pattern_from_json(&p->pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), sub))
            return -1;
    } else if (!strcmp(type, "Whitespace")) {
        p->kind = PRE_SPLIT;
        p->behavior = SPLIT_REMOVED;
        p->invert = 1;
        /* \w+|[^\w\s]+ of Rust's regex crate, whose \w has Join_Control and only Nd numbers */
        if (tok_pattern_pcre2(&p->pat, "[" RUST_WORD "]+|[^" RUST_WORD "\\s\\x{85}]+", sub)) return -1;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p->kind = PRE_SPLIT;
        p->behavior = SPLIT_REMOVED;
        if (tok_pattern_pcre2(&p->pat, "[\\s\\x{85}]+", sub)) return -1; /* char::is_whitespace */
    } else if (!strcmp(type, "ByteLevel")) {
        p->kind = PRE_BYTELEVEL;
        if (get_bool(j, "add_prefix_space", 1, &p->add_prefix_space, t->path, where) ||
            get_bool(j, "use_regex", 1, &p->use_regex, t->path, where))
            return -1;
        if (p->use_regex && tok_pattern_regex(&p->pat, GPT2_REGEX, sub)) return -1;
    } else if (!strcmp(type, "Digits")) {
        p->kind = PRE_DIGITS;
        if (get_bool(j, "individual_digits", 0, &p->individual_digits, t->path, where)) return -1;
    } else if (!strcmp(type, "Metaspace")) {
        p->kind = PRE_METASPACE;
        if (get_char(j, "replacement", p->repl, &p->repl_len, NULL, t->path, where) ||
            prepend_scheme(j, &p->prepend_scheme, t->path, where) ||
            get_bool(j, "split", 1, &p->split, t->path, where))
            return -1;
    } else
        return slm_fail("%s: %s: unsupported pre-tokenizer type '%s'", t->path, where, type);
    t->n_pre++;
    return 0;
}

int tok_parse_pretokenizer(slm_tokenizer *t, const cJSON *j) {
    t->pre = calloc(MAX_STEPS, sizeof *t->pre);
    if (!t->pre) return slm_fail("%s: out of memory", t->path);
    return j ? add_pretok(t, j, "pre_tokenizer") : 0;
}

/* ---- decoders ---- */

static int add_decoder(slm_tokenizer *t, const cJSON *j, const char *where) {
    if (cJSON_IsNull(j)) return 0;
    const char *type = type_of(j);
    if (!cJSON_IsObject(j) || !type) return slm_fail("%s: %s: missing type", t->path, where);
    t->has_decoder = 1;
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "decoders");
        if (!cJSON_IsArray(list))
            return slm_fail("%s: %s.decoders: missing or not an array", t->path, where);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.decoders[%d]", where, i++);
            if (add_decoder(t, it, sub)) return -1;
        }
        return 0;
    }
    if (t->n_dec == MAX_STEPS) return slm_fail("%s: %s: too many decoders", t->path, where);
    tok_decoder *d = &t->dec[t->n_dec];
    memset(d, 0, sizeof *d);
    d->fused = t->n_dec > 0 && (t->dec[t->n_dec - 1].fused || t->dec[t->n_dec - 1].kind == DEC_FUSE ||
                                t->dec[t->n_dec - 1].kind == DEC_BYTELEVEL);
    if (!strcmp(type, "ByteLevel")) d->kind = DEC_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d->kind = DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d->kind = DEC_FUSE;
    else if (!strcmp(type, "Strip")) {
        d->kind = DEC_STRIP;
        char c[5];
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "start");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "stop");
        if (get_char(j, "content", c, NULL, &d->strip_char, t->path, where)) return -1;
        if (!cJSON_IsNumber(st) || !cJSON_IsNumber(sp) || st->valuedouble < 0 ||
            sp->valuedouble < 0 || st->valuedouble > 1e6 || sp->valuedouble > 1e6)
            return slm_fail("%s: %s: start and stop must be counts", t->path, where);
        d->start = st->valueint;
        d->stop = sp->valueint;
    } else if (!strcmp(type, "Replace")) {
        d->kind = DEC_REPLACE;
        const char *s = NULL;
        char sub[256];
        snprintf(sub, sizeof sub, "%s: %s.pattern", t->path, where);
        if (get_string(j, "content", &s, t->path, where)) return -1;
        if (tok_pattern_from_json(&d->pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), sub))
            return -1;
        d->content = strdup(s);
        d->content_len = strlen(s);
        if (!d->content) {
            tok_pattern_free(&d->pat);
            return slm_fail("%s: out of memory", t->path);
        }
    } else if (!strcmp(type, "Metaspace")) {
        d->kind = DEC_METASPACE;
        if (get_char(j, "replacement", d->repl, &d->repl_len, NULL, t->path, where) ||
            prepend_scheme(j, &d->prepend_scheme, t->path, where))
            return -1;
    } else
        return slm_fail("%s: %s: unsupported decoder type '%s'", t->path, where, type);
    t->n_dec++;
    return 0;
}

int tok_parse_decoder(slm_tokenizer *t, const cJSON *j) {
    t->dec = calloc(MAX_STEPS, sizeof *t->dec);
    if (!t->dec) return slm_fail("%s: out of memory", t->path);
    return j ? add_decoder(t, j, "decoder") : 0;
}

/* ---- post-processors ---- */

static int push_template(slm_tokenizer *t, const int *ids, int n) {
    if (t->n_post == MAX_STEPS) return slm_fail("%s: post_processor: too many steps", t->path);
    tok_template *tp = &t->post[t->n_post];
    tp->ids = malloc((size_t)(n ? n : 1) * sizeof *tp->ids);
    if (!tp->ids) return slm_fail("%s: out of memory", t->path);
    memcpy(tp->ids, ids, (size_t)n * sizeof *ids);
    tp->n = n;
    t->n_post++;
    return 0;
}

/* "cls": ["<s>", 0] */
static int token_pair(const cJSON *j, const char *key, int *id, const char *path,
                      const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    const cJSON *i = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || !cJSON_IsNumber(i) || i->valuedouble < 0)
        return slm_fail("%s: %s.%s: expected [token, id]", path, where, key);
    *id = i->valueint;
    return 0;
}

static int add_post(slm_tokenizer *t, const cJSON *j, const char *where) {
    if (cJSON_IsNull(j)) return 0;
    const char *type = type_of(j);
    if (!cJSON_IsObject(j) || !type) return slm_fail("%s: %s: missing type", t->path, where);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "processors");
        if (!cJSON_IsArray(list))
            return slm_fail("%s: %s.processors: missing or not an array", t->path, where);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.processors[%d]", where, i++);
            if (add_post(t, it, sub)) return -1;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) return 0; /* adjusts offsets only */
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        int ids[3] = {0, -1, 0};
        if (token_pair(j, "cls", &ids[0], t->path, where) ||
            token_pair(j, "sep", &ids[2], t->path, where))
            return -1;
        return push_template(t, ids, 3);
    }
    if (strcmp(type, "TemplateProcessing"))
        return slm_fail("%s: %s: unsupported post-processor type '%s'", t->path, where, type);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
    if (!cJSON_IsArray(single)) return slm_fail("%s: %s.single: missing or not an array", t->path, where);
    int ids[256], n = 0, i = 0;
    const cJSON *piece;
    cJSON_ArrayForEach(piece, single) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(piece, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(piece, "Sequence");
        if (sq) {
            if (n == 256) return slm_fail("%s: %s.single: too long", t->path, where);
            ids[n++] = -1;
        } else if (sp) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(sp, "id");
            const cJSON *tok = cJSON_IsString(name)
                                   ? cJSON_GetObjectItemCaseSensitive(specials, name->valuestring)
                                   : NULL;
            const cJSON *list = cJSON_GetObjectItemCaseSensitive(tok, "ids");
            if (!cJSON_IsArray(list))
                return slm_fail("%s: %s.single[%d]: special token not in special_tokens", t->path,
                                where, i);
            const cJSON *id;
            cJSON_ArrayForEach(id, list) {
                if (!cJSON_IsNumber(id) || id->valuedouble < 0)
                    return slm_fail("%s: %s.special_tokens: bad id", t->path, where);
                if (n == 256) return slm_fail("%s: %s.single: too long", t->path, where);
                ids[n++] = id->valueint;
            }
        } else
            return slm_fail("%s: %s.single[%d]: expected SpecialToken or Sequence", t->path, where, i);
        i++;
    }
    return push_template(t, ids, n);
}

int tok_parse_postprocessor(slm_tokenizer *t, const cJSON *j) {
    t->post = calloc(MAX_STEPS, sizeof *t->post);
    if (!t->post) return slm_fail("%s: out of memory", t->path);
    return j ? add_post(t, j, "post_processor") : 0;
}

void tok_components_free(slm_tokenizer *t) {
    for (int i = 0; i < t->n_norm; i++) {
        tok_pattern_free(&t->norm[i].pat);
        free(t->norm[i].content);
    }
    for (int i = 0; i < t->n_pre; i++) tok_pattern_free(&t->pre[i].pat);
    for (int i = 0; i < t->n_dec; i++) {
        tok_pattern_free(&t->dec[i].pat);
        free(t->dec[i].content);
    }
    for (int i = 0; i < t->n_post; i++) free(t->post[i].ids);
    free(t->norm);
    free(t->pre);
    free(t->dec);
    free(t->post);
}
