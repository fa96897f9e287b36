/* The BPE model's vocab and merges, read straight from the JSON text.
 *
 * They are nearly all of tokenizer.json (17 MB for Llama 3: 128k vocab entries, 280k merges), and a
 * general JSON tree of them costs about as much as the whole load budget. So the model object is
 * scanned here, vocab and merges are parsed into hash maps directly, and their text is then blanked
 * to "{}" / "[]" so that cJSON parses only the small remainder of the file. */
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

typedef struct {
    const char *p, *end, *base;
    const char *path;
} scan;

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static int bad(scan *s, const char *what) {
    return slm_fail("%s: not valid JSON: %s at byte %zu", s->path, what, (size_t)(s->p - s->base));
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(scan *s, unsigned *v) {
    if (s->end - s->p < 4) return -1;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)s->p[i]);
        if (h < 0) return -1;
        x = x * 16 + (unsigned)h;
    }
    s->p += 4;
    *v = x;
    return 0;
}

/* Parses the string at s->p (which must be '"'). With out, the decoded bytes are appended to it;
 * without, the string is only skipped. */
static int string(scan *s, tok_buf *out) {
    if (s->p >= s->end || *s->p != '"') return bad(s, "expected a string");
    s->p++;
    const char *run = s->p;
    for (;;) {
        if (s->p >= s->end) return bad(s, "unterminated string");
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            if (out) tok_buf_put(out, run, (size_t)(s->p - run));
            s->p++;
            return 0;
        }
        if (c < 0x20) return bad(s, "control character in string");
        if (c != '\\') {
            s->p++;
            continue;
        }
        if (out) tok_buf_put(out, run, (size_t)(s->p - run));
        s->p++;
        if (s->p >= s->end) return bad(s, "unterminated string");
        char e = *s->p++;
        char ch;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            unsigned v;
            if (hex4(s, &v)) return bad(s, "bad \\u escape");
            if (v >= 0xD800 && v <= 0xDBFF) {
                unsigned lo;
                if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u') return bad(s, "lone surrogate");
                s->p += 2;
                if (hex4(s, &lo) || lo < 0xDC00 || lo > 0xDFFF) return bad(s, "lone surrogate");
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            } else if (v >= 0xDC00 && v <= 0xDFFF)
                return bad(s, "lone surrogate");
            if (out) {
                char u[4];
                tok_buf_put(out, u, (size_t)tok_utf8_encode((int32_t)v, u));
            }
            run = s->p;
            continue;
        }
        default: return bad(s, "bad escape");
        }
        if (out) tok_buf_putc(out, ch);
        run = s->p;
    }
}

/* Skips any JSON value. */
static int skip(scan *s, int depth) {
    ws(s);
    if (s->p >= s->end) return bad(s, "unexpected end");
    if (depth > 200) return bad(s, "nesting too deep");
    char c = *s->p;
    if (c == '"') return string(s, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        s->p++;
        ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                ws(s);
                if (string(s, NULL)) return -1;
                ws(s);
                if (s->p >= s->end || *s->p != ':') return bad(s, "expected ':'");
                s->p++;
            }
            if (skip(s, depth + 1)) return -1;
            ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == close) {
                s->p++;
                return 0;
            }
            return bad(s, "expected ',' or a closing bracket");
        }
    }
    /* number, true, false, null */
    const char *start = s->p;
    while (s->p < s->end) {
        char c = *s->p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '+' || c == '-' ||
              c == '.' || c == 'E'))
            break;
        s->p++;
    }
    if (s->p == start) return bad(s, "unexpected character");
    return 0;
}

static int key_is(const tok_buf *k, const char *name) {
    return k->n == strlen(name) && memcmp(k->p, name, k->n) == 0;
}

/* The [start, end) text of the values of model.vocab and model.merges, plus the model fields the
 * merges depend on. */
typedef struct {
    const char *model, *model_end;
    const char *vocab, *vocab_end;
    const char *merges, *merges_end;
    char *type;
    char *prefix; /* continuing_subword_prefix */
} model_spans;

static int find_spans(scan *s, model_spans *m) {
    tok_buf key = {0};
    int rc = -1;
    ws(s);
    if (s->p >= s->end || *s->p != '{') {
        bad(s, "expected an object");
        goto out;
    }
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') goto done;
    for (;;) {
        ws(s);
        key.n = 0;
        if (string(s, &key)) goto out;
        ws(s);
        if (s->p >= s->end || *s->p != ':') {
            bad(s, "expected ':'");
            goto out;
        }
        s->p++;
        ws(s);
        if (key_is(&key, "model") && s->p < s->end && *s->p == '{') {
            m->model = s->p++;
            ws(s);
            if (s->p < s->end && *s->p == '}') s->p++;
            else
                for (;;) {
                    ws(s);
                    key.n = 0;
                    if (string(s, &key)) goto out;
                    ws(s);
                    if (s->p >= s->end || *s->p != ':') {
                        bad(s, "expected ':'");
                        goto out;
                    }
                    s->p++;
                    ws(s);
                    const char *v = s->p;
                    if ((key_is(&key, "type") || key_is(&key, "continuing_subword_prefix")) &&
                        s->p < s->end && *s->p == '"') {
                        tok_buf val = {0};
                        if (string(s, &val)) {
                            tok_buf_free(&val);
                            goto out;
                        }
                        tok_buf_putc(&val, 0);
                        char **dst = key_is(&key, "type") ? &m->type : &m->prefix;
                        free(*dst);
                        *dst = val.p;
                    } else if (skip(s, 1))
                        goto out;
                    if (key_is(&key, "vocab")) {
                        m->vocab = v;
                        m->vocab_end = s->p;
                    } else if (key_is(&key, "merges")) {
                        m->merges = v;
                        m->merges_end = s->p;
                    }
                    ws(s);
                    if (s->p < s->end && *s->p == ',') {
                        s->p++;
                        continue;
                    }
                    if (s->p < s->end && *s->p == '}') {
                        s->p++;
                        break;
                    }
                    bad(s, "expected ',' or '}'");
                    goto out;
                }
            m->model_end = s->p;
        } else if (skip(s, 1))
            goto out;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            break;
        }
        bad(s, "expected ',' or '}'");
        goto out;
    }
done:
    ws(s);
    if (s->p != s->end) {
        bad(s, "trailing characters");
        goto out;
    }
    rc = 0;
out:
    tok_buf_free(&key);
    return rc;
}

static int parse_vocab(slm_tokenizer *t, scan *s) {
    tok_buf key = {0};
    int rc = -1;
    /* a first guess of the size from the text length keeps the table from regrowing */
    size_t span = (size_t)(s->end - s->p);
    if (tok_strmap_init(&t->vocab, span / 16 + 16, span)) {
        slm_fail("%s: out of memory", s->path);
        goto out;
    }
    ws(s);
    if (s->p >= s->end || *s->p != '{') {
        slm_fail("%s: model.vocab: expected an object of token: id", s->path);
        goto out;
    }
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        rc = 0;
        goto out;
    }
    for (;;) {
        ws(s);
        key.n = 0;
        if (string(s, &key)) goto out;
        ws(s);
        if (s->p >= s->end || *s->p != ':') {
            bad(s, "expected ':'");
            goto out;
        }
        s->p++;
        ws(s);
        long long id = 0;
        const char *d = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && id <= (1 << 24))
            id = id * 10 + (*s->p++ - '0');
        if (s->p == d || (s->p < s->end && *s->p && strchr(".eE-0123456789", *s->p)) || id > (1 << 24)) {
            slm_fail("%s: model.vocab: the id of '%.*s' is not an integer in 0..16777216", s->path,
                     (int)(key.n > 60 ? 60 : key.n), key.p ? key.p : "");
            goto out;
        }
        if (tok_strmap_put(&t->vocab, key.p ? key.p : "", key.n, (int32_t)id) || key.failed) {
            slm_fail("%s: out of memory", s->path);
            goto out;
        }
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') break;
        bad(s, "expected ',' or '}'");
        goto out;
    }
    rc = 0;
out:
    tok_buf_free(&key);
    return rc;
}

/* Merges are resolved in a software pipeline: three vocab lookups per merge over a table of several
 * megabytes are cache misses, so each merge's slots are prefetched when it is parsed, its records
 * a few merges later, and it is looked up a few merges after that. This keeps the Llama 3 load
 * (280k merges) well inside its time budget. */
#define RING 16
#define RECORD_AHEAD 6 /* merges between the slot prefetch and the record prefetch */

typedef struct {
    tok_buf text; /* left, right, joined, one after the other */
    size_t len[3];
    uint64_t hash[3];
    size_t rank;
} pending;

static const char *pending_str(const pending *p, int k) {
    size_t off = 0;
    for (int i = 0; i < k; i++) off += p->len[i];
    return p->text.p + off;
}

/* Resolved merges wait here for their pair slot to arrive in cache before they are inserted. */
typedef struct {
    tok_pair pairs[RING];
    size_t n;
} pair_queue;

static int insert_pair(slm_tokenizer *t, scan *s, const tok_pair *q) {
    if (tok_pairmap_put(&t->merges, (int32_t)(q->key >> 32), (int32_t)(uint32_t)q->key, q->rank,
                        q->id))
        return slm_fail("%s: model.merges: more merges than counted", s->path);
    return 0;
}

static int resolve(slm_tokenizer *t, scan *s, pending *p, pair_queue *pq) {
    int32_t id[3];
    for (int k = 0; k < 3; k++) {
        id[k] = tok_strmap_get_hashed(&t->vocab, pending_str(p, k), p->len[k], p->hash[k]);
        if (id[k] < 0)
            return slm_fail("%s: model.merges[%zu]: token '%.*s' is not in the vocab", s->path,
                            p->rank, (int)(p->len[k] > 60 ? 60 : p->len[k]), pending_str(p, k));
    }
    tok_pair *q = &pq->pairs[pq->n++ % RING];
    if (pq->n > RING && insert_pair(t, s, q)) return -1;
    *q = (tok_pair){((uint64_t)(uint32_t)id[0] << 32) | (uint32_t)id[1], (uint32_t)p->rank, id[2]};
    tok_pairmap_prefetch(&t->merges, id[0], id[1]);
    return 0;
}

/* Fills p from left and right (already in p->text) and starts fetching their slots. */
static int prepare(slm_tokenizer *t, scan *s, pending *p, size_t an, size_t bn, size_t rank) {
    const char *b = p->text.p + an;
    if (bn < t->cont_prefix_len)
        return slm_fail("%s: model.merges[%zu]: '%.*s' lacks the continuing_subword_prefix",
                        s->path, rank, (int)bn, b);
    /* the joined token: left + right without its subword prefix */
    if (tok_buf_reserve(&p->text, an + bn)) return slm_fail("%s: out of memory", s->path);
    memcpy(p->text.p + an + bn, p->text.p, an);
    memcpy(p->text.p + 2 * an + bn, p->text.p + an + t->cont_prefix_len, bn - t->cont_prefix_len);
    p->len[0] = an;
    p->len[1] = bn;
    p->len[2] = an + bn - t->cont_prefix_len;
    p->text.n = p->len[0] + p->len[1] + p->len[2];
    p->rank = rank;
    for (int k = 0; k < 3; k++) {
        p->hash[k] = tok_hash(pending_str(p, k), p->len[k]);
        tok_strmap_prefetch(&t->vocab, p->hash[k]);
    }
    return 0;
}

static int parse_merges(slm_tokenizer *t, scan *s) {
    pending ring[RING];
    pair_queue pq = {0};
    memset(ring, 0, sizeof ring);
    int rc = -1;
    ws(s);
    if (s->p >= s->end || *s->p != '[') {
        slm_fail("%s: model.merges: expected an array", s->path);
        goto out;
    }
    /* An upper bound on the number of entries, so that the pair table never has to grow: one
     * '[' per pair, or two '"' per "a b" string (characters inside strings only add to it). */
    size_t quotes = 0, brackets = 0;
    for (const char *p = s->p; p < s->end; p++) {
        quotes += *p == '"';
        brackets += *p == '[';
    }
    size_t count = quotes / 2 > brackets ? quotes / 2 : brackets;
    for (const char *p = s->p + 1; p < s->end; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            count = *p == '"' ? quotes / 2 : brackets;
            break;
        }
    if (tok_pairmap_init(&t->merges, count + 16)) {
        slm_fail("%s: out of memory", s->path);
        goto out;
    }
    s->p++;
    ws(s);
    size_t rank = 0, index = 0, done = 0;
    if (s->p < s->end && *s->p == ']') {
        rc = 0;
        goto out;
    }
    for (;; index++) {
        ws(s);
        pending *p = &ring[rank % RING];
        p->text.n = 0;
        if (s->p < s->end && *s->p == '"') {
            /* legacy form "a b": exactly one space; "#version" lines are skipped */
            if (string(s, &p->text)) goto out;
            size_t n = p->text.n;
            if (n >= 8 && memcmp(p->text.p, "#version", 8) == 0) goto next;
            const char *sp = n ? memchr(p->text.p, ' ', n) : NULL;
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p->text.p))) {
                slm_fail("%s: model.merges[%zu]: expected \"left right\" with one space", s->path,
                         index);
                goto out;
            }
            size_t an = (size_t)(sp - p->text.p);
            memmove(p->text.p + an, sp + 1, n - an - 1);
            if (prepare(t, s, p, an, n - an - 1, rank)) goto out;
        } else if (s->p < s->end && *s->p == '[') {
            s->p++;
            ws(s);
            if (string(s, &p->text)) goto out;
            size_t an = p->text.n;
            ws(s);
            if (s->p >= s->end || *s->p != ',') {
                slm_fail("%s: model.merges[%zu]: expected a pair of strings", s->path, index);
                goto out;
            }
            s->p++;
            ws(s);
            if (string(s, &p->text)) goto out;
            ws(s);
            if (s->p >= s->end || *s->p != ']') {
                slm_fail("%s: model.merges[%zu]: expected a pair of strings", s->path, index);
                goto out;
            }
            s->p++;
            if (p->text.failed) {
                slm_fail("%s: out of memory", s->path);
                goto out;
            }
            if (prepare(t, s, p, an, p->text.n - an, rank)) goto out;
        } else {
            slm_fail("%s: model.merges[%zu]: expected a string or a pair of strings", s->path,
                     index);
            goto out;
        }
        rank++;
        if (rank - done > RECORD_AHEAD) {
            const pending *q = &ring[(rank - 1 - RECORD_AHEAD) % RING];
            for (int k = 0; k < 3; k++) tok_strmap_prefetch_record(&t->vocab, q->hash[k]);
        }
        if (rank - done == RING && resolve(t, s, &ring[done++ % RING], &pq)) goto out;
    next:
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') break;
        bad(s, "expected ',' or ']'");
        goto out;
    }
    while (done < rank)
        if (resolve(t, s, &ring[done++ % RING], &pq)) goto out;
    for (size_t i = pq.n > RING ? pq.n - RING : 0; i < pq.n; i++)
        if (insert_pair(t, s, &pq.pairs[i % RING])) goto out;
    rc = 0;
out:
    for (int i = 0; i < RING; i++) tok_buf_free(&ring[i].text);
    return rc;
}

int tok_parse_model(slm_tokenizer *t, char *json, size_t len) {
    scan s = {json, json + len, json, t->path};
    model_spans m = {0};
    int rc = -1;
    if (find_spans(&s, &m)) goto out;
    if (!m.model) {
        slm_fail("%s: model: missing (or not an object)", t->path);
        goto out;
    }
    if (m.type && strcmp(m.type, "BPE") != 0) {
        slm_fail("%s: model.type: unsupported model type '%s' (only BPE is supported)", t->path,
                 m.type);
        goto out;
    }
    if (!m.vocab) {
        slm_fail("%s: model.vocab: missing", t->path);
        goto out;
    }
    if (!m.merges) {
        slm_fail("%s: model.merges: missing", t->path);
        goto out;
    }
    if (m.prefix) {
        t->cont_prefix = m.prefix;
        t->cont_prefix_len = strlen(m.prefix);
        m.prefix = NULL;
    }
    scan v = {m.vocab, m.vocab_end, json, t->path};
    if (parse_vocab(t, &v)) goto out;
    scan g = {m.merges, m.merges_end, json, t->path};
    if (parse_merges(t, &g)) goto out;
    /* blank the two big values; the rest goes to cJSON */
    memset((char *)m.vocab, ' ', (size_t)(m.vocab_end - m.vocab));
    memcpy((char *)m.vocab, "{}", 2);
    memset((char *)m.merges, ' ', (size_t)(m.merges_end - m.merges));
    memcpy((char *)m.merges, "[]", 2);
    rc = 0;
out:
    free(m.type);
    free(m.prefix);
    return rc;
}
