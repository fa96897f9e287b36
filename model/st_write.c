#include "st_write.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"

static int elem_bytes(const char *dtype) {
    if (!strcmp(dtype, "F64") || !strcmp(dtype, "I64") || !strcmp(dtype, "U64")) return 8;
    if (!strcmp(dtype, "F32") || !strcmp(dtype, "I32") || !strcmp(dtype, "U32")) return 4;
    if (!strcmp(dtype, "F16") || !strcmp(dtype, "BF16") || !strcmp(dtype, "I16") || !strcmp(dtype, "U16")) return 2;
    return 1;
}

/* The data starts on a 64-byte boundary of the file (so of an mmap), and tensors whose size is a multiple of
 * 64 bytes go first, so each of them starts on one too: the SIMD kernels load 64 bytes of a row at a time,
 * and NF4's slows by ~11% when those loads straddle cache lines. Then packed blocks, which are U8 but hold
 * fp16 scales: an even-sized U8 tensor goes before the odd ones. */
enum { DATA_ALIGN = 64 };
static int rank(const slm_st_out *t) {
    return (t->nbytes % DATA_ALIGN == 0) * 64 + elem_bytes(t->dtype) * 2 + (t->nbytes % 2 == 0);
}

static int by_alignment(const void *a, const void *b) {
    const slm_st_out *x = a, *y = b;
    int rx = rank(x), ry = rank(y);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}

int slm_st_write(const char *path, slm_st_out *t, int n, const char *const *meta_keys, const char *const *meta_values,
                 int n_meta) {
    qsort(t, (size_t)n, sizeof *t, by_alignment);
    cJSON *root = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]);
    }
    double offset = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", t[i].dtype);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t[i].ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber(offset));
        offset += (double)t[i].nbytes;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber(offset));
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return slm_fail("%s: out of memory writing the header", path);
    size_t len = strlen(json), padded = (8 + len + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN - 8;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(json);
        return slm_fail("%s: cannot write: %s", path, strerror(errno));
    }
    unsigned char hdr[8];
    for (int i = 0; i < 8; i++) hdr[i] = (unsigned char)((unsigned long long)padded >> (8 * i));
    int ok = fwrite(hdr, 1, 8, f) == 8 && fwrite(json, 1, len, f) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < n; i++) ok = t[i].nbytes == 0 || fwrite(t[i].data, 1, t[i].nbytes, f) == t[i].nbytes;
    free(json);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return slm_fail("%s: write failed: %s", path, strerror(errno));
    return 0;
}
