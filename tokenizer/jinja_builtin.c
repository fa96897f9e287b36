/* Jinja's filters and tests, the Python methods of str/dict/list that templates call, and the globals
 * (range, namespace, dict, raise_exception, strftime_now). Each follows the Python or Jinja function of
 * the same name; arguments bind by position or keyword as in Python. */
#include "jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
                js_parse_int(key, 10, &i);
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
    if (!case_sensitive && k.type == JV_STR) k = js_change_case(st->a, k, CASE_LOWER);
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
    jinja_list *lines = js_splitlines(st->a, jb_value(&sb), 0).l;
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

int jinja_filter_known(const char *name) { return jinja_name_in(jinja_filters, name); }
int jinja_test_known(const char *name) { return jinja_name_in(jinja_tests, name); }


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
    if (!strcmp(name, "escaped")) return v.type == JV_STR && v.markup;
    if (!strcmp(name, "filter")) return v.type == JV_STR && jinja_filter_known(ja_strndup(st->a, v.s.p, v.s.n));
    if (!strcmp(name, "test")) return v.type == JV_STR && jinja_test_known(ja_strndup(st->a, v.s.p, v.s.n));
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        jval s = jv_to_str(st->a, v, line);
        return js_has_case(s, name[0] == 'u');
    }
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        jval m = jinja_binop(st, line, OP_MOD, v, jv_int(2));
        return jv_equal(st->a, m, jv_int(name[0] == 'o' ? 1 : 0));
    }
    if (nargs != 1) jinja_fail(st->a, line, "test '%s' takes one argument", name);
    if (!strcmp(name, "divisibleby")) return jv_equal(st->a, jinja_binop(st, line, OP_MOD, v, arg), jv_int(0));
    if (!strcmp(name, "sameas")) {
        if (v.type != arg.type) return 0;
        switch (v.type) {
        case JV_NONE:
        case JV_UNDEF: return 1;
        case JV_BOOL:
        case JV_INT: return v.i == arg.i;
        case JV_FLOAT: return v.f == arg.f;
        case JV_STR: return v.s.n == arg.s.n && memcmp(v.s.p, arg.s.p, v.s.n) == 0;
        case JV_FUNC: return v.fn == arg.fn;
        default: return v.l == arg.l; /* the same object (the pointer members share their storage) */
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
    /* Jinja's select_or_reject only iterates a true value: none gives nothing */
    jinja_list *items = jv_truthy(in) ? jinja_iterate(st, line, in) : jv_list(st->a, 0).l;
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

/* Filters that run a str method keep a Markup string Markup. */
static jval keep_markup(jval in, jval out) {
    out.markup = in.type == JV_STR && in.markup;
    return out;
}

static jval apply_filter(jinja_state *st, jinja_frame *f, int line, const char *name, jval in, jval *args,
                         int nargs, const char **kwnames, jval *kwvals, int nkw);

jval jinja_filter(jinja_state *st, jinja_frame *f, int line, const char *name, jval in, jval *args, int nargs,
                  const char **kwnames, jval *kwvals, int nkw) {
    jval out = apply_filter(st, f, line, name, in, args, nargs, kwnames, kwvals, nkw);
    static const char *const keeping[] = {"trim", "upper", "lower", "capitalize", "title", "center", "indent", NULL};
    if (out.type == JV_STR && jinja_name_in(keeping, name)) out = keep_markup(in, out);
    return out;
}

static jval apply_filter(jinja_state *st, jinja_frame *f, int line, const char *name, jval in, jval *args,
                         int nargs, const char **kwnames, jval *kwvals, int nkw) {
    params p;
    memset(&p, 0, sizeof p);
    for (int i = 0; i < MAX_PARAMS; i++) p.v[i] = jv_none();
    if (!strcmp(name, "trim")) {
        BIND("trim", "chars");
        return js_strip(st->a, line, jv_to_str(st->a, in, line), p.v[0], 1, 1);
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        no_args(st, line, name, nargs, nkw);
        return do_length(st, line, in);
    }
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize")) {
        no_args(st, line, name, nargs, nkw);
        jval s = jv_to_str(st->a, in, line);
        return js_change_case(st->a, s, name[0] == 'u' ? CASE_UPPER : name[0] == 'l' ? CASE_LOWER : CASE_CAPITALIZE);
    }
    if (!strcmp(name, "title")) {
        no_args(st, line, name, nargs, nkw);
        return js_title_words(st->a, jv_to_str(st->a, in, line));
    }
    if (!strcmp(name, "string")) {
        no_args(st, line, name, nargs, nkw);
        return jv_to_str(st->a, in, line);
    }
    if (!strcmp(name, "safe")) {
        no_args(st, line, name, nargs, nkw);
        jval s = jv_to_str(st->a, in, line);
        s.markup = 1;
        return s;
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
        if (name[0] == 'l' && in.type == JV_GEN)
            jinja_fail(st->a, line, "'generator' object is not reversible");
        jinja_list *items = jinja_iterate(st, line, in);
        if (items->n == 0 && name[0] == 'f') return jv_undef("No first item, sequence was empty.");
        if (items->n == 0) return jv_undef("No last item, sequence was empty.");
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
            if (isinf(in.f) || fabs(in.f) >= 9.2e18)
                jinja_fail(st->a, line, "int: cannot convert %g to an integer", in.f);
            return jv_int((int64_t)in.f);
        case JV_STR:
            if (js_parse_int(in, (int)base, &i)) return jv_int(i);
            if (js_parse_float(st->a, in, &d) && !isnan(d)) {
                if (isinf(d) || fabs(d) >= 9.2e18)
                    jinja_fail(st->a, line, "int: cannot convert %g to an integer", d);
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
        if (in.type == JV_STR && js_parse_float(st->a, in, &d)) return jv_float(d);
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
        return js_replace(st->a, jv_to_str(st->a, in, line), jv_to_str(st->a, p.v[0], line),
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
        return js_pad(st->a, line, jv_to_str(st->a, in, line), int_arg(st, line, "center", p.v[0]), jv_none(), 0);
    }
    if (!strcmp(name, "escape") || !strcmp(name, "e") || !strcmp(name, "forceescape")) {
        no_args(st, line, name, nargs, nkw);
        if (in.type == JV_STR && in.markup && name[0] != 'f') return in;
        return jv_html_escape(st->a, jv_to_str(st->a, in, line));
    }
    if (!strcmp(name, "wordcount")) {
        no_args(st, line, name, nargs, nkw);
        return jv_int(js_wordcount(jv_to_str(st->a, in, line)));
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
        jinja_list *items = jv_truthy(in) ? jinja_iterate(st, line, in) : jv_list(st->a, 0).l;
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
            jl_push(st->a, out.l,
                    jinja_filter(st, f, line, fn, items->v[i], args + 1, nargs - 1, kwnames, kwvals, nkw));
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
        return js_strip(st->a, line, s, p.v[0], name[0] != 'r', name[0] != 'l');
    }
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        p.v[1] = jv_int(-1);
        BIND(name, "sep", "maxsplit");
        return js_split(st->a, line, s, p.v[0], int_arg(st, line, name, p.v[1]), name[0] == 'r');
    }
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        no_kwargs(st, line, name, nkw);
        BIND(name, "prefix", "start", "end");
        size_t a, b;
        int64_t cs;
        sub_range(st, line, s, p.v[1], p.v[2], &a, &b, &cs);
        return jv_bool(affix_match(st, line, name, jv_str(s.s.p + a, b - a), p.v[0], name[0] == 'e'));
    }
    static const char *const no_arg_methods[] = {"upper",   "lower",   "casefold",  "title",   "capitalize",
                                                 "swapcase", "isdigit", "isdecimal", "isalpha", "isalnum",
                                                 "isspace", "isnumeric", "isascii", "islower", "isupper",
                                                 "istitle", NULL};
    if (jinja_name_in(no_arg_methods, name)) no_args(st, line, name, nargs, nkw);
    if (!strcmp(name, "upper")) return js_change_case(st->a, s, CASE_UPPER);
    if (!strcmp(name, "lower") || !strcmp(name, "casefold")) return js_change_case(st->a, s, CASE_LOWER);
    if (!strcmp(name, "title")) return js_change_case(st->a, s, CASE_TITLE);
    if (!strcmp(name, "capitalize")) return js_change_case(st->a, s, CASE_CAPITALIZE);
    if (!strcmp(name, "swapcase")) return js_change_case(st->a, s, CASE_SWAP);
    if (!strcmp(name, "replace")) {
        p.v[2] = jv_int(-1);
        BIND(name, "old", "new", "count");
        return js_replace(st->a, s, str_arg(st, line, name, p.v[0]), str_arg(st, line, name, p.v[1]),
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
            for (const char *q = h; (q = js_find(q, hn - (size_t)(q - h), sub.s.p, sub.s.n)); q += sub.s.n) c++;
            return jv_int(c);
        }
        const char *at = name[0] == 'r' ? js_rfind(h, hn, sub.s.p, sub.s.n) : js_find(h, hn, sub.s.p, sub.s.n);
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
        return js_splitlines(st->a, s, jv_truthy(p.v[0]));
    }
    if (!strcmp(name, "partition") || !strcmp(name, "rpartition")) {
        BIND(name, "sep");
        jval sep = str_arg(st, line, name, p.v[0]);
        if (sep.s.n == 0) jinja_fail(st->a, line, "empty separator");
        const char *at = name[0] == 'r' ? js_rfind(s.s.p, s.s.n, sep.s.p, sep.s.n)
                                        : js_find(s.s.p, s.s.n, sep.s.p, sep.s.n);
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
        int mode = name[0] == 'c' ? 0 : name[0] == 'l' ? 1 : 2;
        return js_pad(st->a, line, s, int_arg(st, line, name, p.v[0]), p.v[1], mode);
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
        if (!strcmp(name, classes[c])) return jv_bool(c == 5 && s.s.n == 0 ? 1 : js_char_class(s, c));
    if (!strcmp(name, "isdecimal")) return jv_bool(js_char_class(s, 0));
    if (!strcmp(name, "islower") || !strcmp(name, "isupper")) return jv_bool(js_has_case(s, name[2] == 'u'));
    if (!strcmp(name, "istitle")) return jv_bool(js_istitle(st->a, s));
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
        if (src.type == JV_UNDEF) jv_fail_undefined(st->a, line, src);
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
        out.l->is_range = 1;
        out.l->range[0] = start;
        out.l->range[1] = stop;
        out.l->range[2] = stp;
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
