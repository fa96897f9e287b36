/* Internals shared by the files of tokenizer/. Not a public interface. */
#ifndef SLM_TOK_INTERNAL_H
#define SLM_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>

#include "buf.h"
#include "tokenizer.h"

/* ---- UTF-8 and character classes (utf8.c) ---- */
/* Decodes the character at s (valid UTF-8 assumed, n >= 1); returns its length in bytes. */
int tok_utf8_next(const char *s, size_t n, int32_t *cp);
int tok_utf8_encode(int32_t cp, char out[4]);
/* Offset of the first byte that does not start a valid UTF-8 sequence, or n when all is valid. */
size_t tok_utf8_invalid_at(const char *s, size_t n);
/* Appends s to out the way Rust's String::from_utf8_lossy does (each maximal invalid subpart becomes
 * U+FFFD). Unless final, a trailing sequence that is valid so far but unfinished is held back: the
 * return value is the number of bytes consumed. */
size_t tok_utf8_lossy(const char *s, size_t n, int final, tok_buf *out);
int tok_is_space(int32_t cp);   /* Unicode White_Space (Rust char::is_whitespace, regex \s) */
int tok_is_numeric(int32_t cp); /* general category N* (Rust char::is_numeric) */
int tok_is_word(int32_t cp);    /* Rust regex \w */

/* ---- hash maps (strmap.c) ---- */
uint64_t tok_hash(const void *p, size_t n);

/* String -> int map. Each key is a record in `arena`: [int32 value][uint32 length][bytes][NUL],
 * padded to 4 bytes, so a lookup touches the slot table and one record. A slot holds the key's
 * 32-bit hash above the record offset + 1 (0 is empty), which skips most mismatches unread. */
typedef struct {
    uint64_t *slots;
    uint32_t mask, n;
    tok_buf arena;
} tok_strmap;

int tok_strmap_init(tok_strmap *m, size_t expected, size_t key_bytes);
void tok_strmap_free(tok_strmap *m);
int32_t tok_strmap_get(const tok_strmap *m, const char *s, size_t n);
/* Inserts, or overwrites the value of a key already there; -1 when out of memory. */
int tok_strmap_put(tok_strmap *m, const char *s, size_t n, int32_t val);
/* The same with the key's tok_hash given, and prefetches of the slot and of the record it points
 * at, for callers that look up many keys and can ask for them ahead. */
int32_t tok_strmap_get_hashed(const tok_strmap *m, const char *s, size_t n, uint64_t hash);
static inline void tok_strmap_prefetch(const tok_strmap *m, uint64_t hash) {
    __builtin_prefetch(&m->slots[(uint32_t)(hash >> 32) & m->mask]);
}
static inline void tok_strmap_prefetch_record(const tok_strmap *m, uint64_t hash) {
    uint64_t slot = m->slots[(uint32_t)(hash >> 32) & m->mask];
    if (slot) __builtin_prefetch(m->arena.p + (uint32_t)slot - 1);
}
/* Walks the records in insertion order: start with *pos = 0; returns 0 at the end. The key
 * pointers stay valid while nothing is inserted. */
int tok_strmap_next(const tok_strmap *m, size_t *pos, const char **key, uint32_t *len,
                    int32_t *val);

/* (left id, right id) -> (rank, merged id) for BPE merges. */
typedef struct {
    uint64_t key; /* UINT64_MAX is empty */
    uint32_t rank;
    int32_t id;
} tok_pair;

typedef struct {
    tok_pair *t;
    uint32_t mask, n;
} tok_pairmap;

int tok_pairmap_init(tok_pairmap *m, size_t expected);
void tok_pairmap_free(tok_pairmap *m);
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
static inline void tok_pairmap_prefetch(const tok_pairmap *m, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    __builtin_prefetch(&m->t[(uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask], 1);
}
static inline int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, uint32_t *rank,
                                  int32_t *id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(h >> 32) & m->mask;
    for (;;) {
        const tok_pair *p = &m->t[i];
        if (p->key == key) {
            *rank = p->rank;
            *id = p->id;
            return 1;
        }
        if (p->key == UINT64_MAX) return 0;
        i = (i + 1) & m->mask;
    }
}

/* ---- a pattern: literal string or PCRE2 regex (pattern.c) ---- */
typedef struct {
    char *lit; /* literal when re is NULL */
    size_t lit_len;
    pcre2_code *re;
    int jit; /* JIT-compiled: match with pcre2_jit_match */
} tok_pattern;

/* Compiles {"String": s} or {"Regex": r}; errors name `where`. */
struct cJSON;
int tok_pattern_from_json(tok_pattern *p, const struct cJSON *j, const char *where);
/* An Oniguruma regex (as tokenizer.json has them), and one already in PCRE2 terms. */
int tok_pattern_regex(tok_pattern *p, const char *re, const char *where);
int tok_pattern_pcre2(tok_pattern *p, const char *re, const char *where);
void tok_pattern_free(tok_pattern *p);
/* Finds the next match at or after `from` (onig find_iter semantics for empty matches are the
 * caller's business). Returns 1 and sets [*ms, *me) or 0 when none, -1 on a matcher error. */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *stack;
} tok_matcher;
int tok_matcher_init(tok_matcher *m);
void tok_matcher_free(tok_matcher *m);
int tok_pattern_find(const tok_pattern *p, tok_matcher *m, const char *s, size_t n, size_t from,
                     size_t *ms, size_t *me);
/* Calls the pattern's matches over s in order, Rust/onig find_iter style (an empty match right
 * after the previous match is skipped). Fills a list of (start, end, is_match) spans covering s. */
typedef struct {
    size_t start, end;
    int match;
} tok_span;
typedef struct {
    tok_span *p;
    size_t n, cap;
    int failed;
} tok_spans;
int tok_pattern_spans(const tok_pattern *p, tok_matcher *m, const char *s, size_t n, tok_spans *out);
void tok_spans_push(tok_spans *v, size_t start, size_t end, int match);

/* ---- components ---- */
enum {
    NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWERCASE, NORM_STRIP, NORM_REPLACE,
    NORM_PREPEND, NORM_BYTELEVEL
};
typedef struct {
    int kind;
    int left, right;  /* Strip */
    tok_pattern pat;  /* Replace */
    char *content;    /* Replace content, Prepend string */
    size_t content_len;
} tok_normalizer;

enum { PRE_SPLIT, PRE_BYTELEVEL, PRE_DIGITS, PRE_METASPACE };
enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
typedef struct {
    int kind;
    tok_pattern pat;      /* Split, and ByteLevel's GPT-2 regex */
    int behavior, invert; /* Split */
    int add_prefix_space, use_regex; /* ByteLevel */
    int individual_digits;           /* Digits */
    char repl[5];                    /* Metaspace replacement character, UTF-8 */
    int repl_len;
    int prepend_scheme, split; /* Metaspace */
} tok_pretok;

enum { DEC_BYTELEVEL, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_REPLACE, DEC_METASPACE };
typedef struct {
    int kind;
    int fused;        /* a Fuse or ByteLevel came earlier: items downstream form one string */
    tok_pattern pat;  /* Replace */
    char *content;    /* Replace */
    size_t content_len;
    int32_t strip_char; /* Strip */
    int start, stop;
    char repl[5];     /* Metaspace */
    int repl_len;
    int prepend_scheme;
} tok_decoder;

/* One post-processor template: pieces of fixed ids around the sequence. */
typedef struct {
    int *ids;   /* fixed ids, with -1 marking where the sequence goes */
    int n;
} tok_template;

typedef struct {
    int id;
    char *content; /* as written in tokenizer.json */
    size_t len;
    char *match;   /* what is matched: content, normalized when `normalized` */
    size_t match_len;
    unsigned char single_word, lstrip, rstrip, normalized, special;
} tok_added;

/* Byte trie over added-token strings for leftmost-longest matching. */
typedef struct {
    int32_t token;   /* index into tok->added, or -1 */
    int32_t child;   /* first child node, -1 */
    int32_t sibling; /* next sibling, -1 */
    unsigned char byte;
} tok_trie_node;

typedef struct {
    tok_trie_node *nodes;
    int n, cap;
    unsigned char first[256]; /* bytes that start some token */
    int empty;                /* no tokens at all */
} tok_trie;

/* One cached BPE result. */
typedef struct {
    uint64_t hash;
    char *key;
    uint32_t key_len;
    int *ids;
    int n;
} tok_cache_slot;

struct slm_tokenizer {
    char *path; /* of tokenizer.json, for messages */

    /* model: BPE */
    tok_strmap vocab;  /* model vocabulary */
    tok_pairmap merges;
    int32_t *char_id;  /* id of one-character tokens by code point below 0x10000, -1 when none */
    int byte_id[256];  /* ids of <0xHH> tokens, -1 when absent */
    int unk_id;        /* model unk token id, -1 */
    int fuse_unk, byte_fallback, ignore_merges;
    /* SentencePiece-style vocabularies: no token has "▁" after another character, so no merge
     * can cross the start of a "▁" word and long pieces are cut there (exactly). 0 when not so. */
    int split_before_meta;
    char *cont_prefix, *word_suffix; /* continuing_subword_prefix, end_of_word_suffix (NULL: none) */
    size_t cont_prefix_len, word_suffix_len;

    /* id -> string: added tokens first, then the model vocabulary */
    int n_ids;           /* vocab size */
    const char **piece;  /* token string per id, NULL for holes */
    uint32_t *piece_len;
    const char **dec_piece; /* string given to the decoder (an added token's normalized form) */
    uint32_t *dec_len;
    unsigned char *special; /* skipped when decoding with skip_special */

    tok_added *added;
    int n_added;
    tok_strmap added_map; /* content -> id */
    tok_trie raw_trie, norm_trie;

    tok_normalizer *norm;
    int n_norm;
    tok_pretok *pre;
    int n_pre;
    tok_decoder *dec;
    int n_dec;
    int has_decoder;
    tok_template *post;
    int n_post;
    int16_t bl_char_byte[0x144]; /* ByteLevel decoder: code point -> byte, -1 */
    char bl_chars[256][3];       /* ByteLevel: byte -> character (UTF-8) */
    int bl_len[256];

    /* from tokenizer_config.json / special_tokens_map.json / generation_config.json */
    char *bos, *eos, *unk, *pad;
    int bos_id, eos_id, unk_tok_id, pad_id;
    int *eot;
    int n_eot;

    /* cache of BPE results for repeated pieces; shared by threads under the lock */
    pthread_mutex_t cache_lock;
    tok_cache_slot *cache;
    uint32_t cache_mask;
};

/* components.c: parse the cJSON descriptions of the pipeline pieces */
int tok_parse_normalizer(slm_tokenizer *t, const struct cJSON *j);
int tok_parse_pretokenizer(slm_tokenizer *t, const struct cJSON *j);
int tok_parse_decoder(slm_tokenizer *t, const struct cJSON *j);
int tok_parse_postprocessor(slm_tokenizer *t, const struct cJSON *j);
void tok_components_free(slm_tokenizer *t);

/* model.c: vocab and merges, read straight from the JSON text */
int tok_parse_model(slm_tokenizer *t, char *json, size_t len);

/* added.c */
int tok_trie_add(tok_trie *t, const char *s, size_t n, int token);
void tok_trie_free(tok_trie *t);
/* Splits s into added-token matches and text, the way AddedVocabulary::find_matches does: calls
 * emit(ctx, start, end, added_index or -1) for each span in order (text spans are never empty). */
typedef int (*tok_emit_fn)(void *ctx, size_t start, size_t end, int added);
int tok_find_added(const slm_tokenizer *t, const tok_trie *trie, const char *s, size_t n,
                   int parse_special, tok_emit_fn emit, void *ctx);

/* normalize.c: normalizes s into out; *lead_kept is 0 when the first character was removed (the
 * start of the result then no longer maps to the start of s). */
int tok_normalize(const slm_tokenizer *t, tok_matcher *m, const char *s, size_t n, tok_buf *out,
                  int *lead_kept);

/* pretokenize.c */
typedef struct {
    uint32_t off, len;
    int origin; /* starts at offset 0 of the original text (Metaspace prepend_scheme "first") */
} tok_piece;
typedef struct {
    tok_buf text;
    tok_piece *p;
    size_t n, cap;
    int failed;
} tok_pieces;
void tok_pieces_push(tok_pieces *v, tok_buf *text, const char *s, size_t n, int origin);
void tok_pieces_free(tok_pieces *v);
/* Runs the pre-tokenizers on `in` (one or more pieces); the result is left in `in`. */
int tok_pretokenize(const slm_tokenizer *t, tok_matcher *m, tok_pieces *in, tok_pieces *tmp);

/* bpe.c */
typedef struct {
    void *sym;
    size_t sym_cap;
    void *heap;
    size_t heap_cap;
} tok_bpe_scratch;
int tok_bpe(const slm_tokenizer *t, const char *s, size_t n, tok_bpe_scratch *sc, tok_ivec *out);
void tok_bpe_scratch_free(tok_bpe_scratch *sc);
void tok_cache_free(slm_tokenizer *t);

#endif
