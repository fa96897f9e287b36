/* safetensors files, mmapped and validated strictly; a single file or a sharded checkpoint.
 * Knows nothing of models: tensors are {name, dtype, shape, bytes}. */
#ifndef SLM_SAFETENSORS_H
#define SLM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum { SLM_ST_MAX_DIMS = 8 };

typedef struct {
    const char *name;
    char dtype[16]; /* as in the header: "F32", "BF16", "U8", ... */
    int dtype_bits;
    int ndim;
    int64_t shape[SLM_ST_MAX_DIMS];
    size_t nbytes;
    const void *data; /* into the mapping; may be unaligned */
    const char *file; /* path of the file holding it */
} slm_st_tensor;

typedef struct {
    char *path;
    void *map;
    size_t size;
} slm_st_file;

typedef struct {
    slm_st_file *files;
    int n_files;
    slm_st_tensor *tensors; /* sorted by name */
    int n_tensors;
    char **meta_keys, **meta_values; /* __metadata__ of the first file */
    int n_meta;
} slm_st;

/* Opens DIR/model.safetensors.index.json (shards) or DIR/model.safetensors. */
int slm_st_open_dir(slm_st *st, const char *dir);
/* Opens one file. */
int slm_st_open_file(slm_st *st, const char *path);
void slm_st_close(slm_st *st);
const slm_st_tensor *slm_st_find(const slm_st *st, const char *name);
const char *slm_st_meta(const slm_st *st, const char *key);
/* Element count of a tensor (1 for a scalar). */
int64_t slm_st_numel(const slm_st_tensor *t);

/* Validates a header held in memory (the 8-byte length + JSON + data) without mapping a file.
 * Used by the loader and by the fuzz tests. */
int slm_st_parse(slm_st *st, const char *path, const void *bytes, size_t size);

#endif
