/* Decoding, always as a stream: each token string flows through the decoder steps (ByteLevel,
 * ByteFallback, Fuse, Strip, Replace, Metaspace) and every step holds back only what it cannot yet
 * decide: ByteLevel an unfinished UTF-8 sequence, ByteFallback a run of <0xHH> tokens (an invalid
 * run turns into one U+FFFD per byte as a whole), Strip trailing characters it may have to drop.
 * slm_detokenize pushes all ids and flushes, so whole and streaming decodes are the same code.
 *
 * The reference decoders work on the list of all token strings; a step after Fuse or ByteLevel sees
 * that list as one string. Here such a "fused" step gets the string in pieces and keeps the state
 * that makes the result the same (how much Strip may still take from the start, and so on). */
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

static const char FFFD[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

typedef struct {
    tok_buf pend;  /* held back input */
    tok_buf tmp;   /* this step's output for one push */
    long items;    /* strings seen (Metaspace treats the first one apart) */
    int start_left; /* Strip after Fuse: leading characters it may still remove */
    int held;       /* Strip after Fuse: trailing content characters held back */
} step_state;

struct slm_detok_stream {
    const slm_tokenizer *tok;
    int skip_special;
    step_state *st; /* one per decoder step */
    long sink_items;
    tok_buf out;
    tok_matcher m;
    int failed;
};

static void push(slm_detok_stream *d, int k, const char *s, size_t n);

/* <0xHH> as the reference's ByteFallback reads it (u8::from_str_radix, which takes a '+'). */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        int c = (unsigned char)s[i], h;
        if (i == 3 && c == '+') continue;
        if (c >= '0' && c <= '9') h = c - '0';
        else if (c >= 'a' && c <= 'f') h = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') h = c - 'A' + 10;
        else return -1;
        v = v * 16 + h;
    }
    return v;
}

static void flush_byte_run(slm_detok_stream *d, int k) {
    step_state *st = &d->st[k];
    if (st->pend.n == 0) return;
    /* the steps downstream never touch this step's buffers, so pend stays readable */
    size_t n = st->pend.n;
    st->pend.n = 0;
    if (tok_utf8_invalid_at(st->pend.p, n) == n) push(d, k + 1, st->pend.p, n);
    else
        for (size_t i = 0; i < n; i++) push(d, k + 1, FFFD, 3);
}

static void replace_all(slm_detok_stream *d, const tok_decoder *dec, const char *s, size_t n,
                        tok_buf *out) {
    tok_spans spans = {0};
    if (tok_pattern_spans(&dec->pat, &d->m, s, n, &spans)) {
        d->failed = 1;
        free(spans.p);
        return;
    }
    for (size_t i = 0; i < spans.n; i++) {
        if (spans.p[i].match) tok_buf_put(out, dec->content, dec->content_len);
        else tok_buf_put(out, s + spans.p[i].start, spans.p[i].end - spans.p[i].start);
    }
    if (spans.failed) d->failed = 1;
    free(spans.p);
}

/* Token strings are short: a first-byte scan beats memmem's setup. */
static void replace_literal(const tok_decoder *dec, const char *s, size_t n, tok_buf *out) {
    size_t m = dec->pat.lit_len, i = 0, run = 0;
    while (m && i + m <= n) {
        const char *hit = memchr(s + i, dec->pat.lit[0], n - m + 1 - i);
        if (!hit) break;
        i = (size_t)(hit - s);
        if (memcmp(hit, dec->pat.lit, m) != 0) {
            i++;
            continue;
        }
        tok_buf_put(out, s + run, i - run);
        tok_buf_put(out, dec->content, dec->content_len);
        i += m;
        run = i;
    }
    tok_buf_put(out, s + run, n - run);
}

/* Replace of a literal after Fuse: replaces what is decided and keeps a tail that may still be the
 * start of a match. With final, everything goes. */
static void replace_stream(slm_detok_stream *d, int k, int final) {
    const tok_decoder *dec = &d->tok->dec[k];
    step_state *st = &d->st[k];
    const char *p = st->pend.p ? st->pend.p : "";
    size_t n = st->pend.n, i = 0, m = dec->pat.lit_len;
    st->tmp.n = 0;
    while (i < n) {
        if (m && n - i >= m && memcmp(p + i, dec->pat.lit, m) == 0) {
            tok_buf_put(&st->tmp, dec->content, dec->content_len);
            i += m;
            continue;
        }
        if (!final && m && n - i < m && memcmp(p + i, dec->pat.lit, n - i) == 0) break;
        int32_t cp;
        int c = tok_utf8_next(p + i, n - i, &cp);
        tok_buf_put(&st->tmp, p + i, (size_t)c);
        i += (size_t)c;
    }
    if (i < n) memmove(st->pend.p, p + i, n - i); /* pend.p is NULL while nothing was ever pending */
    st->pend.n = n - i;
    if (st->tmp.n) push(d, k + 1, st->tmp.p, st->tmp.n);
}

static void put_chars(tok_buf *b, int32_t cp, int count) {
    char u[4];
    int k = tok_utf8_encode(cp, u);
    for (int i = 0; i < count; i++) tok_buf_put(b, u, (size_t)k);
}

/* Strip on one whole string. */
static void strip_item(const tok_decoder *dec, const char *s, size_t n, tok_buf *out) {
    size_t a = 0, b = n;
    int32_t cp;
    for (int i = 0; i < dec->start && a < n; i++) {
        int k = tok_utf8_next(s + a, n - a, &cp);
        if (cp != dec->strip_char) break;
        a += (size_t)k;
    }
    for (int i = 0; i < dec->stop && b > a; i++) {
        size_t j = b - 1;
        while (j > a && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
        tok_utf8_next(s + j, b - j, &cp);
        if (cp != dec->strip_char) break;
        b = j;
    }
    tok_buf_put(out, s + a, b - a);
}

/* Strip after Fuse, on the string in pieces. */
static void strip_stream(const tok_decoder *dec, step_state *st, const char *s, size_t n,
                         tok_buf *out) {
    if (st->start_left == 0 && dec->stop == 0) { /* past the start, nothing more to strip */
        tok_buf_put(out, s, n);
        return;
    }
    for (size_t i = 0; i < n;) {
        int32_t cp;
        int k = tok_utf8_next(s + i, n - i, &cp);
        if (st->start_left > 0) {
            if (cp == dec->strip_char) {
                st->start_left--;
                i += (size_t)k;
                continue;
            }
            st->start_left = 0;
        }
        if (dec->stop > 0 && cp == dec->strip_char) {
            st->held++;
        } else {
            put_chars(out, dec->strip_char, st->held);
            st->held = 0;
            tok_buf_put(out, s + i, (size_t)k);
        }
        i += (size_t)k;
    }
    if (st->held > dec->stop) {
        put_chars(out, dec->strip_char, st->held - dec->stop);
        st->held = dec->stop;
    }
}

static void push(slm_detok_stream *d, int k, const char *s, size_t n) {
    const slm_tokenizer *t = d->tok;
    if (k == t->n_dec) {
        /* without a decoder the reference joins the token strings with spaces */
        if (!t->has_decoder && d->sink_items++ > 0) tok_buf_putc(&d->out, ' ');
        tok_buf_put(&d->out, s, n);
        return;
    }
    const tok_decoder *dec = &t->dec[k];
    step_state *st = &d->st[k];
    switch (dec->kind) {
    case DEC_FUSE:
        push(d, k + 1, s, n);
        return;
    case DEC_BYTELEVEL: {
        /* a token with a character outside the byte alphabet goes in as its own bytes */
        size_t mark = st->pend.n;
        for (size_t i = 0; i < n;) {
            int32_t cp;
            int c = tok_utf8_next(s + i, n - i, &cp);
            int b = cp < 0x144 ? t->bl_char_byte[cp] : -1;
            if (b < 0) {
                st->pend.n = mark;
                tok_buf_put(&st->pend, s, n);
                break;
            }
            tok_buf_putc(&st->pend, b);
            i += (size_t)c;
        }
        st->tmp.n = 0;
        size_t used = tok_utf8_lossy(st->pend.p ? st->pend.p : "", st->pend.n, 0, &st->tmp);
        if (used < st->pend.n) memmove(st->pend.p, st->pend.p + used, st->pend.n - used);
        st->pend.n -= used;
        if (st->tmp.n) push(d, k + 1, st->tmp.p, st->tmp.n);
        return;
    }
    case DEC_BYTEFALLBACK: {
        if (dec->fused) { /* rare: decided on the whole string at the flush */
            tok_buf_put(&st->pend, s, n);
            return;
        }
        int b = byte_token(s, n);
        if (b >= 0) {
            tok_buf_putc(&st->pend, b);
            return;
        }
        flush_byte_run(d, k);
        push(d, k + 1, s, n);
        return;
    }
    case DEC_STRIP:
        st->tmp.n = 0;
        if (dec->fused) strip_stream(dec, st, s, n, &st->tmp);
        else strip_item(dec, s, n, &st->tmp);
        if (!dec->fused || st->tmp.n) push(d, k + 1, st->tmp.p ? st->tmp.p : "", st->tmp.n);
        return;
    case DEC_REPLACE:
        if (!dec->fused) {
            st->tmp.n = 0;
            if (dec->pat.re) replace_all(d, dec, s, n, &st->tmp);
            else replace_literal(dec, s, n, &st->tmp);
            push(d, k + 1, st->tmp.p ? st->tmp.p : "", st->tmp.n);
            return;
        }
        tok_buf_put(&st->pend, s, n);
        if (!dec->pat.re) replace_stream(d, k, 0);
        return;
    case DEC_METASPACE: {
        int first = dec->fused || st->items++ == 0;
        int drop = first && dec->prepend_scheme != PREPEND_NEVER;
        st->tmp.n = 0;
        size_t r = (size_t)dec->repl_len;
        for (size_t i = 0; i < n;) {
            if (n - i >= r && memcmp(s + i, dec->repl, r) == 0) {
                if (!drop) tok_buf_putc(&st->tmp, ' ');
                i += r;
                continue;
            }
            int32_t cp;
            int c = tok_utf8_next(s + i, n - i, &cp);
            tok_buf_put(&st->tmp, s + i, (size_t)c);
            i += (size_t)c;
        }
        if (!dec->fused || st->tmp.n) push(d, k + 1, st->tmp.p ? st->tmp.p : "", st->tmp.n);
        return;
    }
    }
}

/* Releases what step k holds, then flushes the steps after it, and resets the stream. */
static void flush(slm_detok_stream *d, int k) {
    const slm_tokenizer *t = d->tok;
    if (k == t->n_dec) {
        d->sink_items = 0;
        return;
    }
    const tok_decoder *dec = &t->dec[k];
    step_state *st = &d->st[k];
    switch (dec->kind) {
    case DEC_BYTELEVEL:
        st->tmp.n = 0;
        tok_utf8_lossy(st->pend.p ? st->pend.p : "", st->pend.n, 1, &st->tmp);
        st->pend.n = 0;
        if (st->tmp.n) push(d, k + 1, st->tmp.p, st->tmp.n);
        break;
    case DEC_BYTEFALLBACK:
        if (dec->fused) {
            int b = byte_token(st->pend.p ? st->pend.p : "", st->pend.n);
            if (b >= 0) {
                st->pend.n = 0;
                tok_buf_putc(&st->pend, b);
            } else {
                st->tmp.n = 0;
                tok_buf_put(&st->tmp, st->pend.p, st->pend.n);
                st->pend.n = 0;
                if (st->tmp.n) push(d, k + 1, st->tmp.p, st->tmp.n);
            }
        }
        flush_byte_run(d, k);
        break;
    case DEC_STRIP:
        st->held = 0; /* the trailing characters Strip removes */
        break;
    case DEC_REPLACE:
        if (dec->fused && dec->pat.re) {
            st->tmp.n = 0;
            replace_all(d, dec, st->pend.p ? st->pend.p : "", st->pend.n, &st->tmp);
            st->pend.n = 0;
            if (st->tmp.n) push(d, k + 1, st->tmp.p, st->tmp.n);
        } else if (dec->fused)
            replace_stream(d, k, 1);
        break;
    default:
        break;
    }
    st->items = 0;
    st->start_left = dec->start;
    flush(d, k + 1);
}

slm_detok_stream *slm_detok_stream_new(const slm_tokenizer *t, int skip_special) {
    if (!t) {
        slm_fail("detokenize: no tokenizer");
        return NULL;
    }
    slm_detok_stream *d = calloc(1, sizeof *d);
    if (!d || !(d->st = calloc((size_t)t->n_dec + 1, sizeof *d->st))) {
        free(d);
        slm_fail("detokenize: out of memory");
        return NULL;
    }
    d->tok = t;
    d->skip_special = skip_special;
    for (int k = 0; k < t->n_dec; k++) d->st[k].start_left = t->dec[k].start;
    if (tok_matcher_init(&d->m)) {
        slm_detok_stream_free(d);
        return NULL;
    }
    return d;
}

static int finish(slm_detok_stream *d, const char **bytes, size_t *len) {
    int bad = d->failed || d->out.failed;
    for (int k = 0; k < d->tok->n_dec; k++) bad |= d->st[k].pend.failed || d->st[k].tmp.failed;
    if (bad) return slm_fail("detokenize: out of memory");
    *bytes = d->out.p ? d->out.p : "";
    *len = d->out.n;
    return 0;
}

int slm_detok_stream_push(slm_detok_stream *d, int id, const char **bytes, size_t *len) {
    const slm_tokenizer *t = d->tok;
    *bytes = "";
    *len = 0;
    d->out.n = 0;
    if (id < 0 || id >= t->n_ids || !t->piece[id])
        return slm_fail("detokenize: id %d is not in the vocabulary (0..%d)", id, t->n_ids - 1);
    if (d->skip_special && t->special[id]) return 0;
    push(d, 0, t->dec_piece[id], t->dec_len[id]);
    return finish(d, bytes, len);
}

int slm_detok_stream_flush(slm_detok_stream *d, const char **bytes, size_t *len) {
    *bytes = "";
    *len = 0;
    d->out.n = 0;
    flush(d, 0);
    return finish(d, bytes, len);
}

void slm_detok_stream_free(slm_detok_stream *d) {
    if (!d) return;
    if (d->st)
        for (int k = 0; k < d->tok->n_dec; k++) {
            tok_buf_free(&d->st[k].pend);
            tok_buf_free(&d->st[k].tmp);
        }
    free(d->st);
    tok_buf_free(&d->out);
    tok_matcher_free(&d->m);
    free(d);
}

int slm_detokenize(const slm_tokenizer *t, const int *ids, int n, int skip_special, char **out,
                   size_t *len) {
    *out = NULL;
    *len = 0;
    if (n < 0 || (!ids && n)) return slm_fail("detokenize: bad id list");
    slm_detok_stream *d = slm_detok_stream_new(t, skip_special);
    if (!d) return -1;
    tok_buf all = {0};
    const char *b;
    size_t bn;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = slm_detok_stream_push(d, ids[i], &b, &bn);
        if (rc == 0) tok_buf_put(&all, b, bn);
    }
    if (rc == 0) rc = slm_detok_stream_flush(d, &b, &bn);
    if (rc == 0) tok_buf_put(&all, b, bn);
    slm_detok_stream_free(d);
    if (rc == 0 && tok_buf_reserve(&all, 0)) rc = slm_fail("detokenize: out of memory");
    if (rc) {
        tok_buf_free(&all);
        return -1;
    }
    all.p[all.n] = 0;
    *out = all.p;
    *len = all.n;
    return 0;
}
