/* slm_tokenize: added tokens out of the raw text, then per stretch of text: normalize, added tokens
 * that match normalized text, pre-tokenize, BPE; then the post-processor template. */
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

typedef struct {
    const slm_tokenizer *t;
    const char *text;
    int parse_special;
    tok_matcher m;
    tok_pieces a, b;
    tok_bpe_scratch bpe;
    tok_buf norm;
    tok_ivec out;
    /* the segment being worked on by the inner scan */
    const char *seg;
    int seg_origin;
} encoder;

static int model_pieces(encoder *e, const char *s, size_t n, int origin) {
    const slm_tokenizer *t = e->t;
    if (t->n_pre == 0) return tok_bpe(t, s, n, &e->bpe, &e->out);
    e->a.n = 0;
    e->a.text.n = 0;
    tok_pieces_push(&e->a, &e->a.text, s, n, origin);
    if (e->a.failed) return slm_fail("tokenizer: out of memory");
    if (tok_pretokenize(t, &e->m, &e->a, &e->b)) return -1;
    for (size_t i = 0; i < e->a.n; i++)
        if (tok_bpe(t, e->a.text.p + e->a.p[i].off, e->a.p[i].len, &e->bpe, &e->out)) return -1;
    return 0;
}

/* A span of the normalized segment: an added token matched after normalization, or text. */
static int on_normalized(void *ctx, size_t start, size_t end, int added) {
    encoder *e = ctx;
    if (added >= 0) {
        tok_ivec_push(&e->out, e->t->added[added].id);
        return 0;
    }
    return model_pieces(e, e->seg + start, end - start, e->seg_origin && start == 0);
}

/* A span of the raw text: an added token, or text to normalize. */
static int on_raw(void *ctx, size_t start, size_t end, int added) {
    encoder *e = ctx;
    const slm_tokenizer *t = e->t;
    if (added >= 0) {
        tok_ivec_push(&e->out, t->added[added].id);
        return 0;
    }
    const char *s = e->text + start;
    size_t n = end - start;
    int lead_kept = 1;
    if (t->n_norm) {
        e->norm.n = 0;
        if (tok_normalize(t, &e->m, s, n, &e->norm, &lead_kept)) return -1;
        s = e->norm.p ? e->norm.p : "";
        n = e->norm.n;
    }
    e->seg = s;
    e->seg_origin = start == 0 && lead_kept;
    if (t->norm_trie.n == 0) return n ? model_pieces(e, s, n, e->seg_origin) : 0;
    return tok_find_added(t, &t->norm_trie, s, n, e->parse_special, on_normalized, e);
}

int slm_tokenize(const slm_tokenizer *t, const char *text, size_t len, int add_special,
                 int parse_special, int **ids, int *n) {
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len)) return slm_fail("tokenize: no tokenizer or no text");
    if (!text) text = "";
    size_t bad = tok_utf8_invalid_at(text, len);
    if (bad < len) return slm_fail("tokenize: the text is not valid UTF-8 (byte %zu)", bad);
    if (len > (size_t)1 << 31) return slm_fail("tokenize: the text is too long");
    encoder e = {0};
    e.t = t;
    e.text = text;
    e.parse_special = parse_special;
    int rc = tok_matcher_init(&e.m);
    if (rc == 0) rc = tok_find_added(t, &t->raw_trie, text, len, parse_special, on_raw, &e);
    if (rc == 0 && add_special) {
        /* wrap the sequence in each template in turn (-1 marks the sequence) */
        for (int k = 0; k < t->n_post && rc == 0; k++) {
            tok_ivec wrapped = {0};
            const tok_template *tp = &t->post[k];
            for (int i = 0; i < tp->n; i++) {
                if (tp->ids[i] >= 0) tok_ivec_push(&wrapped, tp->ids[i]);
                else
                    for (size_t j = 0; j < e.out.n; j++) tok_ivec_push(&wrapped, e.out.p[j]);
            }
            free(e.out.p);
            e.out = wrapped;
        }
    }
    if (rc == 0 && e.out.failed) rc = slm_fail("tokenize: out of memory");
    if (rc == 0) {
        *n = (int)e.out.n;
        *ids = e.out.p ? e.out.p : malloc(sizeof(int));
        e.out.p = NULL;
        if (!*ids) rc = slm_fail("tokenize: out of memory");
    }
    free(e.out.p);
    tok_matcher_free(&e.m);
    tok_pieces_free(&e.a);
    tok_pieces_free(&e.b);
    tok_bpe_scratch_free(&e.bpe);
    tok_buf_free(&e.norm);
    return rc;
}
