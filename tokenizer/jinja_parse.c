/* Jinja parser: tokens -> syntax tree, following the grammar and precedence of Jinja's own parser
 * (jinja2/parser.py), so that "a | trim + b" or "not x is defined" group the same way. */
#include "jinja.h"

#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"

typedef struct {
    jinja_arena *a;
    jinja_token *t;
    int n, pos;
    int depth;      /* recursion, against stack exhaustion */
    int loop_depth; /* for loops around the current statement (break/continue) */
} parser;

typedef struct {
    jnode **v;
    int n, cap;
} nodevec;

typedef struct {
    const char **v;
    int n, cap;
} namevec;

static void nv_push(parser *p, nodevec *v, jnode *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        jnode **nv = ja_alloc(p->a, sizeof(jnode *) * (size_t)cap);
        if (v->n) memcpy(nv, v->v, sizeof(jnode *) * (size_t)v->n);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static void names_push(parser *p, namevec *v, const char *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        const char **nv = ja_alloc(p->a, sizeof(char *) * (size_t)cap);
        if (v->n) memcpy(nv, v->v, sizeof(char *) * (size_t)v->n);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

static jinja_token *cur(parser *p) { return &p->t[p->pos]; }
static jinja_token *peek(parser *p, int k) {
    int i = p->pos + k;
    return &p->t[i < p->n ? i : p->n - 1];
}
static void advance(parser *p) {
    if (p->pos < p->n - 1) p->pos++;
}
static int is_op(jinja_token *t, const char *op) { return t->type == T_OP && strcmp(t->p, op) == 0; }
static int is_name(jinja_token *t, const char *name) { return t->type == T_NAME && strcmp(t->p, name) == 0; }

static const char *describe(jinja_token *t) {
    switch (t->type) {
    case T_TEXT: return "template text";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "end of print statement '}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "end of statement block '%}'";
    case T_STRING: return "a string";
    case T_INT: return "an integer";
    case T_FLOAT: return "a float";
    case T_EOF: return "end of template";
    default: return t->p;
    }
}

#define FAIL(p, ...) jinja_fail((p)->a, cur(p)->line, __VA_ARGS__)

static void expect_op(parser *p, const char *op) {
    if (!is_op(cur(p), op)) FAIL(p, "expected '%s', got %s", op, describe(cur(p)));
    advance(p);
}

static const char *expect_name(parser *p) {
    if (cur(p)->type != T_NAME) FAIL(p, "expected a name, got %s", describe(cur(p)));
    const char *s = cur(p)->p;
    advance(p);
    return s;
}

static void expect_block_end(parser *p) {
    if (cur(p)->type != T_BLOCK_END) FAIL(p, "expected end of statement block '%%}', got %s", describe(cur(p)));
    advance(p);
}

static void enter(parser *p) {
    if (++p->depth > JINJA_MAX_NESTING) FAIL(p, "expressions or blocks nested too deeply");
}
static void leave(parser *p) { p->depth--; }

static jnode *node(parser *p, jinja_kind kind, int line) {
    jnode *n = ja_alloc(p->a, sizeof(jnode));
    n->kind = kind;
    n->line = line;
    return n;
}

static jnode *parse_expression(parser *p, int with_condexpr);
static jnode *parse_tuple(parser *p, int with_condexpr, int explicit_parens, const char *extra_end);
static jnode *parse_postfix(parser *p, jnode *n);
static jnode *parse_filter_expr(parser *p, jnode *n);

/* (args, name=value, ...) into n->list / n->list2 + n->names */
static void parse_call_args(parser *p, jnode *n) {
    nodevec args = {0}, kwvals = {0};
    namevec kwnames = {0};
    expect_op(p, "(");
    while (!is_op(cur(p), ")")) {
        if (args.n || kwvals.n) {
            expect_op(p, ",");
            if (is_op(cur(p), ")")) break;
        }
        if (is_op(cur(p), "*") || is_op(cur(p), "**")) FAIL(p, "*args and **kwargs in calls are not supported");
        if (cur(p)->type == T_NAME && is_op(peek(p, 1), "=")) {
            names_push(p, &kwnames, cur(p)->p);
            advance(p);
            advance(p);
            nv_push(p, &kwvals, parse_expression(p, 1));
        } else {
            if (kwvals.n) FAIL(p, "positional argument after a keyword argument");
            nv_push(p, &args, parse_expression(p, 1));
        }
    }
    expect_op(p, ")");
    n->list = args.v;
    n->n = args.n;
    n->list2 = kwvals.v;
    n->n2 = kwvals.n;
    n->names = kwnames.v;
    n->nnames = kwnames.n;
}

static jnode *parse_primary(parser *p) {
    jinja_token *t = cur(p);
    jnode *n;
    switch (t->type) {
    case T_NAME:
        advance(p);
        if (!strcmp(t->p, "true") || !strcmp(t->p, "True") || !strcmp(t->p, "false") || !strcmp(t->p, "False")) {
            n = node(p, N_CONST, t->line);
            n->value = jv_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (!strcmp(t->p, "none") || !strcmp(t->p, "None")) {
            n = node(p, N_CONST, t->line);
            n->value = jv_none();
        } else {
            n = node(p, N_NAME, t->line);
            n->name = t->p;
        }
        return n;
    case T_STRING: {
        /* Adjacent literals join, as in Python. */
        n = node(p, N_CONST, t->line);
        if (peek(p, 1)->type != T_STRING) {
            n->value = jv_str(t->p, t->n);
            advance(p);
            return n;
        }
        jinja_buf b;
        jb_init(&b, p->a);
        while (cur(p)->type == T_STRING) {
            jb_put(&b, cur(p)->p, cur(p)->n);
            advance(p);
        }
        n->value = jb_value(&b);
        return n;
    }
    case T_INT:
        n = node(p, N_CONST, t->line);
        n->value = jv_int(t->i);
        advance(p);
        return n;
    case T_FLOAT:
        n = node(p, N_CONST, t->line);
        n->value = jv_float(t->f);
        advance(p);
        return n;
    case T_OP:
        if (is_op(t, "(")) {
            advance(p);
            n = parse_tuple(p, 1, 1, NULL);
            expect_op(p, ")");
            return n;
        }
        if (is_op(t, "[")) {
            nodevec items = {0};
            advance(p);
            while (!is_op(cur(p), "]")) {
                if (items.n) {
                    expect_op(p, ",");
                    if (is_op(cur(p), "]")) break;
                }
                nv_push(p, &items, parse_expression(p, 1));
            }
            expect_op(p, "]");
            n = node(p, N_LIST, t->line);
            n->list = items.v;
            n->n = items.n;
            return n;
        }
        if (is_op(t, "{")) {
            nodevec keys = {0}, vals = {0};
            advance(p);
            while (!is_op(cur(p), "}")) {
                if (keys.n) {
                    expect_op(p, ",");
                    if (is_op(cur(p), "}")) break;
                }
                nv_push(p, &keys, parse_expression(p, 1));
                expect_op(p, ":");
                nv_push(p, &vals, parse_expression(p, 1));
            }
            expect_op(p, "}");
            n = node(p, N_DICT, t->line);
            n->list = keys.v;
            n->n = keys.n;
            n->list2 = vals.v;
            n->n2 = vals.n;
            return n;
        }
        break;
    default: break;
    }
    FAIL(p, "unexpected %s", describe(t));
}

static int is_tuple_end(parser *p, const char *extra_end) {
    jinja_token *t = cur(p);
    if (t->type == T_VAR_END || t->type == T_BLOCK_END || t->type == T_EOF || is_op(t, ")")) return 1;
    return extra_end && is_name(t, extra_end);
}

static jnode *parse_tuple(parser *p, int with_condexpr, int explicit_parens, const char *extra_end) {
    nodevec items = {0};
    int is_tuple = 0, line = cur(p)->line;
    for (;;) {
        if (items.n) expect_op(p, ",");
        if (is_tuple_end(p, extra_end)) break;
        nv_push(p, &items, parse_expression(p, with_condexpr));
        if (is_op(cur(p), ",")) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (items.n) return items.v[0];
        if (!explicit_parens) FAIL(p, "expected an expression, got %s", describe(cur(p)));
    }
    jnode *n = node(p, N_TUPLE, line);
    n->list = items.v;
    n->n = items.n;
    return n;
}

static jnode *parse_subscript(parser *p, jnode *obj) {
    jinja_token *t = cur(p);
    if (is_op(t, ".")) {
        advance(p);
        jinja_token *a = cur(p);
        if (a->type == T_NAME) {
            jnode *n = node(p, N_ATTR, t->line);
            n->a = obj;
            n->name = a->p;
            advance(p);
            return n;
        }
        if (a->type == T_INT) {
            jnode *n = node(p, N_ITEM, t->line), *k = node(p, N_CONST, t->line);
            k->value = jv_int(a->i);
            n->a = obj;
            n->b = k;
            advance(p);
            return n;
        }
        FAIL(p, "expected a name after '.', got %s", describe(a));
    }
    /* '[' index ']' or a slice '[' start ':' stop ':' step ']'; "x[]" and "x[a, b]" index with a tuple */
    advance(p);
    if (is_op(cur(p), "]") || (!is_op(cur(p), ":") && is_op(peek(p, 1), ","))) {
        nodevec items = {0};
        while (!is_op(cur(p), "]")) {
            if (items.n) expect_op(p, ",");
            nv_push(p, &items, parse_expression(p, 1));
        }
        advance(p);
        jnode *n = node(p, N_ITEM, t->line), *k = node(p, N_TUPLE, t->line);
        k->list = items.v;
        k->n = items.n;
        n->a = obj;
        n->b = k;
        return n;
    }
    jnode *parts[3] = {NULL, NULL, NULL};
    int colons = 0;
    if (!is_op(cur(p), ":")) parts[0] = parse_expression(p, 1);
    while (is_op(cur(p), ":") && colons < 2) {
        advance(p);
        colons++;
        if (!is_op(cur(p), "]") && !is_op(cur(p), ":")) parts[colons] = parse_expression(p, 1);
    }
    expect_op(p, "]");
    jnode *n = node(p, colons ? N_SLICE : N_ITEM, t->line);
    n->a = obj;
    if (colons) {
        n->b = parts[0];
        n->c = parts[1];
        n->d = parts[2];
    } else {
        n->b = parts[0];
    }
    return n;
}

static jnode *parse_postfix(parser *p, jnode *n) {
    for (;;) {
        if (is_op(cur(p), ".") || is_op(cur(p), "[")) {
            n = parse_subscript(p, n);
        } else if (is_op(cur(p), "(")) {
            jnode *c = node(p, N_CALL, cur(p)->line);
            c->a = n;
            parse_call_args(p, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_filter(parser *p, jnode *n, int start_inline) {
    while (is_op(cur(p), "|") || start_inline) {
        if (!start_inline) advance(p);
        start_inline = 0;
        int line = cur(p)->line;
        const char *name = expect_name(p);
        if (is_op(cur(p), ".")) jinja_fail(p->a, line, "dotted filter names are not supported");
        if (!jinja_filter_known(name)) jinja_fail(p->a, line, "unknown filter '%s'", name);
        jnode *f = node(p, N_FILTER, line);
        f->a = n;
        f->name = name;
        if (is_op(cur(p), "(")) parse_call_args(p, f);
        n = f;
    }
    return n;
}

static jnode *parse_test(parser *p, jnode *n) {
    int line = cur(p)->line;
    advance(p); /* 'is' */
    int negated = 0;
    if (is_name(cur(p), "not")) {
        advance(p);
        negated = 1;
    }
    const char *name = expect_name(p);
    if (!jinja_test_known(name)) jinja_fail(p->a, line, "unknown test '%s'", name);
    jnode *t = node(p, N_TEST, line);
    t->a = n;
    t->name = name;
    jinja_token *c = cur(p);
    if (is_op(c, "(")) {
        parse_call_args(p, t);
    } else if ((c->type == T_NAME || c->type == T_STRING || c->type == T_INT || c->type == T_FLOAT ||
                is_op(c, "[") || is_op(c, "{")) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) FAIL(p, "you cannot chain multiple tests with 'is'");
        /* One argument without parentheses: "x is divisibleby 3", "x is sameas none". */
        jnode *arg = parse_postfix(p, parse_primary(p));
        t->list = ja_alloc(p->a, sizeof(jnode *));
        t->list[0] = arg;
        t->n = 1;
    }
    if (!negated) return t;
    jnode *nn = node(p, N_NOT, line);
    nn->a = t;
    return nn;
}

static jnode *parse_filter_expr(parser *p, jnode *n) {
    for (;;) {
        if (is_op(cur(p), "|")) n = parse_filter(p, n, 0);
        else if (is_name(cur(p), "is")) n = parse_test(p, n);
        else if (is_op(cur(p), "(")) {
            jnode *c = node(p, N_CALL, cur(p)->line);
            c->a = n;
            parse_call_args(p, c);
            n = c;
        } else return n;
    }
}

static jnode *parse_unary(parser *p, int with_filter) {
    enter(p);
    jinja_token *t = cur(p);
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        advance(p);
        n = node(p, is_op(t, "-") ? N_NEG : N_POS, t->line);
        n->a = parse_unary(p, 0);
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filter_expr(p, n);
    leave(p);
    return n;
}

static jnode *binary(parser *p, int op, int line, jnode *l, jnode *r) {
    jnode *n = node(p, N_BINARY, line);
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *l = parse_unary(p, 1);
    while (is_op(cur(p), "**")) {
        int line = cur(p)->line;
        advance(p);
        l = binary(p, OP_POW, line, l, parse_unary(p, 1));
    }
    return l;
}

static jnode *parse_math2(parser *p) {
    jnode *l = parse_pow(p);
    for (;;) {
        jinja_token *t = cur(p);
        int op = 0;
        if (is_op(t, "*")) op = OP_MUL;
        else if (is_op(t, "/")) op = OP_DIV;
        else if (is_op(t, "//")) op = OP_FLOORDIV;
        else if (is_op(t, "%")) op = OP_MOD;
        if (!op) return l;
        advance(p);
        l = binary(p, op, t->line, l, parse_pow(p));
    }
}

static jnode *parse_concat(parser *p) {
    jnode *l = parse_math2(p);
    while (is_op(cur(p), "~")) {
        int line = cur(p)->line;
        advance(p);
        l = binary(p, OP_CONCAT, line, l, parse_math2(p));
    }
    return l;
}

static jnode *parse_math1(parser *p) {
    jnode *l = parse_concat(p);
    for (;;) {
        jinja_token *t = cur(p);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : 0;
        if (!op) return l;
        advance(p);
        l = binary(p, op, t->line, l, parse_concat(p));
    }
}

static jnode *parse_compare(parser *p) {
    int line = cur(p)->line;
    jnode *first = parse_math1(p);
    nodevec operands = {0};
    int ops[64], nops = 0;
    for (;;) {
        jinja_token *t = cur(p);
        int op = 0;
        if (is_op(t, "==")) op = OP_EQ;
        else if (is_op(t, "!=")) op = OP_NE;
        else if (is_op(t, "<")) op = OP_LT;
        else if (is_op(t, "<=")) op = OP_LE;
        else if (is_op(t, ">")) op = OP_GT;
        else if (is_op(t, ">=")) op = OP_GE;
        else if (is_name(t, "in")) op = OP_IN;
        else if (is_name(t, "not") && is_name(peek(p, 1), "in")) {
            op = OP_NOTIN;
            advance(p);
        }
        if (!op) break;
        if (nops == 64) FAIL(p, "too many chained comparisons");
        advance(p);
        ops[nops++] = op;
        nv_push(p, &operands, parse_math1(p));
    }
    if (!nops) return first;
    jnode *n = node(p, N_COMPARE, line);
    n->a = first;
    n->list = operands.v;
    n->n = operands.n;
    n->ops = ja_alloc(p->a, sizeof(int) * (size_t)nops);
    memcpy(n->ops, ops, sizeof(int) * (size_t)nops);
    return n;
}

static jnode *parse_not(parser *p) {
    if (is_name(cur(p), "not")) {
        enter(p);
        jnode *n = node(p, N_NOT, cur(p)->line);
        advance(p);
        n->a = parse_not(p);
        leave(p);
        return n;
    }
    return parse_compare(p);
}

static jnode *parse_and(parser *p) {
    jnode *l = parse_not(p);
    while (is_name(cur(p), "and")) {
        jnode *n = node(p, N_AND, cur(p)->line);
        advance(p);
        n->a = l;
        n->b = parse_not(p);
        l = n;
    }
    return l;
}

static jnode *parse_or(parser *p) {
    jnode *l = parse_and(p);
    while (is_name(cur(p), "or")) {
        jnode *n = node(p, N_OR, cur(p)->line);
        advance(p);
        n->a = l;
        n->b = parse_and(p);
        l = n;
    }
    return l;
}

static jnode *parse_condexpr(parser *p) {
    enter(p);
    jnode *e = parse_or(p);
    while (is_name(cur(p), "if")) {
        jnode *n = node(p, N_COND, cur(p)->line);
        advance(p);
        n->a = parse_or(p);
        n->b = e;
        if (is_name(cur(p), "else")) {
            advance(p);
            n->c = parse_condexpr(p);
        }
        e = n;
    }
    leave(p);
    return e;
}

static jnode *parse_expression(parser *p, int with_condexpr) {
    return with_condexpr ? parse_condexpr(p) : parse_or(p);
}

/* ---- statements ---- */

static nodevec parse_body(parser *p, const char *const *ends, const char *opener, int opener_line);

/* Targets of for/set: "a" or "a, b" or "(a, b)". */
static namevec parse_targets(parser *p) {
    namevec v = {0};
    int paren = is_op(cur(p), "(");
    if (paren) advance(p);
    for (;;) {
        names_push(p, &v, expect_name(p));
        if (!is_op(cur(p), ",")) break;
        advance(p);
        if (!paren && (is_name(cur(p), "in") || is_op(cur(p), "="))) break;
        if (paren && is_op(cur(p), ")")) break;
    }
    if (paren) expect_op(p, ")");
    return v;
}

static void expect_end_tag(parser *p, const char *name) {
    if (!is_name(cur(p), name)) FAIL(p, "expected '%s', got %s", name, describe(cur(p)));
    advance(p);
    expect_block_end(p);
}

static jnode *parse_for(parser *p, int line) {
    jnode *n = node(p, N_FOR, line);
    namevec targets = parse_targets(p);
    n->names = targets.v;
    n->nnames = targets.n;
    if (!is_name(cur(p), "in")) FAIL(p, "expected 'in' in the for loop, got %s", describe(cur(p)));
    advance(p);
    n->a = parse_tuple(p, 0, 0, "recursive");
    if (is_name(cur(p), "if")) {
        advance(p);
        n->b = parse_expression(p, 1);
    }
    if (is_name(cur(p), "recursive")) FAIL(p, "recursive for loops are not supported");
    expect_block_end(p);
    static const char *const ends[] = {"endfor", "else", NULL};
    p->loop_depth++;
    nodevec body = parse_body(p, ends, "for", line);
    p->loop_depth--;
    n->list = body.v;
    n->n = body.n;
    if (is_name(cur(p), "else")) {
        advance(p);
        expect_block_end(p);
        static const char *const ends2[] = {"endfor", NULL};
        nodevec eb = parse_body(p, ends2, "for", line);
        n->list2 = eb.v;
        n->n2 = eb.n;
    }
    expect_end_tag(p, "endfor");
    return n;
}

static jnode *parse_if(parser *p, int line) {
    jnode *n = node(p, N_IF, line);
    n->a = parse_tuple(p, 0, 0, NULL);
    expect_block_end(p);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    nodevec body = parse_body(p, ends, "if", line);
    n->list = body.v;
    n->n = body.n;
    if (is_name(cur(p), "elif")) {
        int eline = cur(p)->line;
        advance(p);
        jnode *e = parse_if(p, eline); /* consumes through endif */
        n->list2 = ja_alloc(p->a, sizeof(jnode *));
        n->list2[0] = e;
        n->n2 = 1;
        return n;
    }
    if (is_name(cur(p), "else")) {
        advance(p);
        expect_block_end(p);
        static const char *const ends2[] = {"endif", NULL};
        nodevec eb = parse_body(p, ends2, "if", line);
        n->list2 = eb.v;
        n->n2 = eb.n;
    }
    expect_end_tag(p, "endif");
    return n;
}

static jnode *parse_set(parser *p, int line) {
    if (cur(p)->type == T_NAME && is_op(peek(p, 1), ".")) {
        /* {% set ns.attr = value %} */
        jnode *n = node(p, N_SET_ATTR, line);
        n->names = ja_alloc(p->a, sizeof(char *));
        n->names[0] = expect_name(p);
        n->nnames = 1;
        advance(p);
        n->name = expect_name(p);
        expect_op(p, "=");
        n->a = parse_tuple(p, 1, 0, NULL);
        expect_block_end(p);
        return n;
    }
    namevec targets = parse_targets(p);
    if (is_op(cur(p), "=")) {
        advance(p);
        jnode *n = node(p, N_SET, line);
        n->names = targets.v;
        n->nnames = targets.n;
        n->a = parse_tuple(p, 1, 0, NULL);
        expect_block_end(p);
        return n;
    }
    /* {% set name | filters %}body{% endset %} */
    if (targets.n != 1) FAIL(p, "a block set takes one name");
    jnode *n = node(p, N_SET_BLOCK, line);
    n->names = targets.v;
    n->nnames = 1;
    if (is_op(cur(p), "|")) n->b = parse_filter(p, node(p, N_BLOCKVAL, line), 0);
    expect_block_end(p);
    static const char *const ends[] = {"endset", NULL};
    nodevec body = parse_body(p, ends, "set", line);
    n->list = body.v;
    n->n = body.n;
    expect_end_tag(p, "endset");
    return n;
}

static jnode *parse_macro(parser *p, int line) {
    jnode *n = node(p, N_MACRO, line);
    n->name = expect_name(p);
    namevec params = {0};
    nodevec defaults = {0};
    expect_op(p, "(");
    int seen_default = 0;
    while (!is_op(cur(p), ")")) {
        if (params.n) {
            expect_op(p, ",");
            if (is_op(cur(p), ")")) break;
        }
        names_push(p, &params, expect_name(p));
        jnode *d = NULL;
        if (is_op(cur(p), "=")) {
            advance(p);
            d = parse_expression(p, 1);
            seen_default = 1;
        } else if (seen_default) {
            FAIL(p, "non-default argument follows default argument");
        }
        nv_push(p, &defaults, d);
    }
    expect_op(p, ")");
    expect_block_end(p);
    n->names = params.v;
    n->nnames = params.n;
    n->list2 = defaults.v;
    n->n2 = defaults.n;
    int saved = p->loop_depth;
    p->loop_depth = 0;
    static const char *const ends[] = {"endmacro", NULL};
    nodevec body = parse_body(p, ends, "macro", line);
    p->loop_depth = saved;
    n->list = body.v;
    n->n = body.n;
    if (!is_name(cur(p), "endmacro")) FAIL(p, "expected 'endmacro'");
    advance(p);
    if (cur(p)->type == T_NAME) advance(p); /* {% endmacro name %} */
    expect_block_end(p);
    return n;
}

static jnode *parse_filter_block(parser *p, int line) {
    jnode *n = node(p, N_FILTER_BLOCK, line);
    n->b = parse_filter(p, node(p, N_BLOCKVAL, line), 1);
    expect_block_end(p);
    static const char *const ends[] = {"endfilter", NULL};
    nodevec body = parse_body(p, ends, "filter", line);
    n->list = body.v;
    n->n = body.n;
    expect_end_tag(p, "endfilter");
    return n;
}

static jnode *parse_with(parser *p, int line) {
    jnode *n = node(p, N_WITH, line);
    namevec names = {0};
    nodevec vals = {0};
    while (cur(p)->type != T_BLOCK_END) {
        if (names.n) expect_op(p, ",");
        names_push(p, &names, expect_name(p));
        expect_op(p, "=");
        nv_push(p, &vals, parse_expression(p, 1));
    }
    expect_block_end(p);
    n->names = names.v;
    n->nnames = names.n;
    n->list2 = vals.v;
    n->n2 = vals.n;
    static const char *const ends[] = {"endwith", NULL};
    nodevec body = parse_body(p, ends, "with", line);
    n->list = body.v;
    n->n = body.n;
    expect_end_tag(p, "endwith");
    return n;
}

static jnode *parse_scope_block(parser *p, int line, const char *endname) {
    jnode *n = node(p, N_SCOPE, line);
    expect_block_end(p);
    const char *ends[] = {endname, NULL};
    nodevec body = parse_body(p, ends, "generation", line);
    n->list = body.v;
    n->n = body.n;
    expect_end_tag(p, endname);
    return n;
}

static const char *const unsupported_tags[] = {"call", "include", "import", "from", "extends", "block", "do",
                                               "autoescape", "trans", "pluralize", "print", NULL};
static const char *const end_tags[] = {"endfor", "endif", "elif", "else", "endset", "endmacro", "endfilter",
                                       "endwith", "endgeneration", "endraw", "endcall", "endblock", NULL};

static jnode *parse_statement(parser *p) {
    jinja_token *t = cur(p);
    int line = t->line;
    if (t->type != T_NAME) FAIL(p, "expected a tag name, got %s", describe(t));
    const char *name = t->p;
    advance(p);
    enter(p);
    jnode *n;
    if (!strcmp(name, "for")) n = parse_for(p, line);
    else if (!strcmp(name, "if")) n = parse_if(p, line);
    else if (!strcmp(name, "set")) n = parse_set(p, line);
    else if (!strcmp(name, "macro")) n = parse_macro(p, line);
    else if (!strcmp(name, "filter")) n = parse_filter_block(p, line);
    else if (!strcmp(name, "with")) n = parse_with(p, line);
    else if (!strcmp(name, "generation")) n = parse_scope_block(p, line, "endgeneration");
    else if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        if (p->loop_depth == 0) jinja_fail(p->a, line, "'%s' outside a for loop", name);
        n = node(p, name[0] == 'b' ? N_BREAK : N_CONTINUE, line);
        expect_block_end(p);
    } else {
        for (int i = 0; unsupported_tags[i]; i++)
            if (!strcmp(name, unsupported_tags[i])) jinja_fail(p->a, line, "tag '%s' is not supported", name);
        for (int i = 0; end_tags[i]; i++)
            if (!strcmp(name, end_tags[i])) jinja_fail(p->a, line, "unexpected '%s'", name);
        jinja_fail(p->a, line, "unknown tag '%s'", name);
    }
    leave(p);
    return n;
}

/* Statements until a block tag named in ends (left at that name) or the end of the template. */
static nodevec parse_body(parser *p, const char *const *ends, const char *opener, int opener_line) {
    nodevec body = {0};
    for (;;) {
        jinja_token *t = cur(p);
        if (t->type == T_EOF) {
            if (ends)
                jinja_fail(p->a, t->line, "unexpected end of template: the '%s' block opened on line %d is not closed",
                           opener, opener_line);
            return body;
        }
        if (t->type == T_TEXT) {
            jnode *n = node(p, N_TEXT, t->line);
            n->value = jv_str(t->p, t->n);
            nv_push(p, &body, n);
            advance(p);
        } else if (t->type == T_VAR_BEGIN) {
            jnode *n = node(p, N_OUTPUT, t->line);
            advance(p);
            n->a = parse_tuple(p, 1, 0, NULL);
            if (cur(p)->type != T_VAR_END) FAIL(p, "expected end of print statement '}}', got %s", describe(cur(p)));
            advance(p);
            nv_push(p, &body, n);
        } else if (t->type == T_BLOCK_BEGIN) {
            jinja_token *name = peek(p, 1);
            if (ends && name->type == T_NAME)
                for (int i = 0; ends[i]; i++)
                    if (!strcmp(name->p, ends[i])) {
                        advance(p);
                        return body;
                    }
            advance(p);
            nv_push(p, &body, parse_statement(p));
        } else {
            FAIL(p, "unexpected %s", describe(t));
        }
    }
}

/* Parses into t->arena; -1 on failure (the message is in slm_error()). */
static int parse_into(jinja_template *t, const char *src) {
    jmp_buf env;
    t->arena.on_fail = &env;
    if (setjmp(env)) return -1;
    size_t len = strlen(src);
    if (!ju_valid(src, len)) jinja_fail(&t->arena, 0, "the template is not valid UTF-8");
    /* Jinja reads every newline as \n and drops one newline at the very end. */
    char *s = ja_alloc(&t->arena, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n') n--;
    s[n] = 0;
    parser p = {.a = &t->arena};
    p.t = jinja_lex(&t->arena, s, n, &p.n);
    nodevec body = parse_body(&p, NULL, NULL, 0);
    t->body = body.v;
    t->n = body.n;
    t->arena.on_fail = NULL;
    return 0;
}

jinja_template *jinja_parse(const char *src) {
    jinja_template *t = calloc(1, sizeof *t);
    if (!t) {
        slm_fail("chat template: out of memory");
        return NULL;
    }
    if (parse_into(t, src) < 0) {
        jinja_free(t);
        return NULL;
    }
    return t;
}

void jinja_free(jinja_template *t) {
    if (!t) return;
    ja_free_all(&t->arena);
    free(t);
}
