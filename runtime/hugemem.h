/* Large read-mostly buffers (weight matrices, the bandwidth probe) on 2 MiB pages where the kernel allows it. */
#ifndef SLM_HUGEMEM_H
#define SLM_HUGEMEM_H

#include <stddef.h>

/* The page size these buffers are aligned to. */
#define SLM_HUGE_MIN ((size_t)2 << 20)

/* A zero-filled buffer of `bytes` starting on a 2 MiB boundary, or NULL. Release it with slm_huge_free. */
void *slm_huge_alloc(size_t bytes);
void slm_huge_free(void *p, size_t bytes);

#endif
