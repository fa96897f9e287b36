/* Patterns of Split, Replace and the ByteLevel regex: a literal string or a PCRE2 regex standing
 * in for the Oniguruma regexes of the reference implementation. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

/* Oniguruma and PCRE2 (with UCP) disagree on two classes, so those are spelled out:
 * - \s: Oniguruma's is Unicode White_Space, which has U+0085 (NEL); PCRE2's leaves NEL out.
 * - \w: Oniguruma's is alphabetic characters, marks, numbers and connector punctuation; PCRE2's
 *   is letters, numbers and '_' only, so a word with combining marks (NFD text, Devanagari)
 *   would fall apart.
 * Inside a bracket class the members are added without brackets; \S and \W are rewritten only
 * outside one. */
static const char WORD_SET[] = "\\p{Alphabetic}\\p{M}\\p{N}\\p{Pc}";
static const char SPACE_SET[] = "\\s\\x{85}";

static char *onig_to_pcre2(const char *re) {
    size_t n = strlen(re);
    char *out = malloc(n * (sizeof WORD_SET + 4) + 1);
    if (!out) return NULL;
    size_t o = 0;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\' && i + 1 < n) {
            char d = re[i + 1];
            const char *set = d == 's' || d == 'S' ? SPACE_SET : d == 'w' || d == 'W' ? WORD_SET : NULL;
            if (set && (in_class ? d == 's' || d == 'w' : 1)) {
                if (!in_class) out[o++] = '[';
                if (!in_class && (d == 'S' || d == 'W')) out[o++] = '^';
                memcpy(out + o, set, strlen(set));
                o += strlen(set);
                if (!in_class) out[o++] = ']';
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            out[o++] = c;
            /* a ']' right after '[' or '[^' is a literal */
            if (i + 1 < n && re[i + 1] == '^') out[o++] = re[++i];
            if (i + 1 < n && re[i + 1] == ']') out[o++] = re[++i];
            continue;
        }
        if (c == ']' && in_class) in_class = 0;
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

static int compile(tok_pattern *p, const char *re, int onig, const char *where) {
    memset(p, 0, sizeof *p);
    char *src = onig ? onig_to_pcre2(re) : strdup(re);
    if (!src) return slm_fail("%s: out of memory", where);
    int err;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off,
                          NULL);
    free(src);
    if (!p->re) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(err, msg, sizeof msg);
        return slm_fail("%s: bad regex '%s': %s", where, re, (char *)msg);
    }
    p->jit = pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

int tok_pattern_regex(tok_pattern *p, const char *re, const char *where) {
    return compile(p, re, 1, where);
}

int tok_pattern_pcre2(tok_pattern *p, const char *re, const char *where) {
    return compile(p, re, 0, where);
}

int tok_pattern_from_json(tok_pattern *p, const cJSON *j, const char *where) {
    memset(p, 0, sizeof *p);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "Regex");
    if (cJSON_IsString(s)) {
        p->lit_len = strlen(s->valuestring);
        p->lit = strdup(s->valuestring);
        if (!p->lit) return slm_fail("%s: out of memory", where);
        return 0;
    }
    if (cJSON_IsString(r)) return tok_pattern_regex(p, r->valuestring, where);
    return slm_fail("%s: expected {\"String\": ...} or {\"Regex\": ...}", where);
}

void tok_pattern_free(tok_pattern *p) {
    free(p->lit);
    if (p->re) pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}

int tok_matcher_init(tok_matcher *m) {
    memset(m, 0, sizeof *m);
    m->md = pcre2_match_data_create(8, NULL);
    m->mc = pcre2_match_context_create(NULL);
    if (!m->md || !m->mc) {
        tok_matcher_free(m);
        return slm_fail("tokenizer: out of memory");
    }
    return 0;
}

void tok_matcher_free(tok_matcher *m) {
    if (m->md) pcre2_match_data_free(m->md);
    if (m->mc) pcre2_match_context_free(m->mc);
    if (m->stack) pcre2_jit_stack_free(m->stack);
    memset(m, 0, sizeof *m);
}

int tok_pattern_find(const tok_pattern *p, tok_matcher *m, const char *s, size_t n, size_t from,
                     size_t *ms, size_t *me) {
    if (!p->re) {
        if (p->lit_len == 0 || from >= n) return 0;
        const char *hit = memmem(s + from, n - from, p->lit, p->lit_len);
        if (!hit) return 0;
        *ms = (size_t)(hit - s);
        *me = *ms + p->lit_len;
        return 1;
    }
    for (;;) {
        int rc = p->jit ? pcre2_jit_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, m->md,
                                          m->mc)
                        : pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, m->md,
                                      m->mc);
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !m->stack) {
            /* Long inputs can outgrow the default 32 KiB JIT stack: retry with a larger one. */
            m->stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
            if (!m->stack) return slm_fail("tokenizer: out of memory");
            pcre2_jit_stack_assign(m->mc, NULL, m->stack);
            continue;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[200];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return slm_fail("tokenizer: regex match failed: %s", (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        *ms = ov[0];
        *me = ov[1];
        return 1;
    }
}

void tok_spans_push(tok_spans *v, size_t start, size_t end, int match) {
    if (v->failed) return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        tok_span *p = realloc(v->p, cap * sizeof *p);
        if (!p) {
            v->failed = 1;
            return;
        }
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (tok_span){start, end, match};
}

int tok_pattern_spans(const tok_pattern *p, tok_matcher *m, const char *s, size_t n,
                      tok_spans *out) {
    out->n = 0;
    if (n == 0) {
        tok_spans_push(out, 0, 0, 0);
        return out->failed ? slm_fail("tokenizer: out of memory") : 0;
    }
    size_t pos = 0, prev = 0, last_end = (size_t)-1;
    while (pos <= n) {
        size_t ms, me;
        int rc = tok_pattern_find(p, m, s, n, pos, &ms, &me);
        if (rc < 0) return -1;
        if (rc == 0) break;
        if (ms == me && me == last_end) {
            /* an empty match right after the previous match: step over one character */
            if (pos >= n) break;
            int32_t cp;
            pos += (size_t)tok_utf8_next(s + pos, n - pos, &cp);
            continue;
        }
        if (prev != ms) tok_spans_push(out, prev, ms, 0);
        tok_spans_push(out, ms, me, 1);
        prev = me;
        pos = me;
        last_end = me;
    }
    if (prev != n) tok_spans_push(out, prev, n, 0);
    return out->failed ? slm_fail("tokenizer: out of memory") : 0;
}
