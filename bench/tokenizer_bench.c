/* Tokenizer speed. The generated text is built the same way by tools/py/bench_tokenizer_hf.py,
 * so the two reports compare like with like; both print its length and FNV-1a hash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/error.h"
#include "../tokenizer/tokenizer.h"
#include "tokenizer_bench.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* CPU time as well: on a busy machine the wall clock says more about the neighbours */
static double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static const char *const WORDS[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "people",
    "year", "way", "day", "man", "thing", "woman", "life", "child", "world", "school", "state",
    "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
    "company", "system", "program", "question", "work", "government", "number", "night", "point",
    "home", "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right",
    "study", "book", "eye", "job", "word", "business", "issue", "side", "kind", "head", "house",
    "service", "friend", "father", "power", "hour", "game", "line", "end", "member", "law", "car",
    "city", "community", "name", "president", "team", "minute", "idea", "kid", "body",
    "information", "back", "parent", "face", "others", "level", "office", "door", "health",
    "person", "art", "war", "history", "party", "result", "change", "morning", "reason",
    "research", "girl", "guy", "moment", "air", "teacher", "force", "education", "walked",
    "quickly", "beautiful", "understanding", "extraordinary", "tokenization", "performance",
    "café", "naïve", "résumé", "Zürich", "東京", "日本語", "Привет", "мир", "😀", "🎉", "naïveté",
    "don't", "it's", "we'll", "they're", "I'm", "O'Brien", "e-mail", "state-of-the-art",
};

static const char *const CODE[] = {
    "    for (int i = 0; i < n; i++) {\n        sum += x[i] * y[i];\n    }\n",
    "def parse(line):\n    key, _, value = line.partition('=')\n    return key.strip(), value.strip()\n",
    "if (err != nil) {\n\treturn fmt.Errorf(\"open %s: %w\", path, err)\n}\n",
    "SELECT name, COUNT(*) AS n FROM users WHERE age >= 18 GROUP BY name ORDER BY n DESC;\n",
};

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static int put(char **buf, size_t *n, size_t *cap, const char *s) {
    size_t k = strlen(s);
    if (*n + k + 1 > *cap) {
        size_t c = *cap * 2 > *n + k + 1 ? *cap * 2 : *n + k + 1;
        char *p = realloc(*buf, c);
        if (!p) return -1;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *n, s, k + 1);
    *n += k;
    return 0;
}

char *slm_bench_tokenizer_text(size_t min_bytes, size_t *len) {
    size_t n = 0, cap = min_bytes + 4096;
    char *buf = malloc(cap), tmp[64];
    uint64_t s = 20240601;
    const size_t nw = sizeof WORDS / sizeof *WORDS;
    if (!buf) return NULL;
    buf[0] = 0;
    int fail = 0;
    while (n < min_bytes && !fail) {
        uint64_t sentences = 3 + lcg(&s) % 6;
        for (uint64_t k = 0; k < sentences && !fail; k++) {
            uint64_t words = 5 + lcg(&s) % 16;
            for (uint64_t w = 0; w < words && !fail; w++) {
                uint64_t r = lcg(&s);
                if (r % 23 == 0) snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)(lcg(&s) % 100000));
                else {
                    snprintf(tmp, sizeof tmp, "%s", WORDS[r % nw]);
                    if (w == 0 && tmp[0] >= 'a' && tmp[0] <= 'z') tmp[0] = (char)(tmp[0] - 32);
                }
                fail |= put(&buf, &n, &cap, w ? " " : "");
                fail |= put(&buf, &n, &cap, tmp);
                if (w + 1 < words && r % 11 == 0) fail |= put(&buf, &n, &cap, ",");
            }
            fail |= put(&buf, &n, &cap, lcg(&s) % 7 == 0 ? "? " : ". ");
        }
        fail |= put(&buf, &n, &cap, "\n\n");
        if (lcg(&s) % 5 == 0) fail |= put(&buf, &n, &cap, CODE[lcg(&s) % 4]);
    }
    if (fail) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        slm_fail("%s: cannot open", path);
        return NULL;
    }
    size_t n = 0, cap = 1 << 20;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n == cap) {
            char *p = realloc(buf, cap * 2 + 1);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        slm_fail("%s: out of memory", path);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int slm_bench_tokenizer(const char *dir, const char *text_path, FILE *out) {
    double best = 1e9, best_cpu = 1e9;
    slm_tokenizer *tok = NULL;
    for (int r = 0; r < 3; r++) {
        double t0 = now(), c0 = cpu();
        slm_tokenizer *t = slm_tokenizer_load(dir);
        double dt = now() - t0, dc = cpu() - c0;
        if (!t) {
            slm_tokenizer_free(tok);
            return -1;
        }
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
        slm_tokenizer_free(tok);
        tok = t;
    }
    size_t len;
    char *text = text_path ? read_text(text_path, &len) : slm_bench_tokenizer_text(1 << 20, &len);
    if (!text) {
        slm_tokenizer_free(tok);
        return text_path ? -1 : slm_fail("bench: out of memory");
    }
    fprintf(out, "tokenizer  %s\n", dir);
    fprintf(out, "load       %.3f s (best of 3; %.3f s CPU)\n", best, best_cpu);
    fprintf(out, "text       %s, %zu bytes, fnv1a %016llx\n", text_path ? text_path : "generated", len,
            (unsigned long long)fnv1a(text, len));

    /* encode: the best of a few runs, as one string, specials added */
    int *ids = NULL, n = 0, rc = 0;
    double enc = 1e9;
    for (int r = 0; r < 3 && rc == 0; r++) {
        free(ids);
        double t0 = now();
        rc = slm_tokenize(tok, text, len, 1, 1, &ids, &n);
        double dt = now() - t0;
        if (dt < enc) enc = dt;
    }
    /* encode again line by line (empty lines skipped), as many short prompts */
    double lines = 1e9;
    size_t line_bytes = 0;
    for (int r = 0; r < 3 && rc == 0; r++) {
        double t0 = now();
        line_bytes = 0;
        for (size_t a = 0; a < len && rc == 0;) {
            const char *nl = memchr(text + a, '\n', len - a);
            size_t b = nl ? (size_t)(nl - text) : len;
            if (b > a) {
                int *lids, ln;
                rc = slm_tokenize(tok, text + a, b - a, 1, 1, &lids, &ln);
                if (rc == 0) free(lids);
                line_bytes += b - a;
            }
            a = b + 1;
        }
        double dt = now() - t0;
        if (dt < lines) lines = dt;
    }
    char *back = NULL;
    size_t back_len = 0;
    double dec = 1e9, str = 1e9;
    for (int r = 0; r < 3 && rc == 0; r++) {
        free(back);
        double t0 = now();
        rc = slm_detokenize(tok, ids, n, 0, &back, &back_len);
        double dt = now() - t0;
        if (dt < dec) dec = dt;
    }
    /* streaming decode, one id at a time as generation does */
    for (int r = 0; r < 3 && rc == 0; r++) {
        slm_detok_stream *s = slm_detok_stream_new(tok, 0);
        if (!s) {
            rc = -1;
            break;
        }
        double t0 = now();
        size_t total = 0, bn;
        const char *b;
        for (int i = 0; i < n && rc == 0; i++) {
            rc = slm_detok_stream_push(s, ids[i], &b, &bn);
            total += bn;
        }
        if (rc == 0) rc = slm_detok_stream_flush(s, &b, &bn);
        double dt = now() - t0;
        if (dt < str) str = dt;
        slm_detok_stream_free(s);
        if (rc == 0 && total + bn != back_len) rc = slm_fail("bench: streaming decode lost bytes");
    }
    if (rc == 0) {
        fprintf(out, "tokens     %d (%.2f bytes/token)\n", n, (double)len / (n ? n : 1));
        fprintf(out, "encode     %.2f MB/s (%.4f s, the text as one string)\n", len / enc / 1e6, enc);
        fprintf(out, "lines      %.2f MB/s (%.4f s, one call per line)\n", line_bytes / lines / 1e6,
                lines);
        fprintf(out, "decode     %.2f MB/s (%.4f s)\n", back_len / dec / 1e6, dec);
        fprintf(out, "stream     %.2f MB/s (%.4f s, one id at a time)\n", back_len / str / 1e6, str);
        char *plain;
        size_t plain_len;
        if (slm_detokenize(tok, ids, n, 1, &plain, &plain_len) == 0) {
            fprintf(out, "roundtrip  %s\n",
                    plain_len == len && !memcmp(plain, text, len) ? "exact" : "differs");
            free(plain);
        }
    }
    free(ids);
    free(back);
    free(text);
    slm_tokenizer_free(tok);
    return rc;
}
