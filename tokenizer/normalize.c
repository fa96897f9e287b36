/* Normalizers: Unicode forms (utf8proc), Lowercase, Strip, Replace, Prepend, ByteLevel. Applied to
 * each stretch of text between added tokens, one after the other. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../runtime/error.h"
#include "tok_internal.h"

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

static int unicode_form(const char *s, size_t n, utf8proc_option_t opt, tok_buf *out) {
    if (is_ascii(s, n)) { /* every form leaves ASCII alone */
        tok_buf_put(out, s, n);
        return 0;
    }
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res,
                                      opt | UTF8PROC_STABLE);
    if (r < 0) return slm_fail("tokenizer: normalization failed: %s", utf8proc_errmsg(r));
    tok_buf_put(out, res, (size_t)r);
    free(res);
    return 0;
}

static void lowercase(const char *s, size_t n, tok_buf *out) {
    for (size_t i = 0; i < n;) {
        int32_t cp;
        int k = tok_utf8_next(s + i, n - i, &cp);
        i += (size_t)k;
        if (cp == 0x130) { /* the one unconditional lowercase mapping to two characters */
            tok_buf_put(out, "i\xCC\x87", 3);
            continue;
        }
        char u[4];
        tok_buf_put(out, u, (size_t)tok_utf8_encode(utf8proc_tolower(cp), u));
    }
}

static void strip(const char *s, size_t n, int left, int right, tok_buf *out, int *lead_kept) {
    size_t a = 0, b = n;
    int32_t cp;
    if (left)
        while (a < b) {
            int k = tok_utf8_next(s + a, b - a, &cp);
            if (!tok_is_space(cp)) break;
            a += (size_t)k;
        }
    if (right)
        while (b > a) {
            size_t i = b - 1;
            while (i > a && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
            tok_utf8_next(s + i, b - i, &cp);
            if (!tok_is_space(cp)) break;
            b = i;
        }
    if (a > 0) *lead_kept = 0;
    tok_buf_put(out, s + a, b - a);
}

static int replace(const tok_normalizer *nz, tok_matcher *m, const char *s, size_t n, tok_buf *out,
                   int *lead_kept) {
    tok_spans spans = {0};
    if (tok_pattern_spans(&nz->pat, m, s, n, &spans)) {
        free(spans.p);
        return -1;
    }
    for (size_t i = 0; i < spans.n; i++) {
        tok_span sp = spans.p[i];
        if (sp.match) {
            tok_buf_put(out, nz->content, nz->content_len);
            if (sp.start == 0 && sp.end > 0 && nz->content_len == 0) *lead_kept = 0;
        } else
            tok_buf_put(out, s + sp.start, sp.end - sp.start);
    }
    free(spans.p);
    return 0;
}

int tok_normalize(const slm_tokenizer *t, tok_matcher *m, const char *s, size_t n, tok_buf *out,
                  int *lead_kept) {
    tok_buf a = {0}, b = {0};
    tok_buf *dst = &a;
    const char *cur = s;
    size_t cur_n = n;
    *lead_kept = 1;
    int rc = 0;
    for (int i = 0; i < t->n_norm && rc == 0; i++) {
        const tok_normalizer *nz = &t->norm[i];
        dst->n = 0;
        switch (nz->kind) {
        case NORM_NFC: rc = unicode_form(cur, cur_n, UTF8PROC_COMPOSE, dst); break;
        case NORM_NFD: rc = unicode_form(cur, cur_n, UTF8PROC_DECOMPOSE, dst); break;
        case NORM_NFKC: rc = unicode_form(cur, cur_n, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, dst); break;
        case NORM_NFKD: rc = unicode_form(cur, cur_n, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, dst); break;
        case NORM_LOWERCASE: lowercase(cur, cur_n, dst); break;
        case NORM_STRIP: strip(cur, cur_n, nz->left, nz->right, dst, lead_kept); break;
        case NORM_REPLACE: rc = replace(nz, m, cur, cur_n, dst, lead_kept); break;
        case NORM_PREPEND:
            if (cur_n) tok_buf_put(dst, nz->content, nz->content_len);
            tok_buf_put(dst, cur, cur_n);
            break;
        case NORM_BYTELEVEL: {
            for (size_t k = 0; k < cur_n; k++) {
                unsigned char c = (unsigned char)cur[k];
                tok_buf_put(dst, t->bl_chars[c], (size_t)t->bl_len[c]);
            }
            break;
        }
        }
        if (dst->failed) rc = slm_fail("tokenizer: out of memory");
        cur = dst->p ? dst->p : "";
        cur_n = dst->n;
        dst = dst == &a ? &b : &a;
    }
    if (rc == 0) {
        tok_buf_put(out, cur, cur_n);
        if (out->failed) rc = slm_fail("tokenizer: out of memory");
    }
    tok_buf_free(&a);
    tok_buf_free(&b);
    return rc;
}
