/* The BPE model on one pre-tokenized piece: characters to ids (with byte fallback or unk), then
 * merges by lowest rank, ties to the leftmost pair, with a min-heap over a linked list of symbols
 * (the algorithm of the reference's Word::merge_all, so that results match it exactly). Results for
 * repeated pieces come from a small shared cache. */
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "tok_internal.h"

typedef struct {
    int32_t c;          /* token id */
    int32_t prev, next; /* neighbours, -1 at the ends */
    uint32_t len;       /* bytes covered; 0 once merged away */
} symbol;

typedef struct {
    uint32_t rank, pos;
    int32_t id;
} merge;

static int merge_less(merge a, merge b) {
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void heap_push(merge *h, size_t *n, merge m) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(m, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static merge heap_pop(merge *h, size_t *n) {
    merge top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && merge_less(h[c + 1], h[c])) c++;
        if (!merge_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* The id of one character, with the subword prefix/suffix when the model has them. */
static int32_t char_token(const slm_tokenizer *t, const char *s, size_t k, int32_t cp, int first,
                          int last, tok_buf *tmp, const char **str, size_t *str_n) {
    if ((!t->cont_prefix || first) && (!t->word_suffix || !last)) {
        *str = s;
        *str_n = k;
        if (cp < 0x10000) return t->char_id[cp];
        return tok_strmap_get(&t->vocab, s, k);
    }
    tmp->n = 0;
    if (t->cont_prefix && !first) tok_buf_put(tmp, t->cont_prefix, t->cont_prefix_len);
    tok_buf_put(tmp, s, k);
    if (t->word_suffix && last) tok_buf_put(tmp, t->word_suffix, t->word_suffix_len);
    *str = tmp->p ? tmp->p : "";
    *str_n = tmp->n;
    return tok_strmap_get(&t->vocab, *str, *str_n);
}

static int merge_word(const slm_tokenizer *t, const char *s, size_t n, tok_bpe_scratch *sc,
                      tok_ivec *out) {
    if (grow(&sc->sym, &sc->sym_cap, n + 1, sizeof(symbol)) ||
        grow(&sc->heap, &sc->heap_cap, 2 * n + 2, sizeof(merge)))
        return slm_fail("tokenizer: out of memory");
    symbol *sym = sc->sym;
    merge *heap = sc->heap;
    size_t ns = 0, nh = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
    tok_buf tmp = {0};
#define ADD(id, l)                                                        \
    do {                                                                  \
        sym[ns] = (symbol){(id), (int32_t)ns - 1, -1, (uint32_t)(l)};     \
        if (ns > 0) sym[ns - 1].next = (int32_t)ns;                       \
        ns++;                                                             \
    } while (0)
    for (size_t i = 0; i < n;) {
        int32_t cp;
        int k = tok_utf8_next(s + i, n - i, &cp);
        const char *str;
        size_t str_n;
        int32_t id = char_token(t, s + i, (size_t)k, cp, i == 0, i + (size_t)k == n, &tmp, &str,
                                &str_n);
        i += (size_t)k;
        if (id >= 0) {
            if (unk >= 0) {
                ADD(unk, unk_len);
                unk = -1;
            }
            ADD(id, k);
            continue;
        }
        if (t->byte_fallback) {
            size_t b = 0;
            while (b < str_n && t->byte_id[(unsigned char)str[b]] >= 0) b++;
            if (b == str_n) {
                /* byte symbols cover one byte each; the room was sized for n symbols, and a
                 * character of k bytes gives at most k of them unless a prefix/suffix is added */
                if (grow(&sc->sym, &sc->sym_cap, ns + str_n + n + 1, sizeof(symbol)) ||
                    grow(&sc->heap, &sc->heap_cap, 2 * (ns + str_n + n) + 2, sizeof(merge))) {
                    tok_buf_free(&tmp);
                    return slm_fail("tokenizer: out of memory");
                }
                sym = sc->sym;
                heap = sc->heap;
                for (b = 0; b < str_n; b++) ADD(t->byte_id[(unsigned char)str[b]], 1);
                continue;
            }
        }
        if (t->unk_id >= 0) {
            if (unk >= 0 && t->fuse_unk) unk_len += (uint32_t)k;
            else {
                if (unk >= 0) ADD(unk, unk_len);
                unk = t->unk_id;
                unk_len = (uint32_t)k;
            }
        } else if (t->unk_id == -2) {
            tok_buf_free(&tmp);
            return slm_fail("%s: model.unk_token: not in the vocabulary", t->path);
        }
    }
    if (unk >= 0) ADD(unk, unk_len);
#undef ADD
    tok_buf_free(&tmp);

    for (size_t i = 0; i + 1 < ns; i++) {
        uint32_t rank;
        int32_t id;
        if (tok_pairmap_get(&t->merges, sym[i].c, sym[i + 1].c, &rank, &id))
            heap_push(heap, &nh, (merge){rank, (uint32_t)i, id});
    }
    while (nh > 0) {
        merge top = heap_pop(heap, &nh);
        symbol *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        symbol right = sym[cur->next];
        uint32_t rank;
        int32_t id;
        /* skip entries that went stale when a neighbour merged */
        if (!tok_pairmap_get(&t->merges, cur->c, right.c, &rank, &id) || id != top.id) continue;
        sym[cur->next].len = 0;
        cur->c = top.id;
        cur->len += right.len;
        cur->next = right.next;
        if (right.next >= 0) sym[right.next].prev = (int32_t)top.pos;
        if (cur->prev >= 0 &&
            tok_pairmap_get(&t->merges, sym[cur->prev].c, cur->c, &rank, &id)) {
            /* the heap holds at most one entry per merge done plus the initial pairs */
            if (grow(&sc->heap, &sc->heap_cap, nh + 2, sizeof(merge)))
                return slm_fail("tokenizer: out of memory");
            heap = sc->heap;
            heap_push(heap, &nh, (merge){rank, (uint32_t)cur->prev, id});
        }
        if (cur->next >= 0 && tok_pairmap_get(&t->merges, cur->c, sym[cur->next].c, &rank, &id)) {
            if (grow(&sc->heap, &sc->heap_cap, nh + 2, sizeof(merge)))
                return slm_fail("tokenizer: out of memory");
            heap = sc->heap;
            heap_push(heap, &nh, (merge){rank, top.pos, id});
        }
    }
    for (size_t i = 0; i < ns; i++)
        if (sym[i].len) tok_ivec_push(out, sym[i].c);
    return out->failed ? slm_fail("tokenizer: out of memory") : 0;
}

#define CACHE_MAX_KEY 256

static int bpe_piece(const slm_tokenizer *t, const char *s, size_t n, tok_bpe_scratch *sc,
                     tok_ivec *out);

int tok_bpe(const slm_tokenizer *t, const char *s, size_t n, tok_bpe_scratch *sc, tok_ivec *out) {
    if (n == 0) return 0;
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->vocab, s, n);
        if (id >= 0) {
            tok_ivec_push(out, id);
            return out->failed ? slm_fail("tokenizer: out of memory") : 0;
        }
    }
    if (!t->split_before_meta || n <= 64) return bpe_piece(t, s, n, sc, out);
    /* a whole SentencePiece text is one piece: cut it before each "▁" that follows another
     * character (no token crosses there, see split_before_meta), which keeps the merge work
     * small and lets the cache see words */
    static const char meta[3] = {(char)0xE2, (char)0x96, (char)0x81};
    size_t start = 0;
    for (size_t i = 1; i + 3 <= n; i++)
        if (!memcmp(s + i, meta, 3) && !(i >= 3 && !memcmp(s + i - 3, meta, 3))) {
            if (bpe_piece(t, s + start, i - start, sc, out)) return -1;
            start = i;
        }
    return bpe_piece(t, s + start, n - start, sc, out);
}

static int bpe_piece(const slm_tokenizer *t, const char *s, size_t n, tok_bpe_scratch *sc,
                     tok_ivec *out) {
    if (n == 1 && t->char_id[(unsigned char)s[0]] >= 0 && !t->cont_prefix && !t->word_suffix) {
        tok_ivec_push(out, t->char_id[(unsigned char)s[0]]);
        return out->failed ? slm_fail("tokenizer: out of memory") : 0;
    }
    uint64_t h = 0;
    tok_cache_slot *slot = NULL;
    if (t->cache && n <= CACHE_MAX_KEY) {
        h = tok_hash(s, n);
        slot = &t->cache[h & t->cache_mask];
        pthread_mutex_lock((pthread_mutex_t *)&t->cache_lock);
        if (slot->key && slot->hash == h && slot->key_len == n && memcmp(slot->key, s, n) == 0) {
            for (int i = 0; i < slot->n; i++) tok_ivec_push(out, slot->ids[i]);
            pthread_mutex_unlock((pthread_mutex_t *)&t->cache_lock);
            return out->failed ? slm_fail("tokenizer: out of memory") : 0;
        }
        pthread_mutex_unlock((pthread_mutex_t *)&t->cache_lock);
    }
    size_t first = out->n;
    if (merge_word(t, s, n, sc, out)) return -1;
    if (slot) {
        int cnt = (int)(out->n - first);
        char *key = malloc(n);
        int *ids = malloc((size_t)(cnt ? cnt : 1) * sizeof *ids);
        if (key && ids) {
            memcpy(key, s, n);
            memcpy(ids, out->p + first, (size_t)cnt * sizeof *ids);
            pthread_mutex_lock((pthread_mutex_t *)&t->cache_lock);
            char *old_key = slot->key;
            int *old_ids = slot->ids;
            *slot = (tok_cache_slot){h, key, (uint32_t)n, ids, cnt};
            pthread_mutex_unlock((pthread_mutex_t *)&t->cache_lock);
            free(old_key);
            free(old_ids);
        } else {
            free(key);
            free(ids);
        }
    }
    return 0;
}

void tok_bpe_scratch_free(tok_bpe_scratch *sc) {
    free(sc->sym);
    free(sc->heap);
    memset(sc, 0, sizeof *sc);
}

void tok_cache_free(slm_tokenizer *t) {
    if (!t->cache) return;
    for (uint32_t i = 0; i <= t->cache_mask; i++) {
        free(t->cache[i].key);
        free(t->cache[i].ids);
    }
    free(t->cache);
    t->cache = NULL;
}
