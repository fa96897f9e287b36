#include "buf.h"

#include <stdlib.h>
#include <string.h>

int tok_buf_reserve(tok_buf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void tok_buf_free(tok_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void tok_ivec_push(tok_ivec *v, int x) {
    if (v->failed) return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int *p = realloc(v->p, cap * sizeof *p);
        if (!p) {
            v->failed = 1;
            return;
        }
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
}
