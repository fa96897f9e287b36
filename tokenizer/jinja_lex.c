/* Jinja lexer: splits a template into text and the tokens inside {{ }} and {% %}, dropping {# #}.
 *
 * Whitespace control follows Jinja's lexer with trim_blocks and lstrip_blocks on (transformers' setup):
 *   "{%-" / "{{-" / "{#-" strip all whitespace before the tag, "-%}" / "-}}" / "-#}" all whitespace after;
 *   a block or comment tag eats one newline after it (trim_blocks) unless it ends with "+%}";
 *   spaces and tabs between the start of a line and a block or comment tag are dropped (lstrip_blocks)
 *   unless the tag starts with "{%+".
 */
#include "jinja.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    jinja_arena *a;
    const char *src;
    size_t len;
    size_t line_pos; /* position up to which newlines were counted */
    int line;
    jinja_token *t;
    int n, cap;
} lexer;

static int line_at(lexer *lx, size_t pos) {
    for (; lx->line_pos < pos && lx->line_pos < lx->len; lx->line_pos++)
        if (lx->src[lx->line_pos] == '\n') lx->line++;
    return lx->line;
}

static jinja_token *push(lexer *lx, jinja_tok_type type, size_t pos) {
    if (lx->n == lx->cap) {
        int cap = lx->cap ? lx->cap * 2 : 256;
        jinja_token *t = ja_alloc(lx->a, sizeof(jinja_token) * (size_t)cap);
        if (lx->n) memcpy(t, lx->t, sizeof(jinja_token) * (size_t)lx->n);
        lx->t = t;
        lx->cap = cap;
    }
    jinja_token *t = &lx->t[lx->n++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->line = line_at(lx, pos);
    return t;
}

/* Whitespace as Python's \s and str.strip() see it. */
static size_t ws_forward(const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = ju_decode(p + i, n - i, &cp);
        if (!ju_isspace(cp)) break;
        i += k;
    }
    return i;
}

static size_t ws_backward(const char *p, size_t n) { /* length of the whitespace that ends p[0..n) */
    size_t end = n;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && ((unsigned char)p[start] & 0xC0) == 0x80) start--;
        uint32_t cp;
        ju_decode(p + start, end - start, &cp);
        if (!ju_isspace(cp)) break;
        end = start;
    }
    return n - end;
}

/* Emits the text p[0..n) before a tag, applying the tag's left-side whitespace control. */
static void emit_text(lexer *lx, size_t start, size_t n, char modifier, int is_block_or_comment,
                      int line_starting) {
    const char *p = lx->src + start;
    if (modifier == '-') {
        n -= ws_backward(p, n);
    } else if (modifier != '+' && is_block_or_comment) {
        size_t l_pos = n;
        while (l_pos > 0 && p[l_pos - 1] != '\n') l_pos--;
        if (l_pos > 0 || line_starting) {
            if (ws_forward(p + l_pos, n - l_pos) == n - l_pos) n = l_pos;
        }
    }
    if (n > 0) {
        jinja_token *t = push(lx, T_TEXT, start);
        t->p = p;
        t->n = n;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a string literal's body as Python's "unicode-escape" codec does (Jinja's rule). */
static void decode_string(lexer *lx, jinja_token *t, const char *p, size_t n) {
    jinja_buf b;
    jb_init(&b, lx->a);
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\' || i + 1 >= n) {
            jb_putc(&b, p[i]);
            continue;
        }
        char c = p[++i];
        uint32_t cp = 0;
        int digits = 0;
        switch (c) {
        case '\n': continue;
        case '\\': jb_putc(&b, '\\'); continue;
        case '\'': jb_putc(&b, '\''); continue;
        case '"': jb_putc(&b, '"'); continue;
        case 'a': jb_putc(&b, '\a'); continue;
        case 'b': jb_putc(&b, '\b'); continue;
        case 'f': jb_putc(&b, '\f'); continue;
        case 'n': jb_putc(&b, '\n'); continue;
        case 'r': jb_putc(&b, '\r'); continue;
        case 't': jb_putc(&b, '\t'); continue;
        case 'v': jb_putc(&b, '\v'); continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case 'N': jinja_fail(lx->a, t->line, "\\N{...} escapes in strings are not supported");
        default:
            if (c >= '0' && c <= '7') {
                cp = (uint32_t)(c - '0');
                for (int k = 0; k < 2 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(p[++i] - '0');
                char u[4];
                jb_put(&b, u, (size_t)ju_encode(cp, u));
            } else {
                jb_putc(&b, '\\');
                jb_putc(&b, c);
            }
            continue;
        }
        for (int k = 0; k < digits; k++) {
            int h = i + 1 < n ? hexval(p[i + 1]) : -1;
            if (h < 0) jinja_fail(lx->a, t->line, "truncated \\%c escape in a string", c);
            cp = cp * 16 + (uint32_t)h;
            i++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            jinja_fail(lx->a, t->line, "invalid \\%c escape in a string", c);
        char u[4];
        jb_put(&b, u, (size_t)ju_encode(cp, u));
    }
    t->p = b.p ? b.p : "";
    t->n = b.n;
}

static int is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Appends to a number's digits; past the buffer's end the digits are dropped, and the length check after
 * the literal rejects it. */
enum { NUM_BUF = 128 };
static void num_put(char *buf, size_t *k, char c) {
    if (*k < NUM_BUF - 1) buf[(*k)++] = c;
}

/* Appends the decimal digits from i (an underscore between two digits is skipped); returns the position
 * after them. */
static size_t digits(const char *s, size_t i, size_t n, char *buf, size_t *k) {
    while (i < n && (is_digit(s[i]) || (s[i] == '_' && i + 1 < n && is_digit(s[i + 1])))) {
        if (s[i] != '_') num_put(buf, k, s[i]);
        i++;
    }
    return i;
}

/* Lexes a number at pos; returns the position after it. */
static size_t lex_number(lexer *lx, size_t pos) {
    const char *s = lx->src;
    size_t i = pos, n = lx->len;
    jinja_token *t = push(lx, T_INT, pos);
    char buf[NUM_BUF];
    size_t k = 0;
    if (s[i] == '0' && i + 1 < n && strchr("xXoObB", s[i + 1]) && s[i + 1]) {
        int base = (s[i + 1] == 'x' || s[i + 1] == 'X') ? 16 : (s[i + 1] == 'o' || s[i + 1] == 'O') ? 8 : 2;
        i += 2;
        while (i < n && (s[i] == '_' || (hexval(s[i]) >= 0 && hexval(s[i]) < base))) {
            if (s[i] != '_') num_put(buf, &k, s[i]);
            i++;
        }
        buf[k] = 0;
        if (k == 0 || k > 60) jinja_fail(lx->a, t->line, "invalid integer literal");
        unsigned long long v = strtoull(buf, NULL, base);
        if (v > (unsigned long long)INT64_MAX) jinja_fail(lx->a, t->line, "integer literal too large");
        t->i = (int64_t)v;
        return i;
    }
    int is_float = 0;
    i = digits(s, i, n, buf, &k);
    /* A number right after '.' is an attribute index (x.0.1), never a float. */
    int after_dot = pos > 0 && s[pos - 1] == '.';
    if (!after_dot && i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
        is_float = 1;
        num_put(buf, &k, s[i++]);
        i = digits(s, i, n, buf, &k);
    }
    if (!after_dot && i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-')) j++;
        if (j < n && is_digit(s[j])) {
            is_float = 1;
            num_put(buf, &k, 'e');
            if (s[i + 1] == '-') num_put(buf, &k, '-');
            i = j;
            i = digits(s, i, n, buf, &k);
        }
    }
    buf[k] = 0;
    if (k >= NUM_BUF - 1) jinja_fail(lx->a, t->line, "number literal too long");
    if (!is_float && s[pos] == '0') {
        /* An integer with a leading zero is only zeros ("02" is two tokens, as in Jinja). */
        i = pos + 1;
        while (i < n && (s[i] == '0' || (s[i] == '_' && i + 1 < n && s[i + 1] == '0'))) i++;
        t->i = 0;
        return i;
    }
    if (is_float) {
        t->type = T_FLOAT;
        t->f = strtod(buf, NULL);
    } else {
        size_t z = 0;
        while (z + 1 < k && buf[z] == '0') z++;
        if (k - z > 19 || (k - z == 19 && strcmp(buf + z, "9223372036854775807") > 0))
            jinja_fail(lx->a, t->line, "integer literal too large");
        t->i = strtoll(buf, NULL, 10);
    }
    return i;
}

static const char *const operators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                        "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};

/* Lexes the inside of {{ }} or {% %} from pos; returns the position after the closing marker and sets
 * *modifier to the character before it ('-', '+' or 0). */
static size_t lex_tag(lexer *lx, size_t pos, int is_block, size_t tag_start, char *modifier) {
    const char *s = lx->src;
    size_t n = lx->len;
    int depth = 0;
    const char *close = is_block ? "%}" : "}}";
    for (;;) {
        while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r' ||
                           s[pos] == '\f' || s[pos] == '\v'))
            pos++;
        if (pos >= n)
            jinja_fail(lx->a, line_at(lx, tag_start), "unexpected end of template: the tag opened here is not closed");
        if (depth == 0) {
            if ((s[pos] == '-' || (is_block && s[pos] == '+')) && pos + 3 <= n && strncmp(s + pos + 1, close, 2) == 0) {
                *modifier = s[pos];
                push(lx, is_block ? T_BLOCK_END : T_VAR_END, pos);
                return pos + 3;
            }
            if (strncmp(s + pos, close, 2) == 0) {
                *modifier = 0;
                push(lx, is_block ? T_BLOCK_END : T_VAR_END, pos);
                return pos + 2;
            }
        }
        char c = s[pos];
        if (is_name_start(c) || (unsigned char)c >= 0x80) {
            size_t st = pos;
            while (pos < n && (is_name_start(s[pos]) || is_digit(s[pos]))) pos++;
            if (pos == st) jinja_fail(lx->a, line_at(lx, st), "unexpected character in a tag");
            jinja_token *t = push(lx, T_NAME, st);
            t->p = ja_strndup(lx->a, s + st, pos - st);
            t->n = pos - st;
            continue;
        }
        if (is_digit(c)) {
            pos = lex_number(lx, pos);
            continue;
        }
        if (c == '"' || c == '\'') {
            size_t st = pos++;
            while (pos < n && s[pos] != c) {
                if (s[pos] == '\\' && pos + 1 < n) pos++;
                pos++;
            }
            if (pos >= n) jinja_fail(lx->a, line_at(lx, st), "unterminated string");
            jinja_token *t = push(lx, T_STRING, st);
            decode_string(lx, t, s + st + 1, pos - st - 1);
            pos++;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof operators / sizeof *operators; k++) {
            size_t ol = strlen(operators[k]);
            if (pos + ol <= n && strncmp(s + pos, operators[k], ol) == 0) break;
        }
        if (k == sizeof operators / sizeof *operators)
            jinja_fail(lx->a, line_at(lx, pos), "unexpected character '%c' in a tag", c);
        jinja_token *t = push(lx, T_OP, pos);
        t->p = operators[k];
        t->n = strlen(operators[k]);
        if (strchr("([{", c)) depth++;
        else if (strchr(")]}", c) && depth > 0) depth--;
        pos += t->n;
    }
}

/* Matches "{%[-]? raw [-]?%}" (or endraw) at pos; returns its length or 0. */
static size_t match_raw_tag(const char *s, size_t n, size_t pos, const char *word, char *lmod, char *rmod) {
    size_t i = pos + 2;
    *lmod = *rmod = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) *lmod = s[i++];
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) i++;
    size_t wl = strlen(word);
    if (i + wl > n || strncmp(s + i, word, wl) != 0) return 0;
    i += wl;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) *rmod = s[i++];
    if (i + 2 > n || strncmp(s + i, "%}", 2) != 0) return 0;
    return i + 2 - pos;
}

jinja_token *jinja_lex(jinja_arena *a, const char *src, size_t len, int *ntok) {
    lexer lx = {.a = a, .src = src, .len = len, .line = 1};
    size_t pos = 0;
    int line_starting = 1; /* the previous tag ended a line (or this is the start) */
    while (pos < len) {
        /* Find the next tag start. */
        size_t t = pos;
        while (t + 1 < len && !(src[t] == '{' && (src[t + 1] == '{' || src[t + 1] == '%' || src[t + 1] == '#')))
            t++;
        if (t + 1 >= len) {
            emit_text(&lx, pos, len - pos, 0, 0, line_starting);
            break;
        }
        char kind = src[t + 1];
        char mod = (t + 2 < len && (src[t + 2] == '-' || src[t + 2] == '+')) ? src[t + 2] : 0;
        char lmod, rmod;
        size_t rawlen = kind == '%' ? match_raw_tag(src, len, t, "raw", &lmod, &rmod) : 0;
        if (rawlen && rmod != '+') {
            emit_text(&lx, pos, t - pos, lmod, 1, line_starting);
            size_t body = t + rawlen;
            if (rmod == '-') body += ws_forward(src + body, len - body);
            line_starting = body > 0 && src[body - 1] == '\n';
            size_t e = body, elen = 0;
            for (; e + 1 < len; e++)
                if (src[e] == '{' && src[e + 1] == '%' && (elen = match_raw_tag(src, len, e, "endraw", &lmod, &rmod)))
                    break;
            if (!elen) jinja_fail(a, line_at(&lx, t), "missing {%% endraw %%} for the raw block opened here");
            emit_text(&lx, body, e - body, lmod, 1, line_starting);
            pos = e + elen;
            if (rmod == '-') pos += ws_forward(src + pos, len - pos);
            else if (rmod != '+' && pos < len && src[pos] == '\n') pos++;
            line_starting = src[pos - 1] == '\n';
            continue;
        }
        emit_text(&lx, pos, t - pos, mod, kind != '{', line_starting);
        size_t inner = t + 2 + (mod ? 1 : 0);
        char endmod = 0;
        if (kind == '#' && inner == len) break; /* a lone "{#" at the very end is dropped, as Jinja does */
        if (kind == '#') {
            size_t e = inner;
            while (e + 1 < len && !(src[e] == '#' && src[e + 1] == '}')) e++;
            if (e + 1 >= len) jinja_fail(a, line_at(&lx, t), "missing end of comment tag");
            if (e > inner && (src[e - 1] == '-' || src[e - 1] == '+')) endmod = src[e - 1];
            pos = e + 2;
            if (endmod == '-') pos += ws_forward(src + pos, len - pos);
            else if (endmod != '+' && pos < len && src[pos] == '\n') pos++;
        } else {
            push(&lx, kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, t);
            pos = lex_tag(&lx, inner, kind == '%', t, &endmod);
            if (endmod == '-') pos += ws_forward(src + pos, len - pos);
            else if (kind == '%' && endmod != '+' && pos < len && src[pos] == '\n') pos++;
        }
        line_starting = src[pos - 1] == '\n';
    }
    push(&lx, T_EOF, len);
    *ntok = lx.n;
    return lx.t;
}
