/* Buffers for weights and the bandwidth probe: 2 MiB aligned, zero-filled, writable to the last byte, and
 * holding no address space past their length (the spare head and tail of the mapping are returned). */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "../model/weights.h"
#include "../runtime/hugemem.h"
#include "test.h"

static int mapped(const void *p) {
    unsigned char v;
    return mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, &v) == 0 || errno != ENOMEM;
}

static void test_huge_alloc_shapes(void) {
    const size_t sizes[] = {1, 4095, 4096, SLM_HUGE_MIN, SLM_HUGE_MIN + 1, 5 * SLM_HUGE_MIN + 123};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        unsigned char *p = slm_huge_alloc(n);
        CHECK(p != NULL, "size %zu: no buffer", n);
        if (!p) continue;
        CHECK((uintptr_t)p % SLM_HUGE_MIN == 0, "size %zu: %p is not on a 2 MiB boundary", n, (void *)p);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++) nonzero += p[i] != 0;
        CHECK(nonzero == 0, "size %zu: %zu bytes not zero", n, nonzero);
        for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 7 + 1);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++) wrong += p[i] != (unsigned char)(i * 7 + 1);
        CHECK(wrong == 0, "size %zu: %zu bytes did not keep what was written", n, wrong);
        size_t len = (n + 4095) / 4096 * 4096;
        CHECK(!mapped(p + len), "size %zu: the page after the buffer is still mapped", n);
        slm_huge_free(p, n);
        CHECK(!mapped(p), "size %zu: still mapped after slm_huge_free", n);
    }
}

static void test_weights_alloc_sizes(void) {
    slm_weights w = {0};
    const size_t sizes[] = {100, SLM_HUGE_MIN - 1, SLM_HUGE_MIN, 3 * SLM_HUGE_MIN + 5};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        unsigned char *p = slm_weights_alloc(&w, sizes[k]);
        CHECK(p != NULL, "size %zu: no buffer", sizes[k]);
        if (!p) continue;
        size_t align = sizes[k] >= SLM_HUGE_MIN ? SLM_HUGE_MIN : 64;
        CHECK((uintptr_t)p % align == 0, "size %zu: %p is not on a %zu-byte boundary", sizes[k], (void *)p, align);
        p[0] = 1;
        p[sizes[k] - 1] = 2;
    }
    CHECK(w.n_owned == 4, "%d buffers owned, want 4", w.n_owned);
    slm_weights_free(&w); /* malloc'd and mapped buffers each go back their own way (asan checks the first) */
}

int main(void) {
    RUN(test_huge_alloc_shapes);
    RUN(test_weights_alloc_sizes);
    return test_summary();
}
