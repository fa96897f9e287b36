/* The checks follow the reference reader (formats.md §1.3) and add what it leaves out:
 * duplicate names are rejected, and every tensor entry must have exactly its three keys. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runtime/error.h"

#define MAX_HEADER_SIZE 100000000ull

static const struct {
    const char *name;
    int bits;
} dtypes[] = {
    {"BOOL", 8},     {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6},     {"U8", 8},          {"I8", 8},
    {"F8_E5M2", 8},  {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},
    {"U16", 16},     {"F16", 16},    {"BF16", 16},   {"I32", 32},        {"U32", 32},        {"F32", 32},
    {"C64", 64},     {"F64", 64},    {"I64", 64},    {"U64", 64},
};

static int dtype_bits(const char *s) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(s, dtypes[i].name)) return dtypes[i].bits;
    return -1;
}

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return 0;
        for (int k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        if (len == 2 && c < 0xc2) return 0;
        if (len == 3) {
            unsigned cp = ((c & 0x0f) << 12) | ((s[i + 1] & 0x3f) << 6) | (s[i + 2] & 0x3f);
            if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        }
        if (len == 4) {
            unsigned cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3f) << 12) | ((s[i + 2] & 0x3f) << 6) | (s[i + 3] & 0x3f);
            if (cp < 0x10000 || cp > 0x10ffff) return 0;
        }
        i += len;
    }
    return 1;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const slm_st_tensor *x = a, *y = b;
    const char *dx = (const char *)x->data, *dy = (const char *)y->data;
    if (dx != dy) return dx < dy ? -1 : 1;
    /* equal begins: the shorter (empty) one first keeps the chain check simple */
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const slm_st_tensor *)a)->name, ((const slm_st_tensor *)b)->name);
}

static int parse_tensor(slm_st_tensor *t, const cJSON *e, const char *path, const char *data, uint64_t data_len,
                        uint64_t *begin, uint64_t *end) {
    if (!cJSON_IsObject(e)) return slm_fail("%s: tensor '%s': entry is not an object", path, t->name);
    int keys = 0;
    for (const cJSON *k = e->child; k; k = k->next) {
        if (strcmp(k->string, "dtype") && strcmp(k->string, "shape") && strcmp(k->string, "data_offsets"))
            return slm_fail("%s: tensor '%s': unexpected key '%s'", path, t->name, k->string);
        keys++;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (keys != 3 || !dt || !sh || !of)
        return slm_fail("%s: tensor '%s': needs exactly dtype, shape and data_offsets", path, t->name);
    if (!cJSON_IsString(dt)) return slm_fail("%s: tensor '%s': dtype is not a string", path, t->name);
    t->dtype_bits = dtype_bits(dt->valuestring);
    if (t->dtype_bits < 0 || strlen(dt->valuestring) >= sizeof t->dtype)
        return slm_fail("%s: tensor '%s': unknown dtype '%s'", path, t->name, dt->valuestring);
    strcpy(t->dtype, dt->valuestring);
    if (!cJSON_IsArray(sh)) return slm_fail("%s: tensor '%s': shape is not an array", path, t->name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > SLM_ST_MAX_DIMS) return slm_fail("%s: tensor '%s': %d dimensions (at most %d)", path, t->name, nd, SLM_ST_MAX_DIMS);
    t->ndim = nd;
    unsigned __int128 bits = (unsigned)t->dtype_bits;
    int i = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_u64(d, &v)) return slm_fail("%s: tensor '%s': shape[%d] is not a non-negative integer", path, t->name, i);
        t->shape[i] = (int64_t)v;
        bits *= v;
        if (bits > ((unsigned __int128)1 << 63)) return slm_fail("%s: tensor '%s': shape overflows", path, t->name);
    }
    if (bits % 8) return slm_fail("%s: tensor '%s': size is not a whole number of bytes", path, t->name);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || json_u64(of->child, begin) || json_u64(of->child->next, end))
        return slm_fail("%s: tensor '%s': data_offsets must be two non-negative integers", path, t->name);
    if (*end < *begin) return slm_fail("%s: tensor '%s': data_offsets end %llu before begin %llu", path, t->name,
                                       (unsigned long long)*end, (unsigned long long)*begin);
    if (*end - *begin != (uint64_t)(bits / 8))
        return slm_fail("%s: tensor '%s': data_offsets span %llu bytes but dtype and shape need %llu", path, t->name,
                        (unsigned long long)(*end - *begin), (unsigned long long)(bits / 8));
    if (*end > data_len)
        return slm_fail("%s: tensor '%s': data_offsets [%llu, %llu] beyond the end of the file (data is %llu bytes)",
                        path, t->name, (unsigned long long)*begin, (unsigned long long)*end,
                        (unsigned long long)data_len);
    t->nbytes = (size_t)(bits / 8);
    t->data = data + *begin;
    return 0;
}

static void free_tensors(slm_st_tensor *ts, int n) {
    for (int i = 0; i < n; i++) free((char *)ts[i].name);
    free(ts);
}

/* Parses and validates one file's bytes; appends its tensors to st. */
static int parse_file(slm_st *st, const char *path, const unsigned char *bytes, size_t size, int take_meta) {
    if (size < 8) return slm_fail("%s: file is %zu bytes, too short for a safetensors header", path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | bytes[i];
    if (n > MAX_HEADER_SIZE) return slm_fail("%s: header length %llu exceeds the limit of 100000000", path, (unsigned long long)n);
    if (8 + n > size) return slm_fail("%s: header length %llu runs past the end of the %zu-byte file (truncated?)", path,
                                      (unsigned long long)n, size);
    const char *hdr = (const char *)bytes + 8;
    if (!valid_utf8((const unsigned char *)hdr, n)) return slm_fail("%s: header is not valid UTF-8", path);
    const char *json_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, n, &json_end, 0);
    if (!root) return slm_fail("%s: header is not valid JSON", path);
    for (const char *p = json_end; p && p < hdr + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return slm_fail("%s: header has text after the JSON object", path);
        }
    }
    int rc = -1, count = 0, first = st->n_tensors;
    const char *data = hdr + n;
    uint64_t data_len = size - 8 - n;
    if (!cJSON_IsObject(root)) {
        slm_fail("%s: header is not a JSON object", path);
        goto out;
    }
    for (const cJSON *e = root->child; e; e = e->next) count += strcmp(e->string, "__metadata__") != 0;
    slm_st_tensor *grown = realloc(st->tensors, (size_t)(st->n_tensors + count + 1) * sizeof *grown);
    if (!grown) {
        slm_fail("%s: out of memory", path);
        goto out;
    }
    st->tensors = grown;
    uint64_t *ranges = calloc((size_t)count + 1, 2 * sizeof(uint64_t));
    if (!ranges) {
        slm_fail("%s: out of memory", path);
        goto out;
    }
    int k = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (!cJSON_IsObject(e)) {
                slm_fail("%s: __metadata__ is not an object", path);
                free(ranges);
                goto out;
            }
            for (const cJSON *m = e->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    slm_fail("%s: __metadata__ value '%s' is not a string", path, m->string);
                    free(ranges);
                    goto out;
                }
                if (!take_meta) continue;
                char **ks = realloc(st->meta_keys, (size_t)(st->n_meta + 1) * sizeof *ks);
                if (ks) st->meta_keys = ks;
                char **vs = realloc(st->meta_values, (size_t)(st->n_meta + 1) * sizeof *vs);
                if (vs) st->meta_values = vs;
                if (!ks || !vs) continue;
                st->meta_keys[st->n_meta] = strdup(m->string);
                st->meta_values[st->n_meta] = strdup(m->valuestring);
                st->n_meta++;
            }
            continue;
        }
        slm_st_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        t->name = strdup(e->string);
        t->file = path;
        st->n_tensors++;
        if (!t->name || parse_tensor(t, e, path, data, data_len, &ranges[2 * k], &ranges[2 * k + 1])) {
            if (!t->name) slm_fail("%s: out of memory", path);
            free(ranges);
            goto out;
        }
        k++;
    }
    free(ranges);
    /* Contiguous cover of the data buffer: sorted by offset, each starts where the previous ended. */
    slm_st_tensor *mine = st->tensors + first;
    qsort(mine, (size_t)count, sizeof *mine, cmp_offset);
    const char *at = data;
    for (int i = 0; i < count; i++) {
        if ((const char *)mine[i].data != at) {
            slm_fail("%s: tensor '%s': data_offsets begin at %lld but the previous tensor ends at %lld (gap or overlap)",
                     path, mine[i].name, (long long)((const char *)mine[i].data - data), (long long)(at - data));
            goto out;
        }
        at += mine[i].nbytes;
    }
    if ((uint64_t)(at - data) != data_len) {
        slm_fail("%s: tensors cover %lld bytes of data but the file holds %llu (trailing bytes or truncated)", path,
                 (long long)(at - data), (unsigned long long)data_len);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static int check_duplicates(slm_st *st) {
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_name);
    for (int i = 1; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name))
            return slm_fail("%s: tensor '%s' appears twice", st->tensors[i].file, st->tensors[i].name);
    return 0;
}

int slm_st_parse(slm_st *st, const char *path, const void *bytes, size_t size) {
    memset(st, 0, sizeof *st);
    if (parse_file(st, path, bytes, size, 1) || check_duplicates(st)) {
        slm_st_close(st);
        return -1;
    }
    return 0;
}

static int map_file(slm_st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return slm_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return slm_fail("%s: not a regular file", path);
    }
    f->size = (size_t)sb.st_size;
    f->path = strdup(path);
    if (f->size > 0) {
        f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            close(fd);
            return slm_fail("%s: cannot mmap: %s", path, strerror(errno));
        }
        /* where the filesystem caches files in large folios, this lets the kernel map them on 2 MiB pages, as
         * runtime/hugemem.c does for weights built in memory; elsewhere it changes nothing */
        madvise(f->map, f->size, MADV_HUGEPAGE);
    }
    close(fd);
    return 0;
}

static int add_file(slm_st *st, const char *path, int take_meta) {
    slm_st_file *grown = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *grown);
    if (!grown) return slm_fail("%s: out of memory", path);
    st->files = grown;
    slm_st_file *f = &st->files[st->n_files];
    if (map_file(f, path)) return -1;
    st->n_files++;
    return parse_file(st, f->path, f->map, f->size, take_meta);
}

int slm_st_open_file(slm_st *st, const char *path) {
    memset(st, 0, sizeof *st);
    if (add_file(st, path, 1) || check_duplicates(st)) {
        slm_st_close(st);
        return -1;
    }
    return 0;
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *g = realloc(buf, cap);
            if (!g) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = g;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static int open_index(slm_st *st, const char *dir, const char *index_path) {
    size_t len;
    char *text = read_text(index_path, &len);
    if (!text) return slm_fail("%s: cannot read: %s", index_path, strerror(errno));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return slm_fail("%s: not valid JSON", index_path);
    int rc = -1;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map) || !map->child) {
        slm_fail("%s: field 'weight_map': missing or not a non-empty object", index_path);
        goto out;
    }
    /* Open each shard named in the map once, in order of first mention. */
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || !strcmp(e->valuestring, "..")) {
            slm_fail("%s: weight_map['%s']: not a plain file name", index_path, e->string);
            goto out;
        }
        int seen = 0;
        for (const cJSON *p = map->child; p != e; p = p->next) seen |= !strcmp(p->valuestring, e->valuestring);
        if (seen) continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->valuestring) >= (int)sizeof path) {
            slm_fail("%s: shard path too long", index_path);
            goto out;
        }
        if (add_file(st, path, st->n_files == 0)) goto out;
    }
    if (check_duplicates(st)) goto out;
    for (const cJSON *e = map->child; e; e = e->next) {
        const slm_st_tensor *t = slm_st_find(st, e->string);
        if (!t) {
            slm_fail("%s: tensor '%s' is listed in weight_map but missing from %s", index_path, e->string, e->valuestring);
            goto out;
        }
        const char *base = strrchr(t->file, '/');
        base = base ? base + 1 : t->file;
        if (strcmp(base, e->valuestring)) {
            slm_fail("%s: tensor '%s' is mapped to %s but found in %s", index_path, e->string, e->valuestring, base);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int slm_st_open_dir(slm_st *st, const char *dir) {
    memset(st, 0, sizeof *st);
    char path[PATH_MAX];
    struct stat sb;
    if (stat(dir, &sb) != 0) return slm_fail("%s: model folder not found: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return slm_fail("%s: not a folder", dir);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) == 0) {
        if (open_index(st, dir, path)) {
            slm_st_close(st);
            return -1;
        }
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (access(path, F_OK) != 0)
        return slm_fail("%s: no model.safetensors or model.safetensors.index.json in the folder", dir);
    return slm_st_open_file(st, path);
}

void slm_st_close(slm_st *st) {
    free_tensors(st->tensors, st->n_tensors);
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    memset(st, 0, sizeof *st);
}

const slm_st_tensor *slm_st_find(const slm_st *st, const char *name) {
    int lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(st->tensors[mid].name, name);
        if (!c) return &st->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const char *slm_st_meta(const slm_st *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

int64_t slm_st_numel(const slm_st_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}
