/* Decode streams every weight once per token. On 4 KiB pages that is a TLB miss every 4 KiB, and the hardware
 * prefetchers stop at each page boundary; on 2 MiB pages one core read DRAM 9-24% faster here (bench/RESULTS.md, "2 MiB pages").
 * Linux gives transparent huge pages to anonymous memory that is 2 MiB aligned and marked MADV_HUGEPAGE; where
 * it cannot (THP off, memory fragmented) the buffer silently stays on 4 KiB pages and works the same. */
#include "hugemem.h"

#include <stdint.h>
#include <sys/mman.h>

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

void *slm_huge_alloc(size_t bytes) {
    size_t len = round_up(bytes ? bytes : 1, 4096);
    size_t span = len + SLM_HUGE_MIN;
    /* weight slabs are mostly address space that is never written: do not count it against the commit limit */
    char *base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return NULL;
    /* keep only [start, start + len): the head and tail pieces go back, so RSS is the buffer and no more */
    char *start = (char *)round_up((uintptr_t)base, SLM_HUGE_MIN);
    if (start > base) munmap(base, (size_t)(start - base));
    size_t tail = (size_t)(base + span - (start + len));
    if (tail) munmap(start + len, tail);
    madvise(start, len, MADV_HUGEPAGE);
    return start;
}

void slm_huge_free(void *p, size_t bytes) {
    if (p) munmap(p, round_up(bytes ? bytes : 1, 4096));
}
