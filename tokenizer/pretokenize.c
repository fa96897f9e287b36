/* Pre-tokenizers: cut normalized text into the pieces the BPE model sees. Split (regex or string,
 * five delimiter behaviours, invert), ByteLevel, Digits and Metaspace, applied in order; each
 * step turns a list of pieces into a new one, dropping empty pieces as the reference does. */
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

void tok_pieces_push(tok_pieces *v, tok_buf *text, const char *s, size_t n, int origin) {
    if (n == 0 || v->failed) return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        tok_piece *p = realloc(v->p, cap * sizeof *p);
        if (!p) {
            v->failed = 1;
            return;
        }
        v->p = p;
        v->cap = cap;
    }
    size_t off = text->n;
    tok_buf_put(text, s, n);
    if (text->failed || off + n > UINT32_MAX) {
        v->failed = 1;
        return;
    }
    v->p[v->n++] = (tok_piece){(uint32_t)off, (uint32_t)n, origin};
}

void tok_pieces_free(tok_pieces *v) {
    tok_buf_free(&v->text);
    free(v->p);
    memset(v, 0, sizeof *v);
}

/* Spans of a one-character predicate: every matching character is a match of its own. */
static void char_spans(const char *s, size_t n, int (*pred)(int32_t, const void *), const void *arg,
                       tok_spans *out) {
    out->n = 0;
    if (n == 0) {
        tok_spans_push(out, 0, 0, 0);
        return;
    }
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        int k = tok_utf8_next(s + i, n - i, &cp);
        if (pred(cp, arg)) {
            if (last < i) tok_spans_push(out, last, i, 0);
            tok_spans_push(out, i, i + (size_t)k, 1);
            last = i + (size_t)k;
        }
        i += (size_t)k;
    }
    if (last < n) tok_spans_push(out, last, n, 0);
}

static int is_numeric_pred(int32_t cp, const void *arg) {
    (void)arg;
    return tok_is_numeric(cp);
}

static int is_char_pred(int32_t cp, const void *arg) {
    return cp == *(const int32_t *)arg;
}

/* Applies a delimiter behaviour to match/non-match spans (NormalizedString::split). */
static void behave(const tok_spans *in, int behavior, tok_spans *out) {
    out->n = 0;
    int prev = 0;
    switch (behavior) {
    case SPLIT_ISOLATED:
        for (size_t i = 0; i < in->n; i++) tok_spans_push(out, in->p[i].start, in->p[i].end, 0);
        break;
    case SPLIT_REMOVED:
        for (size_t i = 0; i < in->n; i++)
            if (!in->p[i].match) tok_spans_push(out, in->p[i].start, in->p[i].end, 0);
        break;
    case SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < in->n; i++) {
            tok_span sp = in->p[i];
            if (sp.match == prev && out->n) out->p[out->n - 1].end = sp.end;
            else tok_spans_push(out, sp.start, sp.end, 0);
            prev = sp.match;
        }
        break;
    case SPLIT_MERGED_PREV:
        for (size_t i = 0; i < in->n; i++) {
            tok_span sp = in->p[i];
            if (sp.match && !prev && out->n) out->p[out->n - 1].end = sp.end;
            else tok_spans_push(out, sp.start, sp.end, 0);
            prev = sp.match;
        }
        break;
    case SPLIT_MERGED_NEXT:
        for (size_t i = in->n; i-- > 0;) {
            tok_span sp = in->p[i];
            if (sp.match && !prev && out->n) out->p[out->n - 1].start = sp.start;
            else tok_spans_push(out, sp.start, sp.end, 0);
            prev = sp.match;
        }
        for (size_t i = 0; i < out->n / 2; i++) {
            tok_span x = out->p[i];
            out->p[i] = out->p[out->n - 1 - i];
            out->p[out->n - 1 - i] = x;
        }
        break;
    }
}

typedef struct {
    tok_spans spans, kept;
    tok_buf tmp, mapped;
} stage_scratch;

/* Pushes the kept spans of s as pieces; with map, through the byte-level alphabet. */
static void push_kept(const slm_tokenizer *t, stage_scratch *sc, const char *s, int origin, int map,
                      tok_pieces *out) {
    for (size_t i = 0; i < sc->kept.n; i++) {
        size_t a = sc->kept.p[i].start, b = sc->kept.p[i].end;
        if (b <= a) continue;
        int o = origin && a == 0;
        if (!map) {
            tok_pieces_push(out, &out->text, s + a, b - a, o);
            continue;
        }
        sc->mapped.n = 0;
        for (size_t k = a; k < b; k++) {
            unsigned char c = (unsigned char)s[k];
            tok_buf_put(&sc->mapped, t->bl_chars[c], (size_t)t->bl_len[c]);
        }
        tok_pieces_push(out, &out->text, sc->mapped.p, sc->mapped.n, o);
    }
}

static int run_stage(const slm_tokenizer *t, const tok_pretok *p, tok_matcher *m,
                     const tok_pieces *in, tok_pieces *out, stage_scratch *sc) {
    out->n = 0;
    out->text.n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->text.p + in->p[i].off;
        size_t n = in->p[i].len;
        int origin = in->p[i].origin;
        switch (p->kind) {
        case PRE_SPLIT:
            if (tok_pattern_spans(&p->pat, m, s, n, &sc->spans)) return -1;
            if (p->invert)
                for (size_t k = 0; k < sc->spans.n; k++) sc->spans.p[k].match = !sc->spans.p[k].match;
            behave(&sc->spans, p->behavior, &sc->kept);
            push_kept(t, sc, s, origin, 0, out);
            break;
        case PRE_DIGITS:
            char_spans(s, n, is_numeric_pred, NULL, &sc->spans);
            behave(&sc->spans, p->individual_digits ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, &sc->kept);
            push_kept(t, sc, s, origin, 0, out);
            break;
        case PRE_BYTELEVEL:
            if (p->add_prefix_space && s[0] != ' ') {
                sc->tmp.n = 0;
                tok_buf_putc(&sc->tmp, ' ');
                tok_buf_put(&sc->tmp, s, n);
                if (sc->tmp.failed) return slm_fail("tokenizer: out of memory");
                s = sc->tmp.p;
                n = sc->tmp.n;
            }
            if (p->use_regex) {
                if (tok_pattern_spans(&p->pat, m, s, n, &sc->spans)) return -1;
                behave(&sc->spans, SPLIT_ISOLATED, &sc->kept);
            } else {
                sc->kept.n = 0;
                tok_spans_push(&sc->kept, 0, n, 0);
            }
            push_kept(t, sc, s, origin, 1, out);
            break;
        case PRE_METASPACE: {
            sc->tmp.n = 0;
            int starts = n >= (size_t)p->repl_len && memcmp(s, p->repl, (size_t)p->repl_len) == 0;
            /* a leading space becomes the replacement too */
            int lead_space = n > 0 && s[0] == ' ';
            if (!starts && !lead_space &&
                (p->prepend_scheme == PREPEND_ALWAYS || (p->prepend_scheme == PREPEND_FIRST && origin)))
                tok_buf_put(&sc->tmp, p->repl, (size_t)p->repl_len);
            for (size_t k = 0; k < n; k++) {
                if (s[k] == ' ') tok_buf_put(&sc->tmp, p->repl, (size_t)p->repl_len);
                else tok_buf_putc(&sc->tmp, s[k]);
            }
            if (sc->tmp.failed) return slm_fail("tokenizer: out of memory");
            s = sc->tmp.p;
            n = sc->tmp.n;
            if (p->split) {
                int32_t rc;
                tok_utf8_next(p->repl, (size_t)p->repl_len, &rc);
                char_spans(s, n, is_char_pred, &rc, &sc->spans);
                behave(&sc->spans, SPLIT_MERGED_NEXT, &sc->kept);
            } else {
                sc->kept.n = 0;
                tok_spans_push(&sc->kept, 0, n, 0);
            }
            push_kept(t, sc, s, origin, 0, out);
            break;
        }
        }
        if (sc->spans.failed || sc->kept.failed || sc->mapped.failed || out->failed)
            return slm_fail("tokenizer: out of memory");
    }
    return 0;
}

int tok_pretokenize(const slm_tokenizer *t, tok_matcher *m, tok_pieces *in, tok_pieces *tmp) {
    stage_scratch sc = {0};
    int rc = 0;
    for (int i = 0; i < t->n_pre && rc == 0; i++) {
        rc = run_stage(t, &t->pre[i], m, in, tmp, &sc);
        tok_pieces x = *in;
        *in = *tmp;
        *tmp = x;
    }
    free(sc.spans.p);
    free(sc.kept.p);
    tok_buf_free(&sc.tmp);
    tok_buf_free(&sc.mapped);
    return rc;
}
