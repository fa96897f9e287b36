/* Jinja evaluator: renders statements and evaluates expressions over an arena of values.
 *
 * Scopes follow Jinja: {% set %} writes to the innermost scope; each iteration of a for loop, each macro
 * call, each with/filter/set block body gets a scope of its own whose sets do not leak out; if blocks do
 * not open a scope. Names resolve through the scopes, then the caller's variables, then the globals. */
#include "jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"

static void render(jinja_state *st, jinja_frame *f, jnode **body, int n);

static void step(jinja_state *st, int line) {
    if (++st->steps > JINJA_MAX_STEPS)
        jinja_fail(st->a, line, "rendering took more than %ld steps (a runaway loop?)", JINJA_MAX_STEPS);
}

/* ---- scopes ---- */

static jinja_frame *frame_new(jinja_state *st, jinja_frame *parent) {
    jinja_frame *f = ja_alloc(st->a, sizeof *f);
    f->parent = parent;
    return f;
}

static jval *frame_find(jinja_frame *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) return &f->vals[i];
    return NULL;
}

static void frame_set(jinja_state *st, jinja_frame *f, const char *name, jval v) {
    jval *old = frame_find(f, name);
    if (old) {
        *old = v;
        return;
    }
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        const char **nn = ja_alloc(st->a, sizeof(char *) * (size_t)cap);
        jval *nv = ja_alloc(st->a, sizeof(jval) * (size_t)cap);
        if (f->n) {
            memcpy(nn, f->names, sizeof(char *) * (size_t)f->n);
            memcpy(nv, f->vals, sizeof(jval) * (size_t)f->n);
        }
        f->names = nn;
        f->vals = nv;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n] = v;
    f->n++;
}

static const char *fmt_hint(jinja_state *st, const char *fmt, const char *a, const char *b) {
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *s = ja_alloc(st->a, n);
    snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

static jval lookup(jinja_state *st, jinja_frame *f, const char *name) {
    for (; f; f = f->parent) {
        jval *v = frame_find(f, name);
        if (v) return *v;
    }
    int fn = jinja_global_lookup(name);
    if (fn >= 0) return (jval){.type = JV_FUNC, .fn = fn};
    return jv_undef(fmt_hint(st, "'%s' is undefined", name, NULL));
}

/* ---- attribute and item access (Jinja's sandboxed getattr / getitem) ---- */

static jval no_attribute(jinja_state *st, jval obj, const char *name) {
    if (obj.type == JV_NONE) return jv_undef(fmt_hint(st, "'None' has no attribute '%s'%s", name, NULL));
    return jv_undef(fmt_hint(st, "'%s object' has no attribute '%s'", jv_type_name(obj), name));
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
        return jv_undef(fmt_hint(st, "'%s object' has no element %s", jv_type_name(obj), idx));
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
    return jv_undef(fmt_hint(st, "'%s object' has no element %s", jv_type_name(obj), b.p));
}

/* Python's slice.indices() for a sequence of length n. */
static void slice_indices(jinja_state *st, int line, jval *parts, int64_t n, int64_t *start, int64_t *stop,
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

static jval eval_slice(jinja_state *st, jinja_frame *f, const jnode *e) {
    jval obj = jinja_eval(st, f, e->a);
    jval parts[3];
    const jnode *pn[3] = {e->b, e->c, e->d};
    for (int k = 0; k < 3; k++) parts[k] = pn[k] ? jinja_eval(st, f, pn[k]) : jv_none();
    if (obj.type == JV_UNDEF) jv_fail_undefined(st->a, e->line, obj);
    if (obj.type != JV_STR && obj.type != JV_LIST && obj.type != JV_TUPLE)
        return jv_undef(fmt_hint(st, "'%s object' cannot be sliced%s", jv_type_name(obj), NULL));
    int64_t n = obj.type == JV_STR ? (int64_t)ju_count(obj.s.p, obj.s.n) : obj.l->n;
    int64_t start, stop, s;
    slice_indices(st, e->line, parts, n, &start, &stop, &s);
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

static int compare_op(jinja_state *st, int line, int op, jval l, jval r) {
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

/* ---- calls ---- */

static jval call_macro(jinja_state *st, int line, jinja_macro *m, jval *args, int nargs, const char **kwnames,
                       jval *kwvals, int nkw) {
    const jnode *def = m->def;
    if (st->macro_depth >= JINJA_MAX_MACRO_DEPTH)
        jinja_fail(st->a, line, "macro calls nested deeper than %d (runaway recursion?)", JINJA_MAX_MACRO_DEPTH);
    if (nargs > def->nnames)
        jinja_fail(st->a, line, "macro '%s' takes not more than %d argument(s)", def->name, def->nnames);
    jinja_frame *f = frame_new(st, m->closure);
    int *given = ja_alloc(st->a, sizeof(int) * (size_t)(def->nnames + 1));
    for (int i = 0; i < nargs; i++) {
        frame_set(st, f, def->names[i], args[i]);
        given[i] = 1;
    }
    for (int k = 0; k < nkw; k++) {
        int i;
        for (i = 0; i < def->nnames; i++)
            if (!strcmp(def->names[i], kwnames[k])) break;
        if (i == def->nnames)
            jinja_fail(st->a, line, "macro '%s' takes no keyword argument '%s'", def->name, kwnames[k]);
        if (given[i])
            jinja_fail(st->a, line, "macro '%s' got multiple values for argument '%s'", def->name, kwnames[k]);
        frame_set(st, f, def->names[i], kwvals[k]);
        given[i] = 1;
    }
    for (int i = 0; i < def->nnames; i++) {
        if (given[i]) continue;
        if (def->list2[i]) frame_set(st, f, def->names[i], jinja_eval(st, f, def->list2[i]));
        else
            frame_set(st, f, def->names[i],
                      jv_undef(fmt_hint(st, "parameter '%s' was not provided", def->names[i], NULL)));
    }
    jinja_buf buf, *saved = st->out;
    jb_init(&buf, st->a);
    st->out = &buf;
    st->macro_depth++;
    render(st, f, def->list, def->n);
    st->macro_depth--;
    st->out = saved;
    st->loop_ctl = 0;
    return jb_value(&buf);
}

jval jinja_call_value(jinja_state *st, jinja_frame *f, int line, jval fn, jval *args, int nargs,
                      const char **kwnames, jval *kwvals, int nkw) {
    (void)f;
    switch (fn.type) {
    case JV_MACRO: return call_macro(st, line, fn.m, args, nargs, kwnames, kwvals, nkw);
    case JV_FUNC: return jinja_global_call(st, line, fn.fn, args, nargs, kwnames, kwvals, nkw);
    case JV_METHOD: return jinja_method_call(st, line, fn.meth->self, fn.meth->name, args, nargs, kwnames, kwvals, nkw);
    case JV_UNDEF: jv_fail_undefined(st->a, line, fn);
    default: jinja_fail(st->a, line, "'%s' object is not callable", jv_type_name(fn));
    }
}

/* Evaluates the arguments of a call, filter or test node. */
static void eval_args(jinja_state *st, jinja_frame *f, const jnode *e, jval **args, jval **kwvals) {
    *args = e->n ? ja_alloc(st->a, sizeof(jval) * (size_t)e->n) : NULL;
    *kwvals = e->n2 ? ja_alloc(st->a, sizeof(jval) * (size_t)e->n2) : NULL;
    for (int i = 0; i < e->n; i++) (*args)[i] = jinja_eval(st, f, e->list[i]);
    for (int i = 0; i < e->n2; i++) (*kwvals)[i] = jinja_eval(st, f, e->list2[i]);
}

/* ---- expressions ---- */

jval jinja_eval(jinja_state *st, jinja_frame *f, const jnode *e) {
    step(st, e->line);
    if (++st->depth > JINJA_MAX_DEPTH) jinja_fail(st->a, e->line, "expression nested too deeply");
    jval r, l, *args, *kwvals;
    switch (e->kind) {
    case N_CONST: r = e->value; break;
    case N_NAME: r = lookup(st, f, e->name); break;
    case N_LIST:
    case N_TUPLE:
        r = jv_list(st->a, e->n);
        if (e->kind == N_TUPLE) r.type = JV_TUPLE;
        for (int i = 0; i < e->n; i++) jl_push(st->a, r.l, jinja_eval(st, f, e->list[i]));
        break;
    case N_DICT:
        r = jv_dict(st->a, e->n);
        for (int i = 0; i < e->n; i++) {
            jval k = jinja_eval(st, f, e->list[i]);
            if (k.type == JV_LIST || k.type == JV_DICT || k.type == JV_UNDEF)
                jinja_fail(st->a, e->line, "unhashable type: '%s'", jv_type_name(k));
            jd_set(st->a, r.d, k, jinja_eval(st, f, e->list2[i]));
        }
        break;
    case N_ATTR: r = jinja_getattr(st, e->line, jinja_eval(st, f, e->a), e->name); break;
    case N_ITEM:
        l = jinja_eval(st, f, e->a);
        r = jinja_getitem(st, e->line, l, jinja_eval(st, f, e->b));
        break;
    case N_SLICE: r = eval_slice(st, f, e); break;
    case N_CALL:
        l = jinja_eval(st, f, e->a);
        eval_args(st, f, e, &args, &kwvals);
        r = jinja_call_value(st, f, e->line, l, args, e->n, e->names, kwvals, e->n2);
        break;
    case N_FILTER:
        l = jinja_eval(st, f, e->a);
        eval_args(st, f, e, &args, &kwvals);
        r = jinja_filter(st, f, e->line, e->name, l, args, e->n, e->names, kwvals, e->n2);
        break;
    case N_TEST:
        l = jinja_eval(st, f, e->a);
        eval_args(st, f, e, &args, &kwvals);
        if (e->n2) jinja_fail(st->a, e->line, "test '%s' takes no keyword arguments", e->name);
        r = jv_bool(jinja_test(st, f, e->line, e->name, l, args, e->n));
        break;
    case N_NOT: r = jv_bool(!jv_truthy(jinja_eval(st, f, e->a))); break;
    case N_NEG:
    case N_POS:
        l = jinja_eval(st, f, e->a);
        if (l.type == JV_UNDEF) jv_fail_undefined(st->a, e->line, l);
        if (!jv_is_number(l))
            jinja_fail(st->a, e->line, "bad operand type for unary %c: '%s'", e->kind == N_NEG ? '-' : '+',
                       jv_type_name(l));
        if (e->kind == N_POS) r = l.type == JV_BOOL ? jv_int(l.i) : l;
        else if (l.type == JV_FLOAT) r = jv_float(-l.f);
        else {
            if (l.i == INT64_MIN) jinja_fail(st->a, e->line, "integer overflow");
            r = jv_int(-l.i);
        }
        break;
    case N_BINARY:
        l = jinja_eval(st, f, e->a);
        r = jinja_eval(st, f, e->b);
        if (e->op == OP_CONCAT) {
            jinja_buf b;
            jb_init(&b, st->a);
            jv_write_str(&b, l, e->line);
            jv_write_str(&b, r, e->line);
            r = jb_value(&b);
        } else {
            r = jinja_binop(st, e->line, e->op, l, r);
        }
        break;
    case N_AND:
        r = jinja_eval(st, f, e->a);
        if (jv_truthy(r)) r = jinja_eval(st, f, e->b);
        break;
    case N_OR:
        r = jinja_eval(st, f, e->a);
        if (!jv_truthy(r)) r = jinja_eval(st, f, e->b);
        break;
    case N_COMPARE:
        l = jinja_eval(st, f, e->a);
        r = jv_bool(1);
        for (int i = 0; i < e->n; i++) {
            jval x = jinja_eval(st, f, e->list[i]);
            if (!compare_op(st, e->line, e->ops[i], l, x)) {
                r = jv_bool(0);
                break;
            }
            l = x;
        }
        break;
    case N_COND:
        if (jv_truthy(jinja_eval(st, f, e->a))) r = jinja_eval(st, f, e->b);
        else if (e->c) r = jinja_eval(st, f, e->c);
        else r = jv_undef("the inline if-expression evaluated to false and no else section was defined");
        break;
    case N_BLOCKVAL: r = st->blockval; break;
    default: jinja_fail(st->a, e->line, "internal error: statement used as an expression");
    }
    st->depth--;
    return r;
}

/* ---- statements ---- */

/* Binds for/set targets: one name takes the value, several unpack a sequence. */
static void assign_targets(jinja_state *st, jinja_frame *f, int line, const char **names, int n, jval v) {
    if (n == 1) {
        frame_set(st, f, names[0], v);
        return;
    }
    jinja_list *items;
    if (v.type == JV_LIST || v.type == JV_TUPLE || v.type == JV_STR || v.type == JV_DICT)
        items = jinja_iterate(st, line, v);
    else if (v.type == JV_UNDEF)
        jv_fail_undefined(st->a, line, v);
    else
        jinja_fail(st->a, line, "cannot unpack non-iterable %s object", jv_type_name(v));
    if (items->n != n)
        jinja_fail(st->a, line, items->n > n ? "too many values to unpack (expected %d, got %d)"
                                              : "not enough values to unpack (expected %d, got %d)",
                   n, items->n);
    for (int i = 0; i < n; i++) frame_set(st, f, names[i], items->v[i]);
}

static void render_for(jinja_state *st, jinja_frame *f, const jnode *e) {
    jinja_list *all = jinja_iterate(st, e->line, jinja_eval(st, f, e->a));
    jinja_list *items = all;
    if (e->b) {
        /* The condition sees the loop targets but no `loop`; filtered items set loop.length. */
        items = jv_list(st->a, 0).l;
        jinja_frame *cf = frame_new(st, f);
        for (int i = 0; i < all->n; i++) {
            step(st, e->line);
            cf->n = 0;
            assign_targets(st, cf, e->line, e->names, e->nnames, all->v[i]);
            if (jv_truthy(jinja_eval(st, cf, e->b))) jl_push(st->a, items, all->v[i]);
        }
    }
    if (items->n == 0) {
        render(st, frame_new(st, f), e->list2, e->n2);
        return;
    }
    /* Every iteration starts from an empty scope; the frame's storage is reused so that long loops
     * do not grow the arena. */
    jinja_frame *lf = frame_new(st, f);
    jval loop = {.type = JV_LOOP};
    loop.loop = ja_alloc(st->a, sizeof(jinja_loop));
    loop.loop->items = items;
    loop.loop->depth = 1;
    for (int i = 0; i < items->n; i++) {
        step(st, e->line);
        lf->n = 0;
        assign_targets(st, lf, e->line, e->names, e->nnames, items->v[i]);
        loop.loop->index0 = i;
        frame_set(st, lf, "loop", loop);
        render(st, lf, e->list, e->n);
        if (st->loop_ctl == 1) {
            st->loop_ctl = 0;
            break;
        }
        st->loop_ctl = 0;
    }
}

/* Renders body into a string in a scope of its own. */
static jval render_to_string(jinja_state *st, jinja_frame *f, jnode **body, int n) {
    jinja_buf buf, *saved = st->out;
    jb_init(&buf, st->a);
    st->out = &buf;
    render(st, frame_new(st, f), body, n);
    st->out = saved;
    return jb_value(&buf);
}

static jval apply_block_filters(jinja_state *st, jinja_frame *f, const jnode *chain, jval text) {
    jval saved = st->blockval;
    st->blockval = text;
    jval r = jinja_eval(st, f, chain);
    st->blockval = saved;
    return r;
}

static void render(jinja_state *st, jinja_frame *f, jnode **body, int n) {
    if (++st->depth > JINJA_MAX_DEPTH) jinja_fail(st->a, n ? body[0]->line : 0, "blocks nested too deeply");
    for (int i = 0; i < n && !st->loop_ctl; i++) {
        const jnode *e = body[i];
        step(st, e->line);
        switch (e->kind) {
        case N_TEXT: jb_put(st->out, e->value.s.p, e->value.s.n); break;
        case N_OUTPUT: jv_write_str(st->out, jinja_eval(st, f, e->a), e->line); break;
        case N_IF:
            if (jv_truthy(jinja_eval(st, f, e->a))) render(st, f, e->list, e->n);
            else render(st, f, e->list2, e->n2);
            break;
        case N_FOR: render_for(st, f, e); break;
        case N_SET: assign_targets(st, f, e->line, e->names, e->nnames, jinja_eval(st, f, e->a)); break;
        case N_SET_ATTR: {
            jval ns = lookup(st, f, e->names[0]);
            if (ns.type != JV_NS) jinja_fail(st->a, e->line, "cannot assign attribute on non-namespace object");
            jval v = jinja_eval(st, f, e->a);
            if (e->name[0] == '_')
                jinja_fail(st->a, e->line, "chat templates cannot store underscore-prefixed attributes on a namespace");
            jd_set(st->a, ns.d, jv_cstr(e->name), v);
            break;
        }
        case N_SET_BLOCK: {
            jval v = render_to_string(st, f, e->list, e->n);
            if (e->b) v = apply_block_filters(st, f, e->b, v);
            frame_set(st, f, e->names[0], v);
            break;
        }
        case N_MACRO: {
            jval m = {.type = JV_MACRO};
            m.m = ja_alloc(st->a, sizeof(jinja_macro));
            m.m->def = e;
            m.m->closure = f;
            frame_set(st, f, e->name, m);
            break;
        }
        case N_FILTER_BLOCK: {
            jval v = apply_block_filters(st, f, e->b, render_to_string(st, f, e->list, e->n));
            jv_write_str(st->out, v, e->line);
            break;
        }
        case N_WITH: {
            jinja_frame *wf = frame_new(st, f);
            jval *vals = ja_alloc(st->a, sizeof(jval) * (size_t)(e->n2 + 1));
            for (int k = 0; k < e->n2; k++) vals[k] = jinja_eval(st, f, e->list2[k]);
            for (int k = 0; k < e->n2; k++) frame_set(st, wf, e->names[k], vals[k]);
            render(st, wf, e->list, e->n);
            break;
        }
        case N_SCOPE: render(st, frame_new(st, f), e->list, e->n); break;
        case N_BREAK: st->loop_ctl = 1; break;
        case N_CONTINUE: st->loop_ctl = 2; break;
        default: jinja_fail(st->a, e->line, "internal error: expression used as a statement");
        }
    }
    st->depth--;
}

char *jinja_render(const jinja_template *t, const cJSON *vars, const struct tm *now) {
    jinja_arena *a = calloc(1, sizeof *a);
    if (!a) {
        slm_fail("chat template: out of memory");
        return NULL;
    }
    jmp_buf env;
    a->on_fail = &env;
    if (setjmp(env)) {
        ja_free_all(a);
        free(a);
        return NULL;
    }
    jinja_state st = {.a = a};
    if (now) {
        st.now = *now;
    } else {
        time_t tt = time(NULL);
        localtime_r(&tt, &st.now);
    }
    st.globals = frame_new(&st, NULL);
    if (vars) {
        if (!cJSON_IsObject(vars)) jinja_fail(a, 0, "template variables must be a JSON object");
        for (const cJSON *c = vars->child; c; c = c->next)
            frame_set(&st, st.globals, ja_strndup(a, c->string, strlen(c->string)), jv_from_json(a, c));
    }
    jinja_buf out;
    jb_init(&out, a);
    st.out = &out;
    render(&st, frame_new(&st, st.globals), t->body, t->n);
    char *r = malloc(out.n + 1);
    if (!r) jinja_fail(a, 0, "out of memory");
    if (out.n) memcpy(r, out.p, out.n);
    r[out.n] = 0;
    ja_free_all(a);
    free(a);
    return r;
}
