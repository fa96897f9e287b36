/* Python's str operations on UTF-8 strings (code point indices, Unicode whitespace and case), as
 * the str methods and filters of a template need them. */
#include "jinja.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

static void put_cp(jinja_buf *b, uint32_t cp) {
    char u[4];
    jb_put(b, u, (size_t)ju_encode(cp, u));
}

static int cat_of(uint32_t cp) { return utf8proc_category((utf8proc_int32_t)cp); }
static int is_upper_cat(uint32_t cp) { return cat_of(cp) == UTF8PROC_CATEGORY_LU; }
static int is_lower_cat(uint32_t cp) { return cat_of(cp) == UTF8PROC_CATEGORY_LL; }
static int is_title_cat(uint32_t cp) { return cat_of(cp) == UTF8PROC_CATEGORY_LT; }
static int is_cased(uint32_t cp) { return is_upper_cat(cp) || is_lower_cat(cp) || is_title_cat(cp); }

/* Python's full case mappings where they differ from the simple ones that matter in practice. */
static void put_upper(jinja_buf *b, uint32_t cp) {
    if (cp == 0xDF) jb_puts(b, "SS");
    else put_cp(b, (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp));
}
static void put_lower(jinja_buf *b, uint32_t cp) {
    if (cp == 0x130) jb_puts(b, "i\xcc\x87");
    else put_cp(b, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
}
static void put_title(jinja_buf *b, uint32_t cp) {
    if (cp == 0xDF) jb_puts(b, "Ss");
    else put_cp(b, (uint32_t)utf8proc_totitle((utf8proc_int32_t)cp));
}

jval js_change_case(jinja_arena *a, jval s, int mode) {
    jinja_buf b;
    jb_init(&b, a);
    int prev_cased = 0, first = 1;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp;
        i += ju_decode(s.s.p + i, s.s.n - i, &cp);
        switch (mode) {
        case CASE_LOWER: put_lower(&b, cp); break;
        case CASE_UPPER: put_upper(&b, cp); break;
        case CASE_SWAP:
            if (is_upper_cat(cp)) put_lower(&b, cp);
            else if (is_lower_cat(cp)) put_upper(&b, cp);
            else put_cp(&b, cp);
            break;
        case CASE_CAPITALIZE:
            if (first) put_title(&b, cp);
            else put_lower(&b, cp);
            break;
        case CASE_TITLE: /* str.title() */
            if (is_upper_cat(cp) || is_title_cat(cp)) {
                if (prev_cased) put_lower(&b, cp);
                else put_cp(&b, cp);
                prev_cased = 1;
            } else if (is_lower_cat(cp)) {
                if (!prev_cased) put_title(&b, cp);
                else put_cp(&b, cp);
                prev_cased = 1;
            } else {
                put_cp(&b, cp);
                prev_cased = 0;
            }
            break;
        }
        first = 0;
    }
    return jb_value(&b);
}

/* Jinja's title filter: capitalize each piece between runs of "-", whitespace, "(", "{", "[", "<". */
jval js_title_words(jinja_arena *a, jval s) {
    jinja_buf b;
    jb_init(&b, a);
    int at_start = 1;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp;
        i += ju_decode(s.s.p + i, s.s.n - i, &cp);
        int sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || ju_isspace(cp);
        if (sep) {
            put_cp(&b, cp);
            at_start = 1;
        } else if (at_start) {
            put_upper(&b, cp);
            at_start = 0;
        } else {
            put_lower(&b, cp);
        }
    }
    return jb_value(&b);
}

static int in_chars(uint32_t cp, jval chars) {
    if (chars.type != JV_STR) return ju_isspace(cp);
    for (size_t i = 0; i < chars.s.n;) {
        uint32_t c;
        i += ju_decode(chars.s.p + i, chars.s.n - i, &c);
        if (c == cp) return 1;
    }
    return 0;
}

static size_t prev_cp_start(const char *p, size_t end) {
    size_t s = end - 1;
    while (s > 0 && ((unsigned char)p[s] & 0xC0) == 0x80) s--;
    return s;
}

jval js_strip(jinja_arena *a, int line, jval s, jval chars, int left, int right) {
    if (chars.type != JV_NONE && chars.type != JV_STR && chars.type != JV_UNDEF)
        jinja_fail(a, line, "strip arg must be None or str");
    size_t from = 0, to = s.s.n;
    while (left && from < to) {
        uint32_t cp;
        size_t k = ju_decode(s.s.p + from, to - from, &cp);
        if (!in_chars(cp, chars)) break;
        from += k;
    }
    while (right && to > from) {
        size_t start = prev_cp_start(s.s.p, to);
        uint32_t cp;
        ju_decode(s.s.p + start, to - start, &cp);
        if (!in_chars(cp, chars)) break;
        to = start;
    }
    return jv_str(s.s.p + from, to - from);
}

static size_t ws_run(const char *p, size_t n, size_t i, int want_space) {
    while (i < n) {
        uint32_t cp;
        size_t k = ju_decode(p + i, n - i, &cp);
        if (ju_isspace(cp) != want_space) break;
        i += k;
    }
    return i;
}

const char *js_find(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    return memmem(h, hn, nd, nn);
}

const char *js_rfind(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (memcmp(h + i, nd, nn) == 0) return h + i;
    return NULL;
}

static void reverse_list(jinja_list *l) {
    for (int i = 0, j = l->n - 1; i < j; i++, j--) {
        jval t = l->v[i];
        l->v[i] = l->v[j];
        l->v[j] = t;
    }
}

/* str.split / str.rsplit */
jval js_split(jinja_arena *a, int line, jval s, jval sep, int64_t maxsplit, int from_right) {
    jval out = jv_list(a, 0);
    const char *p = s.s.p;
    size_t n = s.s.n;
    if (maxsplit < 0) maxsplit = INT64_MAX;
    if (sep.type == JV_NONE || sep.type == JV_UNDEF) {
        if (!from_right) {
            size_t i = ws_run(p, n, 0, 1);
            int64_t count = 0;
            while (i < n) {
                if (count == maxsplit) {
                    size_t e = n;
                    jl_push(a, out.l, jv_str(p + i, e - i));
                    break;
                }
                size_t e = ws_run(p, n, i, 0);
                jl_push(a, out.l, jv_str(p + i, e - i));
                count++;
                i = ws_run(p, n, e, 1);
            }
        } else {
            size_t e = n;
            int64_t count = 0;
            /* skip trailing whitespace */
            while (e > 0) {
                size_t b = prev_cp_start(p, e);
                uint32_t cp;
                ju_decode(p + b, e - b, &cp);
                if (!ju_isspace(cp)) break;
                e = b;
            }
            while (e > 0) {
                if (count == maxsplit) {
                    jl_push(a, out.l, jv_str(p, e));
                    break;
                }
                size_t b = e;
                while (b > 0) {
                    size_t c = prev_cp_start(p, b);
                    uint32_t cp;
                    ju_decode(p + c, b - c, &cp);
                    if (ju_isspace(cp)) break;
                    b = c;
                }
                jl_push(a, out.l, jv_str(p + b, e - b));
                count++;
                e = b;
                while (e > 0) {
                    size_t c = prev_cp_start(p, e);
                    uint32_t cp;
                    ju_decode(p + c, e - c, &cp);
                    if (!ju_isspace(cp)) break;
                    e = c;
                }
            }
            reverse_list(out.l);
        }
        return out;
    }
    if (sep.type != JV_STR) jinja_fail(a, line, "split: must be str or None, not %s", jv_type_name(sep));
    if (sep.s.n == 0) jinja_fail(a, line, "empty separator");
    if (!from_right) {
        size_t i = 0;
        int64_t count = 0;
        for (;;) {
            const char *f = count < maxsplit ? js_find(p + i, n - i, sep.s.p, sep.s.n) : NULL;
            if (!f) {
                jl_push(a, out.l, jv_str(p + i, n - i));
                break;
            }
            jl_push(a, out.l, jv_str(p + i, (size_t)(f - (p + i))));
            i = (size_t)(f - p) + sep.s.n;
            count++;
        }
    } else {
        size_t e = n;
        int64_t count = 0;
        for (;;) {
            const char *f = count < maxsplit ? js_rfind(p, e, sep.s.p, sep.s.n) : NULL;
            if (!f) {
                jl_push(a, out.l, jv_str(p, e));
                break;
            }
            size_t after = (size_t)(f - p) + sep.s.n;
            jl_push(a, out.l, jv_str(p + after, e - after));
            e = (size_t)(f - p);
            count++;
        }
        reverse_list(out.l);
    }
    return out;
}

jval js_replace(jinja_arena *a, jval s, jval old, jval new_, int64_t count) {
    jinja_buf b;
    jb_init(&b, a);
    if (count < 0) count = INT64_MAX;
    if (old.s.n == 0) {
        /* Python inserts the replacement around every character. */
        int64_t done = 0;
        size_t i = 0;
        for (;;) {
            if (done < count) {
                jb_put(&b, new_.s.p, new_.s.n);
                done++;
            }
            if (i >= s.s.n) break;
            uint32_t cp;
            size_t k = ju_decode(s.s.p + i, s.s.n - i, &cp);
            jb_put(&b, s.s.p + i, k);
            i += k;
        }
        return jb_value(&b);
    }
    size_t i = 0;
    int64_t done = 0;
    while (done < count) {
        const char *f = js_find(s.s.p + i, s.s.n - i, old.s.p, old.s.n);
        if (!f) break;
        jb_put(&b, s.s.p + i, (size_t)(f - (s.s.p + i)));
        jb_put(&b, new_.s.p, new_.s.n);
        i = (size_t)(f - s.s.p) + old.s.n;
        done++;
    }
    jb_put(&b, s.s.p + i, s.s.n - i);
    return jb_value(&b);
}

jval js_splitlines(jinja_arena *a, jval s, int keepends) {
    jval out = jv_list(a, 0);
    size_t i = 0, start = 0;
    while (i < s.s.n) {
        uint32_t cp;
        size_t k = ju_decode(s.s.p + i, s.s.n - i, &cp);
        int brk = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
                  cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (!brk) {
            i += k;
            continue;
        }
        size_t eol = i + k;
        if (cp == '\r' && eol < s.s.n && s.s.p[eol] == '\n') eol++;
        jl_push(a, out.l, jv_str(s.s.p + start, (keepends ? eol : i) - start));
        i = start = eol;
    }
    if (start < s.s.n) jl_push(a, out.l, jv_str(s.s.p + start, s.s.n - start));
    return out;
}

jval js_pad(jinja_arena *a, int line, jval s, int64_t w, jval fill, int mode) {
    int64_t n = (int64_t)ju_count(s.s.p, s.s.n);
    if (w <= n) return s;
    if (w > JINJA_MAX_STRING) jinja_fail(a, line, "width too large");
    const char *fc = " ";
    size_t fn = 1;
    if (fill.type == JV_STR) {
        if (ju_count(fill.s.p, fill.s.n) != 1)
            jinja_fail(a, line, "the fill character must be exactly one character long");
        fc = fill.s.p;
        fn = fill.s.n;
    }
    int64_t marg = w - n, left;
    if (mode == 0) left = marg / 2 + (marg & w & 1);
    else if (mode == 1) left = 0;
    else left = marg;
    jinja_buf b;
    jb_init(&b, a);
    for (int64_t i = 0; i < left; i++) jb_put(&b, fc, fn);
    jb_put(&b, s.s.p, s.s.n);
    for (int64_t i = left; i < marg; i++) jb_put(&b, fc, fn);
    return jb_value(&b);
}

/* Python's int(str): optional sign, digits with single underscores between them, spaces around. */
int js_parse_int(jval s, int base, int64_t *out) {
    const char *p = s.s.p, *e = s.s.p + s.s.n;
    while (p < e && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) p++;
    while (e > p && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r'))) e--;
    int neg = 0;
    if (p < e && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p == e) return 0;
    uint64_t v = 0;
    int prev_digit = 0;
    for (; p < e; p++) {
        if (*p == '_') {
            if (!prev_digit || p + 1 == e) return 0;
            prev_digit = 0;
            continue;
        }
        int d = 99;
        if (*p >= '0' && *p <= '9') d = *p - '0';
        else if (*p >= 'a' && *p <= 'z') d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'Z') d = *p - 'A' + 10;
        if (d >= base) return 0;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return 0;
        v = v * (uint64_t)base + (uint64_t)d;
        prev_digit = 1;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* Python's float(str). */
int js_parse_float(jinja_arena *a, jval s, double *out) {
    char *buf = ja_alloc(a, s.s.n + 1);
    size_t k = 0;
    const char *p = s.s.p, *e = s.s.p + s.s.n;
    while (p < e && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) p++;
    while (e > p && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r'))) e--;
    for (const char *q = p; q < e; q++) {
        if (*q == '_') {
            if (q == p || q + 1 == e || !(q[-1] >= '0' && q[-1] <= '9') || !(q[1] >= '0' && q[1] <= '9')) return 0;
            continue;
        }
        if (*q == 'x' || *q == 'X' || *q == '(') return 0; /* strtod would take hex and nan(...) */
        buf[k++] = *q;
    }
    buf[k] = 0;
    if (k == 0) return 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end) return 0;
    const char *w = buf + (buf[0] == '+' || buf[0] == '-');
    if ((w[0] == 'i' || w[0] == 'I') && strcasecmp(w, "inf") && strcasecmp(w, "infinity")) return 0;
    *out = d;
    return 1;
}
int js_has_case(jval s, int want_upper) {
    int cased = 0;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp;
        i += ju_decode(s.s.p + i, s.s.n - i, &cp);
        if (is_upper_cat(cp) || is_title_cat(cp)) {
            if (!want_upper) return 0;
            cased = 1;
        } else if (is_lower_cat(cp)) {
            if (want_upper) return 0;
            cased = 1;
        }
    }
    return cased;
}
int js_char_class(jval s, int which) {
    if (s.s.n == 0) return 0;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp;
        i += ju_decode(s.s.p + i, s.s.n - i, &cp);
        int c = cat_of(cp);
        int letter = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
        int digit = c == UTF8PROC_CATEGORY_ND;
        int numeric = c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
        int ok;
        switch (which) {
        case 0: ok = digit; break;
        case 1: ok = letter; break;
        case 2: ok = letter || numeric; break;
        case 3: ok = ju_isspace(cp); break;
        case 4: ok = numeric; break;
        default: ok = cp < 0x80;
        }
        if (!ok) return 0;
    }
    return 1;
}

/* str.istitle(): cased, and unchanged by str.title(). */
int js_istitle(jinja_arena *a, jval s) {
    jval t = js_change_case(a, s, CASE_TITLE);
    int cased = 0;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp;
        i += ju_decode(s.s.p + i, s.s.n - i, &cp);
        cased |= is_cased(cp);
    }
    return cased && t.s.n == s.s.n && !memcmp(t.s.p, s.s.p, s.s.n);
}

int64_t js_wordcount(jval s) {
    int64_t words = 0;
    int inword = 0;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp;
        i += ju_decode(s.s.p + i, s.s.n - i, &cp);
        int c = cat_of(cp);
        int w = cp == '_' || (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
        if (w && !inword) words++;
        inword = w;
    }
    return words;
}
