/* Jinja values: the arena they live in, Python's equality and ordering, str(), repr() and json.dumps(). */
#include "jinja.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../runtime/error.h"

/* ---- arena ---- */

struct jinja_chunk {
    jinja_chunk *next;
    size_t size;
    max_align_t data[];
};

#define CHUNK_SIZE (64u << 10)

static jinja_chunk *new_chunk(jinja_arena *a, size_t size) {
    if (a->total + size > JINJA_MAX_MEMORY)
        jinja_fail(a, 0, "the template needs more than %u MiB of memory", JINJA_MAX_MEMORY >> 20);
    jinja_chunk *c = malloc(sizeof(jinja_chunk) + size);
    if (!c) jinja_fail(a, 0, "out of memory");
    c->size = size;
    a->total += size;
    return c;
}

void *ja_alloc(jinja_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (n > CHUNK_SIZE / 4) {
        /* A large block gets a chunk of its own, kept behind the current one. */
        jinja_chunk *c = new_chunk(a, n);
        if (a->chunks) {
            c->next = a->chunks->next;
            a->chunks->next = c;
        } else {
            c->next = NULL;
            a->chunks = c;
            a->cur = a->end = (char *)c->data + n;
        }
        memset(c->data, 0, n);
        return c->data;
    }
    if (!a->cur || (size_t)(a->end - a->cur) < n) {
        jinja_chunk *c = new_chunk(a, CHUNK_SIZE);
        c->next = a->chunks;
        a->chunks = c;
        a->cur = (char *)c->data;
        a->end = a->cur + CHUNK_SIZE;
    }
    void *p = a->cur;
    a->cur += n;
    memset(p, 0, n);
    return p;
}

char *ja_strndup(jinja_arena *a, const char *s, size_t n) {
    char *p = ja_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void ja_free_all(jinja_arena *a) {
    jinja_chunk *c = a->chunks;
    while (c) {
        jinja_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
    a->cur = a->end = NULL;
    a->total = 0;
}

void jinja_fail(jinja_arena *a, int line, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        slm_fail("chat template line %d: %s", line, msg);
    else
        slm_fail("chat template: %s", msg);
    longjmp(*a->on_fail, 1);
}

/* ---- UTF-8 ---- */

size_t ju_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80 || n < 2) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0) {
        *cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if ((p[0] & 0xF0) == 0xE0 && n >= 3) {
        *cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return 3;
    }
    if ((p[0] & 0xF8) == 0xF0 && n >= 4) {
        *cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
              (p[3] & 0x3F);
        return 4;
    }
    *cp = p[0];
    return 1;
}

int ju_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t left = n - i;
        if (p[0] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k;
        if ((p[0] & 0xE0) == 0xC0) k = 2;
        else if ((p[0] & 0xF0) == 0xE0) k = 3;
        else if ((p[0] & 0xF8) == 0xF0) k = 4;
        else return 0;
        if (left < k) return 0;
        for (size_t j = 1; j < k; j++)
            if ((p[j] & 0xC0) != 0x80) return 0;
        ju_decode((const char *)p, left, &cp);
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

int ju_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t ju_count(const char *p, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) c++;
    return c;
}

size_t ju_offset(const char *p, size_t n, size_t index) {
    size_t i = 0;
    while (i < n && index > 0) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80) i++;
        index--;
    }
    return i;
}

/* Python's str.isspace(). */
int ju_isspace(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* ---- constructors and containers ---- */

jval jv_undef(const char *why) {
    jval v = {.type = JV_UNDEF};
    v.s.p = why;
    return v;
}
jval jv_none(void) { return (jval){.type = JV_NONE}; }
jval jv_bool(int b) { return (jval){.type = JV_BOOL, .i = b != 0}; }
jval jv_int(int64_t i) { return (jval){.type = JV_INT, .i = i}; }
jval jv_float(double f) { return (jval){.type = JV_FLOAT, .f = f}; }
jval jv_str(const char *p, size_t n) {
    jval v = {.type = JV_STR};
    v.s.p = p;
    v.s.n = n;
    return v;
}
jval jv_cstr(const char *s) { return jv_str(s, strlen(s)); }
jval jv_strcopy(jinja_arena *a, const char *p, size_t n) { return jv_str(ja_strndup(a, p, n), n); }

jval jv_list(jinja_arena *a, int cap) {
    jval v = {.type = JV_LIST};
    v.l = ja_alloc(a, sizeof(jinja_list));
    if (cap > 0) {
        v.l->v = ja_alloc(a, sizeof(jval) * (size_t)cap);
        v.l->cap = cap;
    }
    return v;
}

jval jv_dict(jinja_arena *a, int cap) {
    jval v = {.type = JV_DICT};
    v.d = ja_alloc(a, sizeof(jinja_dict));
    if (cap > 0) {
        v.d->keys = ja_alloc(a, sizeof(jval) * (size_t)cap);
        v.d->vals = ja_alloc(a, sizeof(jval) * (size_t)cap);
        v.d->cap = cap;
    }
    return v;
}

void jl_push(jinja_arena *a, jinja_list *l, jval v) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        jval *nv = ja_alloc(a, sizeof(jval) * (size_t)cap);
        if (l->n) memcpy(nv, l->v, sizeof(jval) * (size_t)l->n);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

/* Dictionary keys compare as Python's hash + == would for hashable values. */
static int key_equal_at(jval x, jval y, int depth) {
    if (jv_is_number(x) && jv_is_number(y)) {
        if (x.type != JV_FLOAT && y.type != JV_FLOAT) return x.i == y.i;
        return jv_as_double(x) == jv_as_double(y);
    }
    if (x.type != y.type) return 0;
    switch (x.type) {
    case JV_STR: return x.s.n == y.s.n && memcmp(x.s.p, y.s.p, x.s.n) == 0;
    case JV_NONE: return 1;
    case JV_TUPLE:
        if (x.l->n != y.l->n) return 0;
        if (depth > JINJA_MAX_VALUE_DEPTH) return 0; /* too deep to be a real key */
        for (int i = 0; i < x.l->n; i++)
            if (!key_equal_at(x.l->v[i], y.l->v[i], depth + 1)) return 0;
        return 1;
    default: return 0;
    }
}

static int key_equal(jval x, jval y) { return key_equal_at(x, y, 0); }

jval *jd_find(jinja_dict *d, jval key) {
    for (int i = 0; i < d->n; i++)
        if (key_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

jval *jd_find_str(jinja_dict *d, const char *key) {
    size_t n = strlen(key);
    for (int i = 0; i < d->n; i++)
        if (d->keys[i].type == JV_STR && d->keys[i].s.n == n && memcmp(d->keys[i].s.p, key, n) == 0)
            return &d->vals[i];
    return NULL;
}

void jd_set(jinja_arena *a, jinja_dict *d, jval key, jval v) {
    jval *old = jd_find(d, key);
    if (old) {
        *old = v;
        return;
    }
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 8;
        jval *nk = ja_alloc(a, sizeof(jval) * (size_t)cap);
        jval *nv = ja_alloc(a, sizeof(jval) * (size_t)cap);
        if (d->n) {
            memcpy(nk, d->keys, sizeof(jval) * (size_t)d->n);
            memcpy(nv, d->vals, sizeof(jval) * (size_t)d->n);
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = v;
    d->n++;
}

/* ---- truth, equality, ordering ---- */

int jv_truthy(jval v) {
    switch (v.type) {
    case JV_UNDEF:
    case JV_NONE: return 0;
    case JV_BOOL:
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s.n > 0;
    case JV_LIST:
    case JV_TUPLE: return v.l->n > 0;
    case JV_DICT: return v.d->n > 0;
    default: return 1;
    }
}

int jv_is_number(jval v) { return v.type == JV_BOOL || v.type == JV_INT || v.type == JV_FLOAT; }

double jv_as_double(jval v) { return v.type == JV_FLOAT ? v.f : (double)v.i; }

const char *jv_type_name(jval v) {
    switch (v.type) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.l->is_range ? "range" : "list";
    case JV_TUPLE: return "tuple";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_LOOP: return "LoopContext";
    case JV_MACRO: return "Macro";
    case JV_FUNC: return "function";
    case JV_METHOD: return "builtin_function_or_method";
    case JV_GEN: return "generator";
    }
    return "object";
}

void jv_fail_undefined(jinja_arena *a, int line, jval v) {
    jinja_fail(a, line, "%s", v.s.p ? v.s.p : "undefined value");
}

static int equal_at(jinja_arena *a, jval x, jval y, int depth) {
    if (depth > JINJA_MAX_VALUE_DEPTH) jinja_fail(a, 0, "values nested too deeply to compare");
    if (jv_is_number(x) && jv_is_number(y)) return key_equal(x, y);
    if (x.type != y.type) return 0;
    switch (x.type) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR: return key_equal(x, y);
    case JV_LIST:
    case JV_TUPLE:
        if (x.l->n != y.l->n || x.l->is_range != y.l->is_range) return 0;
        for (int i = 0; i < x.l->n; i++)
            if (!equal_at(a, x.l->v[i], y.l->v[i], depth + 1)) return 0;
        return 1;
    case JV_DICT:
        if (x.d->n != y.d->n) return 0;
        for (int i = 0; i < x.d->n; i++) {
            jval *o = jd_find(y.d, x.d->keys[i]);
            if (!o || !equal_at(a, x.d->vals[i], *o, depth + 1)) return 0;
        }
        return 1;
    case JV_NS: return x.d == y.d;
    case JV_LOOP: return x.loop == y.loop;
    case JV_MACRO: return x.m == y.m;
    case JV_FUNC: return x.fn == y.fn;
    case JV_METHOD: return x.meth == y.meth;
    case JV_GEN: return x.l == y.l;
    default: return 0;
    }
}

int jv_equal(jinja_arena *a, jval x, jval y) { return equal_at(a, x, y, 0); }

static int compare_at(jinja_arena *a, int line, jval x, jval y, const char *op, int depth) {
    if (depth > JINJA_MAX_VALUE_DEPTH) jinja_fail(a, line, "values nested too deeply to compare");
    if (x.type == JV_UNDEF) jv_fail_undefined(a, line, x);
    if (y.type == JV_UNDEF) jv_fail_undefined(a, line, y);
    if (jv_is_number(x) && jv_is_number(y)) {
        if (x.type != JV_FLOAT && y.type != JV_FLOAT) return x.i < y.i ? -1 : x.i > y.i;
        double p = jv_as_double(x), q = jv_as_double(y);
        return p < q ? -1 : p > q;
    }
    if (x.type == JV_STR && y.type == JV_STR) {
        size_t n = x.s.n < y.s.n ? x.s.n : y.s.n;
        int c = memcmp(x.s.p, y.s.p, n);
        if (c) return c < 0 ? -1 : 1;
        return x.s.n < y.s.n ? -1 : x.s.n > y.s.n;
    }
    if ((x.type == JV_LIST || x.type == JV_TUPLE) && x.type == y.type && !x.l->is_range && !y.l->is_range) {
        for (int i = 0; i < x.l->n && i < y.l->n; i++)
            if (!equal_at(a, x.l->v[i], y.l->v[i], depth + 1))
                return compare_at(a, line, x.l->v[i], y.l->v[i], op, depth + 1);
        return x.l->n < y.l->n ? -1 : x.l->n > y.l->n;
    }
    jinja_fail(a, line, "'%s' not supported between instances of '%s' and '%s'", op, jv_type_name(x),
               jv_type_name(y));
}

int jv_compare(jinja_arena *a, int line, jval x, jval y, const char *op) { return compare_at(a, line, x, y, op, 0); }

/* ---- buffers ---- */

void jb_init(jinja_buf *b, jinja_arena *a) {
    b->a = a;
    b->p = NULL;
    b->n = b->cap = 0;
}

void jb_put(jinja_buf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (b->n + n > JINJA_MAX_STRING)
        jinja_fail(b->a, 0, "a string or the output grew past %u MiB", JINJA_MAX_STRING >> 20);
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n) cap *= 2;
        char *p = ja_alloc(b->a, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void jb_puts(jinja_buf *b, const char *s) { jb_put(b, s, strlen(s)); }
void jb_putc(jinja_buf *b, char c) { jb_put(b, &c, 1); }
jval jb_value(jinja_buf *b) { return jv_str(b->p ? b->p : "", b->n); }

jval jv_html_escape(jinja_arena *a, jval s) {
    jinja_buf b;
    jb_init(&b, a);
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
    jval r = jb_value(&b);
    r.markup = 1;
    return r;
}

/* ---- str() and repr() ---- */

/* float.__repr__: the shortest string that reads back to the same double. */
void jv_float_repr(double f, char out[40]) {
    if (isnan(f)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0) {
        strcpy(out, signbit(f) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp is [-]d[.ddd]e[+-]XX: collect the digits and the exponent. */
    char digits[24];
    int nd = 0, neg = 0;
    const char *p = tmp;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp < -4 || exp >= 16) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    int decpt = exp + 1;
    if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++) *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    } else if (decpt >= nd) {
        memcpy(o, digits, (size_t)nd);
        o += nd;
        for (int i = nd; i < decpt; i++) *o++ = '0';
        *o++ = '.';
        *o++ = '0';
    } else {
        memcpy(o, digits, (size_t)decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, digits + decpt, (size_t)(nd - decpt));
        o += nd - decpt;
    }
    *o = 0;
}

static int py_printable(uint32_t cp) {
    if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return !(c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
             c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN || c == UTF8PROC_CATEGORY_ZL ||
             c == UTF8PROC_CATEGORY_ZP || c == UTF8PROC_CATEGORY_ZS);
}

static void write_str_repr(jinja_buf *b, const char *s, size_t n) {
    char quote = '\'';
    if (memchr(s, '\'', n) && !memchr(s, '"', n)) quote = '"';
    jb_putc(b, quote);
    size_t i = 0;
    char tmp[16];
    while (i < n) {
        uint32_t cp;
        size_t k = ju_decode(s + i, n - i, &cp);
        if (cp == (uint32_t)quote || cp == '\\') {
            jb_putc(b, '\\');
            jb_putc(b, (char)cp);
        } else if (cp == '\t') jb_puts(b, "\\t");
        else if (cp == '\n') jb_puts(b, "\\n");
        else if (cp == '\r') jb_puts(b, "\\r");
        else if (py_printable(cp)) jb_put(b, s + i, k);
        else {
            if (cp <= 0xFF) snprintf(tmp, sizeof tmp, "\\x%02x", cp);
            else if (cp <= 0xFFFF) snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            else snprintf(tmp, sizeof tmp, "\\U%08x", cp);
            jb_puts(b, tmp);
        }
        i += k;
    }
    jb_putc(b, quote);
}

static void write_scalar(jinja_buf *b, jval v) {
    char tmp[40];
    switch (v.type) {
    case JV_NONE: jb_puts(b, "None"); break;
    case JV_BOOL: jb_puts(b, v.i ? "True" : "False"); break;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.i);
        jb_puts(b, tmp);
        break;
    case JV_FLOAT:
        jv_float_repr(v.f, tmp);
        jb_puts(b, tmp);
        break;
    default: break;
    }
}

void jv_write_repr(jinja_buf *b, jval v, int line, int depth) {
    if (depth > JINJA_MAX_VALUE_DEPTH) jinja_fail(b->a, line, "value nested too deeply to print");
    switch (v.type) {
    case JV_UNDEF: jb_puts(b, "Undefined"); break;
    case JV_STR: write_str_repr(b, v.s.p, v.s.n); break;
    case JV_LIST:
    case JV_TUPLE:
        if (v.l->is_range) {
            char tmp[80];
            if (v.l->range[2] == 1)
                snprintf(tmp, sizeof tmp, "range(%lld, %lld)", (long long)v.l->range[0], (long long)v.l->range[1]);
            else
                snprintf(tmp, sizeof tmp, "range(%lld, %lld, %lld)", (long long)v.l->range[0],
                         (long long)v.l->range[1], (long long)v.l->range[2]);
            jb_puts(b, tmp);
            break;
        }
        jb_putc(b, v.type == JV_LIST ? '[' : '(');
        for (int i = 0; i < v.l->n; i++) {
            if (i) jb_puts(b, ", ");
            jv_write_repr(b, v.l->v[i], line, depth + 1);
        }
        if (v.type == JV_TUPLE && v.l->n == 1) jb_putc(b, ',');
        jb_putc(b, v.type == JV_LIST ? ']' : ')');
        break;
    case JV_DICT:
    case JV_NS:
        if (v.type == JV_NS) jb_puts(b, "<Namespace ");
        jb_putc(b, '{');
        for (int i = 0; i < v.d->n; i++) {
            if (i) jb_puts(b, ", ");
            jv_write_repr(b, v.d->keys[i], line, depth + 1);
            jb_puts(b, ": ");
            jv_write_repr(b, v.d->vals[i], line, depth + 1);
        }
        jb_putc(b, '}');
        if (v.type == JV_NS) jb_putc(b, '>');
        break;
    case JV_LOOP: {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "<LoopContext %lld/%d>", (long long)v.loop->index0 + 1, v.loop->items->n);
        jb_puts(b, tmp);
        break;
    }
    case JV_MACRO:
        jb_puts(b, "<Macro '");
        jb_puts(b, v.m->def->name);
        jb_puts(b, "'>");
        break;
    case JV_FUNC: jb_puts(b, "<function>"); break;
    case JV_GEN: jb_puts(b, "<generator object>"); break;
    case JV_METHOD:
        jb_puts(b, "<built-in method ");
        jb_puts(b, v.meth->name);
        jb_puts(b, " of ");
        jb_puts(b, jv_type_name(v.meth->self));
        jb_puts(b, " object>");
        break;
    default: write_scalar(b, v); break;
    }
}

void jv_write_str(jinja_buf *b, jval v, int line) {
    if (v.type == JV_UNDEF) return;
    if (v.type == JV_STR) jb_put(b, v.s.p, v.s.n);
    else jv_write_repr(b, v, line, 0);
}

jval jv_to_str(jinja_arena *a, jval v, int line) {
    if (v.type == JV_STR) return v;
    jinja_buf b;
    jb_init(&b, a);
    jv_write_str(&b, v, line);
    return jb_value(&b);
}

/* ---- json.dumps ---- */

static void write_json_string(jinja_buf *b, const char *s, size_t n, int ensure_ascii) {
    jb_putc(b, '"');
    size_t i = 0, run = 0;
    char tmp[16];
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        if (esc || c < 0x20 || (ensure_ascii && c >= 0x7F)) {
            jb_put(b, s + run, i - run);
            if (esc) {
                jb_puts(b, esc);
                i++;
            } else if (c < 0x80) {
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                jb_puts(b, tmp);
                i++;
            } else {
                uint32_t cp;
                i += ju_decode(s + i, n - i, &cp);
                if (cp >= 0x10000) {
                    cp -= 0x10000;
                    snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
                } else {
                    snprintf(tmp, sizeof tmp, "\\u%04x", cp);
                }
                jb_puts(b, tmp);
            }
            run = i;
        } else {
            i++;
        }
    }
    jb_put(b, s + run, n - run);
    jb_putc(b, '"');
}

typedef struct {
    int line, ensure_ascii, sort_keys;
    const char *indent, *item_sep, *key_sep;
} json_opts;

static void json_newline(jinja_buf *b, const json_opts *o, int level) {
    jb_putc(b, '\n');
    for (int i = 0; i < level; i++) jb_puts(b, o->indent);
}

static void write_json_float(jinja_buf *b, double f) {
    char tmp[40];
    if (isnan(f)) jb_puts(b, "NaN");
    else if (isinf(f)) jb_puts(b, f < 0 ? "-Infinity" : "Infinity");
    else {
        jv_float_repr(f, tmp);
        jb_puts(b, tmp);
    }
}

static void write_json_at(jinja_buf *b, jval v, const json_opts *o, int level) {
    if (level > JINJA_MAX_VALUE_DEPTH) jinja_fail(b->a, o->line, "value nested too deeply for tojson");
    switch (v.type) {
    case JV_NONE: jb_puts(b, "null"); break;
    case JV_BOOL: jb_puts(b, v.i ? "true" : "false"); break;
    case JV_INT: write_scalar(b, v); break;
    case JV_FLOAT: write_json_float(b, v.f); break;
    case JV_STR: write_json_string(b, v.s.p, v.s.n, o->ensure_ascii); break;
    case JV_LIST:
    case JV_TUPLE:
        if (v.l->is_range) jinja_fail(b->a, o->line, "tojson: Object of type range is not JSON serializable");
        if (v.l->n == 0) {
            jb_puts(b, "[]");
            break;
        }
        jb_putc(b, '[');
        for (int i = 0; i < v.l->n; i++) {
            if (i) jb_puts(b, o->item_sep);
            if (o->indent) json_newline(b, o, level + 1);
            write_json_at(b, v.l->v[i], o, level + 1);
        }
        if (o->indent) json_newline(b, o, level);
        jb_putc(b, ']');
        break;
    case JV_DICT: {
        if (v.d->n == 0) {
            jb_puts(b, "{}");
            break;
        }
        int n = v.d->n;
        int *order = ja_alloc(b->a, sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) order[i] = i;
        if (o->sort_keys) /* insertion sort keeps equal keys stable, as sorted() does */
            for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && jv_compare(b->a, o->line, v.d->keys[order[j]], v.d->keys[order[j - 1]],
                                                    "<") < 0;
                     j--) {
                    int t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
        jb_putc(b, '{');
        for (int k = 0; k < n; k++) {
            jval key = v.d->keys[order[k]];
            if (k) jb_puts(b, o->item_sep);
            if (o->indent) json_newline(b, o, level + 1);
            if (key.type == JV_STR) {
                write_json_string(b, key.s.p, key.s.n, o->ensure_ascii);
            } else if (key.type == JV_INT || key.type == JV_BOOL || key.type == JV_NONE) {
                jb_putc(b, '"');
                if (key.type == JV_INT) write_scalar(b, key);
                else jb_puts(b, key.type == JV_NONE ? "null" : key.i ? "true" : "false");
                jb_putc(b, '"');
            } else if (key.type == JV_FLOAT) {
                jb_putc(b, '"');
                write_json_float(b, key.f);
                jb_putc(b, '"');
            } else {
                jinja_fail(b->a, o->line, "tojson: keys must be str, int, float, bool or None, not %s",
                           jv_type_name(key));
            }
            jb_puts(b, o->key_sep);
            write_json_at(b, v.d->vals[order[k]], o, level + 1);
        }
        if (o->indent) json_newline(b, o, level);
        jb_putc(b, '}');
        break;
    }
    default:
        jinja_fail(b->a, o->line, "tojson: Object of type %s is not JSON serializable", jv_type_name(v));
    }
}

void jv_write_json(jinja_buf *b, jval v, int line, int ensure_ascii, const char *indent, const char *item_sep,
                   const char *key_sep, int sort_keys) {
    json_opts o = {line, ensure_ascii, sort_keys, indent, item_sep, key_sep};
    if (!o.item_sep) o.item_sep = indent ? "," : ", ";
    if (!o.key_sep) o.key_sep = ": ";
    write_json_at(b, v, &o, 0);
}

/* ---- JSON input ---- */

jval jv_from_json(jinja_arena *a, const cJSON *j) {
    if (!j || cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsTrue(j)) return jv_bool(1);
    if (cJSON_IsFalse(j)) return jv_bool(0);
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* cJSON keeps no int/float distinction: whole numbers come back as int. */
        if (d == floor(d) && fabs(d) < 9.007199254740992e15) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) {
        size_t n = strlen(j->valuestring);
        if (!ju_valid(j->valuestring, n)) jinja_fail(a, 0, "a string in the input is not valid UTF-8");
        return jv_strcopy(a, j->valuestring, n);
    }
    if (cJSON_IsArray(j)) {
        jval l = jv_list(a, cJSON_GetArraySize(j));
        for (const cJSON *c = j->child; c; c = c->next) jl_push(a, l.l, jv_from_json(a, c));
        return l;
    }
    if (cJSON_IsObject(j)) {
        jval d = jv_dict(a, cJSON_GetArraySize(j));
        for (const cJSON *c = j->child; c; c = c->next) {
            size_t n = strlen(c->string);
            if (!ju_valid(c->string, n)) jinja_fail(a, 0, "a key in the input is not valid UTF-8");
            jd_set(a, d.d, jv_strcopy(a, c->string, n), jv_from_json(a, c));
        }
        return d;
    }
    jinja_fail(a, 0, "unsupported JSON value in the input");
}
