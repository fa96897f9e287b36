/* A small Jinja interpreter for chat templates.
 *
 * It covers the part of Jinja that Hugging Face chat templates use and renders them the way transformers
 * does: an ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks on, the loopcontrols
 * extension (break/continue), and transformers' globals raise_exception, strftime_now, namespace and
 * its tojson filter (json.dumps with ensure_ascii=False). Values follow Python's rules (str(), repr(),
 * ==, truthiness, slicing by code point), and a missing variable is Jinja's default Undefined: empty
 * when printed, false, an error in arithmetic or when called.
 *
 * A construct that is not implemented fails with "chat template line N: ..." naming it; so do
 * raise_exception() and runtime errors. Work, memory, output size and recursion are bounded, so a
 * hostile template ends with an error instead of hanging or overflowing the stack.
 *
 * Files: jinja_lex.c (source -> tokens, whitespace control), jinja_parse.c (tokens -> tree),
 * jinja_value.c (arena, values, str/repr/json), jinja_eval.c (statements, expressions, scopes),
 * jinja_builtin.c (filters, tests, methods, global functions), jinja_str.c (Python's str operations).
 */
#ifndef SLM_JINJA_H
#define SLM_JINJA_H

#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct jinja_template jinja_template;

/* Parses a template (UTF-8). NULL with slm_error() on a syntax error. */
jinja_template *jinja_parse(const char *src);
void jinja_free(jinja_template *t);

/* Renders with the members of the JSON object vars as template variables (vars may be NULL).
 * now is the time strftime_now() reports (NULL: the current local time).
 * Returns malloc'd text, or NULL with slm_error(). */
char *jinja_render(const jinja_template *t, const cJSON *vars, const struct tm *now);

/* ---------------------------------------------------------------------------------------------
 * Internals shared by the jinja_*.c files.
 * ------------------------------------------------------------------------------------------- */

/* Limits against hostile templates. */
#define JINJA_MAX_NESTING 100          /* parser: nested expressions and blocks */
#define JINJA_MAX_DEPTH 1000           /* evaluator: nested evaluation calls */
#define JINJA_MAX_MACRO_DEPTH 100      /* macro calls in progress */
#define JINJA_MAX_VALUE_DEPTH 400      /* nesting of lists/dicts in repr, json and == */
#define JINJA_MAX_STEPS 10000000L      /* evaluation steps per render */
#define JINJA_MAX_STRING (64u << 20)   /* bytes in one string, including the output */
#define JINJA_MAX_MEMORY (1024u << 20) /* arena bytes per parse or render */
#define JINJA_MAX_RANGE 100000         /* as Jinja's sandbox */

/* Arena: everything of one parse or one render lives here and is freed at once, which also makes
 * errors simple: a failure records slm_fail() and longjmps to the parse or render entry point. */
typedef struct jinja_chunk jinja_chunk;
typedef struct {
    jinja_chunk *chunks;
    char *cur, *end;
    size_t total;
    jmp_buf *on_fail;
} jinja_arena;

void *ja_alloc(jinja_arena *a, size_t n); /* zeroed; fails (longjmp) past JINJA_MAX_MEMORY */
char *ja_strndup(jinja_arena *a, const char *s, size_t n);
void ja_free_all(jinja_arena *a);
/* Records "chat template line N: <message>" (line 0: no line) and longjmps to a->on_fail. */
_Noreturn void jinja_fail(jinja_arena *a, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- values ---- */
typedef enum {
    JV_UNDEF, /* s.p: why it is undefined ("'x' is undefined"), or NULL */
    JV_NONE,
    JV_BOOL, /* i */
    JV_INT,  /* i */
    JV_FLOAT, /* f */
    JV_STR,   /* s: UTF-8 bytes, not NUL-terminated */
    JV_LIST,  /* l */
    JV_TUPLE, /* l */
    JV_DICT,  /* d */
    JV_NS,    /* d: namespace(), the one mutable object */
    JV_LOOP,  /* loop: the `loop` variable of a for loop */
    JV_MACRO, /* m */
    JV_FUNC,  /* fn: a global function (JF_*) */
    JV_METHOD, /* meth: a bound method such as "text".strip */
    JV_GEN     /* l: a one-shot iterator, as the map/select/... filters return: no len(), no tojson,
                  always true; iterating it empties it */
} jinja_type;

typedef struct jinja_list jinja_list;
typedef struct jinja_dict jinja_dict;
typedef struct jinja_loop jinja_loop;
typedef struct jinja_macro jinja_macro;
typedef struct jinja_method jinja_method;

typedef struct {
    jinja_type type;
    unsigned char markup; /* JV_STR marked safe (markupsafe.Markup): "+" escapes a plain str operand */
    union {
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        jinja_list *l;
        jinja_dict *d;
        jinja_loop *loop;
        jinja_macro *m;
        jinja_method *meth;
        int fn;
    };
} jval;

struct jinja_list {
    int n, cap;
    jval *v;
    int is_range;      /* made by range(): prints as range(start, stop[, step]), no tojson, != lists */
    int64_t range[3];  /* start, stop, step */
};
struct jinja_dict { /* insertion-ordered; looked up linearly (chat data is small) */
    int n, cap;
    jval *keys, *vals;
};
struct jinja_loop {
    jinja_list *items;
    int64_t index0;
    int depth;
};
struct jinja_method {
    jval self;
    const char *name;
};

enum { JF_RANGE, JF_NAMESPACE, JF_DICT, JF_RAISE, JF_STRFTIME, JF_LIPSUM, JF_CYCLER, JF_JOINER };

jval jv_undef(const char *why);
jval jv_none(void);
jval jv_bool(int b);
jval jv_int(int64_t i);
jval jv_float(double f);
jval jv_str(const char *p, size_t n); /* no copy: p must outlive the render */
jval jv_cstr(const char *s);
jval jv_strcopy(jinja_arena *a, const char *p, size_t n);
jval jv_list(jinja_arena *a, int cap);
jval jv_dict(jinja_arena *a, int cap);
void jl_push(jinja_arena *a, jinja_list *l, jval v);
jval *jd_find(jinja_dict *d, jval key); /* the value or NULL */
jval *jd_find_str(jinja_dict *d, const char *key);
void jd_set(jinja_arena *a, jinja_dict *d, jval key, jval v);

int jv_truthy(jval v);
int jv_is_number(jval v); /* bool, int or float */
double jv_as_double(jval v);
/* Python ==, with Undefined == Undefined as in Jinja. */
int jv_equal(jinja_arena *a, jval x, jval y);
/* Python <, <=, ... : returns -1/0/1; fails for unordered types. */
int jv_compare(jinja_arena *a, int line, jval x, jval y, const char *op);
const char *jv_type_name(jval v); /* Python's name: 'str', 'dict', ... */
/* Fails with the reason an Undefined is undefined ("'x' is undefined"). */
_Noreturn void jv_fail_undefined(jinja_arena *a, int line, jval v);

/* Growable byte buffer in the arena. */
typedef struct {
    jinja_arena *a;
    char *p;
    size_t n, cap;
} jinja_buf;
void jb_init(jinja_buf *b, jinja_arena *a);
void jb_put(jinja_buf *b, const char *s, size_t n);
void jb_puts(jinja_buf *b, const char *s);
void jb_putc(jinja_buf *b, char c);
jval jb_value(jinja_buf *b);

/* markupsafe.escape() of a string: & < > " ' as HTML entities. */
jval jv_html_escape(jinja_arena *a, jval s);

/* str(v) and repr(v) as Python writes them (Undefined prints as ""). */
void jv_write_str(jinja_buf *b, jval v, int line);
void jv_write_repr(jinja_buf *b, jval v, int line, int depth);
jval jv_to_str(jinja_arena *a, jval v, int line); /* str(v) as a JV_STR */
/* json.dumps(v, ensure_ascii, indent (NULL: none), separators (NULL: default), sort_keys). */
void jv_write_json(jinja_buf *b, jval v, int line, int ensure_ascii, const char *indent, const char *item_sep,
                   const char *key_sep, int sort_keys);
void jv_float_repr(double f, char out[40]);
jval jv_from_json(jinja_arena *a, const cJSON *j);

/* UTF-8 helpers (all strings are valid UTF-8: inputs are checked). */
int ju_valid(const char *p, size_t n);
size_t ju_decode(const char *p, size_t n, uint32_t *cp); /* bytes used (>= 1) */
int ju_encode(uint32_t cp, char out[4]);
size_t ju_count(const char *p, size_t n);
size_t ju_offset(const char *p, size_t n, size_t index); /* byte offset of code point index */
int ju_isspace(uint32_t cp);

/* ---- syntax tree ---- */
typedef enum {
    /* expressions */
    N_CONST, N_NAME, N_LIST, N_TUPLE, N_DICT, N_ATTR, N_ITEM, N_SLICE, N_CALL, N_FILTER, N_TEST, N_NOT,
    N_NEG, N_POS, N_BINARY, N_AND, N_OR, N_COMPARE, N_COND, N_BLOCKVAL,
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_ATTR, N_SET_BLOCK, N_MACRO, N_FILTER_BLOCK, N_WITH, N_BREAK,
    N_CONTINUE, N_SCOPE
} jinja_kind;

typedef struct jnode jnode;
/* One node shape for everything; which fields a kind uses is noted at the kind's parser. */
struct jnode {
    jinja_kind kind;
    int line;
    int op;            /* operator or flag */
    const char *name;  /* variable, attribute, filter, test or macro name */
    jval value;        /* N_CONST, N_TEXT */
    jnode *a, *b, *c, *d;
    jnode **list;      /* arguments, items, body */
    int n;
    jnode **list2;     /* keyword values, dict values, else body, macro defaults */
    int n2;
    const char **names; /* keyword names, targets, macro parameters */
    int nnames;
    int *ops;           /* N_COMPARE: one operator per operand after the first */
};

/* Binary and comparison operators in jnode.op. */
enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT, OP_EQ, OP_NE, OP_LT, OP_LE,
       OP_GT, OP_GE, OP_IN, OP_NOTIN };

struct jinja_macro {
    const jnode *def;
    struct jinja_frame *closure;
};

/* ---- lexer ---- */
typedef enum { T_TEXT, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END, T_NAME, T_STRING, T_INT, T_FLOAT,
               T_OP, T_EOF } jinja_tok_type;
typedef struct {
    jinja_tok_type type;
    int line;
    const char *p; /* T_TEXT, T_NAME (NUL-terminated), T_STRING (decoded), T_OP (NUL-terminated) */
    size_t n;
    int64_t i;
    double f;
} jinja_token;

/* Tokenizes src (newlines already normalized to \n); fails through a->on_fail. */
jinja_token *jinja_lex(jinja_arena *a, const char *src, size_t len, int *ntok);

struct jinja_template {
    jinja_arena arena;
    jnode **body;
    int n;
};

/* ---- evaluation ---- */
typedef struct jinja_frame jinja_frame;
struct jinja_frame {
    jinja_frame *parent;
    int n, cap;
    const char **names;
    jval *vals;
};

typedef struct {
    jinja_arena *a;
    jinja_frame *globals; /* the caller's variables */
    jinja_buf *out;       /* where statements write */
    long steps;
    int depth, macro_depth;
    int loop_ctl; /* 1: break, 2: continue pending */
    jval blockval; /* body of a filter block or set block while its filters run */
    struct tm now;
} jinja_state;

jval jinja_eval(jinja_state *st, jinja_frame *f, const jnode *e);
jval jinja_call_value(jinja_state *st, jinja_frame *f, int line, jval fn, jval *args, int nargs,
                      const char **kwnames, jval *kwvals, int nkw);

/* jinja_ops.c: what expressions do to values */
const char *jinja_hint(jinja_state *st, const char *fmt, const char *a, const char *b); /* fmt with a, b, arena-owned */
int jinja_name_in(const char *const *list, const char *name); /* list ends in NULL */
jval jinja_getattr(jinja_state *st, int line, jval obj, const char *name);
jval jinja_getitem(jinja_state *st, int line, jval obj, jval key);
int jinja_has_method(jval self, const char *name);
jval jinja_slice(jinja_state *st, int line, jval obj, const jval *parts); /* parts: start, stop, step */
/* Items of an iterable (list, tuple, dict keys, string characters, Undefined as empty). */
jinja_list *jinja_iterate(jinja_state *st, int line, jval v);
/* l <op> r for the arithmetic operators OP_ADD..OP_POW, with Python's rules. */
jval jinja_binop(jinja_state *st, int line, int op, jval l, jval r);
int jinja_compare(jinja_state *st, int line, int op, jval l, jval r); /* OP_EQ..OP_NOTIN */

/* jinja_str.c: Python's str operations */
enum { CASE_LOWER, CASE_UPPER, CASE_SWAP, CASE_CAPITALIZE, CASE_TITLE };
jval js_change_case(jinja_arena *a, jval s, int mode); /* lower(), upper(), swapcase(), capitalize(), title() */
jval js_title_words(jinja_arena *a, jval s);           /* Jinja's title filter */
jval js_strip(jinja_arena *a, int line, jval s, jval chars, int left, int right); /* chars: str or none */
jval js_split(jinja_arena *a, int line, jval s, jval sep, int64_t maxsplit, int from_right);
jval js_replace(jinja_arena *a, jval s, jval old, jval new_, int64_t count);
jval js_splitlines(jinja_arena *a, jval s, int keepends);
jval js_pad(jinja_arena *a, int line, jval s, int64_t width, jval fill, int mode); /* 0 center, 1 ljust, 2 rjust */
const char *js_find(const char *h, size_t hn, const char *needle, size_t nn);
const char *js_rfind(const char *h, size_t hn, const char *needle, size_t nn);
int js_parse_int(jval s, int base, int64_t *out);     /* Python's int(str, base) */
int js_parse_float(jinja_arena *a, jval s, double *out); /* Python's float(str) */
int js_has_case(jval s, int upper);                     /* islower() / isupper() */
int js_char_class(jval s, int which); /* isdigit, isalpha, isalnum, isspace, isnumeric, isascii (0..5) */
int js_istitle(jinja_arena *a, jval s);
int64_t js_wordcount(jval s); /* runs of \w characters, as Jinja's wordcount */

/* jinja_builtin.c */
int jinja_filter_known(const char *name); /* a filter Jinja has (implemented here or not) */
int jinja_test_known(const char *name);
jval jinja_filter(jinja_state *st, jinja_frame *f, int line, const char *name, jval in, jval *args, int nargs,
                  const char **kwnames, jval *kwvals, int nkw);
int jinja_test(jinja_state *st, jinja_frame *f, int line, const char *name, jval in, jval *args, int nargs);
jval jinja_method_call(jinja_state *st, int line, jval self, const char *name, jval *args, int nargs,
                       const char **kwnames, jval *kwvals, int nkw);
jval jinja_global_call(jinja_state *st, int line, int fn, jval *args, int nargs, const char **kwnames,
                       jval *kwvals, int nkw);
int jinja_global_lookup(const char *name); /* JF_* or -1 */

#endif
