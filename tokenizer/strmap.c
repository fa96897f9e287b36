/* Open-addressing hash maps: token string -> id, and merge pair -> (rank, merged id). */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

uint64_t tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

static uint32_t table_size(size_t expected) {
    uint32_t size = 16;
    while (size < expected * 2) size *= 2;
    return size;
}

int tok_strmap_init(tok_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    uint32_t size = table_size(expected);
    m->slots = calloc(size, sizeof *m->slots);
    m->cap = (uint32_t)(expected < 8 ? 8 : expected);
    m->e = malloc(m->cap * sizeof *m->e);
    if (!m->slots || !m->e) {
        tok_strmap_free(m);
        return -1;
    }
    m->mask = size - 1;
    return 0;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slots);
    free(m->e);
    tok_buf_free(&m->keys);
    memset(m, 0, sizeof *m);
}

int32_t tok_strmap_get(const tok_strmap *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint64_t h64 = tok_hash(s, n);
    uint32_t h = (uint32_t)h64, i = (uint32_t)(h64 >> 32) & m->mask;
    for (;;) {
        uint32_t slot = m->slots[i];
        if (!slot) return -1;
        const tok_entry *e = &m->e[slot - 1];
        if (e->hash == h && e->len == n && memcmp(m->keys.p + e->off, s, n) == 0) return e->val;
        i = (i + 1) & m->mask;
    }
}

static int grow(tok_strmap *m) {
    uint32_t size = (m->mask + 1) * 2;
    uint32_t *slots = calloc(size, sizeof *slots);
    if (!slots) return -1;
    for (uint32_t k = 0; k < m->n; k++) {
        uint64_t h64 = tok_hash(m->keys.p + m->e[k].off, m->e[k].len);
        uint32_t i = (uint32_t)(h64 >> 32) & (size - 1);
        while (slots[i]) i = (i + 1) & (size - 1);
        slots[i] = k + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return 0;
}

int64_t tok_strmap_put(tok_strmap *m, const char *s, size_t n, int32_t val) {
    if (n > UINT32_MAX / 2) return -1;
    if ((m->n + 1) * 2 > m->mask + 1 && grow(m)) return -1;
    uint64_t h64 = tok_hash(s, n);
    uint32_t h = (uint32_t)h64, i = (uint32_t)(h64 >> 32) & m->mask;
    for (;;) {
        uint32_t slot = m->slots[i];
        if (!slot) break;
        tok_entry *e = &m->e[slot - 1];
        if (e->hash == h && e->len == n && memcmp(m->keys.p + e->off, s, n) == 0) {
            e->val = val;
            return slot - 1;
        }
        i = (i + 1) & m->mask;
    }
    if (m->n == m->cap) {
        uint32_t cap = m->cap * 2;
        tok_entry *e = realloc(m->e, cap * sizeof *e);
        if (!e) return -1;
        m->e = e;
        m->cap = cap;
    }
    size_t off = m->keys.n;
    tok_buf_put(&m->keys, s, n);
    tok_buf_putc(&m->keys, 0);
    if (m->keys.failed || off > UINT32_MAX) return -1;
    m->e[m->n] = (tok_entry){(uint32_t)off, (uint32_t)n, h, val};
    m->slots[i] = ++m->n;
    return m->n - 1;
}

int tok_pairmap_init(tok_pairmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    uint32_t size = table_size(expected);
    m->keys = malloc(size * sizeof *m->keys);
    m->rank = malloc(size * sizeof *m->rank);
    m->id = malloc(size * sizeof *m->id);
    if (!m->keys || !m->rank || !m->id) {
        tok_pairmap_free(m);
        return -1;
    }
    memset(m->keys, 0xFF, size * sizeof *m->keys);
    m->mask = size - 1;
    return 0;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->keys);
    free(m->rank);
    free(m->id);
    memset(m, 0, sizeof *m);
}

/* The table is sized for the number of merges up front, so it never grows. A pair given twice keeps
 * the later rank, as the reference's HashMap collect does. */
void tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & m->mask;
    if (m->keys[i] == UINT64_MAX) m->n++;
    m->keys[i] = key;
    m->rank[i] = rank;
    m->id[i] = id;
}
