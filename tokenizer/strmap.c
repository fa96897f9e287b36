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

/* A power of two with the load factor at most 1/2 (strings) or 3/4 (pairs). */
static uint32_t table_size(size_t expected, int quarters) {
    uint32_t size = 16;
    while ((size_t)size * (size_t)quarters < expected * 4) size *= 2;
    return size;
}

int tok_strmap_init(tok_strmap *m, size_t expected, size_t key_bytes) {
    memset(m, 0, sizeof *m);
    uint32_t size = table_size(expected, 2);
    m->slots = calloc(size, sizeof *m->slots);
    if (!m->slots || tok_buf_reserve(&m->arena, key_bytes + expected * 12)) {
        tok_strmap_free(m);
        return -1;
    }
    m->mask = size - 1;
    return 0;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slots);
    tok_buf_free(&m->arena);
    memset(m, 0, sizeof *m);
}

typedef struct {
    int32_t val;
    uint32_t len;
} record;

/* The slot index holding key s, or the empty slot where it would go. */
static uint32_t find(const tok_strmap *m, const char *s, size_t n, uint64_t h64, int *found) {
    uint32_t tag = (uint32_t)h64, i = (uint32_t)(h64 >> 32) & m->mask;
    for (;;) {
        uint64_t slot = m->slots[i];
        if (!slot) {
            *found = 0;
            return i;
        }
        if ((uint32_t)(slot >> 32) == tag) {
            const char *r = m->arena.p + (uint32_t)slot - 1;
            record rec;
            memcpy(&rec, r, sizeof rec);
            if (rec.len == n && memcmp(r + sizeof rec, s, n) == 0) {
                *found = 1;
                return i;
            }
        }
        i = (i + 1) & m->mask;
    }
}

int32_t tok_strmap_get(const tok_strmap *m, const char *s, size_t n) {
    return tok_strmap_get_hashed(m, s, n, tok_hash(s, n));
}

int32_t tok_strmap_get_hashed(const tok_strmap *m, const char *s, size_t n, uint64_t hash) {
    if (!m->slots) return -1;
    int found;
    uint32_t i = find(m, s, n, hash, &found);
    if (!found) return -1;
    record rec;
    memcpy(&rec, m->arena.p + (uint32_t)m->slots[i] - 1, sizeof rec);
    return rec.val;
}

static int grow(tok_strmap *m) {
    uint32_t size = (m->mask + 1) * 2;
    uint64_t *slots = calloc(size, sizeof *slots);
    if (!slots) return -1;
    for (uint32_t i = 0; i <= m->mask; i++) {
        uint64_t slot = m->slots[i];
        if (!slot) continue;
        const char *r = m->arena.p + (uint32_t)slot - 1;
        record rec;
        memcpy(&rec, r, sizeof rec);
        uint32_t j = (uint32_t)(tok_hash(r + sizeof rec, rec.len) >> 32) & (size - 1);
        while (slots[j]) j = (j + 1) & (size - 1);
        slots[j] = slot;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = size - 1;
    return 0;
}

int tok_strmap_put(tok_strmap *m, const char *s, size_t n, int32_t val) {
    if (n > UINT32_MAX / 2) return -1;
    if ((m->n + 1) * 2 > m->mask + 1 && grow(m)) return -1;
    uint64_t h64 = tok_hash(s, n);
    int found;
    uint32_t i = find(m, s, n, h64, &found);
    if (found) {
        record rec;
        char *r = m->arena.p + (uint32_t)m->slots[i] - 1;
        memcpy(&rec, r, sizeof rec);
        rec.val = val;
        memcpy(r, &rec, sizeof rec);
        return 0;
    }
    size_t off = m->arena.n;
    size_t size = (sizeof(record) + n + 1 + 3) & ~(size_t)3;
    if (off + size >= UINT32_MAX || tok_buf_reserve(&m->arena, size)) return -1;
    record rec = {val, (uint32_t)n};
    memcpy(m->arena.p + off, &rec, sizeof rec);
    memcpy(m->arena.p + off + sizeof rec, s, n);
    memset(m->arena.p + off + sizeof rec + n, 0, size - sizeof rec - n);
    m->arena.n += size;
    m->slots[i] = ((h64 & 0xFFFFFFFFull) << 32) | (off + 1);
    m->n++;
    return 0;
}

int tok_strmap_next(const tok_strmap *m, size_t *pos, const char **key, uint32_t *len,
                    int32_t *val) {
    if (*pos >= m->arena.n) return 0;
    record rec;
    memcpy(&rec, m->arena.p + *pos, sizeof rec);
    *key = m->arena.p + *pos + sizeof rec;
    *len = rec.len;
    *val = rec.val;
    *pos += (sizeof(record) + rec.len + 1 + 3) & ~(size_t)3;
    return 1;
}

int tok_pairmap_init(tok_pairmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    uint32_t size = table_size(expected, 3);
    m->t = malloc(size * sizeof *m->t);
    if (!m->t) return -1;
    memset(m->t, 0xFF, size * sizeof *m->t);
    m->mask = size - 1;
    return 0;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->t);
    memset(m, 0, sizeof *m);
}

/* The table is sized for the number of merges up front and never grows. A pair given twice keeps
 * the later rank, as the reference's HashMap collect does. */
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    if (m->n >= m->mask - m->mask / 8) return -1; /* sized wrong: refuse rather than loop */
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    while (m->t[i].key != UINT64_MAX && m->t[i].key != key) i = (i + 1) & m->mask;
    if (m->t[i].key == UINT64_MAX) m->n++;
    m->t[i] = (tok_pair){key, rank, id};
    return 0;
}
