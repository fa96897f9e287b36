/* What expressions do to values, as Python and Jinja define it: attribute and item access, slicing,
 * iteration, arithmetic, comparison and membership. The evaluator and the filters both build on these. */
#include "jinja.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *jinja_hint(jinja_state *st, const char *fmt, const char *a, const char *b) {
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *s = ja_alloc(st->a, n);
    snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

int jinja_name_in(const char *const *list, const char *name) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

/* ---- attribute and item access (Jinja's sandboxed getattr / getitem) ---- */

static jval no_attribute(jinja_state *st, jval obj, const char *name) {
    if (obj.type == JV_NONE) return jv_undef(jinja_hint(st, "'None' has no attribute '%s'%s", name, NULL));
    return jv_undef(jinja_hint(st, "'%s object' has no attribute '%s'", jv_type_name(obj), name));
}

static jval method_value(jinja_state *st, jval self, const char *name) {
    jval v = {.type = JV_METHOD};
    v.meth = ja_alloc(st->a, sizeof(jinja_method));
    v.meth->self = self;
    v.meth->name = name;
    return v;
}

static jval loop_attr(jinja_state *st, jval obj, const char *name) {
    jinja_loop *l = obj.loop;
    int64_t n = l->items->n, i = l->index0;
    if (!strcmp(name, "index")) return jv_int(i + 1);
    if (!strcmp(name, "index0")) return jv_int(i);
    if (!strcmp(name, "revindex")) return jv_int(n - i);
    if (!strcmp(name, "revindex0")) return jv_int(n - i - 1);
    if (!strcmp(name, "first")) return jv_bool(i == 0);
    if (!strcmp(name, "last")) return jv_bool(i == n - 1);
    if (!strcmp(name, "length")) return jv_int(n);
    if (!strcmp(name, "depth")) return jv_int(l->depth);
    if (!strcmp(name, "depth0")) return jv_int(l->depth - 1);
    if (!strcmp(name, "previtem"))
        return i > 0 ? l->items->v[i - 1] : jv_undef("there is no previous item");
    if (!strcmp(name, "nextitem"))
        return i + 1 < n ? l->items->v[i + 1] : jv_undef("there is no next item");
    if (!strcmp(name, "cycle") || !strcmp(name, "changed")) return method_value(st, obj, name);
    return no_attribute(st, obj, name);
}

jval jinja_getattr(jinja_state *st, int line, jval obj, const char *name) {
    switch (obj.type) {
    case JV_UNDEF: jv_fail_undefined(st->a, line, obj);
    case JV_DICT: {
        if (jinja_has_method(obj, name)) return method_value(st, obj, name);
        jval *v = jd_find_str(obj.d, name);
        return v ? *v : no_attribute(st, obj, name);
    }
    case JV_NS: {
        jval *v = jd_find_str(obj.d, name);
        return v ? *v : no_attribute(st, obj, name);
    }
    case JV_LOOP: return loop_attr(st, obj, name);
    case JV_STR:
    case JV_LIST:
    case JV_TUPLE:
        if (jinja_has_method(obj, name)) return method_value(st, obj, name);
        return no_attribute(st, obj, name);
    default: return no_attribute(st, obj, name);
    }
}

jval jinja_getitem(jinja_state *st, int line, jval obj, jval key) {
    if (obj.type == JV_UNDEF) jv_fail_undefined(st->a, line, obj);
    if (key.type == JV_UNDEF) jv_fail_undefined(st->a, line, key);
    if (obj.type == JV_DICT) {
        jval *v = jd_find(obj.d, key);
        if (v) return *v;
    } else if ((obj.type == JV_LIST || obj.type == JV_TUPLE || obj.type == JV_STR) &&
               (key.type == JV_INT || key.type == JV_BOOL)) {
        int64_t n = obj.type == JV_STR ? (int64_t)ju_count(obj.s.p, obj.s.n) : obj.l->n;
        int64_t i = key.i < 0 ? key.i + n : key.i;
        if (i >= 0 && i < n) {
            if (obj.type != JV_STR) return obj.l->v[i];
            size_t off = ju_offset(obj.s.p, obj.s.n, (size_t)i);
            uint32_t cp;
            size_t k = ju_decode(obj.s.p + off, obj.s.n - off, &cp);
            return jv_str(obj.s.p + off, k);
        }
        char idx[32];
        snprintf(idx, sizeof idx, "%lld", (long long)key.i);
        return jv_undef(jinja_hint(st, "'%s object' has no element %s", jv_type_name(obj), idx));
    }
    if (key.type == JV_STR) {
        /* obj[key] failed: Jinja then tries the attribute of that name. */
        const char *name = ja_strndup(st->a, key.s.p, key.s.n);
        return jinja_getattr(st, line, obj, name);
    }
    jinja_buf b;
    jb_init(&b, st->a);
    jv_write_repr(&b, key, line, 0);
    jb_putc(&b, 0);
    return jv_undef(jinja_hint(st, "'%s object' has no element %s", jv_type_name(obj), b.p));
}

/* ---- the methods each type has (jinja_builtin.c carries them out) ---- */

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
    case JV_STR: return jinja_name_in(str_methods, name);
    case JV_DICT: return jinja_name_in(dict_methods, name);
    case JV_LIST: return jinja_name_in(list_methods, name);
    case JV_TUPLE: return jinja_name_in(tuple_methods, name);
    default: return 0;
    }
}

/* ---- slicing and iteration ---- */

/* Python's slice.indices() for a sequence of length n. */
static void slice_indices(jinja_state *st, int line, const jval *parts, int64_t n, int64_t *start, int64_t *stop,
                          int64_t *stepv) {
    for (int k = 0; k < 3; k++) {
        if (parts[k].type == JV_UNDEF) jv_fail_undefined(st->a, line, parts[k]);
        if (parts[k].type != JV_NONE && parts[k].type != JV_INT && parts[k].type != JV_BOOL)
            jinja_fail(st->a, line, "slice indices must be integers or None");
    }
    int64_t s = parts[2].type == JV_NONE ? 1 : parts[2].i;
    if (s == 0) jinja_fail(st->a, line, "slice step cannot be zero");
    int64_t lower = s > 0 ? 0 : -1, upper = s > 0 ? n : n - 1;
    int64_t v[2];
    for (int k = 0; k < 2; k++) {
        if (parts[k].type == JV_NONE) {
            v[k] = (k == 0) == (s > 0) ? lower : upper;
        } else {
            int64_t x = parts[k].i;
            if (x < 0) {
                x += n;
                if (x < lower) x = lower;
            } else if (x > upper) {
                x = upper;
            }
            v[k] = x;
        }
    }
    *start = v[0];
    *stop = v[1];
    *stepv = s;
}

/* obj[start:stop:step], parts being the three (None where left out). */
jval jinja_slice(jinja_state *st, int line, jval obj, const jval *parts) {
    if (obj.type == JV_UNDEF) jv_fail_undefined(st->a, line, obj);
    if (obj.type != JV_STR && obj.type != JV_LIST && obj.type != JV_TUPLE)
        return jv_undef(jinja_hint(st, "'%s object' cannot be sliced%s", jv_type_name(obj), NULL));
    int64_t n = obj.type == JV_STR ? (int64_t)ju_count(obj.s.p, obj.s.n) : obj.l->n;
    int64_t start, stop, s;
    slice_indices(st, line, parts, n, &start, &stop, &s);
    if (obj.type == JV_STR) {
        if (s == 1) {
            if (stop <= start) return jv_str("", 0);
            size_t a = ju_offset(obj.s.p, obj.s.n, (size_t)start);
            size_t b = a + ju_offset(obj.s.p + a, obj.s.n - a, (size_t)(stop - start));
            return jv_str(obj.s.p + a, b - a);
        }
        /* General step: index the code points first. */
        size_t *off = ja_alloc(st->a, sizeof(size_t) * (size_t)(n + 1));
        size_t pos = 0;
        for (int64_t i = 0; i <= n; i++) {
            off[i] = pos;
            if (i < n) {
                uint32_t cp;
                pos += ju_decode(obj.s.p + pos, obj.s.n - pos, &cp);
            }
        }
        jinja_buf b;
        jb_init(&b, st->a);
        for (int64_t i = start; s > 0 ? i < stop : i > stop; i += s) jb_put(&b, obj.s.p + off[i], off[i + 1] - off[i]);
        return jb_value(&b);
    }
    jval out = jv_list(st->a, 0);
    out.type = obj.type;
    for (int64_t i = start; s > 0 ? i < stop : i > stop; i += s) jl_push(st->a, out.l, obj.l->v[i]);
    return out;
}

jinja_list *jinja_iterate(jinja_state *st, int line, jval v) {
    switch (v.type) {
    case JV_LIST:
    case JV_TUPLE: return v.l;
    case JV_UNDEF: return jv_list(st->a, 0).l;
    case JV_GEN: {
        /* A generator yields its items once. */
        jinja_list *l = ja_alloc(st->a, sizeof(jinja_list));
        *l = *v.l;
        v.l->n = 0;
        return l;
    }
    case JV_DICT: {
        jval l = jv_list(st->a, v.d->n);
        for (int i = 0; i < v.d->n; i++) jl_push(st->a, l.l, v.d->keys[i]);
        return l.l;
    }
    case JV_STR: {
        jval l = jv_list(st->a, 0);
        for (size_t i = 0; i < v.s.n;) {
            uint32_t cp;
            size_t k = ju_decode(v.s.p + i, v.s.n - i, &cp);
            jl_push(st->a, l.l, jv_str(v.s.p + i, k));
            i += k;
        }
        return l.l;
    }
    default: jinja_fail(st->a, line, "'%s' object is not iterable", jv_type_name(v));
    }
}

/* ---- operators ---- */

static void check_overflow(jinja_state *st, int line, int overflow) {
    if (overflow) jinja_fail(st->a, line, "integer overflow");
}

static double py_fmod(double x, double y) {
    double m = fmod(x, y);
    if (m != 0 && ((y < 0) != (m < 0))) m += y;
    else if (m == 0) m = copysign(0.0, y);
    return m;
}

static jval repeat(jinja_state *st, int line, jval seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.type == JV_STR) {
        if (seq.s.n && (uint64_t)times > JINJA_MAX_STRING / seq.s.n)
            jinja_fail(st->a, line, "string repetition too large");
        jinja_buf b;
        jb_init(&b, st->a);
        for (int64_t i = 0; i < times; i++) jb_put(&b, seq.s.p, seq.s.n);
        jval out = jb_value(&b);
        out.markup = seq.markup;
        return out;
    }
    if (seq.l->n && (uint64_t)times > (uint64_t)JINJA_MAX_RANGE * 10 / (uint64_t)seq.l->n)
        jinja_fail(st->a, line, "list repetition too large");
    jval out = jv_list(st->a, 0);
    out.type = seq.type;
    for (int64_t i = 0; i < times; i++)
        for (int k = 0; k < seq.l->n; k++) jl_push(st->a, out.l, seq.l->v[k]);
    return out;
}

/* str, list or tuple: what "*" repeats (a range does not repeat) */
static int is_sequence(jval v) {
    return v.type == JV_STR || ((v.type == JV_LIST || v.type == JV_TUPLE) && !v.l->is_range);
}

static _Noreturn void bad_operands(jinja_state *st, int line, const char *op, jval l, jval r) {
    if (l.type == JV_STR && r.type != JV_STR && !strcmp(op, "+"))
        jinja_fail(st->a, line, "can only concatenate str (not \"%s\") to str", jv_type_name(r));
    if (l.type == JV_LIST && !strcmp(op, "+"))
        jinja_fail(st->a, line, "can only concatenate list (not \"%s\") to list", jv_type_name(r));
    jinja_fail(st->a, line, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(l),
               jv_type_name(r));
}

jval jinja_binop(jinja_state *st, int line, int op, jval l, jval r) {
    static const char *const names[] = {"", "+", "-", "*", "/", "//", "%", "**"};
    if (l.type == JV_UNDEF) jv_fail_undefined(st->a, line, l);
    if (r.type == JV_UNDEF) jv_fail_undefined(st->a, line, r);
    int nums = jv_is_number(l) && jv_is_number(r);
    int ints = nums && l.type != JV_FLOAT && r.type != JV_FLOAT;
    int64_t v = 0;
    switch (op) {
    case OP_ADD:
        if (ints) {
            check_overflow(st, line, __builtin_add_overflow(l.i, r.i, &v));
            return jv_int(v);
        }
        if (nums) return jv_float(jv_as_double(l) + jv_as_double(r));
        if (l.type == JV_STR && r.type == JV_STR) {
            /* Markup + str escapes the str (markupsafe), as templates that use |safe rely on */
            if (l.markup && !r.markup) r = jv_html_escape(st->a, r);
            if (r.markup && !l.markup) l = jv_html_escape(st->a, l);
            jinja_buf b;
            jb_init(&b, st->a);
            jb_put(&b, l.s.p, l.s.n);
            jb_put(&b, r.s.p, r.s.n);
            jval out = jb_value(&b);
            out.markup = l.markup;
            return out;
        }
        if ((l.type == JV_LIST || l.type == JV_TUPLE) && l.type == r.type && !l.l->is_range && !r.l->is_range) {
            jval out = jv_list(st->a, l.l->n + r.l->n);
            out.type = l.type;
            for (int i = 0; i < l.l->n; i++) jl_push(st->a, out.l, l.l->v[i]);
            for (int i = 0; i < r.l->n; i++) jl_push(st->a, out.l, r.l->v[i]);
            return out;
        }
        break;
    case OP_SUB:
        if (ints) {
            check_overflow(st, line, __builtin_sub_overflow(l.i, r.i, &v));
            return jv_int(v);
        }
        if (nums) return jv_float(jv_as_double(l) - jv_as_double(r));
        break;
    case OP_MUL:
        if (ints) {
            check_overflow(st, line, __builtin_mul_overflow(l.i, r.i, &v));
            return jv_int(v);
        }
        if (nums) return jv_float(jv_as_double(l) * jv_as_double(r));
        if (is_sequence(l) && (r.type == JV_INT || r.type == JV_BOOL)) return repeat(st, line, l, r.i);
        if (is_sequence(r) && (l.type == JV_INT || l.type == JV_BOOL)) return repeat(st, line, r, l.i);
        break;
    case OP_DIV:
        if (nums) {
            if (jv_as_double(r) == 0) jinja_fail(st->a, line, "division by zero");
            return jv_float(jv_as_double(l) / jv_as_double(r));
        }
        break;
    case OP_FLOORDIV:
    case OP_MOD:
        if (nums && jv_as_double(r) == 0)
            jinja_fail(st->a, line, op == OP_MOD ? "modulo by zero" : "integer division or modulo by zero");
        if (ints) {
            if (l.i == INT64_MIN && r.i == -1) jinja_fail(st->a, line, "integer overflow");
            int64_t q = l.i / r.i, m = l.i % r.i;
            if (m != 0 && ((m < 0) != (r.i < 0))) {
                q--;
                m += r.i;
            }
            return jv_int(op == OP_MOD ? m : q);
        }
        if (nums) {
            double x = jv_as_double(l), y = jv_as_double(r);
            if (op == OP_MOD) return jv_float(py_fmod(x, y));
            /* float.__floordiv__ as CPython computes it */
            double m = fmod(x, y), div = (x - m) / y;
            if (m != 0 && ((y < 0) != (m < 0))) div -= 1.0;
            if (div == 0) return jv_float(copysign(0.0, x / y));
            double fl = floor(div);
            if (div - fl > 0.5) fl += 1.0;
            return jv_float(fl);
        }
        if (l.type == JV_STR && op == OP_MOD)
            jinja_fail(st->a, line, "string formatting with '%%' is not supported");
        break;
    case OP_POW:
        if (ints && r.i >= 0) {
            int64_t acc = 1, base = l.i, e = r.i;
            while (e > 0) {
                if (e & 1) check_overflow(st, line, __builtin_mul_overflow(acc, base, &acc));
                e >>= 1;
                if (e) check_overflow(st, line, __builtin_mul_overflow(base, base, &base));
            }
            return jv_int(acc);
        }
        if (nums) {
            double x = jv_as_double(l), y = jv_as_double(r), p = pow(x, y);
            if (x == 0 && y < 0) jinja_fail(st->a, line, "0.0 cannot be raised to a negative power");
            if (isinf(p) && isfinite(x) && isfinite(y)) jinja_fail(st->a, line, "numerical result out of range");
            if (isnan(p) && !isnan(x) && !isnan(y))
                jinja_fail(st->a, line, "a negative number cannot be raised to a fractional power here");
            return jv_float(p);
        }
        break;
    }
    bad_operands(st, line, names[op], l, r);
}

static int contains(jinja_state *st, int line, jval needle, jval hay) {
    switch (hay.type) {
    case JV_STR:
        if (needle.type == JV_UNDEF) jv_fail_undefined(st->a, line, needle);
        if (needle.type != JV_STR)
            jinja_fail(st->a, line, "'in <string>' requires string as left operand, not %s", jv_type_name(needle));
        if (needle.s.n == 0) return 1;
        return memmem(hay.s.p, hay.s.n, needle.s.p, needle.s.n) != NULL;
    case JV_LIST:
    case JV_TUPLE:
        for (int i = 0; i < hay.l->n; i++)
            if (jv_equal(st->a, hay.l->v[i], needle)) return 1;
        return 0;
    case JV_DICT:
        if ((needle.type == JV_LIST && !needle.l->is_range) || needle.type == JV_DICT)
            jinja_fail(st->a, line, "unhashable type: '%s'", jv_type_name(needle));
        return jd_find(hay.d, needle) != NULL;
    case JV_UNDEF: return 0;
    case JV_GEN: {
        jinja_list *l = jinja_iterate(st, line, hay);
        for (int i = 0; i < l->n; i++)
            if (jv_equal(st->a, l->v[i], needle)) return 1;
        return 0;
    }
    default: jinja_fail(st->a, line, "argument of type '%s' is not iterable", jv_type_name(hay));
    }
}

int jinja_compare(jinja_state *st, int line, int op, jval l, jval r) {
    switch (op) {
    case OP_EQ: return jv_equal(st->a, l, r);
    case OP_NE: return !jv_equal(st->a, l, r);
    case OP_LT: return jv_compare(st->a, line, l, r, "<") < 0;
    case OP_LE: return jv_compare(st->a, line, l, r, "<=") <= 0;
    case OP_GT: return jv_compare(st->a, line, l, r, ">") > 0;
    case OP_GE: return jv_compare(st->a, line, l, r, ">=") >= 0;
    case OP_IN: return contains(st, line, l, r);
    case OP_NOTIN: return !contains(st, line, l, r);
    }
    return 0;
}
