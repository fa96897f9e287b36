/* Jinja's filters and tests, the Python methods of str/dict/list that templates call, and the globals
 * (range, namespace, dict, raise_exception, strftime_now). Each follows the Python or Jinja function of
 * the same name; arguments bind by position or keyword as in Python. */
#include "jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- argument binding ---- */

#define MAX_PARAMS 8

typedef struct {
    jval v[MAX_PARAMS];
    int given[MAX_PARAMS];
} params;

/* Binds args/kwargs to the parameter names; parameters not given keep the defaults already in p->v. */
static void bind(jinja_state *st, int line, const char *what, const char *const *names, int np, jval *args,
                 int nargs, const char **kwnames, jval *kwvals, int nkw, params *p) {
    if (nargs > np) jinja_fail(st->a, line, "%s takes at most %d argument(s) (%d given)", what, np, nargs);
    for (int i = 0; i < nargs; i++) {
        p->v[i] = args[i];
        p->given[i] = 1;
    }
    for (int k = 0; k < nkw; k++) {
        int i;
        for (i = 0; i < np; i++)
            if (!strcmp(names[i], kwnames[k])) break;
        if (i == np) jinja_fail(st->a, line, "%s got an unexpected keyword argument '%s'", what, kwnames[k]);
        if (p->given[i]) jinja_fail(st->a, line, "%s got multiple values for argument '%s'", what, kwnames[k]);
        p->v[i] = kwvals[k];
        p->given[i] = 1;
    }
}

static void no_args(jinja_state *st, int line, const char *what, int nargs, int nkw) {
    if (nargs || nkw) jinja_fail(st->a, line, "%s takes no arguments", what);
}

static void no_kwargs(jinja_state *st, int line, const char *what, int nkw) {
    if (nkw) jinja_fail(st->a, line, "%s takes no keyword arguments", what);
}

static int64_t int_arg(jinja_state *st, int line, const char *what, jval v) {
    if (v.type == JV_INT || v.type == JV_BOOL) return v.i;
    if (v.type == JV_UNDEF) jv_fail_undefined(st->a, line, v);
    jinja_fail(st->a, line, "%s: '%s' object cannot be interpreted as an integer", what, jv_type_name(v));
}

static jval str_arg(jinja_state *st, int line, const char *what, jval v) {
    if (v.type == JV_STR) return v;
    if (v.type == JV_UNDEF) jv_fail_undefined(st->a, line, v);
    jinja_fail(st->a, line, "%s: expected a string, got '%s'", what, jv_type_name(v));
}

static jval tuple_of(jinja_state *st, jval a, jval b) {
    jval t = jv_list(st->a, 2);
    t.type = JV_TUPLE;
    jl_push(st->a, t.l, a);
    jl_push(st->a, t.l, b);
    return t;
}

/* ---- string helpers ---- */

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

enum { CASE_LOWER, CASE_UPPER, CASE_SWAP, CASE_CAPITALIZE, CASE_TITLE };

static jval change_case(jinja_state *st, jval s, int mode) {
    jinja_buf b;
    jb_init(&b, st->a);
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
static jval jinja_title(jinja_state *st, jval s) {
    jinja_buf b;
    jb_init(&b, st->a);
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

static jval do_strip(jinja_state *st, int line, jval s, jval chars, int left, int right) {
    if (chars.type != JV_NONE && chars.type != JV_STR && chars.type != JV_UNDEF)
        jinja_fail(st->a, line, "strip arg must be None or str");
    size_t a = 0, b = s.s.n;
    while (left && a < b) {
        uint32_t cp;
        size_t k = ju_decode(s.s.p + a, b - a, &cp);
        if (!in_chars(cp, chars)) break;
        a += k;
    }
    while (right && b > a) {
        size_t st0 = prev_cp_start(s.s.p, b);
        uint32_t cp;
        ju_decode(s.s.p + st0, b - st0, &cp);
        if (!in_chars(cp, chars)) break;
        b = st0;
    }
    return jv_str(s.s.p + a, b - a);
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

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    return memmem(h, hn, nd, nn);
}

static const char *rfind_bytes(const char *h, size_t hn, const char *nd, size_t nn) {
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
static jval do_split(jinja_state *st, int line, jval s, jval sep, int64_t maxsplit, int from_right) {
    jval out = jv_list(st->a, 0);
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
                    jl_push(st->a, out.l, jv_str(p + i, e - i));
                    break;
                }
                size_t e = ws_run(p, n, i, 0);
                jl_push(st->a, out.l, jv_str(p + i, e - i));
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
                    jl_push(st->a, out.l, jv_str(p, e));
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
                jl_push(st->a, out.l, jv_str(p + b, e - b));
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
    sep = str_arg(st, line, "split", sep);
    if (sep.s.n == 0) jinja_fail(st->a, line, "empty separator");
    if (!from_right) {
        size_t i = 0;
        int64_t count = 0;
        for (;;) {
            const char *f = count < maxsplit ? find_bytes(p + i, n - i, sep.s.p, sep.s.n) : NULL;
            if (!f) {
                jl_push(st->a, out.l, jv_str(p + i, n - i));
                break;
            }
            jl_push(st->a, out.l, jv_str(p + i, (size_t)(f - (p + i))));
            i = (size_t)(f - p) + sep.s.n;
            count++;
        }
    } else {
        size_t e = n;
        int64_t count = 0;
        for (;;) {
            const char *f = count < maxsplit ? rfind_bytes(p, e, sep.s.p, sep.s.n) : NULL;
            if (!f) {
                jl_push(st->a, out.l, jv_str(p, e));
                break;
            }
            size_t after = (size_t)(f - p) + sep.s.n;
            jl_push(st->a, out.l, jv_str(p + after, e - after));
            e = (size_t)(f - p);
            count++;
        }
        reverse_list(out.l);
    }
    return out;
}

static jval do_replace(jinja_state *st, jval s, jval old, jval new_, int64_t count) {
    jinja_buf b;
    jb_init(&b, st->a);
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
        const char *f = find_bytes(s.s.p + i, s.s.n - i, old.s.p, old.s.n);
        if (!f) break;
        jb_put(&b, s.s.p + i, (size_t)(f - (s.s.p + i)));
        jb_put(&b, new_.s.p, new_.s.n);
        i = (size_t)(f - s.s.p) + old.s.n;
        done++;
    }
    jb_put(&b, s.s.p + i, s.s.n - i);
    return jb_value(&b);
}

/* Byte range of s[start:end] (code point indices with Python's clamping); *cp_start gets start. */
static void sub_range(jinja_state *st, int line, jval s, jval start, jval end, size_t *a, size_t *b,
                      int64_t *cp_start) {
    int64_t n = (int64_t)ju_count(s.s.p, s.s.n);
    int64_t lo = 0, hi = n;
    if (start.type != JV_NONE && start.type != JV_UNDEF) {
        lo = int_arg(st, line, "start", start);
        if (lo < 0) lo = lo + n < 0 ? 0 : lo + n;
    }
    if (end.type != JV_NONE && end.type != JV_UNDEF) {
        hi = int_arg(st, line, "end", end);
        if (hi < 0) hi = hi + n < 0 ? 0 : hi + n;
        if (hi > n) hi = n;
    }
    if (lo > n) lo = n;
    if (hi < lo) hi = lo;
    *a = ju_offset(s.s.p, s.s.n, (size_t)lo);
    *b = *a + ju_offset(s.s.p + *a, s.s.n - *a, (size_t)(hi - lo));
    *cp_start = lo;
}

static int affix_match(jinja_state *st, int line, const char *what, jval s, jval affix, int at_end) {
    if (affix.type == JV_TUPLE || affix.type == JV_LIST) {
        for (int i = 0; i < affix.l->n; i++)
            if (affix_match(st, line, what, s, affix.l->v[i], at_end)) return 1;
        return 0;
    }
    affix = str_arg(st, line, what, affix);
    if (affix.s.n > s.s.n) return 0;
    return memcmp(at_end ? s.s.p + s.s.n - affix.s.n : s.s.p, affix.s.p, affix.s.n) == 0;
}

static jval splitlines(jinja_state *st, jval s, int keepends) {
    jval out = jv_list(st->a, 0);
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
        jl_push(st->a, out.l, jv_str(s.s.p + start, (keepends ? eol : i) - start));
        i = start = eol;
    }
    if (start < s.s.n) jl_push(st->a, out.l, jv_str(s.s.p + start, s.s.n - start));
    return out;
}

static jval pad(jinja_state *st, int line, jval s, jval width, jval fill, int mode /* 0 center 1 ljust 2 rjust */) {
    int64_t w = int_arg(st, line, "width", width);
    int64_t n = (int64_t)ju_count(s.s.p, s.s.n);
    if (w <= n) return s;
    if (w > JINJA_MAX_STRING) jinja_fail(st->a, line, "width too large");
    const char *fc = " ";
    size_t fn = 1;
    if (fill.type == JV_STR) {
        if (ju_count(fill.s.p, fill.s.n) != 1)
            jinja_fail(st->a, line, "the fill character must be exactly one character long");
        fc = fill.s.p;
        fn = fill.s.n;
    }
    int64_t marg = w - n, left;
    if (mode == 0) left = marg / 2 + (marg & w & 1);
    else if (mode == 1) left = 0;
    else left = marg;
    jinja_buf b;
    jb_init(&b, st->a);
    for (int64_t i = 0; i < left; i++) jb_put(&b, fc, fn);
    jb_put(&b, s.s.p, s.s.n);
    for (int64_t i = left; i < marg; i++) jb_put(&b, fc, fn);
    return jb_value(&b);
}

/* Python's int(str): optional sign, digits with single underscores between them, spaces around. */
static int parse_py_int(jval s, int base, int64_t *out) {
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
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'z') ? *p - 'a' + 10 : (*p >= 'A' && *p <= 'Z') ? *p - 'A' + 10 : 99;
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
static int parse_py_float(jinja_state *st, jval s, double *out) {
    char *buf = ja_alloc(st->a, s.s.n + 1);
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

static jval do_length(jinja_state *st, int line, jval v) {
    switch (v.type) {
    case JV_STR: return jv_int((int64_t)ju_count(v.s.p, v.s.n));
    case JV_LIST:
    case JV_TUPLE: return jv_int(v.l->n);
    case JV_DICT: return jv_int(v.d->n);
    case JV_UNDEF: return jv_int(0);
    case JV_LOOP: return jv_int(v.loop->items->n);
    default: jinja_fail(st->a, line, "object of type '%s' has no len()", jv_type_name(v));
    }
}

/* Jinja's make_attrgetter: "a.b.0" looks up a, then b, then index 0, each as item-then-attribute. */
static jval get_attribute(jinja_state *st, int line, jval item, jval attr, jval dflt) {
    if (attr.type != JV_STR) {
        item = jinja_getitem(st, line, item, attr);
    } else {
        const char *p = attr.s.p, *e = attr.s.p + attr.s.n;
        while (1) {
            const char *dot = memchr(p, '.', (size_t)(e - p));
            const char *pe = dot ? dot : e;
            jval key = jv_str(p, (size_t)(pe - p));
            int digits = pe > p;
            for (const char *q = p; q < pe; q++)
                if (*q < '0' || *q > '9') digits = 0;
            if (digits) {
                int64_t i;
                parse_py_int(key, 10, &i);
                key = jv_int(i);
            }
            item = jinja_getitem(st, line, item, key);
            if (!dot) break;
            p = dot + 1;
        }
    }
    if (dflt.type != JV_UNDEF && dflt.type != JV_NONE && item.type == JV_UNDEF) return dflt;
    return item;
}

/* Sort keys: strings fold to lower case unless case_sensitive (Jinja's ignore_case). */
static jval sort_key(jinja_state *st, int line, jval item, jval attr, int case_sensitive) {
    jval k = attr.type == JV_NONE || attr.type == JV_UNDEF ? item : get_attribute(st, line, item, attr, jv_none());
    if (!case_sensitive && k.type == JV_STR) k = change_case(st, k, CASE_LOWER);
    return k;
}

/* Stable merge sort of items by keys. */
static void merge_sort(jinja_state *st, int line, jval *items, jval *keys, int n, int reverse, jval *tmpi, jval *tmpk) {
    if (n < 2) return;
    int h = n / 2;
    merge_sort(st, line, items, keys, h, reverse, tmpi, tmpk);
    merge_sort(st, line, items + h, keys + h, n - h, reverse, tmpi, tmpk);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c = jv_compare(st->a, line, keys[j], keys[i], "<");
        int take_right = reverse ? c > 0 : c < 0;
        if (take_right) {
            tmpi[k] = items[j];
            tmpk[k++] = keys[j++];
        } else {
            tmpi[k] = items[i];
            tmpk[k++] = keys[i++];
        }
    }
    while (i < h) {
        tmpi[k] = items[i];
        tmpk[k++] = keys[i++];
    }
    while (j < n) {
        tmpi[k] = items[j];
        tmpk[k++] = keys[j++];
    }
    memcpy(items, tmpi, sizeof(jval) * (size_t)n);
    memcpy(keys, tmpk, sizeof(jval) * (size_t)n);
}

static jval sorted(jinja_state *st, int line, jinja_list *in, jval attr, int case_sensitive, int reverse) {
    int n = in->n;
    jval out = jv_list(st->a, n);
    jval *keys = ja_alloc(st->a, sizeof(jval) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        jl_push(st->a, out.l, in->v[i]);
        keys[i] = sort_key(st, line, in->v[i], attr, case_sensitive);
    }
    jval *ti = ja_alloc(st->a, sizeof(jval) * (size_t)(n + 1)), *tk = ja_alloc(st->a, sizeof(jval) * (size_t)(n + 1));
    merge_sort(st, line, out.l->v, keys, n, reverse, ti, tk);
    return out;
}

static jval html_escape(jinja_state *st, jval s) {
    jinja_buf b;
    jb_init(&b, st->a);
    for (size_t i = 0; i < s.s.n; i++) {
        switch (s.s.p[i]) {
        case '&': jb_puts(&b, "&amp;"); break;
        case '<': jb_puts(&b, "&lt;"); break;
        case '>': jb_puts(&b, "&gt;"); break;
        case '"': jb_puts(&b, "&#34;"); break;
        case '\'': jb_puts(&b, "&#39;"); break;
        default: jb_putc(&b, s.s.p[i]);
        }
    }
    return jb_value(&b);
}

/* Jinja's indent filter. */
static jval do_indent(jinja_state *st, int line, jval s, jval width, int first, int blank) {
    jval ind;
    if (width.type == JV_STR) ind = width;
    else {
        int64_t w = int_arg(st, line, "indent", width);
        if (w < 0) w = 0;
        if (w > 4096) jinja_fail(st->a, line, "indent width too large");
        jinja_buf ib;
        jb_init(&ib, st->a);
        for (int64_t i = 0; i < w; i++) jb_putc(&ib, ' ');
        ind = jb_value(&ib);
    }
    jinja_buf sb;
    jb_init(&sb, st->a);
    jb_put(&sb, s.s.p, s.s.n);
    jb_putc(&sb, '\n'); /* as Jinja does, so that splitlines() keeps a trailing empty line */
    jinja_list *lines = splitlines(st, jb_value(&sb), 0).l;
    jinja_buf b;
    jb_init(&b, st->a);
    if (first) jb_put(&b, ind.s.p, ind.s.n);
    for (int i = 0; i < lines->n; i++) {
        jval l = lines->v[i];
        if (i > 0) {
            jb_putc(&b, '\n');
            if (blank || l.s.n > 0) jb_put(&b, ind.s.p, ind.s.n);
        }
        jb_put(&b, l.s.p, l.s.n);
    }
    return jb_value(&b);
}

static jval do_round(jinja_state *st, int line, jval v, int64_t precision, jval method) {
    if (!jv_is_number(v)) jinja_fail(st->a, line, "round: '%s' is not a number", jv_type_name(v));
    const char *m = "common";
    if (method.type == JV_STR) m = ja_strndup(st->a, method.s.p, method.s.n);
    if (strcmp(m, "common") && strcmp(m, "ceil") && strcmp(m, "floor"))
        jinja_fail(st->a, line, "method must be common, ceil or floor");
    double x = jv_as_double(v), scale = pow(10.0, (double)precision);
    if (!strcmp(m, "ceil")) return jv_float(ceil(x * scale) / scale);
    if (!strcmp(m, "floor")) return jv_float(floor(x * scale) / scale);
    if (v.type != JV_FLOAT) return jv_int(v.i);
    if (precision >= 0 && precision < 300 && isfinite(x)) {
        /* printf rounds the exact binary value half-to-even, as Python's round() does */
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)precision, x);
        return jv_float(strtod(buf, NULL));
    }
    return jv_float(nearbyint(x * scale) / scale);
}

/* ---- tests ---- */

static const char *const jinja_tests[] = {
    "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean", "false", "true",
    "integer", "float", "lower", "upper", "string", "mapping", "number", "sequence", "iterable", "callable",
    "sameas", "escaped", "in", "==", "eq", "equalto", "!=", "ne", ">", "gt", "greaterthan", "ge", ">=", "<",
    "lt", "lessthan", "<=", "le", NULL};

static const char *const jinja_filters[] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "join", "last",
    "length", "list", "lower", "items", "map", "min", "max", "pprint", "random", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
    "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap",
    "xmlattr", "tojson", NULL};

static int in_list(const char *const *list, const char *name) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

int jinja_filter_known(const char *name) { return in_list(jinja_filters, name); }
int jinja_test_known(const char *name) { return in_list(jinja_tests, name); }

static int str_has_case(jval s, int want_upper) {
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

int jinja_test(jinja_state *st, jinja_frame *f, int line, const char *name, jval v, jval *args, int nargs) {
    (void)f;
    jval arg = nargs > 0 ? args[0] : jv_undef(NULL);
    int want = 0;
    if (!strcmp(name, "defined")) return v.type != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.type == JV_UNDEF;
    if (!strcmp(name, "none")) return v.type == JV_NONE;
    if (!strcmp(name, "boolean")) return v.type == JV_BOOL;
    if (!strcmp(name, "true")) return v.type == JV_BOOL && v.i;
    if (!strcmp(name, "false")) return v.type == JV_BOOL && !v.i;
    if (!strcmp(name, "integer")) return v.type == JV_INT;
    if (!strcmp(name, "float")) return v.type == JV_FLOAT;
    if (!strcmp(name, "number")) return jv_is_number(v);
    if (!strcmp(name, "string")) return v.type == JV_STR;
    if (!strcmp(name, "mapping")) return v.type == JV_DICT;
    if (!strcmp(name, "sequence"))
        return v.type == JV_STR || v.type == JV_LIST || v.type == JV_TUPLE || v.type == JV_DICT || v.type == JV_UNDEF;
    if (!strcmp(name, "iterable"))
        return v.type == JV_STR || v.type == JV_LIST || v.type == JV_TUPLE || v.type == JV_DICT ||
               v.type == JV_UNDEF || v.type == JV_LOOP || v.type == JV_GEN;
    if (!strcmp(name, "callable"))
        return v.type == JV_MACRO || v.type == JV_FUNC || v.type == JV_METHOD || v.type == JV_UNDEF;
    if (!strcmp(name, "escaped")) return 0;
    if (!strcmp(name, "filter")) return v.type == JV_STR && jinja_filter_known(ja_strndup(st->a, v.s.p, v.s.n));
    if (!strcmp(name, "test")) return v.type == JV_STR && jinja_test_known(ja_strndup(st->a, v.s.p, v.s.n));
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        jval s = jv_to_str(st->a, v, line);
        return str_has_case(s, name[0] == 'u');
    }
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        int64_t i = int_arg(st, line, name, v);
        return (i % 2 != 0) == (name[0] == 'o');
    }
    if (nargs != 1) jinja_fail(st->a, line, "test '%s' takes one argument", name);
    if (!strcmp(name, "divisibleby")) {
        int64_t a = int_arg(st, line, name, v), b = int_arg(st, line, name, arg);
        if (b == 0) jinja_fail(st->a, line, "integer division or modulo by zero");
        return b == -1 || a % b == 0;
    }
    if (!strcmp(name, "sameas")) {
        if (v.type != arg.type) return 0;
        switch (v.type) {
        case JV_NONE:
        case JV_UNDEF: return 1;
        case JV_BOOL:
        case JV_INT: return v.i == arg.i;
        case JV_FLOAT: return v.f == arg.f;
        case JV_STR: return v.s.p == arg.s.p && v.s.n == arg.s.n;
        default: return jv_equal(st->a, v, arg) && v.l == arg.l;
        }
    }
    if (!strcmp(name, "in")) {
        jval hay = arg;
        if (hay.type == JV_STR) {
            jval s = str_arg(st, line, "in", v);
            return s.s.n == 0 || memmem(hay.s.p, hay.s.n, s.s.p, s.s.n) != NULL;
        }
        jinja_list *l = jinja_iterate(st, line, hay);
        for (int i = 0; i < l->n; i++)
            if (jv_equal(st->a, l->v[i], v)) return 1;
        return 0;
    }
    if (!strcmp(name, "==") || !strcmp(name, "eq") || !strcmp(name, "equalto")) return jv_equal(st->a, v, arg);
    if (!strcmp(name, "!=") || !strcmp(name, "ne")) return !jv_equal(st->a, v, arg);
    if (!strcmp(name, ">") || !strcmp(name, "gt") || !strcmp(name, "greaterthan")) want = 1;
    else if (!strcmp(name, ">=") || !strcmp(name, "ge")) want = 2;
    else if (!strcmp(name, "<") || !strcmp(name, "lt") || !strcmp(name, "lessthan")) want = 3;
    else if (!strcmp(name, "<=") || !strcmp(name, "le")) want = 4;
    if (want) {
        int c = jv_compare(st->a, line, v, arg, want <= 2 ? ">" : "<");
        return want == 1 ? c > 0 : want == 2 ? c >= 0 : want == 3 ? c < 0 : c <= 0;
    }
    jinja_fail(st->a, line, "unknown test '%s'", name);
}

/* select/reject/selectattr/rejectattr: args are [attribute,] [test name, test args...]. */
static jval select_items(jinja_state *st, jinja_frame *f, int line, jval in, jval *args, int nargs, int by_attr,
                         int keep) {
    int off = by_attr ? 1 : 0;
    if (by_attr && nargs < 1) jinja_fail(st->a, line, "missing attribute for selectattr/rejectattr");
    const char *test = NULL;
    if (nargs > off) {
        jval t = str_arg(st, line, "test name", args[off]);
        test = ja_strndup(st->a, t.s.p, t.s.n);
        if (!jinja_test_known(test)) jinja_fail(st->a, line, "unknown test '%s'", test);
    }
    jinja_list *items = jinja_iterate(st, line, in);
    jval out = jv_list(st->a, 0);
    for (int i = 0; i < items->n; i++) {
        jval x = by_attr ? get_attribute(st, line, items->v[i], args[0], jv_none()) : items->v[i];
        int r = test ? jinja_test(st, f, line, test, x, args + off + 1, nargs - off - 1) : jv_truthy(x);
        if (r == keep) jl_push(st->a, out.l, items->v[i]);
    }
    out.type = JV_GEN;
    return out;
}

/* ---- filters ---- */

#define BIND(what, ...)                                                                                          \
    do {                                                                                                         \
        static const char *const names_[] = {__VA_ARGS__};                                                       \
        bind(st, line, what, names_, (int)(sizeof names_ / sizeof *names_), args, nargs, kwnames, kwvals, nkw, &p); \
    } while (0)

jval jinja_filter(jinja_state *st, jinja_frame *f, int line, const char *name, jval in, jval *args, int nargs,
                  const char **kwnames, jval *kwvals, int nkw) {
    params p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < MAX_PARAMS; i++) p.v[i] = jv_none();
    if (!strcmp(name, "trim")) {
        BIND("trim", "chars");
        return do_strip(st, line, jv_to_str(st->a, in, line), p.v[0], 1, 1);
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        no_args(st, line, name, nargs, nkw);
        return do_length(st, line, in);
    }
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize")) {
        no_args(st, line, name, nargs, nkw);
        jval s = jv_to_str(st->a, in, line);
        return change_case(st, s, name[0] == 'u' ? CASE_UPPER : name[0] == 'l' ? CASE_LOWER : CASE_CAPITALIZE);
    }
    if (!strcmp(name, "title")) {
        no_args(st, line, name, nargs, nkw);
        return jinja_title(st, jv_to_str(st->a, in, line));
    }
    if (!strcmp(name, "string") || !strcmp(name, "safe")) {
        no_args(st, line, name, nargs, nkw);
        return jv_to_str(st->a, in, line);
    }
    if (!strcmp(name, "tojson")) {
        p.v[0] = jv_bool(0);
        BIND("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
        const char *indent = NULL, *item_sep = NULL, *key_sep = NULL;
        jval ind = p.v[1];
        if (ind.type == JV_STR) {
            indent = ja_strndup(st->a, ind.s.p, ind.s.n);
        } else if (ind.type == JV_INT || ind.type == JV_BOOL) {
            int64_t w = ind.i < 0 ? 0 : ind.i;
            if (w > 256) jinja_fail(st->a, line, "tojson: indent too large");
            char *s = ja_alloc(st->a, (size_t)w + 1);
            memset(s, ' ', (size_t)w);
            indent = s;
        } else if (ind.type != JV_NONE) {
            jinja_fail(st->a, line, "tojson: indent must be an integer or a string");
        }
        jval sep = p.v[2];
        if (sep.type == JV_LIST || sep.type == JV_TUPLE) {
            if (sep.l->n != 2 || sep.l->v[0].type != JV_STR || sep.l->v[1].type != JV_STR)
                jinja_fail(st->a, line, "tojson: separators must be two strings");
            item_sep = ja_strndup(st->a, sep.l->v[0].s.p, sep.l->v[0].s.n);
            key_sep = ja_strndup(st->a, sep.l->v[1].s.p, sep.l->v[1].s.n);
        } else if (sep.type != JV_NONE) {
            jinja_fail(st->a, line, "tojson: separators must be a pair of strings");
        }
        jinja_buf b;
        jb_init(&b, st->a);
        jv_write_json(&b, in, line, jv_truthy(p.v[0]), indent, item_sep, key_sep, jv_truthy(p.v[3]));
        return jb_value(&b);
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        p.v[0] = jv_str("", 0);
        p.v[1] = jv_bool(0);
        BIND(name, "default_value", "boolean");
        if (in.type == JV_UNDEF || (jv_truthy(p.v[1]) && !jv_truthy(in))) return p.v[0];
        return in;
    }
    if (!strcmp(name, "join")) {
        p.v[0] = jv_str("", 0);
        BIND("join", "d", "attribute");
        jinja_list *items = jinja_iterate(st, line, in);
        jval sep = jv_to_str(st->a, p.v[0], line);
        jinja_buf b;
        jb_init(&b, st->a);
        for (int i = 0; i < items->n; i++) {
            if (i) jb_put(&b, sep.s.p, sep.s.n);
            jval x = p.given[1] ? get_attribute(st, line, items->v[i], p.v[1], jv_none()) : items->v[i];
            jv_write_str(&b, x, line);
        }
        return jb_value(&b);
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        no_args(st, line, name, nargs, nkw);
        if (name[0] == 'l' && in.type == JV_GEN) jinja_fail(st->a, line, "'generator' object is not reversible");
        jinja_list *items = jinja_iterate(st, line, in);
        if (items->n == 0) return jv_undef(name[0] == 'f' ? "No first item, sequence was empty." : "No last item, sequence was empty.");
        return items->v[name[0] == 'f' ? 0 : items->n - 1];
    }
    if (!strcmp(name, "list")) {
        no_args(st, line, name, nargs, nkw);
        jinja_list *items = jinja_iterate(st, line, in);
        jval out = jv_list(st->a, items->n);
        for (int i = 0; i < items->n; i++) jl_push(st->a, out.l, items->v[i]);
        return out;
    }
    if (!strcmp(name, "items")) {
        no_args(st, line, name, nargs, nkw);
        if (in.type == JV_UNDEF) {
            jval none = jv_list(st->a, 0);
            none.type = JV_GEN;
            return none;
        }
        if (in.type != JV_DICT) jinja_fail(st->a, line, "Can only get item pairs from a mapping.");
        jval out = jv_list(st->a, in.d->n);
        for (int i = 0; i < in.d->n; i++) jl_push(st->a, out.l, tuple_of(st, in.d->keys[i], in.d->vals[i]));
        out.type = JV_GEN;
        return out;
    }
    if (!strcmp(name, "int")) {
        p.v[0] = jv_int(0);
        p.v[1] = jv_int(10);
        BIND("int", "default", "base");
        int64_t base = int_arg(st, line, "int", p.v[1]), i;
        if (base < 2 || base > 36) jinja_fail(st->a, line, "int: base must be between 2 and 36");
        double d;
        switch (in.type) {
        case JV_INT:
        case JV_BOOL: return jv_int(in.i);
        case JV_FLOAT:
            if (isnan(in.f)) return p.v[0];
            if (isinf(in.f) || fabs(in.f) >= 9.2e18) jinja_fail(st->a, line, "int: cannot convert %g to an integer", in.f);
            return jv_int((int64_t)in.f);
        case JV_STR:
            if (parse_py_int(in, (int)base, &i)) return jv_int(i);
            if (parse_py_float(st, in, &d) && !isnan(d)) {
                if (isinf(d) || fabs(d) >= 9.2e18) jinja_fail(st->a, line, "int: cannot convert float infinity to integer");
                return jv_int((int64_t)d);
            }
            return p.v[0];
        case JV_UNDEF: jv_fail_undefined(st->a, line, in);
        default: return p.v[0];
        }
    }
    if (!strcmp(name, "float")) {
        p.v[0] = jv_float(0.0);
        BIND("float", "default");
        double d;
        if (jv_is_number(in)) return jv_float(jv_as_double(in));
        if (in.type == JV_STR && parse_py_float(st, in, &d)) return jv_float(d);
        if (in.type == JV_UNDEF) jv_fail_undefined(st->a, line, in);
        return p.v[0];
    }
    if (!strcmp(name, "abs")) {
        no_args(st, line, name, nargs, nkw);
        if (in.type == JV_FLOAT) return jv_float(fabs(in.f));
        if (in.type == JV_INT || in.type == JV_BOOL) {
            if (in.i == INT64_MIN) jinja_fail(st->a, line, "integer overflow");
            return jv_int(in.i < 0 ? -in.i : in.i);
        }
        if (in.type == JV_UNDEF) jv_fail_undefined(st->a, line, in);
        jinja_fail(st->a, line, "bad operand type for abs(): '%s'", jv_type_name(in));
    }
    if (!strcmp(name, "round")) {
        p.v[0] = jv_int(0);
        p.v[1] = jv_str("common", 6);
        BIND("round", "precision", "method");
        return do_round(st, line, in, int_arg(st, line, "round", p.v[0]), p.v[1]);
    }
    if (!strcmp(name, "replace")) {
        p.v[2] = jv_int(-1);
        BIND("replace", "old", "new", "count");
        if (!p.given[0] || !p.given[1]) jinja_fail(st->a, line, "replace needs old and new");
        int64_t count = p.v[2].type == JV_NONE ? -1 : int_arg(st, line, "replace", p.v[2]);
        return do_replace(st, jv_to_str(st->a, in, line), jv_to_str(st->a, p.v[0], line),
                          jv_to_str(st->a, p.v[1], line), count);
    }
    if (!strcmp(name, "indent")) {
        p.v[0] = jv_int(4);
        p.v[1] = jv_bool(0);
        p.v[2] = jv_bool(0);
        BIND("indent", "width", "first", "blank");
        return do_indent(st, line, jv_to_str(st->a, in, line), p.v[0], jv_truthy(p.v[1]), jv_truthy(p.v[2]));
    }
    if (!strcmp(name, "center")) {
        p.v[0] = jv_int(80);
        BIND("center", "width");
        return pad(st, line, jv_to_str(st->a, in, line), p.v[0], jv_none(), 0);
    }
    if (!strcmp(name, "escape") || !strcmp(name, "e") || !strcmp(name, "forceescape")) {
        no_args(st, line, name, nargs, nkw);
        return html_escape(st, jv_to_str(st->a, in, line));
    }
    if (!strcmp(name, "wordcount")) {
        no_args(st, line, name, nargs, nkw);
        jval s = jv_to_str(st->a, in, line);
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
        return jv_int(words);
    }
    if (!strcmp(name, "reverse")) {
        no_args(st, line, name, nargs, nkw);
        if (in.type == JV_STR) {
            jinja_list *chars = jinja_iterate(st, line, in);
            jinja_buf b;
            jb_init(&b, st->a);
            for (int i = chars->n - 1; i >= 0; i--) jb_put(&b, chars->v[i].s.p, chars->v[i].s.n);
            return jb_value(&b);
        }
        /* reversed() gives an iterator; a generator, which cannot be reversed, becomes a list */
        int was_gen = in.type == JV_GEN;
        jinja_list *items = jinja_iterate(st, line, in);
        jval out = jv_list(st->a, items->n);
        for (int i = items->n - 1; i >= 0; i--) jl_push(st->a, out.l, items->v[i]);
        if (!was_gen) out.type = JV_GEN;
        return out;
    }
    if (!strcmp(name, "map")) {
        jinja_list *items = jinja_iterate(st, line, in);
        jval out = jv_list(st->a, items->n);
        const char *attrkw[] = {"attribute", "default"};
        int by_attr = 0;
        for (int k = 0; k < nkw; k++)
            if (!strcmp(kwnames[k], "attribute")) by_attr = 1;
        if (by_attr) {
            if (nargs) jinja_fail(st->a, line, "map: positional arguments with attribute=");
            jval attr = jv_none(), dflt = jv_none();
            for (int k = 0; k < nkw; k++) {
                if (!strcmp(kwnames[k], attrkw[0])) attr = kwvals[k];
                else if (!strcmp(kwnames[k], attrkw[1])) dflt = kwvals[k];
                else jinja_fail(st->a, line, "map got an unexpected keyword argument '%s'", kwnames[k]);
            }
            for (int i = 0; i < items->n; i++) jl_push(st->a, out.l, get_attribute(st, line, items->v[i], attr, dflt));
            out.type = JV_GEN;
            return out;
        }
        if (nargs < 1) jinja_fail(st->a, line, "map needs a filter name or attribute=");
        jval fname = str_arg(st, line, "map", args[0]);
        const char *fn = ja_strndup(st->a, fname.s.p, fname.s.n);
        if (!jinja_filter_known(fn)) jinja_fail(st->a, line, "unknown filter '%s'", fn);
        for (int i = 0; i < items->n; i++)
            jl_push(st->a, out.l, jinja_filter(st, f, line, fn, items->v[i], args + 1, nargs - 1, kwnames, kwvals, nkw));
        out.type = JV_GEN;
        return out;
    }
    if (!strcmp(name, "select") || !strcmp(name, "reject") || !strcmp(name, "selectattr") ||
        !strcmp(name, "rejectattr")) {
        no_kwargs(st, line, name, nkw);
        return select_items(st, f, line, in, args, nargs, strstr(name, "attr") != NULL, name[0] == 's');
    }
    if (!strcmp(name, "unique")) {
        p.v[0] = jv_bool(0);
        BIND("unique", "case_sensitive", "attribute");
        jinja_list *items = jinja_iterate(st, line, in);
        jval out = jv_list(st->a, 0), seen = jv_list(st->a, 0);
        for (int i = 0; i < items->n; i++) {
            jval k = sort_key(st, line, items->v[i], p.v[1], jv_truthy(p.v[0]));
            int dup = 0;
            for (int j = 0; j < seen.l->n && !dup; j++) dup = jv_equal(st->a, seen.l->v[j], k);
            if (!dup) {
                jl_push(st->a, seen.l, k);
                jl_push(st->a, out.l, items->v[i]);
            }
        }
        out.type = JV_GEN;
        return out;
    }
    if (!strcmp(name, "sort")) {
        p.v[0] = jv_bool(0);
        p.v[1] = jv_bool(0);
        BIND("sort", "reverse", "case_sensitive", "attribute");
        return sorted(st, line, jinja_iterate(st, line, in), p.v[2], jv_truthy(p.v[1]), jv_truthy(p.v[0]));
    }
    if (!strcmp(name, "dictsort")) {
        p.v[0] = jv_bool(0);
        p.v[1] = jv_str("key", 3);
        p.v[2] = jv_bool(0);
        BIND("dictsort", "case_sensitive", "by", "reverse");
        if (in.type != JV_DICT) jinja_fail(st->a, line, "dictsort expects a mapping");
        jval by = str_arg(st, line, "dictsort", p.v[1]);
        int pos = by.s.n == 5 && !memcmp(by.s.p, "value", 5) ? 1 : 0;
        if (!pos && !(by.s.n == 3 && !memcmp(by.s.p, "key", 3)))
            jinja_fail(st->a, line, "You can only sort by either \"key\" or \"value\"");
        jval pairs = jv_list(st->a, in.d->n);
        for (int i = 0; i < in.d->n; i++) jl_push(st->a, pairs.l, tuple_of(st, in.d->keys[i], in.d->vals[i]));
        return sorted(st, line, pairs.l, jv_int(pos), jv_truthy(p.v[0]), jv_truthy(p.v[2]));
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        p.v[0] = jv_bool(0);
        BIND(name, "case_sensitive", "attribute");
        jinja_list *items = jinja_iterate(st, line, in);
        if (items->n == 0) return jv_undef("No aggregated item, sequence was empty.");
        int best = 0;
        jval bk = sort_key(st, line, items->v[0], p.v[1], jv_truthy(p.v[0]));
        for (int i = 1; i < items->n; i++) {
            jval k = sort_key(st, line, items->v[i], p.v[1], jv_truthy(p.v[0]));
            int c = jv_compare(st->a, line, k, bk, "<");
            if (name[1] == 'i' ? c < 0 : c > 0) {
                best = i;
                bk = k;
            }
        }
        return items->v[best];
    }
    if (!strcmp(name, "sum")) {
        p.v[1] = jv_int(0);
        BIND("sum", "attribute", "start");
        jinja_list *items = jinja_iterate(st, line, in);
        jval acc = p.v[1];
        for (int i = 0; i < items->n; i++) {
            jval x = p.given[0] && p.v[0].type != JV_NONE ? get_attribute(st, line, items->v[i], p.v[0], jv_none())
                                                          : items->v[i];
            if (!jv_is_number(acc) || !jv_is_number(x))
                jinja_fail(st->a, line, "sum: unsupported operand type(s) for +: '%s' and '%s'", jv_type_name(acc),
                           jv_type_name(x));
            if (acc.type == JV_FLOAT || x.type == JV_FLOAT) acc = jv_float(jv_as_double(acc) + jv_as_double(x));
            else {
                int64_t v;
                if (__builtin_add_overflow(acc.i, x.i, &v)) jinja_fail(st->a, line, "integer overflow");
                acc = jv_int(v);
            }
        }
        return acc;
    }
    if (!strcmp(name, "attr")) {
        BIND("attr", "name");
        jval nm = str_arg(st, line, "attr", p.v[0]);
        return jinja_getattr(st, line, in, ja_strndup(st->a, nm.s.p, nm.s.n));
    }
    jinja_fail(st->a, line, "filter '%s' is not supported", name);
}

/* ---- methods ---- */

static const char *const str_methods[] = {
    "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
    "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
    "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
    "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
    "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill",
    NULL};
static const char *const dict_methods[] = {"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem",
                                           "setdefault", "update", "values", NULL};
static const char *const list_methods[] = {"append", "clear", "copy", "count", "extend", "index", "insert", "pop",
                                           "remove", "reverse", "sort", NULL};
static const char *const tuple_methods[] = {"count", "index", NULL};

int jinja_has_method(jval self, const char *name) {
    switch (self.type) {
    case JV_STR: return in_list(str_methods, name);
    case JV_DICT: return in_list(dict_methods, name);
    case JV_LIST: return in_list(list_methods, name);
    case JV_TUPLE: return in_list(tuple_methods, name);
    default: return 0;
    }
}

static int char_class(jval s, int which) {
    if (s.s.n == 0) return 0;
    for (size_t i = 0; i < s.s.n;) {
        uint32_t cp;
        i += ju_decode(s.s.p + i, s.s.n - i, &cp);
        int c = cat_of(cp);
        int letter = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
        int digit = c == UTF8PROC_CATEGORY_ND;
        int numeric = c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
        int ok = which == 0 ? digit : which == 1 ? letter : which == 2 ? (letter || numeric) : which == 3 ? ju_isspace(cp)
                 : which == 4 ? numeric : cp < 0x80;
        if (!ok) return 0;
    }
    return 1;
}

static int index_of(jinja_state *st, jval l, jval x) {
    for (int i = 0; i < l.l->n; i++)
        if (jv_equal(st->a, l.l->v[i], x)) return i;
    return -1;
}

static jval str_method(jinja_state *st, int line, jval s, const char *name, jval *args, int nargs,
                       const char **kwnames, jval *kwvals, int nkw) {
    params p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < MAX_PARAMS; i++) p.v[i] = jv_none();
    if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
        BIND(name, "chars");
        return do_strip(st, line, s, p.v[0], name[0] != 'r', name[0] != 'l');
    }
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        p.v[1] = jv_int(-1);
        BIND(name, "sep", "maxsplit");
        return do_split(st, line, s, p.v[0], int_arg(st, line, name, p.v[1]), name[0] == 'r');
    }
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        no_kwargs(st, line, name, nkw);
        BIND(name, "prefix", "start", "end");
        size_t a, b;
        int64_t cs;
        sub_range(st, line, s, p.v[1], p.v[2], &a, &b, &cs);
        return jv_bool(affix_match(st, line, name, jv_str(s.s.p + a, b - a), p.v[0], name[0] == 'e'));
    }
    if (!strcmp(name, "upper")) { no_args(st, line, name, nargs, nkw); return change_case(st, s, CASE_UPPER); }
    if (!strcmp(name, "lower") || !strcmp(name, "casefold")) { no_args(st, line, name, nargs, nkw); return change_case(st, s, CASE_LOWER); }
    if (!strcmp(name, "title")) { no_args(st, line, name, nargs, nkw); return change_case(st, s, CASE_TITLE); }
    if (!strcmp(name, "capitalize")) { no_args(st, line, name, nargs, nkw); return change_case(st, s, CASE_CAPITALIZE); }
    if (!strcmp(name, "swapcase")) { no_args(st, line, name, nargs, nkw); return change_case(st, s, CASE_SWAP); }
    if (!strcmp(name, "replace")) {
        p.v[2] = jv_int(-1);
        BIND(name, "old", "new", "count");
        return do_replace(st, s, str_arg(st, line, name, p.v[0]), str_arg(st, line, name, p.v[1]),
                          int_arg(st, line, name, p.v[2]));
    }
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "index") || !strcmp(name, "rindex") ||
        !strcmp(name, "count")) {
        no_kwargs(st, line, name, nkw);
        BIND(name, "sub", "start", "end");
        jval sub = str_arg(st, line, name, p.v[0]);
        size_t a, b;
        int64_t cs;
        sub_range(st, line, s, p.v[1], p.v[2], &a, &b, &cs);
        const char *h = s.s.p + a;
        size_t hn = b - a;
        if (!strcmp(name, "count")) {
            if (sub.s.n == 0) return jv_int((int64_t)ju_count(h, hn) + 1);
            int64_t c = 0;
            for (const char *q = h; (q = find_bytes(q, hn - (size_t)(q - h), sub.s.p, sub.s.n)); q += sub.s.n) c++;
            return jv_int(c);
        }
        const char *at = name[0] == 'r' ? rfind_bytes(h, hn, sub.s.p, sub.s.n) : find_bytes(h, hn, sub.s.p, sub.s.n);
        if (!at) {
            if (strstr(name, "index")) jinja_fail(st->a, line, "substring not found");
            return jv_int(-1);
        }
        return jv_int(cs + (int64_t)ju_count(h, (size_t)(at - h)));
    }
    if (!strcmp(name, "join")) {
        BIND(name, "iterable");
        jinja_list *items = jinja_iterate(st, line, p.v[0]);
        jinja_buf b;
        jb_init(&b, st->a);
        for (int i = 0; i < items->n; i++) {
            if (items->v[i].type != JV_STR)
                jinja_fail(st->a, line, "sequence item %d: expected str instance, %s found", i,
                           jv_type_name(items->v[i]));
            if (i) jb_put(&b, s.s.p, s.s.n);
            jb_put(&b, items->v[i].s.p, items->v[i].s.n);
        }
        return jb_value(&b);
    }
    if (!strcmp(name, "splitlines")) {
        p.v[0] = jv_bool(0);
        BIND(name, "keepends");
        return splitlines(st, s, jv_truthy(p.v[0]));
    }
    if (!strcmp(name, "partition") || !strcmp(name, "rpartition")) {
        BIND(name, "sep");
        jval sep = str_arg(st, line, name, p.v[0]);
        if (sep.s.n == 0) jinja_fail(st->a, line, "empty separator");
        const char *at = name[0] == 'r' ? rfind_bytes(s.s.p, s.s.n, sep.s.p, sep.s.n) : find_bytes(s.s.p, s.s.n, sep.s.p, sep.s.n);
        jval t = jv_list(st->a, 3);
        t.type = JV_TUPLE;
        if (!at) {
            jval e = jv_str("", 0);
            jl_push(st->a, t.l, name[0] == 'r' ? e : s);
            jl_push(st->a, t.l, e);
            jl_push(st->a, t.l, name[0] == 'r' ? s : e);
            return t;
        }
        size_t k = (size_t)(at - s.s.p);
        jl_push(st->a, t.l, jv_str(s.s.p, k));
        jl_push(st->a, t.l, sep);
        jl_push(st->a, t.l, jv_str(s.s.p + k + sep.s.n, s.s.n - k - sep.s.n));
        return t;
    }
    if (!strcmp(name, "removeprefix") || !strcmp(name, "removesuffix")) {
        BIND(name, "affix");
        jval a = str_arg(st, line, name, p.v[0]);
        int suffix = name[6] == 's';
        if (!affix_match(st, line, name, s, a, suffix)) return s;
        return jv_str(suffix ? s.s.p : s.s.p + a.s.n, s.s.n - a.s.n);
    }
    if (!strcmp(name, "center") || !strcmp(name, "ljust") || !strcmp(name, "rjust")) {
        BIND(name, "width", "fillchar");
        return pad(st, line, s, p.v[0], p.v[1], name[0] == 'c' ? 0 : name[0] == 'l' ? 1 : 2);
    }
    if (!strcmp(name, "zfill")) {
        BIND(name, "width");
        int64_t w = int_arg(st, line, name, p.v[0]), n = (int64_t)ju_count(s.s.p, s.s.n);
        if (w <= n) return s;
        if (w > JINJA_MAX_STRING) jinja_fail(st->a, line, "width too large");
        jinja_buf b;
        jb_init(&b, st->a);
        size_t skip = s.s.n && (s.s.p[0] == '+' || s.s.p[0] == '-');
        jb_put(&b, s.s.p, skip);
        for (int64_t i = 0; i < w - n; i++) jb_putc(&b, '0');
        jb_put(&b, s.s.p + skip, s.s.n - skip);
        return jb_value(&b);
    }
    static const char *const classes[] = {"isdigit", "isalpha", "isalnum", "isspace", "isnumeric", "isascii"};
    for (int c = 0; c < 6; c++)
        if (!strcmp(name, classes[c])) { no_args(st, line, name, nargs, nkw); return jv_bool(c == 5 && s.s.n == 0 ? 1 : char_class(s, c)); }
    if (!strcmp(name, "isdecimal")) { no_args(st, line, name, nargs, nkw); return jv_bool(char_class(s, 0)); }
    if (!strcmp(name, "islower") || !strcmp(name, "isupper")) { no_args(st, line, name, nargs, nkw); return jv_bool(str_has_case(s, name[2] == 'u')); }
    if (!strcmp(name, "istitle")) {
        no_args(st, line, name, nargs, nkw);
        jval t = change_case(st, s, CASE_TITLE);
        int cased = 0;
        for (size_t i = 0; i < s.s.n;) {
            uint32_t cp;
            i += ju_decode(s.s.p + i, s.s.n - i, &cp);
            cased |= is_cased(cp);
        }
        return jv_bool(cased && t.s.n == s.s.n && !memcmp(t.s.p, s.s.p, s.s.n));
    }
    jinja_fail(st->a, line, "str method '%s' is not supported", name);
}

jval jinja_method_call(jinja_state *st, int line, jval self, const char *name, jval *args, int nargs,
                       const char **kwnames, jval *kwvals, int nkw) {
    params p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < MAX_PARAMS; i++) p.v[i] = jv_none();
    switch (self.type) {
    case JV_STR: return str_method(st, line, self, name, args, nargs, kwnames, kwvals, nkw);
    case JV_DICT:
        if (!strcmp(name, "get")) {
            no_kwargs(st, line, name, nkw);
            BIND(name, "key", "default");
            if (!p.given[0]) jinja_fail(st->a, line, "get expected at least 1 argument, got 0");
            jval *v = jd_find(self.d, p.v[0]);
            return v ? *v : p.v[1];
        }
        if (!strcmp(name, "items") || !strcmp(name, "keys") || !strcmp(name, "values")) {
            no_args(st, line, name, nargs, nkw);
            jval out = jv_list(st->a, self.d->n);
            for (int i = 0; i < self.d->n; i++)
                jl_push(st->a, out.l, name[0] == 'i' ? tuple_of(st, self.d->keys[i], self.d->vals[i])
                                      : name[0] == 'k' ? self.d->keys[i] : self.d->vals[i]);
            return out;
        }
        if (!strcmp(name, "copy")) {
            no_args(st, line, name, nargs, nkw);
            jval out = jv_dict(st->a, self.d->n);
            for (int i = 0; i < self.d->n; i++) jd_set(st->a, out.d, self.d->keys[i], self.d->vals[i]);
            return out;
        }
        break;
    case JV_LIST:
    case JV_TUPLE:
        if (!strcmp(name, "index")) {
            BIND(name, "value");
            int i = index_of(st, self, p.v[0]);
            if (i < 0) jinja_fail(st->a, line, "%s.index(x): x not in %s", jv_type_name(self), jv_type_name(self));
            return jv_int(i);
        }
        if (!strcmp(name, "count")) {
            BIND(name, "value");
            int64_t c = 0;
            for (int i = 0; i < self.l->n; i++) c += jv_equal(st->a, self.l->v[i], p.v[0]);
            return jv_int(c);
        }
        if (!strcmp(name, "copy") && self.type == JV_LIST) {
            no_args(st, line, name, nargs, nkw);
            jval out = jv_list(st->a, self.l->n);
            for (int i = 0; i < self.l->n; i++) jl_push(st->a, out.l, self.l->v[i]);
            return out;
        }
        break;
    case JV_LOOP:
        if (!strcmp(name, "cycle")) {
            no_kwargs(st, line, name, nkw);
            if (nargs == 0) jinja_fail(st->a, line, "no items for cycling given");
            return args[self.loop->index0 % nargs];
        }
        break;
    default: break;
    }
    jinja_fail(st->a, line, "access to attribute '%s' of '%s' object is unsafe or not supported", name,
               jv_type_name(self));
}

/* ---- global functions ---- */

static const char *const global_names[] = {"range", "namespace", "dict", "raise_exception", "strftime_now",
                                           "lipsum", "cycler", "joiner", NULL};

int jinja_global_lookup(const char *name) {
    for (int i = 0; global_names[i]; i++)
        if (!strcmp(global_names[i], name)) return i;
    return -1;
}

/* dict(...) / namespace(...): an optional mapping (or list of pairs), then keyword arguments. */
static jval build_dict(jinja_state *st, int line, const char *what, jval *args, int nargs, const char **kwnames,
                       jval *kwvals, int nkw) {
    jval d = jv_dict(st->a, nkw);
    if (nargs > 1) jinja_fail(st->a, line, "%s expected at most 1 positional argument, got %d", what, nargs);
    if (nargs == 1) {
        jval src = args[0];
        if (src.type == JV_DICT || src.type == JV_NS) {
            for (int i = 0; i < src.d->n; i++) jd_set(st->a, d.d, src.d->keys[i], src.d->vals[i]);
        } else {
            jinja_list *items = jinja_iterate(st, line, src);
            for (int i = 0; i < items->n; i++) {
                jval it = items->v[i];
                if ((it.type != JV_LIST && it.type != JV_TUPLE) || it.l->n != 2)
                    jinja_fail(st->a, line, "%s: sequence elements must be pairs", what);
                jd_set(st->a, d.d, it.l->v[0], it.l->v[1]);
            }
        }
    }
    for (int k = 0; k < nkw; k++) jd_set(st->a, d.d, jv_cstr(kwnames[k]), kwvals[k]);
    return d;
}

jval jinja_global_call(jinja_state *st, int line, int fn, jval *args, int nargs, const char **kwnames,
                       jval *kwvals, int nkw) {
    switch (fn) {
    case JF_RANGE: {
        no_kwargs(st, line, "range", nkw);
        if (nargs < 1 || nargs > 3) jinja_fail(st->a, line, "range expected 1 to 3 arguments, got %d", nargs);
        int64_t start = 0, stop, stp = 1;
        if (nargs == 1) stop = int_arg(st, line, "range", args[0]);
        else {
            start = int_arg(st, line, "range", args[0]);
            stop = int_arg(st, line, "range", args[1]);
            if (nargs == 3) stp = int_arg(st, line, "range", args[2]);
        }
        if (stp == 0) jinja_fail(st->a, line, "range() arg 3 must not be zero");
        double count = stp > 0 ? ceil(((double)stop - (double)start) / (double)stp)
                               : ceil(((double)start - (double)stop) / (double)-stp);
        if (count > JINJA_MAX_RANGE)
            jinja_fail(st->a, line, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).",
                       JINJA_MAX_RANGE);
        jval out = jv_list(st->a, count > 0 ? (int)count : 0);
        for (int64_t i = start; stp > 0 ? i < stop : i > stop; i += stp) jl_push(st->a, out.l, jv_int(i));
        return out;
    }
    case JF_NAMESPACE: {
        jval d = build_dict(st, line, "namespace", args, nargs, kwnames, kwvals, nkw);
        for (int i = 0; i < d.d->n; i++)
            if (d.d->keys[i].type == JV_STR && d.d->keys[i].s.n > 0 && d.d->keys[i].s.p[0] == '_')
                jinja_fail(st->a, line, "chat templates cannot store underscore-prefixed attributes on a namespace");
        d.type = JV_NS;
        return d;
    }
    case JF_DICT: return build_dict(st, line, "dict", args, nargs, kwnames, kwvals, nkw);
    case JF_RAISE: {
        jinja_buf b;
        jb_init(&b, st->a);
        for (int i = 0; i < nargs; i++) jv_write_str(&b, args[i], line);
        jb_putc(&b, 0);
        jinja_fail(st->a, line, "%s", b.p);
    }
    case JF_STRFTIME: {
        no_kwargs(st, line, "strftime_now", nkw);
        if (nargs != 1) jinja_fail(st->a, line, "strftime_now takes one argument");
        jval fmt = str_arg(st, line, "strftime_now", args[0]);
        if (fmt.s.n == 0) return jv_str("", 0);
        if (fmt.s.n > 256) jinja_fail(st->a, line, "strftime_now: format too long");
        char *cf = ja_strndup(st->a, fmt.s.p, fmt.s.n);
        char out[4096];
        size_t n = strftime(out, sizeof out, cf, &st->now);
        if (n == 0) jinja_fail(st->a, line, "strftime_now: bad format");
        return jv_strcopy(st->a, out, n);
    }
    default: jinja_fail(st->a, line, "function '%s' is not supported", global_names[fn]);
    }
}
