/* Added and special tokens: a byte trie of their strings, and the leftmost-longest scan that cuts
 * them out of the text before normalization (AddedVocabulary::find_matches in the reference). */
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

static int new_node(tok_trie *t, unsigned char byte) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        tok_trie_node *p = realloc(t->nodes, (size_t)cap * sizeof *p);
        if (!p) return -1;
        t->nodes = p;
        t->cap = cap;
    }
    t->nodes[t->n] = (tok_trie_node){-1, -1, -1, byte};
    return t->n++;
}

int tok_trie_add(tok_trie *t, const char *s, size_t n, int token) {
    if (n == 0) return 0;
    if (t->n == 0 && new_node(t, 0) < 0) return -1; /* root */
    int node = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != b) c = t->nodes[c].sibling;
        if (c < 0) {
            c = new_node(t, b);
            if (c < 0) return -1;
            t->nodes[c].sibling = t->nodes[node].child;
            t->nodes[node].child = c;
        }
        node = c;
    }
    t->nodes[node].token = token;
    t->first[(unsigned char)s[0]] = 1;
    return 0;
}

void tok_trie_free(tok_trie *t) {
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

/* The longest token starting at s[0], or -1; its length goes to *len. */
static int longest_at(const tok_trie *t, const char *s, size_t n, size_t *len) {
    int node = 0, best = -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != b) c = t->nodes[c].sibling;
        if (c < 0) break;
        node = c;
        if (t->nodes[node].token >= 0) {
            best = t->nodes[node].token;
            *len = i + 1;
        }
    }
    return best;
}

static int last_char(const char *s, size_t n, int32_t *cp) {
    if (n == 0) return 0;
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    tok_utf8_next(s + i, n - i, cp);
    return 1;
}

int tok_find_added(const slm_tokenizer *t, const tok_trie *trie, const char *s, size_t n,
                   int parse_special, tok_emit_fn emit, void *ctx) {
    if (n == 0) return 0;
    size_t start_offset = 0, pos = 0;
    if (trie->n > 0) {
        while (pos < n) {
            size_t i = pos, len = 0;
            int tok = -1;
            for (; i < n; i++) {
                if (!trie->first[(unsigned char)s[i]]) continue;
                tok = longest_at(trie, s + i, n - i, &len);
                if (tok >= 0) break;
            }
            if (tok < 0) break;
            size_t start = i, stop = i + len;
            pos = stop; /* the scan goes on after the match as found, whatever happens to it */
            const tok_added *a = &t->added[tok];
            if (!parse_special && a->special) continue;
            if (a->single_word) {
                int32_t cp;
                int start_space = start == 0 || !last_char(s, start, &cp) || !tok_is_word(cp);
                int stop_space = stop == n;
                if (!stop_space) {
                    tok_utf8_next(s + stop, n - stop, &cp);
                    stop_space = !tok_is_word(cp);
                }
                if (!start_space || !stop_space) continue;
            }
            if (a->lstrip) {
                size_t ns = start;
                int32_t cp;
                while (ns > 0 && last_char(s, ns, &cp) && tok_is_space(cp)) {
                    char u[4];
                    ns -= (size_t)tok_utf8_encode(cp, u);
                }
                start = ns > start_offset ? ns : start_offset;
            }
            if (a->rstrip) {
                int32_t cp;
                while (stop < n) {
                    int k = tok_utf8_next(s + stop, n - stop, &cp);
                    if (!tok_is_space(cp)) break;
                    stop += (size_t)k;
                }
            }
            if (start_offset < start && emit(ctx, start_offset, start, -1)) return -1;
            if (emit(ctx, start, stop, tok)) return -1;
            start_offset = stop;
        }
    }
    if (start_offset < n && emit(ctx, start_offset, n, -1)) return -1;
    return 0;
}
