/* Buffers for weights and the bandwidth probe: 2 MiB aligned, zero-filled, writable to the last byte, and
 * holding no address space past their length (the spare head and tail of the mapping are returned); weight
 * buffers packed into slabs of such memory. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
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

/* Buffers are packed one after another into 2 MiB-aligned slabs; one too large to share a slab gets its own. */
static void test_weights_alloc_sizes(void) {
    slm_weights w = {0};
    const size_t sizes[] = {100, SLM_HUGE_MIN - 1, SLM_HUGE_MIN, 3 * SLM_HUGE_MIN + 5, 1};
    unsigned char *prev = NULL;
    size_t prev_len = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        unsigned char *p = slm_weights_alloc(&w, sizes[k]);
        CHECK(p != NULL, "size %zu: no buffer", sizes[k]);
        if (!p) continue;
        CHECK((uintptr_t)p % 64 == 0, "size %zu: %p is not on a 64-byte boundary", sizes[k], (void *)p);
        if (k == 0) CHECK((uintptr_t)p % SLM_HUGE_MIN == 0, "the first buffer %p does not start a 2 MiB page", (void *)p);
        else CHECK(p == prev + prev_len, "size %zu: %p does not follow the previous buffer", sizes[k], (void *)p);
        size_t nonzero = 0;
        for (size_t i = 0; i < sizes[k]; i++) nonzero += p[i] != 0;
        CHECK(nonzero == 0, "size %zu: %zu bytes not zero", sizes[k], nonzero);
        memset(p, (int)k + 1, sizes[k]);
        prev = p;
        prev_len = (sizes[k] + 63) / 64 * 64;
    }
    for (size_t k = 0, at = 0; k < sizeof sizes / sizeof *sizes; at += (sizes[k] + 63) / 64 * 64, k++) {
        unsigned char *p = (unsigned char *)w.slab + at;
        CHECK(p[0] == k + 1 && p[sizes[k] - 1] == k + 1, "size %zu: overwritten by a later buffer", sizes[k]);
    }
    CHECK(w.n_owned == 1, "%d regions owned, want 1 slab", w.n_owned);
    size_t big_len = w.slab_size - w.slab_used + 1; /* over half a slab, and more than is left of this one */
    unsigned char *big = slm_weights_alloc(&w, big_len);
    CHECK(big && (uintptr_t)big % SLM_HUGE_MIN == 0 && w.n_owned == 2, "a large buffer does not get a region of its own");
    unsigned char *small = slm_weights_alloc(&w, 64);
    CHECK(small == prev + prev_len, "the slab was not kept open after a large buffer");
    unsigned char *rest = slm_weights_alloc(&w, w.slab_size - w.slab_used);
    CHECK(rest && w.slab_used == w.slab_size, "the slab's last byte is not handed out");
    unsigned char *next = slm_weights_alloc(&w, 64);
    CHECK(next && w.n_owned == 3 && (uintptr_t)next % SLM_HUGE_MIN == 0, "a full slab does not start a new one");
    if (big) big[big_len - 1] = 1;
    if (rest) rest[0] = 1;
    slm_weights_free(&w);
    CHECK(w.n_owned == 0 && w.slab == NULL, "slm_weights_free leaves the struct dirty");
}

int main(void) {
    RUN(test_huge_alloc_shapes);
    RUN(test_weights_alloc_sizes);
    return test_summary();
}
