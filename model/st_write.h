/* Writing safetensors files. */
#ifndef SLM_ST_WRITE_H
#define SLM_ST_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *dtype; /* "F32", "U8", ... */
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t nbytes;
} slm_st_out;

/* Writes the tensors and the string metadata to path. The header is padded so that the data starts
 * on a 64-byte boundary of the file; tensors whose size is a multiple of 64 bytes come first,
 * each on such a boundary, then the rest widest element first (then by name), so each starts aligned
 * to its element size when the sizes before it are multiples of it, as the reference writer does.
 * Returns 0, or -1 with slm_error() naming the file. */
int slm_st_write(const char *path, slm_st_out *tensors, int n, const char *const *meta_keys,
                 const char *const *meta_values, int n_meta);

#endif
