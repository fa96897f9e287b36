/* Growable buffers of bytes and ints for the tokenizer pipeline. */
#ifndef SLM_TOK_BUF_H
#define SLM_TOK_BUF_H

#include <stddef.h>
#include <string.h>

/* A growable byte buffer.
 * An allocation failure sets `failed` and turns later writes into no-ops, so long pipelines check
 * once at the end instead of after every write. */
typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} tok_buf;

int tok_buf_reserve(tok_buf *b, size_t extra);
void tok_buf_free(tok_buf *b);
/* Appends (keeping a NUL after the end); inline because decoding appends a few bytes per token. */
static inline void tok_buf_put(tok_buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap && tok_buf_reserve(b, n)) return;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static inline void tok_buf_putc(tok_buf *b, int c) {
    if (b->n + 2 > b->cap && tok_buf_reserve(b, 1)) return;
    b->p[b->n++] = (char)c;
    b->p[b->n] = 0;
}

/* growable int array */
typedef struct {
    int *p;
    size_t n, cap;
    int failed;
} tok_ivec;

void tok_ivec_push(tok_ivec *v, int x);

#endif
