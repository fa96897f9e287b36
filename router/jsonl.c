#include "jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../runtime/error.h"

char *slm_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rbe");
    if (!f) {
        slm_fail("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        slm_fail("%s: %s", path, buf ? "read error" : "out of memory");
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Line and column (both from 1) of position pos in text. */
static void where(const char *text, const char *pos, int *line, int *col) {
    *line = 1;
    const char *start = text;
    for (const char *p = text; p < pos && *p; p++)
        if (*p == '\n') {
            ++*line;
            start = p + 1;
        }
    *col = (int)(pos - start) + 1;
}

cJSON *slm_json_parse_file(const char *path) {
    size_t len;
    char *text = slm_read_file(path, &len);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (j) {
        /* cJSON stops after the first value; anything but blanks after it is an error too. */
        while (end && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
        if (end && *end) {
            cJSON_Delete(j);
            j = NULL;
        }
    }
    if (!j) {
        int line, col;
        where(text, end ? end : text, &line, &col);
        slm_fail("%s:%d:%d: not valid JSON", path, line, col);
    }
    free(text);
    return j;
}

int slm_jsonl_open(slm_jsonl *j, const char *path) {
    memset(j, 0, sizeof *j);
    j->path = path;
    j->f = strcmp(path, "-") ? fopen(path, "rbe") : stdin;
    if (!j->f) return slm_fail("%s: %s", path, strerror(errno));
    return 0;
}

void slm_jsonl_close(slm_jsonl *j) {
    if (j->f && j->f != stdin) fclose(j->f);
    free(j->buf);
    memset(j, 0, sizeof *j);
}

int slm_jsonl_next(slm_jsonl *j, cJSON **obj) {
    *obj = NULL;
    for (;;) {
        ssize_t n = getline(&j->buf, &j->cap, j->f);
        if (n < 0) {
            if (ferror(j->f)) return slm_fail("%s:%d: read error", j->path, j->line + 1);
            return 0;
        }
        j->line++;
        while (n > 0 && (j->buf[n - 1] == '\n' || j->buf[n - 1] == '\r')) j->buf[--n] = 0;
        const char *p = j->buf;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) continue;
        if ((size_t)n != strlen(j->buf)) return slm_fail("%s:%d: contains a NUL byte", j->path, j->line);
        const char *end = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(j->buf, (size_t)n, &end, 0);
        if (v) {
            while (end && (*end == ' ' || *end == '\t')) end++;
            if (end && *end) {
                cJSON_Delete(v);
                return slm_fail("%s:%d:%d: text after the JSON value", j->path, j->line, (int)(end - j->buf) + 1);
            }
        } else {
            return slm_fail("%s:%d:%d: not valid JSON", j->path, j->line, end ? (int)(end - j->buf) + 1 : 1);
        }
        if (!cJSON_IsObject(v)) {
            cJSON_Delete(v);
            return slm_fail("%s:%d: expected a JSON object", j->path, j->line);
        }
        *obj = v;
        return 1;
    }
}

char *slm_utf8_repair(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1); /* a bad byte becomes 3 bytes at most */
    if (!out) return NULL;
    size_t i = 0, o = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (step > 0) {
            memcpy(out + o, s + i, (size_t)step);
            o += (size_t)step;
            i += (size_t)step;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}
