/* The probe's read loops (bench/membw.c, bench/membw_avx2.c). */
#ifndef SLM_MEMBW_H
#define SLM_MEMBW_H

#include <stddef.h>
#include <stdint.h>

/* Reads bytes (a multiple of 128) from p with 256-bit loads; returns a value that depends on all of them. */
uint64_t slm_membw_read_avx2(const void *p, size_t bytes);

#endif
