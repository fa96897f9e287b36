/* Jinja evaluator: renders statements and evaluates expressions over an arena of values.
 *
 * Scopes follow Jinja: {% set %} writes to the innermost scope; each iteration of a for loop, each macro
 * call, each with/filter/set block body gets a scope of its own whose sets do not leak out; if blocks do
 * not open a scope. Names resolve through the scopes, then the caller's variables, then the globals. */
#include "jinja.h"

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

static jval lookup(jinja_state *st, jinja_frame *f, const char *name) {
    for (; f; f = f->parent) {
        jval *v = frame_find(f, name);
        if (v) return *v;
    }
    int fn = jinja_global_lookup(name);
    if (fn >= 0) return (jval){.type = JV_FUNC, .fn = fn};
    return jv_undef(jinja_hint(st, "'%s' is undefined", name, NULL));
}

static jval eval_slice(jinja_state *st, jinja_frame *f, const jnode *e) {
    jval obj = jinja_eval(st, f, e->a);
    jval parts[3];
    const jnode *pn[3] = {e->b, e->c, e->d};
    for (int k = 0; k < 3; k++) parts[k] = pn[k] ? jinja_eval(st, f, pn[k]) : jv_none();
    return jinja_slice(st, e->line, obj, parts);
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
                      jv_undef(jinja_hint(st, "parameter '%s' was not provided", def->names[i], NULL)));
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
            if (!jinja_compare(st, e->line, e->ops[i], l, x)) {
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
